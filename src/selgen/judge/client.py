"""Sending judge requests: the cache key, the API key, and the openai client with its own retries.

Retries are the openai client's (``openai.AsyncOpenAI(max_retries=cfg["max_retries"])``): 408, 409, 429, 5xx
and connection errors / timeouts are retried with jittered exponential backoff (0.5 s doubling, at most 8 s),
or after the server's ``Retry-After`` / ``retry-after-ms``; other statuses are not. Every HTTP attempt is
counted by an httpx event hook on the client's own ``http_client`` (``openai.DefaultAsyncHttpxClient``, the
openai defaults plus our hooks), so ``n_http_requests`` and ``n_retries`` still count what the server saw;
the hooks learn which logical request an attempt belongs to from a context variable set by that request's
task, and log each retry (a warning, with the failed attempt's status and message, scrubbed of the key).

The API key is read only from the environment variable ``api_key_env``; it is sent in the Authorization
header and never written to the cache, results, summaries, logs or error messages (server error texts,
which a careless proxy may make echo the header, are scrubbed of it).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from selgen.judge.scoring import summarize_completion
from selgen.judge.store import JudgeCache

log = logging.getLogger("selgen.judge")

CACHE_VERSION = 1


class JudgeError(RuntimeError):
    """A judge request failed for good (not retryable, or retries exhausted). The message holds no API key."""


# ------------------------------------------------------------------------------------------------ cache


def cache_key(body: dict, mode: str, answer: str) -> str:
    """Return the sha256 hex key of a request: model, prompt text, answer, sampling settings and mode.

    The base_url is deliberately not part of the key: the same model name behind another URL (a proxy, the
    Batch API) reuses the judgement. Serve different weights under different model names.
    """
    payload = {"v": CACHE_VERSION, "mode": mode, "answer": answer, "request": body}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# ------------------------------------------------------------------------------------ key and messages


def api_key(cfg: dict) -> str:
    """Return the API key from the environment, a dummy one for a custom base_url without a key, or raise."""
    key = os.environ.get(cfg["api_key_env"], "")
    if key:
        return key
    if cfg["base_url"]:
        log.info("judge: %s is not set; sending a dummy key to %s", cfg["api_key_env"], _safe_url(cfg))
        return "EMPTY"
    raise JudgeError(f"set the environment variable {cfg['api_key_env']} to the judge's API key")


def _safe_url(cfg: dict) -> str | None:
    """Return base_url without any user:password part (for logs and summaries)."""
    url = cfg["base_url"]
    if not url:
        return url
    parts = urlsplit(str(url))
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _scrub(text: str, secret: str) -> str:
    """Return ``text`` on one line, ``secret`` replaced by *** (before shortening: no partial key is left)."""
    text = " ".join(str(text).split())
    return (text.replace(secret, "***") if secret else text)[:300]


def _describe(err: Exception, secret: str) -> str:
    """Return a one-line description of an openai error, with ``secret`` scrubbed out."""
    status = getattr(err, "status_code", None)
    text = f"HTTP {status}: {getattr(err, 'message', err)}" if status else f"{type(err).__name__}: {err}"
    return _scrub(text, secret)


def _describe_response(response: Any, secret: str) -> str:
    """Return "HTTP <status>: <the server's error message>" of a failed (already read) response, scrubbed."""
    message = response.text
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            message = error["message"]
    except (ValueError, AttributeError):
        pass
    return _scrub(f"HTTP {response.status_code}: {message}", secret)


# --------------------------------------------------------------------------------- HTTP and retries


@dataclass
class Stats:
    """HTTP attempts sent in one :func:`fetch` (retries included) and how many of them were retries."""

    http_requests: int = 0
    retries: int = 0


@dataclass
class _Attempts:
    """One logical request's attempts so far, and what went wrong with the last one (None: no response)."""

    n: int = 0
    last_failure: str | None = None


# set by each request's own task (asyncio tasks copy the context), read by the httpx hooks, which run inside
# the openai client's send call in that same task
_ATTEMPTS: ContextVar[_Attempts | None] = ContextVar("selgen_judge_attempts", default=None)


def _event_hooks(cfg: dict, stats: Stats, secret: str) -> dict[str, list]:
    """httpx event hooks that count every attempt into ``stats`` and log every retry."""
    most = int(cfg["max_retries"]) + 1

    async def on_request(request: Any) -> None:
        stats.http_requests += 1
        state = _ATTEMPTS.get()
        if state is None:
            return
        state.n += 1
        if state.n > 1:
            stats.retries += 1
            what = state.last_failure or "no response (connection error or timeout)"
            log.warning("judge: %s (attempt %d/%d); retrying", what, state.n - 1, most)
        state.last_failure = None

    async def on_response(response: Any) -> None:
        state = _ATTEMPTS.get()
        if state is not None and response.status_code >= 400:
            await response.aread()
            state.last_failure = _describe_response(response, secret)

    return {"request": [on_request], "response": [on_response]}


