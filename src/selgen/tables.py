"""Result tables: run folders into Parquet tables, aggregation over seeds, paired differences, Pareto fronts.

A run folder (one per setting, method, hyper-parameter point ``hp`` and seed) holds ``record.json``,
``metrics.parquet`` and ``samples.parquet``. ``build_tables`` concatenates them into ``runs.parquet`` (one row
per run), ``metrics.parquet`` and ``samples.parquet``; every row carries the provenance columns
``config_hash``, ``git_commit`` and ``versions`` (a JSON string).

Statistics. ``aggregate`` averages each metric over seeds and gives a 95 % Student-t confidence interval for
the mean, ``mean +- t_{0.975, k-1} * sd / sqrt(k)`` with ``k`` seeds (``sd`` with ``ddof=1``). With a single
seed there is no spread estimate: ``sd``, ``ci_lo``, ``ci_hi`` and ``ci_half`` are NaN (no interval, not a
zero-width one). The t quantile comes from scipy when importable, else from a hard-coded table (dof 1..30,
1.96 beyond).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import subprocess
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selgen.config import config_hash
from selgen.io import InputError, read_json, write_parquet

#: Columns every run's ``metrics.parquet`` must have.
METRIC_COLUMNS = ["setting", "method", "hp", "seed", "run_id", "eval_set", "category", "metric", "value", "n"]
#: Columns every run's ``samples.parquet`` must have (plus any number of free columns).
SAMPLE_COLUMNS = ["setting", "method", "hp", "seed", "run_id", "eval_set"]
#: Keys of one aggregated metric (one row of ``aggregate``'s output).
AGG_KEYS = ["setting", "method", "hp", "eval_set", "category", "metric"]
#: Provenance columns added to every table row.
PROVENANCE_COLUMNS = ["config_hash", "git_commit", "versions"]
#: Packages whose versions the provenance records (read from metadata, never imported).
VERSION_PACKAGES = ["selgen", "torch", "transformers", "peft", "pandas", "snakemake"]

#: Pareto axes of the summary, per setting: x and y are {eval_set, category, metric, transform}.
# metrics rows named like this are per-run accounting (e.g. judge_prompt_tokens), summed into `runs` columns
ACCOUNTING_PREFIX = "judge_"

DEFAULT_FRONTS: dict[str, dict[str, dict[str, Any]]] = {
    "gcd": {
        "x": {"eval_set": "task_test", "category": "all", "metric": "capability", "transform": None},
        "y": {"eval_set": "ood", "category": "all", "metric": "sycophancy", "transform": "one_minus"},
    },
    "functions": {  # the update learnt (x) against the untouched categories kept (y), ID and OOD pooled
        "x": {"eval_set": "all", "category": "updated", "metric": "accuracy", "transform": None},
        "y": {"eval_set": "all", "category": "untouched", "metric": "accuracy", "transform": None},
    },
    "em": {  # general alignment (x) against in-domain task performance: the trained misbehaviour (y)
        "x": {"eval_set": "general", "category": "all", "metric": "misaligned", "transform": "one_minus"},
        "y": {"eval_set": "in_domain", "category": "all", "metric": "misaligned", "transform": None},
    },
}

# t_{0.975} for 1..30 degrees of freedom (two-sided 95 %); 1.96 (normal) beyond.
# fmt: off
_T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]
# fmt: on


# ----------------------------------------------------------------------------------------------- provenance
def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """``git rev-parse HEAD`` of ``cwd`` (default: the current folder), ``-dirty`` appended when a tracked
    file has uncommitted changes; ``"unknown"`` outside a repository or without git."""
    cwd = os.getcwd() if cwd is None else os.fspath(cwd)
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return head + ("-dirty" if status else "")


def package_versions(packages: Sequence[str] = VERSION_PACKAGES) -> dict[str, str]:
    """Installed version of each package from its metadata (nothing is imported); ``"absent"`` if missing."""
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def provenance(config: Mapping, cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"config_hash": str, "git_commit": str, "versions": {package: version}}``."""
    return {"config_hash": config_hash(config), "git_commit": git_commit(cwd), "versions": package_versions()}


