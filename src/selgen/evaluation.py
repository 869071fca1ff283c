"""Evaluate one model on a setting's eval sets: generate replies, score them, summarise into metrics rows."""

from __future__ import annotations

import json
from pathlib import Path

RUN_KEYS = ("setting", "method", "hp", "seed", "run_id")


def evaluate(model, tokenizer, setting_module, data_dir, eval_sets: dict, eval_cfg: dict, run: dict):
    """Return (samples, metrics) DataFrames for ``model`` over ``eval_sets`` {eval set name: file stem}.

    ``run`` carries the run's identity (setting, method, hp, seed, run_id), repeated on every row.
    """
    import pandas as pd

    from selgen.chat import prompt as chat_prompt
    from selgen.generation import generate, sampling_params
    from selgen.io import read_jsonl

    ident = {k: run[k] for k in RUN_KEYS}
    # greedy unless the eval config asks for sampling (temperature > 0: one seeded sample per prompt)
    temperature, top_p = float(eval_cfg.get("temperature") or 0.0), float(eval_cfg.get("top_p", 1.0))
    if temperature > 0:
        import torch

        torch.manual_seed(run["seed"])
    samples, metrics = [], []
    for name, stem in eval_sets.items():
        rows = read_jsonl(Path(data_dir) / f"{stem}.jsonl", required=("messages",))
        prompts = [chat_prompt(tokenizer, r["messages"]) for r in rows]
        replies = generate(
            model,
            tokenizer,
            prompts,
            eval_cfg["max_new_tokens"],
            eval_cfg["batch_size"],
            desc=name,
            temperature=temperature,
            top_p=top_p,
        )
        scored = setting_module.score(
            [{**r, "response": reply["response"]} for r, reply in zip(rows, replies, strict=True)]
        )
        gen = {"sampling": json.dumps(sampling_params(temperature, top_p))}
        for prompt, s, reply in zip(prompts, scored, replies, strict=True):
            samples.append({**ident, "eval_set": name, "prompt": prompt, **s, **reply, **gen})
        for m in setting_module.summarize(scored):
            metrics.append({**ident, "eval_set": name, **m})
    samples_df = pd.DataFrame(samples)
    for col in samples_df.columns:  # mixed None/bool columns -> nullable booleans for Parquet
        if samples_df[col].dtype == object and samples_df[col].dropna().map(type).eq(bool).all():
            samples_df[col] = samples_df[col].astype("boolean")
    metrics_df = pd.DataFrame(metrics).astype({"value": "float64", "n": "int64"})
    return samples_df, metrics_df
