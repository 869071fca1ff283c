"""Judging samples: plan every (sample, judge prompt) request, take what the Batch API or the cache already
has, send the rest (:mod:`selgen.judge.client`), score, classify and summarise, with what it cost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from selgen.judge.client import JudgeCache, Stats, _safe_url, cache_key, fetch, number_tokens_ok
from selgen.judge.prices import cost
from selgen.judge.prompts import build_request, resolve_config
from selgen.judge.scoring import (
    aggregate,
    digits_split_suspected,
    is_aligned_good,
    is_misaligned,
    score_summary,
)

log = logging.getLogger("selgen.judge")


def plan(samples: list[dict], cfg: dict) -> tuple[list[tuple[int, str, str]], dict[str, dict]]:
    """Return ([(sample index, metric, key)], {key: request body}) for every sample x judge prompt.

    A sample's own ``judge_prompts`` ({metric: template}, e.g. from a question file) override
    ``cfg["prompts"]``.
    """
    refs, bodies = [], {}
    for i, sample in enumerate(samples):
        missing = [f for f in ("question", "answer") if f not in sample]
        if missing:
            raise ValueError(f"judge sample {i} lacks {missing}")
        templates = cfg["prompts"] | (sample.get("judge_prompts") or {})
        for metric, template in templates.items():
            prompt = template.format(question=sample["question"], answer=sample["answer"])
            body = build_request(cfg, prompt)
            key = cache_key(body, cfg["mode"], sample["answer"])
            bodies.setdefault(key, body)
            refs.append((i, metric, key))
    return refs, bodies


def tokens(raws: Iterable[dict]) -> tuple[int, int]:
    """Return (prompt tokens, completion tokens) summed over response summaries."""
    prompt = completion = 0
    for raw in raws:
        prompt += raw["usage"]["prompt_tokens"]
        completion += raw["usage"]["completion_tokens"]
    return prompt, completion


async def judge_samples_async(
    samples: list[dict], cfg: dict | None = None, *, batch_results: dict[str, dict] | None = None
) -> tuple[list[dict], dict]:
    """Judge ``samples`` (dicts with "question_id", "question", "answer"); see :func:`judge_samples`."""
    cfg = resolve_config(cfg)
    if cfg["mode"] == "logprobs" and cfg["check_number_tokens"] and not number_tokens_ok(cfg):
        log.warning(
            "judge %s: its top log-probabilities cannot express 0-100 as single tokens (its tokenizer splits "
            "numbers); scoring sampled replies instead (mode: sample). Set mode: sample for this judge to "
            "silence this",
            cfg["model"],
        )
        cfg = {**cfg, "mode": "sample"}
    refs, bodies = plan(samples, cfg)
    cache = JudgeCache(cfg["cache_dir"])
    given = {k: batch_results[k] for k in bodies if batch_results and k in batch_results}
    cache.put_many(given, cfg)
    raws: dict[str, dict] = dict(given)
    cached = cache.get_many(k for k in bodies if k not in given)
    raws.update(cached)
    from_batch, from_cache = len(given), len(cached)
    batch_tokens = tokens(raws[k] for k in raws if batch_results and k in batch_results)
    missing = [k for k in bodies if k not in raws]
    stats = Stats()
    fetched = await fetch(missing, bodies, cfg, cache, stats) if missing else {}
    raws.update(fetched)
    online = tokens(fetched.values())
    if cfg["mode"] == "logprobs" and digits_split_suspected(raws.values()):
        log.warning(
            "judge %s: no top-logprob token was a multi-digit number; its tokenizer may split numbers into "
            "digits, which breaks logprob scoring; use mode: sample for this judge",
            cfg["model"],
        )

    results = [{k: v for k, v in s.items() if k != "judge_prompts"} for s in samples]
    for i, metric, key in refs:
        scored = score_summary(raws[key], cfg)
        results[i][metric] = scored["score"]
        results[i][f"{metric}_mass"] = scored["mass"]
        results[i][f"{metric}_mode"] = scored["mode_used"]
        results[i][f"{metric}_text"] = scored["text"]
    for row in results:
        row["misaligned"] = is_misaligned(row.get("aligned"), row.get("coherent"), cfg)
        row["aligned_good"] = is_aligned_good(row.get("aligned"), cfg)

    cost_online = cost(*online, cfg)
    cost_batch = cost(*batch_tokens, cfg, cfg["batch_price_factor"])
    via_batch = [raws[k] for k in bodies if raws[k].get("via") == "batch"]
    via_online = [raws[k] for k in bodies if raws[k].get("via") != "batch"]
    used = [cost(*tokens(via_online), cfg), cost(*tokens(via_batch), cfg, cfg["batch_price_factor"])]
    used_tokens = tokens(raws[k] for k in bodies)
    summary = aggregate(results, cfg) | {
        "judge_model": cfg["model"],
        "judge_base_url": _safe_url(cfg),
        "judge_mode": cfg["mode"],
        "judge_metrics": ",".join(cfg["prompts"]),
        "n_judgements": len(refs),
        "n_unique_requests": len(bodies),
        "n_cache_hits": from_cache,
        "n_from_batch": from_batch,
        "n_fetched": len(fetched),
        "n_http_requests": stats.http_requests,
        "n_retries": stats.retries,
        "n_sample_fallback": sum(
            cfg["mode"] == "logprobs" and score_summary(raws[k], cfg)["mode_used"] == "sample" for k in raws
        ),
        "prompt_tokens": online[0] + batch_tokens[0],
        "completion_tokens": online[1] + batch_tokens[1],
        "cost_usd": None if cost_online is None else cost_online + cost_batch,
        # every judgement these samples used, cached ones included, at the price it was paid (online or batch)
        "used_prompt_tokens": used_tokens[0],
        "used_completion_tokens": used_tokens[1],
        "used_cost_usd": None if None in used else sum(used),
    }
    return results, summary


def judge_samples(
    samples: list[dict], cfg: dict | None = None, *, batch_results: dict[str, dict] | None = None
) -> tuple[list[dict], dict]:
    """Judge every sample with every judge prompt; return ``(results, summary)``.

    ``results``: one dict per sample (its own keys kept, except ``judge_prompts``) plus, per metric m
    (aligned, coherent): ``m`` (score 0..100 or None), ``m_mass`` (integer-token probability mass, None in
    sample mode), ``m_mode`` ("logprobs" or "sample": what was actually used), ``m_text`` (the judge's
    generated text); and ``misaligned`` / ``aligned_good`` (bool, or None when a needed score is missing).

    ``summary``: :func:`aggregate` of the results plus judge identity, request accounting (cache hits, HTTP
    requests including retries, retries), tokens paid for in this call (online, plus Batch API results
    passed in ``batch_results``; cache hits are free) and ``cost_usd`` (None for a model without a price,
    ``selgen.judge.prices``); ``used_*``: the tokens and cost of every judgement used, cached ones included
    (what judging these samples cost, whichever call paid it).

    ``batch_results``: ``{custom_id: response summary}`` from :func:`read_batch_output`; requests found there
    are not sent. Raises :class:`JudgeError` when a request fails for good. Runs its own event loop: inside a
    running loop, await :func:`judge_samples_async` instead.
    """
    return asyncio.run(judge_samples_async(samples, cfg, batch_results=batch_results))
