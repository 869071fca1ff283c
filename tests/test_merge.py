"""`selgen merge-tables`: one setting's tables from several clones merged run by run; the table schema."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_tables import make_run, write_judge

from selgen.config import config_hash
from selgen.fronts import summarize
from selgen.io import InputError
from selgen.merge import merge_tables
from selgen.stats import aggregate
from selgen.tables import build_tables

DOC = Path(__file__).resolve().parents[1] / "docs" / "tables.md"
CONFIG_A = {"seeds": [0, 1, 2], "model": "tiny"}
CONFIG_B = {"seeds": [0, 1, 2], "model": "tiny", "note": "other machine"}


def clone(tmp_path, name, runs, config=CONFIG_A, extra_metric=None):
    """A clone's tables folder built by ``build_tables`` from hand-made run folders.

    ``runs``: [(run_id, seed, value)] of task_only runs; ``extra_metric``: a run_id that gets one more
    metrics row (capability), to tell its rows apart from another clone's."""
    folders = [
        make_run(tmp_path / name / "runs", rid, "task_only", "default", seed, value)
        for rid, seed, value in runs
    ]
    if extra_metric:
        path = tmp_path / name / "runs" / extra_metric / "metrics.parquet"
        df = pd.read_parquet(path)
        extra = df.iloc[:1].assign(metric="capability", value=0.75)
        pd.concat([df, extra], ignore_index=True).to_parquet(path)
    out = tmp_path / name / "tables"
    build_tables(folders, config, out)
    return out


def read(folder):
    return {
        name: pd.read_parquet(Path(folder) / f"{name}.parquet") for name in ("runs", "metrics", "samples")
    }


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "selgen", "merge-tables", *map(str, args)], capture_output=True, text=True
    )


# -------------------------------------------------------------------------------------------------- merging
def test_shared_run_kept_once_others_kept(tmp_path, capsys):
    a = clone(tmp_path, "a", [("r0", 0, 0.1), ("r1", 1, 0.2)])
    b = clone(tmp_path, "b", [("r1", 1, 0.2), ("r2", 2, 0.3)])
    report = merge_tables([a, b], tmp_path / "out")
    assert "1 run(s)" in capsys.readouterr().err
    assert report["runs_in"] == [(str(a), 2), (str(b), 2)]
    assert report["duplicates"] == 1 and report["runs_out"] == 3
    out = read(tmp_path / "out")
    assert out["runs"]["run_id"].tolist() == ["r0", "r1", "r2"]
    assert out["metrics"].groupby("run_id").size().to_dict() == {"r0": 2, "r1": 2, "r2": 2}
    assert out["samples"].groupby("run_id").size().to_dict() == {"r0": 2, "r1": 2, "r2": 2}
    assert list(out["runs"].columns) == list(read(a)["runs"].columns)
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_runs_with_the_same_run_config_hash_merge_across_different_workflow_configs(tmp_path):
    own = {"run_config_hash": "abc123"}
    a = tmp_path / "a" / "runs"
    b = tmp_path / "b" / "runs"
    build_tables([make_run(a, "r1", "task_only", "default", 1, 0.2, own)], CONFIG_A, tmp_path / "a/tables")
    build_tables([make_run(b, "r1", "task_only", "default", 1, 0.2, own)], CONFIG_B, tmp_path / "b/tables")
    report = merge_tables([tmp_path / "a/tables", tmp_path / "b/tables"], tmp_path / "out")
    assert report["duplicates"] == 1 and report["runs_out"] == 1
    other = tmp_path / "c" / "runs"
    build_tables(
        [make_run(other, "r1", "task_only", "default", 1, 0.2, {"run_config_hash": "ffff00"})],
        CONFIG_A,
        tmp_path / "c/tables",
    )
    with pytest.raises(InputError, match="ffff00"):
        merge_tables([tmp_path / "a/tables", tmp_path / "c/tables"], tmp_path / "out2")


