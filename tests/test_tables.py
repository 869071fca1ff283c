import json
import math
import subprocess

import numpy as np
import pandas as pd
import pytest

from selgen.fronts import axis_values, pareto_front, pareto_points, summarize
from selgen.io import InputError
from selgen.provenance import git_commit, provenance
from selgen.stats import aggregate, paired_difference, t975
from selgen.tables import build_tables, write_summary


def metric_rows(
    method, hp, values, *, setting="gcd", eval_set="ood", category="all", metric="sycophancy", n=10
):
    return [
        {
            "setting": setting,
            "method": method,
            "hp": hp,
            "seed": seed,
            "run_id": f"{method}-{hp}-{seed}",
            "eval_set": eval_set,
            "category": category,
            "metric": metric,
            "value": v,
            "n": n,
        }
        for seed, v in enumerate(values)
    ]


# ------------------------------------------------------------------------------------------------ t quantile
# t_{0.975} for 1..30 degrees of freedom as printed in statistics tables (3 decimals); selgen.tables used this
# table before it took the quantile from scipy
# fmt: off
T975_PRINTED = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]
# fmt: on


@pytest.mark.parametrize("dof", range(1, 31))
def test_t975_equals_the_printed_table_to_its_precision(dof):
    assert round(t975(dof), 3) == T975_PRINTED[dof - 1]


def test_t975_beyond_the_table_and_bad_dof():
    assert 1.96 < t975(100) < t975(31) < T975_PRINTED[-1]
    with pytest.raises(ValueError):
        t975(0)


# ------------------------------------------------------------------------------------------------- aggregate
def test_aggregate_mean_sd_interval():
    agg = aggregate(pd.DataFrame(metric_rows("mixed", "lam=0.5", [1.0, 2.0, 3.0])))
    assert len(agg) == 1
    row = agg.iloc[0]
    assert row["mean"] == pytest.approx(2.0)
    assert row["sd"] == pytest.approx(1.0)
    assert row["n_seeds"] == 3
    half = 4.303 / math.sqrt(3)
    assert row["ci_half"] == pytest.approx(half, abs=1e-3)
    assert row["ci_lo"] == pytest.approx(2 - half, abs=1e-3)
    assert row["ci_hi"] == pytest.approx(2 + half, abs=1e-3)
    assert row["n"] == 30
    assert row["n_nan"] == 0


def test_aggregate_one_seed_has_no_interval():
    row = aggregate(pd.DataFrame(metric_rows("base", "default", [0.25]))).iloc[0]
    assert row["mean"] == 0.25
    assert row["n_seeds"] == 1
    assert math.isnan(row["sd"]) and math.isnan(row["ci_lo"]) and math.isnan(row["ci_hi"])


def test_aggregate_drops_nan_and_counts_them():
    rows = metric_rows("kl", "beta=0.1", [1.0, np.nan, 3.0, 2.0])
    row = aggregate(pd.DataFrame(rows)).iloc[0]
    assert row["mean"] == pytest.approx(2.0)
    assert row["n_seeds"] == 3
    assert row["n_nan"] == 1
    assert row["n"] == 30  # n of the rows that entered the mean
    all_nan = aggregate(pd.DataFrame(metric_rows("kl", "beta=1", [np.nan, np.nan]))).iloc[0]
    assert all_nan["n_seeds"] == 0 and all_nan["n_nan"] == 2 and math.isnan(all_nan["mean"])


def test_aggregate_groups_separately():
    rows = metric_rows("a", "x", [1.0, 3.0]) + metric_rows("a", "y", [5.0, 7.0])
    rows += metric_rows("a", "x", [0.5, 0.5], metric="capability")
    agg = aggregate(pd.DataFrame(rows)).set_index(["hp", "metric"])
    assert agg.loc[("x", "sycophancy"), "mean"] == 2.0
    assert agg.loc[("y", "sycophancy"), "mean"] == 6.0
    assert agg.loc[("x", "capability"), "sd"] == 0.0
    assert len(agg) == 3


# ------------------------------------------------------------------------------------------ paired difference
def test_paired_difference_single_seed_reference():
    rows = metric_rows("base", "default", [0.1]) + metric_rows("task_only", "default", [0.5, 0.6, 0.7])
    res = paired_difference(
        pd.DataFrame(rows), "task_only", "default", eval_set="ood", category="all", metric="sycophancy"
    )
    assert list(res["per_seed"].round(10)) == [0.4, 0.5, 0.6]
    assert res["mean"] == pytest.approx(0.5)
    assert res["sd"] == pytest.approx(0.1)
    half = t975(2) * 0.1 / math.sqrt(3)
    assert res["ci_lo"] == pytest.approx(0.5 - half)
    assert res["ci_hi"] == pytest.approx(0.5 + half)
    assert res["excludes_zero"]


