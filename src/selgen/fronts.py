"""Pareto fronts of an aggregated summary: the axes of a setting, their points and which lie on the front.

A front spec is ``{"x": axis, "y": axis}`` with each axis ``{eval_set, category, metric, transform}``
(``transform``: None or ``"one_minus"``); both axes are maximised. Every function takes its specs as
parameters; ``summarize`` falls back to each setting's own axes (``Setting.front``) when none are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from selgen.stats import add_clustered_intervals, aggregate, select

#: One axis: ``{"eval_set", "category", "metric", "transform"}``.
AxisSpec = Mapping[str, Any]
#: One front: ``{"x": AxisSpec, "y": AxisSpec}``.
FrontSpec = Mapping[str, AxisSpec]


def setting_fronts(settings) -> dict[str, FrontSpec]:
    """Each known setting's own front spec (``Setting.front``: its Pareto axes); unknown names have none."""
    from selgen.settings import settings as known

    registry = known()
    return {s: registry[s].front for s in settings if s in registry}


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


def axis_values(summary_df: pd.DataFrame, spec: AxisSpec) -> pd.DataFrame:
    """Rows of an aggregated table for one axis spec ``{eval_set, category, metric, transform}``, indexed by
    (setting, method, hp) with columns ``value``, ``lo``, ``hi`` (the interval over seeds and questions where
    the summary has one, ``ci_lo_clustered``; else over seeds) and ``n_clusters`` (its questions; 0: seeds
    only). ``transform="one_minus"`` maps v -> 1 - v (the interval's ends swap)."""
    sel = select(summary_df, eval_set=spec["eval_set"], category=spec["category"], metric=spec["metric"])
    lo, hi = sel["ci_lo"].to_numpy(float), sel["ci_hi"].to_numpy(float)
    clusters = np.zeros(len(sel), dtype=int)
    if "ci_lo_clustered" in sel.columns:  # questions as clusters (Setting.cluster_metrics): that interval
        clustered = ~np.isnan(sel["ci_lo_clustered"].to_numpy(float))
        lo = np.where(clustered, sel["ci_lo_clustered"].to_numpy(float), lo)
        hi = np.where(clustered, sel["ci_hi_clustered"].to_numpy(float), hi)
        clusters = np.where(clustered, sel["n_clusters"].to_numpy(int), 0)
    out = pd.DataFrame(
        {"value": sel["mean"].to_numpy(float), "lo": lo, "hi": hi, "n_clusters": clusters},
        index=pd.MultiIndex.from_frame(sel[["setting", "method", "hp"]]),
    )
    transform = spec.get("transform")
    if transform == "one_minus":
        out = out.assign(value=1 - out["value"], lo=1 - out["hi"], hi=1 - out["lo"])
    elif transform is not None:
        raise ValueError(f"unknown transform {transform!r} (expected None or 'one_minus')")
    return out


def pareto_points(
    summary_df: pd.DataFrame,
    x_spec: AxisSpec,
    y_spec: AxisSpec,
    exclude_methods: Sequence[str] = ("base",),
) -> pd.DataFrame:
    """One row per (setting, method, hp) having both axes: x, x_lo, x_hi, y, y_lo, y_hi and ``on_front``,
    the Pareto front computed per setting over the methods not in ``exclude_methods`` (those get False)."""
    xa = axis_values(summary_df, x_spec).add_prefix("x_")
    ya = axis_values(summary_df, y_spec).add_prefix("y_")
    pts = xa.join(ya, how="inner").reset_index()
    pts = pts.rename(columns={"x_value": "x", "y_value": "y"})
    pts["keeps_task"] = _point_flags(summary_df, pts, "keeps_task")
    pts["on_front"] = False
    # a run that does not keep the task (summary column keeps_task, Setting.floor) cannot be on the front
    candidates = ~pts["method"].isin(list(exclude_methods)) & pts["keeps_task"].fillna(True).astype(bool)
    for _, grp in pts[candidates].groupby("setting", sort=False):
        pts.loc[grp.index, "on_front"] = pareto_front(grp, "x", "y")
    columns = ["setting", "method", "hp", "x", "x_lo", "x_hi", "x_n_clusters", "y", "y_lo", "y_hi"]
    return pts[[*columns, "y_n_clusters", "keeps_task", "on_front"]]


def _point_flags(summary_df: pd.DataFrame, pts: pd.DataFrame, column: str) -> pd.Series:
    """A per-point boolean column of the summary (the same on every row of a point) aligned to ``pts``; NA
    where the summary has no such column or no value."""
    if column not in summary_df.columns:
        return pd.Series(pd.array([pd.NA] * len(pts), dtype="boolean"), index=pts.index)
    flags = summary_df.drop_duplicates(["setting", "method", "hp"]).set_index(["setting", "method", "hp"])[
        column
    ]
    keys = pd.MultiIndex.from_frame(pts[["setting", "method", "hp"]])
    return pd.Series(pd.array(flags.reindex(keys).to_numpy(), dtype="boolean"), index=pts.index)


def keeps_task(summary_df: pd.DataFrame, setting: str, floor, baseline: str, base: str = "base") -> pd.Series:
    """Per row of ``summary_df``'s ``setting`` rows: whether its point keeps the task (``Floor``: at least
    ``floor.share`` of ``baseline``'s value on the floor's metric); NA for the base itself, for a point
    without the metric, or when the baseline lacks it."""
    rows = summary_df[summary_df["setting"] == setting]
    sel = select(rows, eval_set=floor.eval_set, category=floor.category, metric=floor.metric)
    value = sel.groupby(["method", "hp"])["mean"].mean()
    ref = value[value.index.get_level_values("method") == baseline].mean()
    out = []
    for method, hp in zip(rows["method"], rows["hp"], strict=True):
        v = value.get((method, hp), np.nan)
        known = method != base and not np.isnan([v, ref]).any()
        out.append(bool(floor.kept(v, ref)) if known else pd.NA)
    return pd.Series(pd.array(out, dtype="boolean"), index=rows.index)


def summarize(
    metrics_df: pd.DataFrame,
    fronts: Mapping[str, FrontSpec] | None = None,
    exclude_methods: Sequence[str] = ("base",),
) -> pd.DataFrame:
    """``aggregate`` plus two nullable booleans for each (setting, method, hp): ``keeps_task``, whether the
    point keeps its setting's in-task capability (``Setting.floor``; NA without a floor, for the base, or
    without the values), and ``on_front``, whether the point is on its setting's Pareto front given
    ``fronts[setting] = {"x": spec, "y": spec}`` (default: each setting's own, ``Setting.front``) among the
    points that keep the task. NA for settings without a spec; False for excluded methods (``base``), points
    lacking an axis and points below the floor."""
    from selgen.settings import settings as known

    names = sorted(set(metrics_df["setting"].astype(str)))
    if fronts is None:
        fronts = setting_fronts(names)
    summary = aggregate(metrics_df)
    summary["keeps_task"] = pd.array([pd.NA] * len(summary), dtype="boolean")
    summary["n_clusters"] = 0
    summary["ci_lo_clustered"] = summary["ci_hi_clustered"] = np.nan
    registry = known()
    for setting in names:
        spec = registry.get(setting)
        if spec is not None and spec.floor is not None:
            flags = keeps_task(summary, setting, spec.floor, spec.baseline)
            summary.loc[flags.index, "keeps_task"] = flags
        if spec is not None and spec.cluster_metrics:
            add_clustered_intervals(summary, metrics_df, setting, spec.cluster_metrics)
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