def test_conflicting_config_hash_names_run_folders_and_hashes(tmp_path):
    a = clone(tmp_path, "a", [("r0", 0, 0.1), ("r1", 1, 0.2)], CONFIG_A)
    b = clone(tmp_path, "b", [("r1", 1, 0.9)], CONFIG_B)
    with pytest.raises(InputError) as err:
        merge_tables([a, b], tmp_path / "out")
    msg = str(err.value)
    for part in ("'r1'", str(a), str(b), config_hash(CONFIG_A), config_hash(CONFIG_B)):
        assert part in msg
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.parametrize("prefer", ["first", "last"])
def test_prefer_takes_every_row_of_the_run_from_one_input(tmp_path, prefer):
    a = clone(tmp_path, "a", [("r0", 0, 0.1), ("r1", 1, 0.2)], CONFIG_A, extra_metric="r1")
    b = clone(tmp_path, "b", [("r1", 1, 0.9), ("r2", 2, 0.3)], CONFIG_B)
    report = merge_tables([a, b], tmp_path / "out", prefer=prefer)
    assert report["resolved"] == 1 and report["runs_out"] == 3
    out = read(tmp_path / "out")
    want = config_hash(CONFIG_B if prefer == "last" else CONFIG_A)
    for name, df in out.items():
        assert (df.loc[df["run_id"] == "r1", "config_hash"] == want).all(), name
    r1 = out["metrics"][out["metrics"]["run_id"] == "r1"]
    if prefer == "last":  # B's two rows only: not A's extra capability row
        assert sorted(r1["metric"]) == ["sycophancy", "sycophancy"]
        assert r1.loc[r1["category"] == "all", "value"].tolist() == [0.9]
    else:
        assert sorted(r1["metric"]) == ["capability", "sycophancy", "sycophancy"]
        assert r1.query("category == 'all' and metric == 'sycophancy'")["value"].tolist() == [0.2]
    assert (out["samples"]["run_id"] == "r1").sum() == 2
    # the other runs keep their own inputs' provenance
    assert out["runs"].set_index("run_id")["config_hash"].to_dict() == {
        "r0": config_hash(CONFIG_A),
        "r1": want,
        "r2": config_hash(CONFIG_B),
    }