def _add_provenance(df: pd.DataFrame, prov: Mapping[str, Any]) -> pd.DataFrame:
    """Add the provenance columns; a clashing column already in ``df`` is kept as ``run_<name>``."""
    df = df.copy()
    values = {
        "config_hash": prov["config_hash"],
        "git_commit": prov["git_commit"],
        "versions": json.dumps(prov["versions"], sort_keys=True),
    }
    for col, val in values.items():
        if col in df.columns:
            df = df.rename(columns={col: f"run_{col}"})
        df[col] = pd.Series([val] * len(df), index=df.index, dtype=object)
    return df


# --------------------------------------------------------------------------------------------- build_tables
def _json_cell(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value


def flatten_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level scalar keys as they are; nested dicts and lists (``hp_values`` included) as JSON strings."""
    row = {key: _json_cell(value) for key, value in record.items()}
    if "hp_values" in record and not isinstance(row["hp_values"], str):
        row["hp_values"] = json.dumps(record["hp_values"], sort_keys=True, default=str)
    return row


def _harmonise_object_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Columns mixing value kinds across runs (say a number in one record, a string in another) are stored as
    JSON strings so Parquet can hold them."""
    for col in df.columns:
        if df[col].dtype != object:
            continue
        kinds = set()
        for v in df[col]:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if isinstance(v, bool):
                kinds.add("bool")
            elif isinstance(v, (int, float, np.integer, np.floating)):
                kinds.add("number")
            else:
                kinds.add(type(v).__name__)
        if len(kinds) > 1:
            df[col] = [
                None
                if v is None or (isinstance(v, float) and math.isnan(v))
                else v
                if isinstance(v, str)
                else json.dumps(v, default=str)
                for v in df[col]
            ]
    return df


def _read_run(run_dir: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    paths = {name: run_dir / name for name in ("record.json", "metrics.parquet", "samples.parquet")}
    for path in paths.values():
        if not path.is_file():
            raise InputError(f"run folder {run_dir}: missing file {path}")
    try:
        record = read_json(paths["record.json"])
    except json.JSONDecodeError as err:
        raise InputError(f"{paths['record.json']}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(record, dict):
        raise InputError(f"{paths['record.json']}: expected a JSON object, got {type(record).__name__}")
    if "run_id" not in record:
        raise InputError(f"{paths['record.json']}: missing key 'run_id'")
    frames = []
    for name, required in (("metrics.parquet", METRIC_COLUMNS), ("samples.parquet", SAMPLE_COLUMNS)):
        path = paths[name]
        try:
            df = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several kinds for a damaged file
            raise InputError(f"{path}: cannot read Parquet ({err})") from None
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
        other = sorted({str(r) for r in df["run_id"].unique()} - {str(record["run_id"])})
        if other:
            raise InputError(
                f"{path}: run_id {other[0]!r} does not match record.json's run_id {record['run_id']!r}"
            )
        frames.append(df)
    return record, frames[0], frames[1]


def _concat(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    nonempty = [f for f in frames if len(f)]
    if nonempty:
        return pd.concat(nonempty, ignore_index=True)
    if frames:  # all empty: keep the union of their columns
        cols = list(dict.fromkeys(c for f in frames for c in f.columns))
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def build_tables(
    run_dirs: Sequence[str | os.PathLike],
    config: Mapping,
    out_dir: str | os.PathLike,
    cwd: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Concatenate run folders into ``out_dir/{runs,metrics,samples}.parquet`` (atomic writes).

    A run_id met twice keeps its last folder (with a warning). A missing file or a metrics/samples file
    without a required column raises ``InputError`` naming the folder and the file. Returns the written paths
    by name.
    """
    by_id: dict[str, tuple[Path, dict, pd.DataFrame, pd.DataFrame]] = {}
    for run_dir in map(Path, run_dirs):
        record, metrics, samples = _read_run(run_dir)
        run_id = str(record["run_id"])
        if run_id in by_id:
            warnings.warn(
                f"run_id {run_id!r} appears twice ({by_id[run_id][0]} and {run_dir}); keeping the last one",
                stacklevel=2,
            )
            del by_id[run_id]  # re-insert so the kept run takes the later position
        by_id[run_id] = (run_dir, record, metrics, samples)

    prov = provenance(config, cwd)
    runs = pd.DataFrame([flatten_record(rec) for _, rec, _, _ in by_id.values()])
    runs = _harmonise_object_columns(runs)
    metrics = _concat([m for _, _, m, _ in by_id.values()], METRIC_COLUMNS)
    if len(metrics):
        metrics["value"] = pd.to_numeric(metrics["value"], errors="coerce").astype("float64")
        accounting = metrics["metric"].str.startswith(ACCOUNTING_PREFIX)
        if accounting.any():  # per-run costs (LLM judge tokens, dollars, requests) are run facts: to `runs`
            per_run = metrics[accounting].pivot_table(
                index="run_id", columns="metric", values="value", aggfunc=lambda v: v.sum(min_count=1)
            )
            runs = runs.merge(per_run, left_on="run_id", right_index=True, how="left")
            metrics = metrics[~accounting].reset_index(drop=True)
    samples = _harmonise_object_columns(_concat([s for _, _, _, s in by_id.values()], SAMPLE_COLUMNS))
    if "truncated" in samples.columns and len(samples):  # generated replies: how many ran out of tokens
        gen = samples.groupby("run_id").agg(
            truncated_share=("truncated", lambda v: v.astype("float64").mean()),
            reply_tokens_mean=("n_tokens", "mean"),
        )
        runs = runs.merge(gen, left_on="run_id", right_index=True, how="left")

    out_dir = Path(out_dir)
    out = {}
    for name, df in (("runs", runs), ("metrics", metrics), ("samples", samples)):
        out[name] = out_dir / f"{name}.parquet"
        write_parquet(out[name], _add_provenance(df, prov))
    return out


# ------------------------------------------------------------------------------------------------ statistics
def t975_table(dof: int) -> float:
    """t_{0.975} from the hard-coded table: exact to 3 decimals for dof 1..30, 1.96 beyond."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


def t975(dof: int) -> float:
    """Two-sided 95 % Student t quantile for ``dof`` degrees of freedom (scipy if importable, else table)."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    try:
        from scipy import stats
    except ImportError:
        return t975_table(dof)
    return float(stats.t.ppf(0.975, dof))


def mean_ci(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Mean, sd (ddof=1), count and 95 % t-interval of the non-NaN ``values`` (NaN interval below 2)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    k = int(arr.size)
    mean = float(arr.mean()) if k else math.nan
    if k < 2:
        return {
            "mean": mean,
            "sd": math.nan,
            "n_seeds": k,
            "ci_lo": math.nan,
            "ci_hi": math.nan,
            "ci_half": math.nan,
        }
    sd = float(arr.std(ddof=1))
    half = t975(k - 1) * sd / math.sqrt(k)
    return {"mean": mean, "sd": sd, "n_seeds": k, "ci_lo": mean - half, "ci_hi": mean + half, "ci_half": half}


def aggregate(metrics_df: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, method, hp, eval_set, category, metric) with the mean over seeds.

    Columns: the keys, ``mean``, ``sd``, ``n_seeds`` (seeds with a non-NaN value), ``ci_lo``, ``ci_hi``,
    ``ci_half`` (95 % t-interval; NaN with one seed), ``n`` (sum of ``n`` over the rows that entered the mean)
    and ``n_nan`` (rows whose value was NaN and was dropped). Several rows for one seed (the same point run
    under two run_ids) are first averaged within the seed, with a warning.
    """
    missing = [c for c in [*AGG_KEYS, "seed", "value", "n"] if c not in metrics_df.columns]
    if missing:
        raise InputError(f"metrics table: missing column(s) {', '.join(map(repr, missing))}")
    out_cols = [*AGG_KEYS, "mean", "sd", "n_seeds", "ci_lo", "ci_hi", "ci_half", "n", "n_nan"]
    df = metrics_df[[*AGG_KEYS, "seed", "value", "n"]].copy()
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype("float64")
    df["n"] = pd.to_numeric(df["n"], errors="coerce")
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in out_cols})
    rows = []
    for keys, grp in df.groupby(AGG_KEYS, dropna=False, sort=True):
        is_nan = grp["value"].isna()
        used = grp[~is_nan]
        if used["seed"].duplicated().any():
            warnings.warn(
                f"{dict(zip(AGG_KEYS, keys, strict=True))}: several rows per seed; averaging within seed",
                stacklevel=2,
            )
        per_seed = used.groupby("seed", sort=True)["value"].mean()
        stats = mean_ci(per_seed.to_numpy())
        rows.append(
            {
                **dict(zip(AGG_KEYS, keys, strict=True)),
                **stats,
                "n": int(used["n"].fillna(0).sum()),
                "n_nan": int(is_nan.sum()),
            }
        )
    out = pd.DataFrame(rows, columns=out_cols)
    out["n_seeds"] = out["n_seeds"].astype("int64")
    out["n"] = out["n"].astype("int64")
    out["n_nan"] = out["n_nan"].astype("int64")
    return out


def _select(df: pd.DataFrame, **conds: Any) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    for col, val in conds.items():
        if val is not None:
            mask &= df[col] == val
    return df[mask]


def paired_difference(
    metrics_df: pd.DataFrame,
    method: str,
    hp: str,
    reference_method: str = "base",
    *,
    eval_set: str,
    category: str,
    metric: str,
    setting: str | None = None,
    reference_hp: str | None = None,
) -> dict[str, Any]:
    """Per-seed difference ``method/hp`` minus ``reference_method`` on one metric, mean and 95 % t-interval.

    Seeds are paired; a reference with a single seed (the untuned base model) is subtracted from every seed.
    ``setting`` must be given when the table holds several; ``reference_hp`` when the reference has several hp
    points. Seeds without a partner, and NaN differences, are dropped (with a warning for unpaired seeds).
    Returns ``{"mean", "sd", "n_seeds", "ci_lo", "ci_hi", "ci_half", "excludes_zero", "per_seed"}`` where
    ``per_seed`` is a Series of differences indexed by seed and ``excludes_zero`` is True only when the
    interval exists and does not contain 0.
    """
    df = _select(metrics_df, eval_set=eval_set, category=category, metric=metric)
    if setting is None:
        settings = df["setting"].unique()
        if len(settings) > 1:
            raise ValueError(f"several settings in the table ({sorted(map(str, settings))}); pass setting=")
    else:
        df = df[df["setting"] == setting]
    ref = df[df["method"] == reference_method]
    if reference_hp is None:
        ref_hps = ref["hp"].unique()
        if len(ref_hps) > 1:
            raise ValueError(
                f"reference {reference_method!r} has several hp ({sorted(ref_hps)}); pass reference_hp="
            )
    else:
        ref = ref[ref["hp"] == reference_hp]
    cur = df[(df["method"] == method) & (df["hp"] == hp)]
    where = f"{metric} on {eval_set}/{category}"
    if cur.empty:
        raise ValueError(f"no rows for method {method!r}, hp {hp!r}, {where}")
    if ref.empty:
        raise ValueError(f"no rows for reference {reference_method!r}, {where}")
    cur_by_seed = cur.groupby("seed")["value"].mean()
    ref_by_seed = ref.groupby("seed")["value"].mean()
    if len(ref_by_seed) == 1:
        diffs = cur_by_seed - float(ref_by_seed.iloc[0])
    else:
        common = cur_by_seed.index.intersection(ref_by_seed.index)
        unpaired = sorted(set(cur_by_seed.index) ^ set(ref_by_seed.index))
        if unpaired:
            warnings.warn(
                f"paired_difference: seeds {unpaired} have no partner and are dropped", stacklevel=2
            )
        if common.empty:
            raise ValueError(f"no common seed between {method!r}/{hp!r} and {reference_method!r} ({where})")
        diffs = cur_by_seed.loc[common] - ref_by_seed.loc[common]
    diffs = diffs.dropna().sort_index()
    stats = mean_ci(diffs.to_numpy())
    excludes = bool(stats["n_seeds"] >= 2 and (stats["ci_lo"] > 0 or stats["ci_hi"] < 0))
    return {**stats, "excludes_zero": excludes, "per_seed": diffs.rename("difference")}


# ---------------------------------------------------------------------------------------------------- Pareto
def pareto_front(points_df: pd.DataFrame, x: str, y: str) -> pd.Series:
    """Boolean Series (same index): True for points no other point dominates when maximising both ``x`` and
    ``y``. A point is dominated by one at least as good on both axes and strictly better on one, so equal
    points are all kept. Points with a NaN coordinate are never on the front and dominate nothing."""
    xs = points_df[x].to_numpy(dtype=float)
    ys = points_df[y].to_numpy(dtype=float)
    valid = ~(np.isnan(xs) | np.isnan(ys))
    xv, yv = xs[valid], ys[valid]
    # dominated[i, j]: point j dominates point i
    ge = (xv[None, :] >= xv[:, None]) & (yv[None, :] >= yv[:, None])
    gt = (xv[None, :] > xv[:, None]) | (yv[None, :] > yv[:, None])
    on = np.zeros(len(xs), dtype=bool)
    on[valid] = ~(ge & gt).any(axis=1)
    return pd.Series(on, index=points_df.index, name="on_front")


def axis_values(summary_df: pd.DataFrame, spec: Mapping[str, Any]) -> pd.DataFrame:
    """Rows of an aggregated table for one axis spec ``{eval_set, category, metric, transform}``, indexed by
    (setting, method, hp) with columns ``value``, ``lo``, ``hi``. ``transform="one_minus"`` maps v -> 1 - v
    (the interval's ends swap)."""
    sel = _select(summary_df, eval_set=spec["eval_set"], category=spec["category"], metric=spec["metric"])
    out = pd.DataFrame(
        {
            "value": sel["mean"].to_numpy(float),
            "lo": sel["ci_lo"].to_numpy(float),
            "hi": sel["ci_hi"].to_numpy(float),
        },
        index=pd.MultiIndex.from_frame(sel[["setting", "method", "hp"]]),
    )
    transform = spec.get("transform")
    if transform == "one_minus":
        out = pd.DataFrame({"value": 1 - out["value"], "lo": 1 - out["hi"], "hi": 1 - out["lo"]})
    elif transform is not None:
        raise ValueError(f"unknown transform {transform!r} (expected None or 'one_minus')")
    return out


def pareto_points(
    summary_df: pd.DataFrame,
    x_spec: Mapping[str, Any],
    y_spec: Mapping[str, Any],
    exclude_methods: Sequence[str] = ("base",),
) -> pd.DataFrame:
    """One row per (setting, method, hp) having both axes: x, x_lo, x_hi, y, y_lo, y_hi and ``on_front``,
    the Pareto front computed per setting over the methods not in ``exclude_methods`` (those get False)."""
    xa = axis_values(summary_df, x_spec).add_prefix("x_")
    ya = axis_values(summary_df, y_spec).add_prefix("y_")
    pts = xa.join(ya, how="inner").reset_index()
    pts = pts.rename(columns={"x_value": "x", "y_value": "y"})
    pts["on_front"] = False
    candidates = ~pts["method"].isin(list(exclude_methods))
    for _, grp in pts[candidates].groupby("setting", sort=False):
        pts.loc[grp.index, "on_front"] = pareto_front(grp, "x", "y")
    return pts[["setting", "method", "hp", "x", "x_lo", "x_hi", "y", "y_lo", "y_hi", "on_front"]]


def summarize(
    metrics_df: pd.DataFrame,
    fronts: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    exclude_methods: Sequence[str] = ("base",),
) -> pd.DataFrame:
    """``aggregate`` plus a nullable boolean ``on_front`` for each (setting, method, hp): whether the point is
    on its setting's Pareto front given ``fronts[setting] = {"x": spec, "y": spec}`` (default
    ``DEFAULT_FRONTS``). NA for settings without a spec; False for excluded methods (``base``) and points
    lacking an axis."""
    fronts = DEFAULT_FRONTS if fronts is None else fronts
    summary = aggregate(metrics_df)
    summary["on_front"] = pd.array([pd.NA] * len(summary), dtype="boolean")
    for setting, spec in fronts.items():
        in_setting = summary["setting"] == setting
        if not in_setting.any():
            continue
        pts = pareto_points(summary[in_setting], spec["x"], spec["y"], exclude_methods)
        on = {(m, h) for m, h, f in zip(pts["method"], pts["hp"], pts["on_front"], strict=True) if f}
        flags = [(m, h) in on for m, h in zip(summary["method"], summary["hp"], strict=True)]
        summary.loc[in_setting, "on_front"] = pd.array(flags, dtype="boolean")[in_setting.to_numpy()]
    return summary


def write_summary(
    metrics_df: pd.DataFrame,
    out_path: str | os.PathLike,
    fronts: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    exclude_methods: Sequence[str] = ("base",),
) -> pd.DataFrame:
    """``summarize`` and write it to ``out_path`` as Parquet (atomically); returns the summary."""
    summary = summarize(metrics_df, fronts, exclude_methods)
    write_parquet(out_path, summary)
    return summary
