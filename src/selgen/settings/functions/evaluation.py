"""Evaluate one model on the functions setting: logit-argmax colours on every category's ID and OOD tests.

Each test point is scored once (``scoring.predict_colours`` over the spec's colour words) and compared with
both mappings: ``accuracy`` against the *updated* mapping (the narrow update's target; the untouched
categories keep their base colours there) and ``accuracy_base`` against the base mapping (what the stage-1
model was trained on). Metrics rows: per category × eval set (``id``, ``ood`` and ``all`` = both pooled), and
the pooled ``untouched`` category (every category but the updated one), so seed intervals exist for it.
"""

from __future__ import annotations

import json
from pathlib import Path

from selgen.settings.functions.data import EVAL_SETS, test_file
from selgen.settings.functions.scoring import METRIC, predict_colours

FUNCTION_FILE = "function"  # the validated spec of F, written beside the data files
UNTOUCHED = "untouched"
UPDATED = "updated"  # the updated category under a fixed name, so figures need not know which it is
POOLED = "all"
RUN_KEYS = ("setting", "method", "hp", "seed", "run_id")


def load_function(data_dir: str | Path) -> dict:
    return json.loads((Path(data_dir) / f"{FUNCTION_FILE}.json").read_text())


def evaluate(model, tokenizer, data_dir, eval_cfg: dict, run: dict):
    """(samples, metrics) DataFrames; ``eval_cfg["batch_size"]`` counts (prompt, colour) sequences."""
    import pandas as pd

    from selgen.io import read_jsonl

    spec = load_function(data_dir)
    update = spec["update"]["category"]
    rows, base_outputs = [], []
    for category in spec["categories"]:
        for es in EVAL_SETS:
            updated = read_jsonl(Path(data_dir) / f"{test_file('updated', category, es)}.jsonl")
            base = read_jsonl(Path(data_dir) / f"{test_file('base', category, es)}.jsonl")
            rows += [{**r, "eval_set": es} for r in updated]
            base_outputs += [r["output"] for r in base]
    predicted = predict_colours(model, tokenizer, rows, spec["colors"], eval_cfg["batch_size"])
    ident = {k: run[k] for k in RUN_KEYS}
    samples = pd.DataFrame(
        [
            {
                **ident,
                "eval_set": r["eval_set"],
                "category": r["category"],
                "input_trigger": r["input_trigger"],
                "input_x": r["input_x"],
                "prompt": r["messages"][0]["content"],
                "output": r["output"],
                "output_base": out_base,
                "predicted": pred,
                "correct": pred == r["output"],
                "correct_base": pred == out_base,
            }
            for r, out_base, pred in zip(rows, base_outputs, predicted, strict=True)
        ]
    )
    metrics = []
    for metric, column in ((METRIC, "correct"), (f"{METRIC}_base", "correct_base")):
        for es in (*EVAL_SETS, POOLED):
            in_set = samples if es == POOLED else samples[samples["eval_set"] == es]
            groups = [(c, in_set[in_set["category"] == c]) for c in spec["categories"]]
            groups.append((UPDATED, in_set[in_set["category"] == update]))
            groups.append((UNTOUCHED, in_set[in_set["category"] != update]))
            for category, part in groups:
                metrics.append(
                    {
                        **ident,
                        "eval_set": es,
                        "category": category,
                        "metric": metric,
                        "value": float(part[column].mean()) if len(part) else float("nan"),
                        "n": len(part),
                    }
                )
    return samples, pd.DataFrame(metrics).astype({"value": "float64", "n": "int64"})