def test_summary_is_aggregate_of_merged_metrics(tmp_path):
    a = clone(tmp_path, "a", [("r0", 0, 0.1), ("r1", 1, 0.2)])
    b = clone(tmp_path, "b", [("r1", 1, 0.2), ("r2", 2, 0.6)])
    merge_tables([a, b], tmp_path / "out")
    metrics = pd.read_parquet(tmp_path / "out" / "metrics.parquet")
    summary = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    added = [
        "keeps_task",
        "n_clusters",
        "ci_lo_clustered",
        "ci_hi_clustered",
        "on_front",
    ]  # fronts.summarize's
    pd.testing.assert_frame_equal(summary.drop(columns=added), aggregate(metrics))
    pd.testing.assert_frame_equal(summary, summarize(metrics))
    row = summary[summary["category"] == "all"].iloc[0]
    assert row["n_seeds"] == 3 and row["mean"] == pytest.approx(0.3)
    # and the same file `selgen summary` writes from the merged metrics
    again = tmp_path / "again.parquet"
    done = subprocess.run(
        [sys.executable, "-m", "selgen", "summary", "--metrics", str(tmp_path / "out" / "metrics.parquet")]
        + ["--out", str(again)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(summary, pd.read_parquet(again))


def test_different_settings_are_an_error(tmp_path):
    a = clone(tmp_path, "a", [("r0", 0, 0.1)])
    b = clone(tmp_path, "b", [("r1", 1, 0.2)])
    for name, df in read(b).items():
        df.assign(setting="em").to_parquet(b / f"{name}.parquet")
    with pytest.raises(InputError, match="different settings") as err:
        merge_tables([a, b], tmp_path / "out")
    assert str(a) in str(err.value) and str(b) in str(err.value)
    assert "gcd" in str(err.value) and "em" in str(err.value)


def test_missing_file_and_missing_column_are_named(tmp_path):
    a = clone(tmp_path, "a", [("r0", 0, 0.1)])
    b = clone(tmp_path, "b", [("r1", 1, 0.2)])
    (b / "samples.parquet").unlink()
    with pytest.raises(InputError, match=re.escape(str(b / "samples.parquet"))):
        merge_tables([a, b], tmp_path / "out")
    read(a)["runs"].drop(columns="config_hash").to_parquet(a / "runs.parquet")
    with pytest.raises(InputError, match=re.escape(str(a / "runs.parquet")) + ".*'config_hash'"):
        merge_tables([a], tmp_path / "out")


def test_metrics_row_of_unknown_run_is_named(tmp_path):
    a = clone(tmp_path, "a", [("r0", 0, 0.1)])
    metrics = read(a)["metrics"]
    metrics.loc[1, "run_id"] = "ghost"
    metrics.to_parquet(a / "metrics.parquet")
    with pytest.raises(InputError, match=r"metrics\.parquet, row 2: field 'run_id' 'ghost'"):
        merge_tables([a], tmp_path / "out")


def test_columns_only_one_input_has_survive(tmp_path):
    a = clone(tmp_path, "a", [("r0", 0, 0.1)])
    folder = make_run(tmp_path / "b" / "runs", "r1", "task_only", "default", 1, 0.2, extra={"note": 3})
    build_tables([folder], CONFIG_A, tmp_path / "b" / "tables")
    merge_tables([a, tmp_path / "b" / "tables"], tmp_path / "out")
    runs = read(tmp_path / "out")["runs"]
    assert runs["note"].isna().tolist() == [True, False]
    assert list(runs.columns[-3:]) == ["config_hash", "git_commit", "versions"]


# ------------------------------------------------------------------------------------------------------ CLI
def test_cli_exit_codes(tmp_path):
    a = clone(tmp_path, "a", [("r0", 0, 0.1), ("r1", 1, 0.2)], CONFIG_A)
    b = clone(tmp_path, "b", [("r1", 1, 0.2), ("r2", 2, 0.3)], CONFIG_A)
    c = clone(tmp_path, "c", [("r1", 1, 0.9)], CONFIG_B)

    ok = cli("--out", tmp_path / "ok", a, b)
    assert ok.returncode == 0, ok.stderr
    assert "1 duplicate(s) dropped" in ok.stdout and "3 runs out" in ok.stdout
    assert len(ok.stdout.strip().splitlines()) == 1
    assert "already in an earlier input" in ok.stderr
    assert (tmp_path / "ok" / "summary.parquet").exists()

    bad = cli("--out", tmp_path / "bad", a, c)
    assert bad.returncode != 0
    assert "'r1'" in bad.stderr and config_hash(CONFIG_B) in bad.stderr
    assert not (tmp_path / "bad").exists()

    last = cli("--out", tmp_path / "last", "--prefer", "last", a, c)
    assert last.returncode == 0, last.stderr
    r1 = pd.read_parquet(tmp_path / "last" / "metrics.parquet").query("run_id == 'r1' and category == 'all'")
    assert r1["value"].tolist() == [0.9]

    missing = cli("--out", tmp_path / "missing", a, tmp_path / "nowhere")
    assert missing.returncode != 0 and "nowhere" in missing.stderr


# --------------------------------------------------------------------------------------------------- schema
def documented() -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", DOC.read_text(encoding="utf-8")))


def test_every_built_column_is_documented(tmp_path):
    """Every column of runs, metrics and summary as build_tables / summarize make them (judge accounting
    from judge.json included) is named in docs/tables.md."""
    folders = [
        make_run(tmp_path / "runs", "r0", "task_only", "default", 0, 0.1),
        make_run(tmp_path / "runs", "r1", "task_only", "default", 1, 0.2),
    ]
    write_judge(folders[0])
    build_tables(folders, CONFIG_A, tmp_path / "tables")
    merge_tables([tmp_path / "tables"], tmp_path / "merged")
    tables = read(tmp_path / "merged") | {"summary": pd.read_parquet(tmp_path / "merged" / "summary.parquet")}
    assert {"judge_cost_usd", "judge_models"} <= set(tables["runs"].columns)
    docs = documented()
    for name in ("runs", "metrics", "summary"):
        missing = sorted(set(tables[name].columns) - docs)
        assert not missing, f"{name} columns not documented in {DOC}: {missing}"
    common = [
        "setting",
        "method",
        "hp",
        "seed",
        "run_id",
        "eval_set",
        "config_hash",
        "git_commit",
        "versions",
    ]
    assert not set(common) - docs


def test_training_record_keys_are_documented(tmp_path):
    """The keys the training loop writes into every run record (hence into `runs`) are documented."""
    from helpers import chat, tiny_model, tokenizer_for

    from selgen.methods import make_method
    from selgen.training import train

    rows = [chat(f"What is {a} + 1?", f"{a + 1}") for a in range(8)]
    tokenizer = tokenizer_for(rows)
    cfg = {
        "lr": 1e-3,
        "steps": 1,
        "epochs": 1,
        "batch_size": 4,
        "grad_accum": 1,
        "max_length": 32,
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
    }
    record = train(
        tiny_model(tokenizer), tokenizer, make_method("task_only", {}), rows, [], cfg, 0, progress=False
    )
    identity = [
        "run_id",
        "setting",
        "method",
        "hp",
        "hp_values",
        "seed",
        "model",
        "finetune",
        "run_config_hash",
    ]
    missing = sorted((set(record) | set(identity)) - documented())
    assert not missing, f"run record keys not documented: {missing}"


def test_setting_sample_columns_are_documented():
    from selgen.settings.em.scoring import score as score_em
    from selgen.settings.gcd.scoring import OUTPUT_COLUMNS

    em = score_em([{"domain": "medical", "question_id": "medical_0", "filler": "cold", "response": "x"}])
    missing = sorted((set(OUTPUT_COLUMNS) | set(em[0])) - documented())
    assert not missing, f"samples columns not documented: {missing}"