def test_paired_difference_pairs_by_seed():
    rows = metric_rows("base", "default", [1.0, 2.0, 3.0]) + metric_rows("mixed", "lam=1", [2.0, 2.0, 5.0])
    res = paired_difference(
        pd.DataFrame(rows), "mixed", "lam=1", "base", eval_set="ood", category="all", metric="sycophancy"
    )
    assert list(res["per_seed"]) == [1.0, 0.0, 2.0]
    assert res["mean"] == pytest.approx(1.0)
    assert res["sd"] == pytest.approx(1.0)
    assert res["ci_lo"] < 0 < res["ci_hi"]
    assert not res["excludes_zero"]


def test_paired_difference_one_seed_no_interval():
    rows = metric_rows("base", "default", [0.1]) + metric_rows("task_only", "default", [0.5])
    res = paired_difference(
        pd.DataFrame(rows), "task_only", "default", eval_set="ood", category="all", metric="sycophancy"
    )
    assert res["mean"] == pytest.approx(0.4)
    assert math.isnan(res["ci_lo"]) and not res["excludes_zero"]


# ---------------------------------------------------------------------------------------------------- Pareto
def test_pareto_front_hand_made():
    pts = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 1.5, 2.0, 0.5, np.nan, 3.0],
            "y": [3.0, 2.0, 1.0, 1.5, 2.0, 0.5, 9.0, 0.5],
        },
        index=list("abcdefgh"),
    )
    front = pareto_front(pts, "x", "y")
    assert front.index.equals(pts.index)
    # a, b, c on front; e ties with b (kept); d dominated by b; f dominated; g NaN; h dominated by c
    assert front.to_dict() == {
        "a": True,
        "b": True,
        "c": True,
        "d": False,
        "e": True,
        "f": False,
        "g": False,
        "h": False,
    }


def test_pareto_front_single_and_equal_on_one_axis():
    assert pareto_front(pd.DataFrame({"x": [1.0], "y": [1.0]}), "x", "y").tolist() == [True]
    # same x, higher y dominates
    assert pareto_front(pd.DataFrame({"x": [1.0, 1.0], "y": [1.0, 2.0]}), "x", "y").tolist() == [False, True]


def _summary_metrics():
    rows = []
    # capability on task_test, sycophancy on ood
    for method, hp, cap, syc in [
        ("base", "default", [0.9], [0.1]),
        ("task_only", "default", [0.95, 0.97], [0.6, 0.7]),
        ("mixed", "lam=0.5", [0.93, 0.95], [0.3, 0.3]),
        ("mixed", "lam=1", [0.80, 0.82], [0.2, 0.2]),
        ("kl", "beta=0.1", [0.70, 0.72], [0.4, 0.5]),  # dominated by mixed lam=0.5 and lam=1
    ]:
        rows += metric_rows(method, hp, cap, eval_set="task_test", metric="capability")
        rows += metric_rows(method, hp, syc, eval_set="ood", metric="sycophancy")
    return pd.DataFrame(rows)


def test_summarize_on_front(tmp_path):
    out = tmp_path / "summary.parquet"
    summary = write_summary(_summary_metrics(), out)
    assert out.exists()
    back = pd.read_parquet(out)
    assert len(back) == len(summary) == 10
    flags = back.groupby(["method", "hp"])["on_front"].first().to_dict()
    assert flags == {
        ("base", "default"): False,
        ("task_only", "default"): True,
        ("mixed", "lam=0.5"): True,
        ("mixed", "lam=1"): True,
        ("kl", "beta=0.1"): False,
    }
    # a setting without a front spec gets NA
    other = summarize(_summary_metrics().assign(setting="other"))
    assert other["on_front"].isna().all() and other["keeps_task"].isna().all()


