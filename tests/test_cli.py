"""The `selgen` command on bad input: a clear message, exit code 2, nothing half-written."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from selgen.cli import main
from selgen.training import TrainingDiverged

ROW = {
    "_id": 1,
    "label": "euclidean",
    "answer": "7",
    "mod": None,
    "user_provides_answer": None,
    "messages": [{"role": "user", "content": "What is the GCD of 84 and 35?"}],
    "response": "Step 1: 84 = 35 × 2 + 14\nSo the answer is 7.",
}


def test_score_writes_one_row_per_input(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.parquet"
    src.write_text(json.dumps(ROW) + "\n" + json.dumps({**ROW, "response": "So the answer is 14."}) + "\n")
    assert main(["gcd", "score", "--responses", str(src), "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert df["is_correct"].tolist() == [True, False]


def test_score_rejects_a_malformed_row_and_writes_nothing(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.parquet"
    src.write_text(json.dumps(ROW) + "\n{not json\n")
    assert main(["gcd", "score", "--responses", str(src), "--out", str(out)]) == 2
    assert "in.jsonl, line 2: not valid JSON" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_score_names_a_missing_field(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.parquet"
    src.write_text(json.dumps({k: v for k, v in ROW.items() if k != "response"}) + "\n")
    assert main(["gcd", "score", "--responses", str(src), "--out", str(out)]) == 2
    assert "line 1: missing field(s) 'response'" in capsys.readouterr().err
    assert not out.exists()


def test_bad_config_names_the_key(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("gcd:\n  train:\n    lr: fast\n  methods:\n    magic: {}\n")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "--snakefile",
            str(__import__("pathlib").Path(__file__).resolve().parents[1] / "Snakefile"),
            "--directory",
            str(tmp_path),
            "--configfile",
            str(cfg),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode != 0
    assert (
        "config key gcd.methods: unknown name 'magic'; valid: task_only, mixed, upweight, kl"
        in res.stderr + res.stdout
    )


def test_diverging_training_fails_clearly_and_writes_nothing(tmp_path, capsys):
    from selgen.io import write_jsonl
    from selgen.mini import build_model, train_tokenizer

    rows = [
        {"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": f"{i}!"}]}
        for i in range(8)
    ]
    data, base = tmp_path / "data", tmp_path / "base"
    write_jsonl(data / "task_train.jsonl", rows)
    write_jsonl(data / "align_train.jsonl", rows[:2])
    tok = train_tokenizer([m["content"] for r in rows for m in r["messages"]], 300)
    build_model(
        tok, {"hidden_size": 16, "intermediate_size": 32, "num_layers": 1, "num_heads": 2, "max_position": 32}
    ).save_pretrained(base)
    tok.save_pretrained(base)
    train_cfg = {
        "finetune": "full",
        "lr": 1e30,
        "epochs": 3,
        "batch_size": 4,
        "align_batch_size": 2,
        "grad_accum": 1,
        "max_length": 32,
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "dtype": "float32",
    }
    params = {
        "setting": "gcd",
        "method": "task_only",
        "hp": "default",
        "hp_values": {},
        "seed": 1,
        "run_id": "gcd/task_only/default/seed1",
        "threads": 1,
        "train": train_cfg,
    }
    out, record = tmp_path / "run" / "model", tmp_path / "run" / "record.json"
    # not an input error: the failure propagates (a traceback, exit 1 from the command line)
    with pytest.raises(TrainingDiverged, match="non-finite loss at step"):
        main(
            [
                "train",
                "gcd",
                "--params",
                json.dumps(params),
                "--data",
                str(data),
                "--base",
                str(base),
                "--out",
                str(out),
                "--record",
                str(record),
            ]
        )
    assert not out.exists() and not record.exists()


def test_input_errors_exit_2_and_other_failures_propagate(tmp_path, capsys):
    """A documented input error (selgen.io.InputError) is a message and exit 2; anything else is not turned
    into an input error: it propagates (the command line shows its traceback and exits 1)."""
    summary, out = tmp_path / "summary.parquet", tmp_path / "f.pdf"
    assert main(["plot", "gcd", "--kind", "nope", "--summary", str(summary), "--out", str(out)]) == 2
    assert "no nope figure for setting 'gcd'; it has pareto" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):  # not an InputError: a traceback, not a one-line message
        main(["plot", "gcd", "--summary", str(summary), "--out", str(out)])
    res = subprocess.run(
        [sys.executable, "-m", "selgen.cli", "plot", "gcd", "--summary", str(summary), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1 and "Traceback" in res.stderr
