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
        if eval_cfg.get("backend", "hf") == "vllm":
            from selgen.io import InputError

            raise InputError(
                "eval.backend vllm samples judged replies of real data (question rows with n_samples); the "
                "mini organism's greedy evaluation runs on backend hf"
            )
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
    what the judge needs (question, answer, the question's judge prompts and judge model).

    ``eval_cfg["backend"]``: ``hf`` (default) - ``model`` and ``tokenizer`` are loaded (``load_model``),
    replies come from transformers ``generate`` in batches; ``vllm`` - ``model`` is the run's model folder
    (or a ``selgen.generation_vllm.Engine`` on it, to reuse) and ``tokenizer`` is None: vLLM serves the
    base with the run's adapter as a LoRA request, one request of ``n_samples`` per question
    (``selgen.generation_vllm``). Both give the same columns; ``sampling`` records the backend. Both seed
    from the run's ``seed`` (a column): hf seeds torch with it, vllm gives each question's request the seed
    ``request_seed(seed, eval set, question id, temperature)``."""
    import json

    import pandas as pd

    from selgen.evaluation import RUN_KEYS

    vllm = eval_cfg.get("backend", "hf") == "vllm"
    if vllm:
        from selgen.generation_vllm import Engine, request_seed

        engine = (
            model if isinstance(model, Engine) else Engine(model, run.get("model"), eval_cfg, run["seed"])
        )
        tokenizer = engine.tokenizer
    else:
        import torch

        torch.manual_seed(run["seed"])
    ident = {k: run[k] for k in RUN_KEYS}
    out = []
    for name, groups in _questions(tokenizer, data_dir, eval_cfg):
        for t, asks in groups.items():
            base = _sampling(t, eval_cfg["top_p"])
            if vllm:
                seeds = [request_seed(run["seed"], name, r["question_id"], t) for r, _ in asks]
                n = [r["n_samples"] for r, _ in asks]
                replies = engine.generate([p for _, p in asks], n, t, eval_cfg["top_p"], seeds)
                sampling = json.dumps({**base, "backend": "vllm"})
                for (r, prompt), group in zip(asks, replies, strict=True):
                    out.extend(_row(ident, name, r, prompt, reply, sampling) for reply in group)
                continue
            from selgen.generation import generate

            repeated = [(r, p) for r, p in asks for _ in range(r["n_samples"])]
            replies = generate(
                model,
                tokenizer,
                [p for _, p in repeated],
                eval_cfg["max_new_tokens"],
                eval_cfg["batch_size"],
                desc=name if len(groups) == 1 else f"{name} (T {t:g})",
                temperature=t,
                top_p=eval_cfg["top_p"],
            )
            sampling = json.dumps({**base, "backend": "hf"})
            for (r, prompt), reply in zip(repeated, replies, strict=True):
                out.append(_row(ident, name, r, prompt, reply, sampling))
    return pd.DataFrame(out)


def _sampling(temperature: float, top_p: float) -> dict:
    from selgen.generation import sampling_params

    return sampling_params(temperature, top_p)


def _questions(tokenizer, data_dir, eval_cfg: dict):
    """Per eval set: (name, {temperature: [(question row, prompt)]}), in the question files' order."""
    from selgen.chat import prompt as chat_prompt
    from selgen.io import read_jsonl

    for name, stem in eval_cfg["sets"].items():
        rows = read_jsonl(Path(data_dir) / f"{stem}.jsonl", required=("messages", "question_id", "n_samples"))
        groups: dict[float, list] = {}
        for r in rows:
            t = eval_cfg.get("temperature")
            t = float(r.get("temperature", 1.0) if t is None else t)
            groups.setdefault(t, []).append((r, chat_prompt(tokenizer, r["messages"])))
        yield name, groups


def _row(ident: dict, name: str, r: dict, prompt: str, reply: dict, sampling: str) -> dict:
    import json

    return {
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