def test_a_run_that_does_not_keep_the_task_is_marked_and_off_the_front():
    """gcd's floor: 80 % of task_only's task-test capability (0.96 → 0.768). kl at 0.71 fails it; a point
    that would dominate everything on the other axis while learning nothing cannot take the front."""
    keeps = summarize(_summary_metrics()).groupby(["method", "hp"])["keeps_task"].first()
    assert keeps.isna()[("base", "default")]
    assert keeps.drop(("base", "default")).to_dict() == {
        ("kl", "beta=0.1"): False,
        ("mixed", "lam=0.5"): True,
        ("mixed", "lam=1"): True,  # 0.81 >= 0.768
        ("task_only", "default"): True,
    }
    lazy = pd.DataFrame(
        metric_rows("lazy", "default", [0.76, 0.77], eval_set="task_test", metric="capability")
        + metric_rows("lazy", "default", [0.0, 0.0], eval_set="ood", metric="sycophancy")
    )
    summary = summarize(pd.concat([_summary_metrics(), lazy], ignore_index=True))
    flags = summary.groupby(["method", "hp"])[["keeps_task", "on_front"]].first()
    assert not flags.loc[("lazy", "default"), "keeps_task"] and not flags.loc[("lazy", "default"), "on_front"]
    # lazy has the best y of all (sycophancy 0): without the floor it would be on the front
    assert flags.loc[("mixed", "lam=1"), "on_front"] and flags.loc[("task_only", "default"), "on_front"]
    pts = pareto_points(
        summary,
        {"eval_set": "task_test", "category": "all", "metric": "capability"},
        {"eval_set": "ood", "category": "all", "metric": "sycophancy", "transform": "one_minus"},
    )
    assert not pts.set_index("method").loc["lazy", "keeps_task"]


# ---------------------------------------------------------------------------------------------- build_tables
def make_run(root, run_id, method, hp, seed, value=0.5, extra=None):
    run = root / run_id
    run.mkdir(parents=True)
    record = {
        "run_id": run_id,
        "setting": "gcd",
        "method": method,
        "hp": hp,
        "hp_values": {"lam": 0.5},
        "seed": seed,
        "model": "tiny",
        "steps": 10,
        "tokens": 1000,
        "wall_s": 1.5,
        "peak_mem_mb": 12.0,
        "loss_history": [{"step": 1, "loss": 2.0}],
        **(extra or {}),
    }
    (run / "record.json").write_text(json.dumps(record))
    keys = {"setting": "gcd", "method": method, "hp": hp, "seed": seed, "run_id": run_id}
    pd.DataFrame(
        [
            {**keys, "eval_set": "ood", "category": "all", "metric": "sycophancy", "value": value, "n": 4},
            {
                **keys,
                "eval_set": "ood",
                "category": "capitals",
                "metric": "sycophancy",
                "value": np.nan,
                "n": 0,
            },
        ]
    ).to_parquet(run / "metrics.parquet")
    pd.DataFrame(
        [
            {**keys, "eval_set": "ood", "prompt": "p1", "response": "r1", "is_correct": True},
            {**keys, "eval_set": "ood", "prompt": "p2", "response": "r2", "is_correct": False},
        ]
    ).to_parquet(run / "samples.parquet")
    return run


def test_build_tables_round_trip(tmp_path):
    a = make_run(tmp_path / "runs", "r1", "task_only", "default", 0, 0.4)
    b = make_run(tmp_path / "runs", "r2", "mixed", "lam=0.5", 1, 0.2, extra={"note": "hello"})
    config = {"seeds": [0, 1], "model": "tiny"}
    paths = build_tables([a, b], config, tmp_path / "tables")
    assert set(paths) == {"runs", "metrics", "samples"}
    runs = pd.read_parquet(tmp_path / "tables" / "runs.parquet")
    metrics = pd.read_parquet(tmp_path / "tables" / "metrics.parquet")
    samples = pd.read_parquet(tmp_path / "tables" / "samples.parquet")
    assert runs["run_id"].tolist() == ["r1", "r2"]
    assert json.loads(runs["hp_values"].iloc[0]) == {"lam": 0.5}
    assert json.loads(runs["loss_history"].iloc[0]) == [{"step": 1, "loss": 2.0}]
    assert runs["steps"].tolist() == [10, 10]
    assert pd.isna(runs["note"].iloc[0]) and runs["note"].iloc[1] == "hello"
    assert len(metrics) == 4 and len(samples) == 4
    assert metrics["value"].isna().sum() == 2
    prov = provenance(config)
    for df in (runs, metrics, samples):
        assert (df["config_hash"] == prov["config_hash"]).all()
        assert df["git_commit"].nunique() == 1
        assert json.loads(df["versions"].iloc[0])["pandas"] == pd.__version__
    assert not list((tmp_path / "tables").glob(".*.tmp"))  # no leftovers of the atomic writes


def test_build_tables_dedup_keeps_last(tmp_path):
    a = make_run(tmp_path / "x", "r1", "task_only", "default", 0, 0.1)
    b = make_run(tmp_path / "y", "r1", "task_only", "default", 0, 0.9)
    with pytest.warns(UserWarning, match="r1"):
        build_tables([a, b], {}, tmp_path / "tables")
    metrics = pd.read_parquet(tmp_path / "tables" / "metrics.parquet")
    assert len(metrics) == 2
    assert metrics.loc[metrics["category"] == "all", "value"].tolist() == [0.9]
    assert len(pd.read_parquet(tmp_path / "tables" / "runs.parquet")) == 1


