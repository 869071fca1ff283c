"""The `selgen` command on bad input: a clear message, exit code 2, nothing half-written."""

import json
import subprocess
import sys

import pandas as pd

from selgen.cli import main

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
    assert main(["score", "gcd", "--responses", str(src), "--out", str(out)]) == 0
    df = pd.read_parquet(out)
    assert df["is_correct"].tolist() == [True, False]


def test_score_rejects_a_malformed_row_and_writes_nothing(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.parquet"
    src.write_text(json.dumps(ROW) + "\n{not json\n")
    assert main(["score", "gcd", "--responses", str(src), "--out", str(out)]) == 2
    assert "in.jsonl, line 2: not valid JSON" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_score_names_a_missing_field(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.parquet"
    src.write_text(json.dumps({k: v for k, v in ROW.items() if k != "response"}) + "\n")
    assert main(["score", "gcd", "--responses", str(src), "--out", str(out)]) == 2
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
