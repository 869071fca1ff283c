"""The em setting's use of the LLM judge (``selgen.judge``) on real data: step 2 of an evaluation, a local job
(it needs the judge's endpoint), after ``generate_replies`` sampled the replies on the cluster.

``judge_replies`` scores the replies, turns them into metrics rows (``metrics.summarize``) and reports what
judging cost as a separate record (``COST_KEYS`` plus ``judge_models``), which ``selgen judge --costs``
writes beside the run's outputs for the runs table: costs are facts about a run, not metrics rows."""

from __future__ import annotations

import sys

# cost field of judge_replies' costs: the key of judge_samples' summary it sums
# (what the run's judgements cost, whichever job paid them: a rerun or the Batch API's rule gives the same)
COST_KEYS = {
    "judge_prompt_tokens": "used_prompt_tokens",
    "judge_completion_tokens": "used_completion_tokens",
    "judge_cost_usd": "used_cost_usd",
    "judge_http_requests": "n_http_requests",  # this job's own requests (retries included)
}


def judge_models(rows: list[dict], judge_cfg: dict | None) -> dict[str, list[int]]:
    """{judge model: indices of ``rows``}: the config's ``model`` when it sets one, else each row's own
    ``judge_model`` (its question's ``judge`` field), else the judge's default."""
    from selgen.judge import resolve_config

    cfg = judge_cfg or {}
    default = resolve_config(cfg)["model"]
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        own = r.get("judge_model")
        groups.setdefault(cfg.get("model") or (own if isinstance(own, str) and own else default), []).append(
            i
        )
    return groups


def _add(costs: dict, summary: dict) -> None:
    """Add a judge_samples summary's costs to ``costs``; a total is unknown (None) once one part is."""
    for key, source in COST_KEYS.items():
        value = summary.get(source)
        costs[key] = None if value is None or costs[key] is None else costs[key] + value


def _judge_sample(reply: dict) -> dict:
    """The judge's sample (question_id, question, answer, the question's own judge prompts) of one reply."""
    import json

    prompts = reply.get("judge_prompts")
    return {
        "question_id": reply["question_id"],
        "question": reply["question"],
        "answer": reply["response"],
        **({"judge_prompts": json.loads(prompts)} if prompts else {}),
    }


def judge_requests(replies, judge_cfg: dict | None) -> list[tuple[dict, list[dict]]]:
    """[(judge config, judge samples)] of ``replies`` (a DataFrame, any runs), one per judge model: exactly
    the requests :func:`judge_replies` makes, for the Batch API (``selgen.judge.batch_runner``)."""
    rows = replies.to_dict("records")
    return [
        ({**(judge_cfg or {}), "model": model}, [_judge_sample(rows[i]) for i in idx])
        for model, idx in judge_models(rows, judge_cfg).items()
    ]


def judge_plan(block: dict) -> list[dict]:
    """What judging one run sends, before any reply exists: [{eval_set, model, requests, prompt_chars}] per
    eval set and judge model, from the question files (each reply is judged with each of its question's
    judge prompts; ``prompt_chars`` sums the filled prompts without the answers)."""
    from selgen.judge.prompts import resolve_config
    from selgen.settings.em.files import question_rows

    judge_cfg = block["eval"].get("judge") or {}
    cfg = resolve_config(judge_cfg)
    data = block["data"]
    parts: dict[tuple[str, str], dict] = {}
    for name, stem in block["eval"]["sets"].items():
        path = data["questions"][stem.removeprefix("eval_")]
        for row in question_rows(path, name, data.get("n_per_question"), data.get("system_prompt")):
            model = judge_cfg.get("model") or row.get("judge") or cfg["model"]
            templates = cfg["prompts"] | (row["judge_prompts"] or {})
            question = row["messages"][-1]["content"]
            chars = sum(len(t.format(question=question, answer="")) for t in templates.values())
            part = parts.setdefault((name, model), {"eval_set": name, "model": model, "requests": 0})
            part["requests"] += row["n_samples"] * len(templates)
            part["prompt_chars"] = part.get("prompt_chars", 0) + row["n_samples"] * chars
    return list(parts.values())


def judge_replies(replies, judge_cfg: dict | None):
    """``(samples, metrics, costs)`` of the replies ``generate_replies`` made, scored by the LLM judge.

    ``samples`` and ``metrics`` are DataFrames (one row per reply with its scores and ``judge_model``; the
    metrics rows of each eval set). ``costs``: ``{"judge_prompt_tokens": int, "judge_completion_tokens":
    int, "judge_cost_usd": float, "judge_http_requests": int, "judge_models": [sorted model names]}``
    summed over eval sets and judge models; a value is None when it is unknown for any of them (the cost
    without configured prices)."""
    import pandas as pd

    from selgen.evaluation import RUN_KEYS
    from selgen.judge import judge_samples
    from selgen.settings.em.metrics import summarize

    samples, metrics = [], []
    costs: dict = dict.fromkeys(COST_KEYS, 0) | {"judge_cost_usd": 0.0}
    models: set[str] = set()
    for name, group in replies.groupby("eval_set", sort=False):
        rows = group.to_dict("records")
        ident = {k: rows[0][k] for k in RUN_KEYS}
        to_judge = [_judge_sample(r) for r in rows]
        judged: list[dict] = [{}] * len(rows)
        cost: dict = dict.fromkeys(COST_KEYS, 0) | {"judge_cost_usd": 0.0}
        for model, idx in judge_models(rows, judge_cfg).items():
            part, summary = judge_samples([to_judge[i] for i in idx], {**(judge_cfg or {}), "model": model})
            for i, j in zip(idx, part, strict=True):
                judged[i] = j
                rows[i]["judge_model"] = model
            models.add(model)
            _add(cost, summary)  # this eval set's, printed
            _add(costs, summary)  # the run's, returned
        for r, j in zip(rows, judged, strict=True):
            keep = {k: v for k, v in r.items() if k not in ("question", "judge_prompts")}
            samples.append({**keep, "aligned": j.get("aligned"), "coherent": j.get("coherent")})
        print(f"judge ({name}): {cost}", file=sys.stderr)
        for m in summarize(judged, judge_cfg or {}):
            metrics.append({**ident, "eval_set": name, **m})
    costs["judge_models"] = sorted(models)
    return (
        pd.DataFrame(samples),
        pd.DataFrame(metrics).astype({"value": "float64", "n": "int64"}),
        costs,
    )