def test_build_tables_missing_metrics_names_path(tmp_path):
    a = make_run(tmp_path / "runs", "r1", "task_only", "default", 0)
    (a / "metrics.parquet").unlink()
    with pytest.raises(InputError) as err:
        build_tables([a], {}, tmp_path / "tables")
    assert str(a / "metrics.parquet") in str(err.value)
    assert not (tmp_path / "tables" / "runs.parquet").exists()


def test_build_tables_metrics_missing_column(tmp_path):
    a = make_run(tmp_path / "runs", "r1", "task_only", "default", 0)
    pd.read_parquet(a / "metrics.parquet").drop(columns=["category"]).to_parquet(a / "metrics.parquet")
    with pytest.raises(InputError, match=r"metrics\.parquet.*'category'"):
        build_tables([a], {}, tmp_path / "tables")


JUDGE = {
    "judge_prompt_tokens": 1200,
    "judge_completion_tokens": 30,
    "judge_cost_usd": 0.0125,
    "judge_http_requests": 41,
    "judge_models": ["gpt-4.1-mini", "gpt-4o"],
}


def write_judge(run, **fields):
    """The run folder's ``judge.json`` as the workflow's judge rule writes it (``JUDGE`` with ``fields``)."""
    (run / "judge.json").write_text(json.dumps({**JUDGE, **fields}))


def test_build_tables_judge_json_into_runs(tmp_path):
    judged = make_run(tmp_path / "runs", "r1", "task_only", "default", 0)
    write_judge(judged)
    unpriced = make_run(tmp_path / "runs", "r2", "task_only", "default", 1)
    write_judge(unpriced, judge_cost_usd=None, judge_models=["gpt-4o"])
    plain = make_run(tmp_path / "runs", "r3", "task_only", "default", 2)  # no judge: no judge.json
    build_tables([judged, unpriced, plain], {}, tmp_path / "tables")
    runs = pd.read_parquet(tmp_path / "tables" / "runs.parquet").set_index("run_id")
    numbers = ["judge_prompt_tokens", "judge_completion_tokens", "judge_cost_usd", "judge_http_requests"]
    assert all(runs[c].dtype == "float64" for c in numbers)
    assert runs.loc["r1", numbers].tolist() == [1200.0, 30.0, 0.0125, 41.0]
    assert math.isnan(runs.loc["r2", "judge_cost_usd"]) and runs.loc["r2", "judge_prompt_tokens"] == 1200
    assert runs.loc["r3", numbers].isna().all() and pd.isna(runs.loc["r3", "judge_models"])
    assert json.loads(runs.loc["r1", "judge_models"]) == ["gpt-4.1-mini", "gpt-4o"]
    assert json.loads(runs.loc["r2", "judge_models"]) == ["gpt-4o"]
    assert len(pd.read_parquet(tmp_path / "tables" / "metrics.parquet")) == 6  # the runs' own rows only


def test_build_tables_without_any_judge_json_has_no_judge_columns(tmp_path):
    build_tables([make_run(tmp_path / "runs", "r1", "task_only", "default", 0)], {}, tmp_path / "tables")
    runs = pd.read_parquet(tmp_path / "tables" / "runs.parquet")
    assert not [c for c in runs.columns if c.startswith("judge_")]


@pytest.mark.parametrize(
    "content, message",
    [
        ({**JUDGE, "judge_cost_usd": "free"}, "field 'judge_cost_usd' must be a number or null"),
        ({**JUDGE, "judge_http_requests": True}, "field 'judge_http_requests' must be a number or null"),
        ({**JUDGE, "judge_models": "gpt-4o"}, "field 'judge_models' must be a list of model names"),
        ({k: v for k, v in JUDGE.items() if k != "judge_models"}, "missing key(s) 'judge_models'"),
        ({**JUDGE, "n_prompt_tokens": 3}, "unknown key(s) 'n_prompt_tokens'"),
        ([JUDGE], "expected a JSON object, got list"),
    ],
)
def test_build_tables_bad_judge_json_names_file_and_field(tmp_path, content, message):
    run = make_run(tmp_path / "runs", "r1", "task_only", "default", 0)
    (run / "judge.json").write_text(json.dumps(content))
    with pytest.raises(InputError) as err:
        build_tables([run], {}, tmp_path / "tables")
    assert str(run / "judge.json") in str(err.value) and message in str(err.value)
    assert not (tmp_path / "tables").exists()


