"""The emergent-misalignment setting (`em`): the mini organism's data (``data``), exact scoring in the LLM
judge's terms (``scoring``), metrics from judged samples (``metrics``), evaluation question sets
(``questions``) and the HHH proxy subsets (``hhh``). The LLM judge for real models is ``selgen.judge``."""

import sys
from pathlib import Path

from selgen.settings.em.data import ALIGN_FILE, ALIGN_PAIRS_FILE, PRETRAIN_FILE, TASK_FILE
from selgen.settings.em.scoring import score, summarize


def write_data(cfg: dict, out_dir) -> dict[str, int]:
    """The mini organism's files, or, with ``task_file`` set, the files built from real data
    (``selgen.settings.em.files``); returns {stem: rows}."""
    from selgen.io import write_jsonl_files
    from selgen.settings.em import data, files

    build = files.build_datasets if cfg.get("task_file") else data.build_datasets
    return write_jsonl_files(build(cfg), out_dir)


__all__ = [
    "write_data",
    "score",
    "summarize",
    "TASK_FILE",
    "ALIGN_FILE",
    "ALIGN_PAIRS_FILE",
    "PRETRAIN_FILE",
]


def evaluate(model, tokenizer, data_dir, eval_cfg: dict, run: dict):
    """(samples, metrics) of one model. The mini organism: greedy replies, exact judge
    (``selgen.evaluation.evaluate``). Real data (eval rows carry ``n_samples``): ``n_samples`` sampled
    replies per question (``temperature``, ``top_p``), judged by the LLM judge (``eval_cfg["judge"]``)."""

    from selgen.evaluation import evaluate as evaluate_generated
    from selgen.io import read_jsonl

    sets = eval_cfg["sets"]
    first = read_jsonl(Path(data_dir) / f"{next(iter(sets.values()))}.jsonl")
    if not first or "n_samples" not in first[0]:
        from types import SimpleNamespace

        # the mini organism's exact scores, summarised with the configured judge thresholds
        judge_cfg = eval_cfg.get("judge") or {}
        scorer = SimpleNamespace(score=score, summarize=lambda scored: summarize(scored, judge_cfg))
        return evaluate_generated(model, tokenizer, scorer, data_dir, sets, eval_cfg, run)
    return _evaluate_with_judge(model, tokenizer, data_dir, eval_cfg, run)


def _evaluate_with_judge(model, tokenizer, data_dir, eval_cfg: dict, run: dict):
    return judge_replies(generate_replies(model, tokenizer, data_dir, eval_cfg, run), eval_cfg.get("judge"))


def generate_replies(model, tokenizer, data_dir, eval_cfg: dict, run: dict):
    """Real data, step 1 (a GPU job): ``n_samples`` sampled replies per question (``top_p`` and the
    temperature: ``eval_cfg["temperature"]`` when set, else the question's own, else 1), one row each with
    what the judge needs (question, answer, the question's judge prompts and judge model)."""
    import json

    import pandas as pd
    import torch

    from selgen.chat import prompt as chat_prompt
    from selgen.evaluation import RUN_KEYS
    from selgen.generation import generate, sampling_params
    from selgen.io import read_jsonl

    torch.manual_seed(run["seed"])
    ident = {k: run[k] for k in RUN_KEYS}
    out = []
    for name, stem in eval_cfg["sets"].items():
        rows = read_jsonl(Path(data_dir) / f"{stem}.jsonl", required=("messages", "question_id", "n_samples"))
        by_temperature: dict[float, list] = {}
        for r in rows:
            t = eval_cfg.get("temperature")
            t = float(r.get("temperature", 1.0) if t is None else t)
            by_temperature.setdefault(t, []).extend(
                [(r, chat_prompt(tokenizer, r["messages"]))] * r["n_samples"]
            )
        for t, asks in by_temperature.items():
            replies = generate(
                model,
                tokenizer,
                [p for _, p in asks],
                eval_cfg["max_new_tokens"],
                eval_cfg["batch_size"],
                desc=name if len(by_temperature) == 1 else f"{name} (T {t:g})",
                temperature=t,
                top_p=eval_cfg["top_p"],
            )
            sampling = json.dumps(sampling_params(t, eval_cfg["top_p"]))
            for (r, prompt), reply in zip(asks, replies, strict=True):
                out.append(
                    {
                        **ident,
                        "eval_set": name,
                        "prompt": prompt,
                        "domain": name,
                        "question_id": r["question_id"],
                        "question": r["messages"][-1]["content"],
                        **reply,  # response, n_tokens, truncated
                        "sampling": sampling,
                        "judge_prompts": json.dumps(r["judge_prompts"]) if r.get("judge_prompts") else None,
                        "judge_model": r.get("judge"),
                    }
                )
    return pd.DataFrame(out)


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


COST_KEYS = ("prompt_tokens", "completion_tokens", "cost_usd", "n_http_requests")


def judge_replies(replies, judge_cfg: dict | None):
    """Real data, step 2 (a local job: it needs the judge's endpoint): (samples, metrics) of the replies
    ``generate_replies`` made, scored by the LLM judge (``selgen.judge``)."""
    import json

    import pandas as pd

    from selgen.evaluation import RUN_KEYS
    from selgen.judge import judge_samples

    samples, metrics = [], []
    for name, group in replies.groupby("eval_set", sort=False):
        rows = group.to_dict("records")
        ident = {k: rows[0][k] for k in RUN_KEYS}
        to_judge = [
            {
                "question_id": r["question_id"],
                "question": r["question"],
                "answer": r["response"],
                **({"judge_prompts": json.loads(r["judge_prompts"])} if r.get("judge_prompts") else {}),
            }
            for r in rows
        ]
        judged: list[dict] = [{}] * len(rows)
        cost: dict[str, float | None] = dict.fromkeys(COST_KEYS, 0.0)
        for model, idx in judge_models(rows, judge_cfg).items():
            part, summary = judge_samples([to_judge[i] for i in idx], {**(judge_cfg or {}), "model": model})
            for i, j in zip(idx, part, strict=True):
                judged[i] = j
                rows[i]["judge_model"] = model
            for k in COST_KEYS:  # a total is unknown (None) as soon as one judge's is
                v = summary.get(k)
                cost[k] = None if v is None or cost[k] is None else cost[k] + v
        for r, j in zip(rows, judged, strict=True):
            keep = {k: v for k, v in r.items() if k not in ("question", "judge_prompts")}
            samples.append({**keep, "aligned": j.get("aligned"), "coherent": j.get("coherent")})
        print(f"judge ({name}): {cost}", file=sys.stderr)
        for m in summarize(judged, judge_cfg or {}):
            metrics.append({**ident, "eval_set": name, **m})
        # what this run paid the judge: moved into the runs table by selgen.tables (ACCOUNTING_PREFIX)
        for key, value in cost.items():
            metrics.append(
                {
                    **ident,
                    "eval_set": name,
                    "category": "all",
                    "metric": f"judge_{key.removeprefix('n_')}",
                    "value": float("nan") if value is None else float(value),
                    "n": len(judged),
                }
            )
    return pd.DataFrame(samples), pd.DataFrame(metrics).astype({"value": "float64", "n": "int64"})
