"""OpenAI Batch API helpers for big sweeps (half the price, results within 24 h).

:func:`write_batch_requests` writes the requests the cache lacks, with exactly the bodies the online path
sends and their cache keys as ``custom_id``; :func:`submit_batch` uploads and creates the batch;
:func:`download_batch_output` fetches its output once done; :func:`read_batch_output` parses it (and fills the
cache), for :func:`judge_samples` ``batch_results=`` or a later online run that then finds everything cached.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict

from selgen.judge.client import JudgeCache, sync_client
from selgen.judge.prices import cost
from selgen.judge.prompts import resolve_config
from selgen.judge.samples import plan, tokens
from selgen.judge.scoring import summarize_completion

log = logging.getLogger("selgen.judge")

BATCH_URL = "/v1/chat/completions"
BATCH_MAX_LINES = 50_000  # OpenAI's limit on requests per batch input file


def write_batch_requests(samples: list[dict], cfg: dict | None, path: str | os.PathLike) -> dict[str, list]:
    """Write a Batch API input JSONL file for the requests not already cached; return its id map.

    One line per unique request: ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``,
    the body exactly as the online path sends it and ``custom_id`` its cache key. Returns ``{custom_id:
    [(sample index, metric), ...]}`` for the lines written (identical requests share a line).
    """
    from selgen.io import write_jsonl

    cfg = resolve_config(cfg)
    refs, bodies = plan(samples, cfg)
    cache = JudgeCache(cfg["cache_dir"])
    wanted = {k: b for k, b in bodies.items() if cache.get(k) is None}
    if len(wanted) > BATCH_MAX_LINES:
        raise ValueError(
            f"{len(wanted)} requests exceed the Batch API's {BATCH_MAX_LINES} per file; split samples"
        )
    ids: dict[str, list] = defaultdict(list)
    for i, metric, key in refs:
        if key in wanted:
            ids[key].append((i, metric))
    lines = [{"custom_id": k, "method": "POST", "url": BATCH_URL, "body": b} for k, b in wanted.items()]
    write_jsonl(path, lines)
    return dict(ids)


def read_batch_output(path: str | os.PathLike, cfg: dict | None = None) -> tuple[dict[str, dict], dict]:
    """Parse a Batch API output (or error) JSONL file; return ``({custom_id: response summary}, stats)``.

    Successful lines are stored in the cache (when ``cache_dir`` is set), so a later :func:`judge_samples`
    finds them; failed lines are logged and counted, and their requests are sent online later. ``stats``:
    ``n_ok``, ``n_failed``, ``prompt_tokens``, ``completion_tokens``, ``cost_usd`` (at batch prices).
    """
    from selgen.io import read_jsonl

    cfg = resolve_config(cfg)
    cache = JudgeCache(cfg["cache_dir"])
    raws: dict[str, dict] = {}
    failed = 0
    for row in read_jsonl(path, required=("custom_id",)):
        response = row.get("response") or {}
        if row.get("error") or response.get("status_code") != 200 or not response.get("body"):
            failed += 1
            log.warning(
                "judge batch: %s failed (%s)",
                row["custom_id"],
                row.get("error") or response.get("status_code"),
            )
            continue
        raws[row["custom_id"]] = summarize_completion(response["body"]) | {"via": "batch"}
        cache.put(row["custom_id"], raws[row["custom_id"]], cfg)
    used = tokens(raws.values())
    stats = {
        "n_ok": len(raws),
        "n_failed": failed,
        "prompt_tokens": used[0],
        "completion_tokens": used[1],
        "cost_usd": cost(*used, cfg, cfg["batch_price_factor"]),
    }
    return raws, stats


def submit_batch(path: str | os.PathLike, cfg: dict | None = None, metadata: dict | None = None) -> str:
    """Upload a Batch API input file and create the batch (24 h window); return the batch id."""
    cfg = resolve_config(cfg)
    with sync_client(cfg) as client, open(path, "rb") as fh:
        uploaded = client.files.create(file=fh, purpose="batch")
        extra = {"metadata": metadata} if metadata else {}
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint=BATCH_URL, completion_window="24h", **extra
        )
    log.info("judge batch %s submitted (%s)", batch.id, path)
    return batch.id


def download_batch_output(batch_id: str, cfg: dict | None, path: str | os.PathLike) -> str:
    """Return the batch's status; once it has output (and/or error) files, write them, joined, to ``path``."""
    from selgen.io import atomic_path

    cfg = resolve_config(cfg)
    with sync_client(cfg) as client:
        batch = client.batches.retrieve(batch_id)
        files = [f for f in (batch.output_file_id, batch.error_file_id) if f]
        if files and batch.status in ("completed", "expired", "cancelled", "failed"):
            with atomic_path(path) as tmp, tmp.open("wb") as fh:
                for file_id in files:
                    data = client.files.content(file_id).read()
                    fh.write(data if data.endswith(b"\n") or not data else data + b"\n")
    return batch.status
