"""Judging a whole setting through the Batch API, resumably (`selgen judge batch`, rule judge_batch).

:func:`run_batches` takes every judge request of a setting's replies (grouped by judge model: a batch file
holds one model), and

1. finishes the batches an earlier, interrupted call recorded (polls them; no second submission);
2. submits what is neither cached nor already submitted, in files of at most ``BATCH_MAX_LINES`` lines, and
   records each batch in ``<state_dir>/state.json`` (written atomically) as soon as the API returns its id;
3. polls every open batch until it ends, downloads its output and error files and fills the cache.

Requests a batch could not answer (error lines, an expired batch) stay uncached; the per-run judge jobs that
follow send them online. A batch is tagged with the SHA-256 of its input file (``metadata``): a call killed
between the API's answer and the state write finds its batch again by that tag instead of submitting twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from selgen.judge.batch import (
    BATCH_MAX_LINES,
    BATCH_URL,
    download_batch_output,
    read_batch_output,
    submit_batch,
)
from selgen.judge.client import JudgeCache, JudgeError, sync_client
from selgen.judge.prompts import resolve_config
from selgen.judge.samples import plan

log = logging.getLogger("selgen.judge")

DONE = ("completed", "expired", "cancelled", "failed")
TAG = "selgen_input_sha256"
DEFAULT_MAX_WAIT_S = 25 * 3600.0  # the Batch API's 24 h window, and an hour to spare


def _load(state_path: Path) -> dict:
    from selgen.io import read_json

    return read_json(state_path) if state_path.exists() else {"batches": []}


def _save(state_path: Path, state: dict) -> None:
    from selgen.io import write_json

    write_json(state_path, state)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _submitted_keys(state_dir: Path, state: dict) -> set[str]:
    """custom_ids of every recorded batch's input file."""
    from selgen.io import read_jsonl

    return {row["custom_id"] for b in state["batches"] for row in read_jsonl(state_dir / b["input"])}


def _find_tagged(cfg: dict, sha: str) -> str | None:
    """The id of a batch this input file was already submitted as (its metadata tag), or None."""
    with sync_client(cfg) as client:
        for batch in client.batches.list(limit=100):
            if (batch.metadata or {}).get(TAG) == sha:
                return batch.id
    return None


def _submit(state_dir: Path, state: dict, entry: dict, cfg: dict) -> None:
    """Submit the entry's input file unless a batch with its tag exists; record the id at once."""
    entry["id"] = _find_tagged(cfg, entry["sha256"]) or submit_batch(
        state_dir / entry["input"], cfg, metadata={TAG: entry["sha256"]}
    )
    entry["status"] = "submitted"
    _save(state_dir / "state.json", state)
    log.info("judge batch %s: %d requests to %s", entry["id"], entry["n"], cfg["model"])


def _finish(state_dir: Path, state: dict, cfgs: dict[str, dict], poll_s: float, max_wait_s: float) -> None:
    """Poll the recorded open batches until each ends; download each one's output into the cache."""
    state_path = state_dir / "state.json"
    for entry in state["batches"]:
        if entry.get("id") is None:  # recorded, but the call was killed before the API answered
            _submit(state_dir, state, entry, cfgs[entry["model"]])
    deadline = time.monotonic() + max_wait_s
    while open_ := [e for e in state["batches"] if e["status"] != "done"]:
        for entry in open_:
            cfg = cfgs[entry["model"]]
            out = state_dir / entry["input"].replace("input", "output")
            status = download_batch_output(entry["id"], cfg, out)
            if status not in DONE:
                continue
            stats = {"n_ok": 0, "n_failed": entry["n"], "cost_usd": 0.0}  # ended without output files
            if out.exists():
                stats = read_batch_output(out, cfg)[1]
            entry.update(status="done", batch_status=status, **stats)
            _save(state_path, state)
            log.info(
                "judge batch %s %s: %d answered, %d failed",
                entry["id"],
                status,
                stats["n_ok"],
                stats["n_failed"],
            )
        if any(e["status"] != "done" for e in state["batches"]):
            if time.monotonic() > deadline:
                ids = ", ".join(e["id"] for e in state["batches"] if e["status"] != "done")
                raise JudgeError(
                    f"judge batches {ids} not finished after {max_wait_s:.0f} s; run the workflow again to "
                    "resume polling them (nothing is submitted twice)"
                )
            time.sleep(poll_s)


def run_batches(groups: list[tuple[dict, list[dict]]], state_dir: str | Path) -> dict:
    """Judge every request of ``groups`` ([(judge config, judge samples)], one per judge model) through the
    Batch API, resuming from ``state_dir``; return the totals {n_requests, n_cached, n_submitted, n_ok,
    n_failed, cost_usd} (cost at batch prices; None when a model has no price)."""
    from selgen.io import write_jsonl

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state = _load(state_dir / "state.json")
    if not groups:
        raise JudgeError("no judge requests: the replies are empty")
    cfgs = {}
    for cfg, _ in groups:
        cfg = resolve_config(cfg)
        cfgs[cfg["model"]] = cfg
    for entry in state["batches"]:  # a model recorded by an earlier call with another config
        cfgs.setdefault(entry["model"], resolve_config({**groups[0][0], "model": entry["model"]}))
    poll_s = min(float(c["batch_poll_s"]) for c in cfgs.values()) if cfgs else 0.0
    waits = [c["batch_max_wait_s"] for c in cfgs.values() if c["batch_max_wait_s"] is not None]
    max_wait_s = min(waits) if waits else DEFAULT_MAX_WAIT_S
    _finish(state_dir, state, cfgs, poll_s, max_wait_s)  # an interrupted call's batches first

    submitted = _submitted_keys(state_dir, state)
    n_requests = n_cached = 0
    for cfg, samples in groups:
        cfg = cfgs[resolve_config(cfg)["model"]]
        _, bodies = plan(samples, cfg)
        cached = JudgeCache(cfg["cache_dir"]).get_many(bodies)
        n_requests += len(bodies)
        n_cached += len(cached)
        wanted = sorted(k for k in bodies if k not in cached and k not in submitted)
        for start in range(0, len(wanted), BATCH_MAX_LINES):
            chunk = wanted[start : start + BATCH_MAX_LINES]
            name = f"input-{len(state['batches']):04d}.jsonl"
            lines = [{"custom_id": k, "method": "POST", "url": BATCH_URL, "body": bodies[k]} for k in chunk]
            write_jsonl(state_dir / name, lines)
            entry = {"id": None, "model": cfg["model"], "input": name, "n": len(chunk), "status": "new"}
            entry["sha256"] = _sha256(state_dir / name)
            state["batches"].append(entry)
            _save(
                state_dir / "state.json", state
            )  # before submitting: a kill now resubmits by tag, not twice
            _submit(state_dir, state, entry, cfg)
            submitted.update(chunk)
    _finish(state_dir, state, cfgs, poll_s, max_wait_s)

    costs = [e.get("cost_usd") for e in state["batches"]]
    return {
        "n_requests": n_requests,
        "n_cached_before": n_cached,
        "n_batches": len(state["batches"]),
        "n_submitted": sum(e["n"] for e in state["batches"]),
        "n_ok": sum(e.get("n_ok", 0) for e in state["batches"]),
        "n_failed": sum(e.get("n_failed", 0) for e in state["batches"]),
        "cost_usd": None if None in costs else sum(costs),
    }
