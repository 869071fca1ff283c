"""Statistics over seeds: means with 95 % Student-t intervals, aggregation of a metrics table, paired
differences against a reference method.

``aggregate`` averages each metric over seeds and gives a 95 % Student-t confidence interval for the mean,
``mean +- t_{0.975, k-1} * sd / sqrt(k)`` with ``k`` seeds (``sd`` with ``ddof=1``; the quantile is
``scipy.stats.t.ppf(0.975, k - 1)``). With a single seed there is no spread estimate: ``sd``, ``ci_lo``,
``ci_hi`` and ``ci_half`` are NaN (no interval, not a zero-width one).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from selgen.io import InputError

#: Keys of one aggregated metric (one row of ``aggregate``'s output).
AGG_KEYS = ["setting", "method", "hp", "eval_set", "category", "metric"]


def t975(dof: int) -> float:
    """Two-sided 95 % Student t quantile, ``t_{0.975}``, for ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    from scipy.stats import t  # here, not at the top: importing scipy.stats takes about a second

    return float(t.ppf(0.975, dof))


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


def select(df: pd.DataFrame, **conds: Any) -> pd.DataFrame:
    """The rows of ``df`` whose column ``name`` equals ``value`` for every ``name=value`` given; a condition
    whose value is None is ignored. ``select(metrics, eval_set="ood", metric="sycophancy")``."""
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
    df = select(metrics_df, eval_set=eval_set, category=category, metric=metric)
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


# ------------------------------------------------------------------------------- questions as clusters
#: bootstrap replicates of :func:`clustered_interval` (a fixed generator: the same table, the same interval)
N_BOOT = 4000


def clustered_interval(values: np.ndarray, weights: np.ndarray, n_boot: int = N_BOOT) -> dict[str, float]:
    """95 % interval of the seed mean of a pooled rate when both seeds and questions are samples.

    ``values[s, q]``: seed s's value on question q (a rate or mean over that question's samples), ``weights[s,
    q]``: its sample count (0 or a NaN value: no samples). Each seed's pooled value is the weighted mean over
    questions (what the category ``all`` row holds); the estimate is their mean over seeds. The interval is a
    two-way ("pigeonhole") bootstrap: questions and seeds resampled independently, each with replacement,
    ``n_boot`` times, percentiles 2.5 and 97.5 (Owen 2007; it accounts for the questions being a sample of
    possible questions, which a t-interval over seeds alone ignores). Returns ``{"mean", "ci_lo", "ci_hi",
    "n_clusters", "n_seeds"}``; NaN interval with fewer than 2 questions."""
    v = np.asarray(values, dtype=float)
    w = np.where(np.isnan(v), 0.0, np.asarray(weights, dtype=float))
    v = np.nan_to_num(v)
    keep = w.sum(axis=0) > 0  # questions with samples in some seed
    v, w = v[:, keep], w[:, keep]
    seeds = w.sum(axis=1) > 0
    v, w = v[seeds], w[seeds]
    n_s, n_q = w.shape
    nan = math.nan
    if n_s == 0 or n_q == 0:
        return {"mean": nan, "ci_lo": nan, "ci_hi": nan, "n_clusters": n_q, "n_seeds": n_s}
    mean = float(((w * v).sum(axis=1) / w.sum(axis=1)).mean())
    if n_q < 2:
        return {"mean": mean, "ci_lo": nan, "ci_hi": nan, "n_clusters": n_q, "n_seeds": n_s}
    rng = np.random.default_rng(0)
    cq = rng.multinomial(n_q, np.full(n_q, 1 / n_q), size=n_boot).astype(float)  # [B, Q] draws per question
    cs = rng.multinomial(n_s, np.full(n_s, 1 / n_s), size=n_boot).astype(float)  # [B, S] draws per seed
    num, den = cq @ (w * v).T, cq @ w.T  # [B, S]: each seed's pooled value over the drawn questions
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = num / den
    valid = ~np.isnan(pooled)
    stat = (cs * np.nan_to_num(pooled)).sum(axis=1) / (cs * valid).sum(axis=1)
    lo, hi = np.nanpercentile(stat, [2.5, 97.5])
    return {"mean": mean, "ci_lo": float(lo), "ci_hi": float(hi), "n_clusters": n_q, "n_seeds": n_s}


def add_clustered_intervals(
    summary: pd.DataFrame, metrics_df: pd.DataFrame, setting: str, metrics: Sequence[str], pooled: str = "all"
) -> pd.DataFrame:
    """Fill ``n_clusters``, ``ci_lo_clustered``, ``ci_hi_clustered`` of ``setting``'s ``pooled`` rows whose
    metric is one of ``metrics`` (or ``<metric>@...``, a threshold variant) from the per-category rows of the
    same run (categories = questions: :func:`clustered_interval`). Other rows keep NaN / 0."""
    for col, default in (("n_clusters", 0), ("ci_lo_clustered", math.nan), ("ci_hi_clustered", math.nan)):
        if col not in summary.columns:
            summary[col] = default
    wanted = tuple(metrics)
    df = metrics_df[metrics_df["setting"] == setting]
    df = df[df["metric"].map(lambda m: m in wanted or m.split("@")[0] in wanted)]
    per_question = df[df["category"] != pooled]
    for (method, hp, eval_set, metric), grp in per_question.groupby(["method", "hp", "eval_set", "metric"]):
        table = grp.pivot_table(index="seed", columns="category", values="value", aggfunc="mean")
        counts = grp.pivot_table(index="seed", columns="category", values="n", aggfunc="sum")
        counts = counts.reindex_like(table).fillna(0)
        ci = clustered_interval(table.to_numpy(float), counts.to_numpy(float))
        row = (
            (summary["setting"] == setting)
            & (summary["method"] == method)
            & (summary["hp"] == hp)
            & (summary["eval_set"] == eval_set)
            & (summary["metric"] == metric)
            & (summary["category"] == pooled)
        )
        summary.loc[row, ["n_clusters", "ci_lo_clustered", "ci_hi_clustered"]] = [
            ci["n_clusters"],
            ci["ci_lo"],
            ci["ci_hi"],
        ]
    summary["n_clusters"] = summary["n_clusters"].astype("int64")
    return summary