def async_client(cfg: dict, stats: Stats) -> tuple[Any, str]:
    """Return ``(openai.AsyncOpenAI with its own retries and our counting hooks, the API key)``."""
    import openai

    secret = api_key(cfg)
    http_client = openai.DefaultAsyncHttpxClient(event_hooks=_event_hooks(cfg, stats, secret))
    client = openai.AsyncOpenAI(
        api_key=secret,
        base_url=cfg["base_url"],
        max_retries=int(cfg["max_retries"]),
        timeout=float(cfg["timeout_s"]),
        http_client=http_client,
    )
    return client, secret


def sync_client(cfg: dict) -> Any:
    """Return an ``openai.OpenAI`` client (its own retries) for the Batch API's few calls."""
    import openai

    return openai.OpenAI(
        api_key=api_key(cfg),
        base_url=cfg["base_url"],
        max_retries=int(cfg["max_retries"]),
        timeout=float(cfg["timeout_s"]),
    )


async def _request(client: Any, body: dict, cfg: dict, sem: asyncio.Semaphore, secret: str) -> dict:
    """Send one request (the client retries it); return the response as a dict, or raise JudgeError."""
    import openai

    state = _Attempts()
    _ATTEMPTS.set(state)
    async with sem:  # held through the client's backoff sleeps: a rate-limited judge gets fewer in flight
        try:
            response = await client.chat.completions.create(**body)
        except (openai.APIConnectionError, openai.APIStatusError) as err:
            what = _describe(err, secret)
            if state.n <= 1 and int(cfg["max_retries"]) > 0:
                raise JudgeError(f"judge request to {cfg['model']} failed, not retried: {what}") from None
            tries = f"{state.n} attempt{'s' * (state.n != 1)}"
            raise JudgeError(f"judge request to {cfg['model']} failed after {tries}; last: {what}") from None
    return response.model_dump()


async def fetch(
    keys: list[str], bodies: dict[str, dict], cfg: dict, cache: JudgeCache, stats: Stats
) -> dict[str, dict]:
    """Request every key in ``keys`` concurrently; return {key: response summary}, caching each as it lands.

    Fails fast: the first :class:`JudgeError` cancels the requests in flight (finished ones stay cached).
    """
    from tqdm.auto import tqdm

    client, secret = async_client(cfg, stats)
    sem = asyncio.Semaphore(int(cfg["concurrency"]))
    raws: dict[str, dict] = {}
    async with client:
        tasks = {asyncio.create_task(_request(client, bodies[k], cfg, sem, secret)): k for k in keys}
        pending = set(tasks)
        bar = tqdm(
            total=len(tasks), desc=f"judge {cfg['model']}", disable=not cfg["progress"], mininterval=2.0
        )
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    raw = summarize_completion(task.result())
                    raws[tasks[task]] = raw
                    cache.put(tasks[task], raw, cfg)
                    bar.update()
        finally:
            bar.close()
            for task in pending:
                task.cancel()
            # wait for the cancelled ones and retrieve every task's exception (no "never retrieved" noise)
            await asyncio.gather(*tasks, return_exceptions=True)
    return raws


# ------------------------------------------------------------------------------- number tokens probe

PROBE_PROMPT = "Reply with the number 57 and nothing else."
_PROBED: dict[tuple, bool] = {}  # (model, base_url) -> whether its top logprobs hold 2-digit numbers


def number_tokens_ok(cfg: dict) -> bool:
    """Whether the judge's first-token top logprobs can express 0..100 as single tokens: one probe request
    (asked to reply "57") per judge and process; a tokenizer that splits numbers into digits (many open
    models) shows only "5" first, and logprob scores would come out wrong. A failed probe counts as fine
    (the requests themselves will report the failure)."""
    from selgen.judge.prompts import build_request
    from selgen.judge.scoring import summarize_completion

    key = (cfg["model"], cfg["base_url"])
    if key not in _PROBED:
        try:
            with sync_client(cfg) as client:
                body = client.chat.completions.create(**build_request(cfg, PROBE_PROMPT)).model_dump()
        except Exception as err:  # noqa: BLE001 - reported, and the judgement requests will fail loudly
            log.info(
                "judge: the number-token probe of %s failed (%s); assuming logprobs work", cfg["model"], err
            )
            return True
        top = summarize_completion(body)["top_logprobs"] or []
        _PROBED[key] = any(t.strip().isdigit() and len(t.strip()) >= 2 for t, _ in top)
    return _PROBED[key]
