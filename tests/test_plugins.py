"""Plug-ins: a toy setting and a toy method defined in tests/plugins/toy_parity.py (nothing under src/ or
workflow/ names them) run end to end through Snakemake to the setting's Pareto figure."""

import json

import pandas as pd
import pytest
from test_workflow import ROOT, snakemake

from selgen.cli import main

PLUGIN = str(ROOT / "tests/plugins/toy_parity.py")
MINI = {
    "vocab_size": 120,
    "hidden_size": 32,
    "num_layers": 2,
    "num_heads": 2,
    "intermediate_size": 64,
    "max_position": 64,
    "knowledge_steps": 0,
    "steps": 20,
    "batch_size": 16,
    "lr": 0.003,
    "warmup_steps": 0,
    "threads": 1,
}
CONFIG = {
    "settings": ["parity"],
    "plugins": [PLUGIN],
    "seeds": [1],
    "threads": 1,
    "parity": {
        "base": {"model": "mini", "mini": MINI},
        "train": {"lr": 0.003, "epochs": 2, "batch_size": 4, "align_batch_size": 4, "max_length": 32},
        "methods": {"task_only": {}, "mixed": {}, "scaled_ce": {"scale": [2.0]}},
    },
}


@pytest.mark.slow
def test_toy_setting_and_method_run_end_to_end(tmp_path):
    res = snakemake(tmp_path, "--cores", "2", "results/pareto_parity.pdf", config=CONFIG)
    assert res.returncode == 0, res.stderr[-4000:]
    assert (tmp_path / "results/pareto_parity.png").stat().st_size > 1000
    runs = pd.read_parquet(tmp_path / "results/tables/parity/runs.parquet")
    assert sorted(runs["method"]) == ["base", "mixed", "scaled_ce", "task_only"]
    summary = pd.read_parquet(tmp_path / "results/tables/parity/summary.parquet")
    acc = summary[summary["metric"] == "accuracy"]
    assert set(acc["eval_set"]) == {"long", "short"} and acc["mean"].between(0, 1).all()
    # the toy method trained with its own hyper-parameter: the record carries it and a loss history
    record = json.loads((tmp_path / "results/parity/runs/scaled_ce/scale=2.0/seed1/record.json").read_text())
    assert record["hp_values"] == {"scale": 2.0} and record["steps"] > 0
    # the organism check runs on the plug-in's own checks
    assert (
        main(
            [
                "--plugins",
                PLUGIN,
                "organism",
                "parity",
                "--metrics",
                str(tmp_path / "results/tables/parity/metrics.parquet"),
            ]
        )
        == 0
    )


def test_an_unknown_plugin_is_a_config_error(tmp_path):
    res = snakemake(tmp_path, "-n", config={**CONFIG, "plugins": ["tests/plugins/missing.py"]})
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "config key plugins" in out and "missing.py" in out