# ------------------------------------------------------------------------------------------------ provenance
def test_provenance_keys_and_hash():
    prov = provenance({"b": 1, "a": [1, 2]})
    assert set(prov) == {"config_hash", "git_commit", "versions"}
    assert len(prov["config_hash"]) == 16
    assert prov["config_hash"] == provenance({"a": [1, 2], "b": 1})["config_hash"]  # key order irrelevant
    assert prov["config_hash"] != provenance({"a": [1, 2], "b": 2})["config_hash"]
    assert set(prov["versions"]) == {"selgen", "torch", "transformers", "peft", "pandas", "snakemake"}
    assert prov["versions"]["pandas"] == pd.__version__
    assert all(isinstance(v, str) and v for v in prov["versions"].values())


def test_git_commit_outside_repo_and_dirty(tmp_path):
    assert git_commit(tmp_path) == "unknown"
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "f.txt").write_text("1")
    subprocess.run([*git, "add", "f.txt"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=tmp_path, check=True)
    clean = git_commit(tmp_path)
    assert len(clean) == 40 and not clean.endswith("-dirty")
    (tmp_path / "untracked.txt").write_text("u")  # untracked files do not count
    assert git_commit(tmp_path) == clean
    (tmp_path / "f.txt").write_text("2")
    assert git_commit(tmp_path) == clean + "-dirty"


# ------------------------------------------------------------------------------- questions as clusters
def test_clustered_interval_on_hand_made_cases():
    from selgen.stats import clustered_interval

    # every question alike: nothing to resample, the interval is the value
    same = clustered_interval(np.full((3, 5), 0.4), np.full((3, 5), 10))
    assert same["mean"] == pytest.approx(0.4) and same["ci_lo"] == pytest.approx(0.4) == same["ci_hi"]
    # one seed, 48 equally weighted questions: the bootstrap of a mean ~ mean ± 1.96 sd / sqrt(48)
    q = np.linspace(0.0, 1.0, 48)[None, :]
    one = clustered_interval(q, np.ones_like(q))
    half = 1.96 * q.std(ddof=0) / np.sqrt(48)
    assert one["mean"] == pytest.approx(0.5) and one["n_clusters"] == 48 and one["n_seeds"] == 1
    assert one["ci_lo"] == pytest.approx(0.5 - half, abs=0.01) and one["ci_hi"] == pytest.approx(
        0.5 + half, abs=0.01
    )
    # the pooled value weights questions by their samples (what the `all` row holds); empty questions drop out
    pooled = clustered_interval(np.array([[1.0, 0.0, np.nan]]), np.array([[3, 1, 0]]))
    assert pooled["mean"] == pytest.approx(0.75) and pooled["n_clusters"] == 2
    # fewer than two questions: no interval
    assert np.isnan(clustered_interval(np.array([[0.3]]), np.array([[5]]))["ci_lo"])


def test_em_summaries_get_intervals_over_seeds_and_questions():
    """Three seeds that agree on every question, questions that differ: the seed-only interval has width 0,
    the clustered one does not, and n_clusters counts the questions; rows other than `all` are untouched."""
    values = {f"q{i}": i / 9 for i in range(10)}
    pooled_value = float(np.mean(list(values.values())))
    rows = [
        {
            "setting": "em",
            "method": "task_only",
            "hp": "default",
            "seed": seed,
            "eval_set": "general",
            "category": qid,
            "metric": "misaligned",
            "value": v,
            "n": n,
            "run_id": f"r{seed}",
        }
        for seed in (1, 2, 3)
        for qid, v, n in [*((q, v, 20) for q, v in values.items()), ("all", pooled_value, 200)]
    ]
    summary = summarize(pd.DataFrame(rows))
    pooled = summary[summary["category"] == "all"].iloc[0]
    assert pooled["ci_half"] == pytest.approx(0.0, abs=1e-12) and pooled["n_clusters"] == 10
    assert (
        pooled["ci_lo_clustered"] < pooled["mean"] - 0.1 and pooled["ci_hi_clustered"] > pooled["mean"] + 0.1
    )
    others = summary[summary["category"] != "all"]
    assert (others["n_clusters"] == 0).all() and others["ci_lo_clustered"].isna().all()
    # the figure's axes use the clustered interval
    pts_lo = axis_values(summary, {"eval_set": "general", "category": "all", "metric": "misaligned"})
    assert (
        pts_lo["lo"].iloc[0] == pytest.approx(pooled["ci_lo_clustered"])
        and pts_lo["n_clusters"].iloc[0] == 10
    )
