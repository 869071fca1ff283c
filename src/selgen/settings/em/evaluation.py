"""How an em model is evaluated. The mini organism: greedy replies scored exactly (``scoring``), summarised
with the configured judge thresholds. Real data (eval rows carry ``n_samples``): sampled replies
(``generate_replies``, a GPU job), then the LLM judge (``judging.judge_replies``, a local job)."""

from __future__ import annotations

from pathlib import Path


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

        from selgen.settings.em.scoring import score, summarize

        # the mini organism's exact scores, summarised with the configured judge thresholds
        judge_cfg = eval_cfg.get("judge") or {}
        scorer = SimpleNamespace(score=score, summarize=lambda scored: summarize(scored, judge_cfg))
        return evaluate_generated(model, tokenizer, scorer, data_dir, sets, eval_cfg, run)
    return _evaluate_with_judge(model, tokenizer, data_dir, eval_cfg, run)


def _evaluate_with_judge(model, tokenizer, data_dir, eval_cfg: dict, run: dict):
    """Both steps in one process (a hand run; the workflow runs them as two jobs). The judge's costs are
    printed, not returned."""
    from selgen.settings.em.judging import judge_replies

    samples, metrics, _costs = judge_replies(
        generate_replies(model, tokenizer, data_dir, eval_cfg, run), eval_cfg.get("judge")
    )
    return samples, metrics


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
