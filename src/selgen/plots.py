"""Figures (plotnine, imported inside the functions so that importing this module stays cheap).

``pareto_plot`` draws one point per (method, hp) at the seed mean with 95 % t-interval bars on both axes (left
out where the interval is NaN, e.g. with one seed), a line per method through its hp points in x order, the
``base`` model as a labelled black diamond, and the computed Pareto front of the non-base points as a dashed
grey staircase. ``save`` writes PDF or PNG by the file's extension, 7 x 5 inches.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from selgen.io import atomic_path
from selgen.tables import pareto_points

WIDTH_IN = 7.0
HEIGHT_IN = 5.0
BASE_METHOD = "base"

GCD_X = {"eval_set": "task_test", "category": "all", "metric": "capability", "transform": None}
GCD_Y = {"eval_set": "ood", "category": "all", "metric": "sycophancy", "transform": "one_minus"}


def save(
    plot, path: str | os.PathLike, width: float = WIDTH_IN, height: float = HEIGHT_IN, dpi: int = 300
) -> Path:
    """Save a plotnine plot atomically as PDF or PNG, chosen by the extension of ``path``."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("pdf", "png"):
        raise ValueError(f"{path}: unsupported figure format {path.suffix!r} (expected .pdf or .png)")
    with atomic_path(path) as tmp:
        plot.save(tmp, format=fmt, width=width, height=height, units="in", dpi=dpi, verbose=False)
    return path


def _finite(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    return df.dropna(subset=list(cols))


def pareto_figure(
    summary_df: pd.DataFrame,
    x_spec: Mapping[str, Any],
    y_spec: Mapping[str, Any],
    title: str,
    x_label: str,
    y_label: str,
    setting: str | None = None,
):
    """Build (without saving) the Pareto plot of ``pareto_plot``; returns the plotnine ggplot."""
    import plotnine as p9

    df = summary_df
    if setting is not None:
        df = df[df["setting"] == setting]
    elif df["setting"].nunique() > 1:
        raise ValueError(f"summary holds several settings ({sorted(df['setting'].unique())}); pass setting=")
    pts = pareto_points(df, x_spec, y_spec, exclude_methods=(BASE_METHOD,))
    pts = _finite(pts, "x", "y").copy()
    if pts.empty:  # e.g. sycophancy is undefined when no id was answered: say so in the figure, don't fail
        warnings.warn(
            f"no point has both axes ({dict(x_spec)} and {dict(y_spec)}); drawing an empty figure",
            stacklevel=2,
        )
        note = pd.DataFrame({"x": [0.5], "y": [0.5], "label": ["no run has both metrics defined"]})
        return (
            p9.ggplot(note, p9.aes("x", "y", label="label"))
            + p9.geom_text()
            + p9.labs(title=title, x=x_label, y=y_label)
            + p9.theme_bw()
            + p9.theme(figure_size=(WIDTH_IN, HEIGHT_IN))
        )
    pts["method"] = pts["method"].astype(str)
    pts["hp"] = pts["hp"].astype(str)
    tuned = pts[pts["method"] != BASE_METHOD]
    base = pts[pts["method"] == BASE_METHOD]

    plot = p9.ggplot() + p9.labs(title=title, x=x_label, y=y_label, colour="method")

    # Pareto front over the non-base points: the boundary of the region they dominate (maximising both).
    front = tuned[tuned["on_front"]].sort_values(["x", "y"], ascending=[True, False])
    if len(front) >= 2:
        plot += p9.geom_step(
            p9.aes("x", "y"), data=front, direction="vh", linetype="dashed", colour="grey", size=0.8
        )

    if not tuned.empty:
        xbars = _finite(tuned, "x_lo", "x_hi")
        ybars = _finite(tuned, "y_lo", "y_hi")
        if not xbars.empty:
            plot += p9.geom_errorbarh(
                p9.aes(y="y", xmin="x_lo", xmax="x_hi", colour="method"), data=xbars, height=0, alpha=0.6
            )
        if not ybars.empty:
            plot += p9.geom_errorbar(
                p9.aes(x="x", ymin="y_lo", ymax="y_hi", colour="method"), data=ybars, width=0, alpha=0.6
            )
        counts = tuned["method"].value_counts()
        lines = tuned[tuned["method"].isin(counts[counts >= 2].index)].sort_values(["method", "x"])
        if not lines.empty:  # geom_line joins each method's hp points in x order
            plot += p9.geom_line(p9.aes("x", "y", colour="method", group="method"), data=lines)
        plot += p9.geom_point(p9.aes("x", "y", colour="method"), data=tuned, size=2.5)
        swept = tuned[tuned["method"].isin(counts[counts >= 2].index)]
        if not swept.empty:  # name each sweep point by its hyper-parameters
            plot += p9.geom_text(
                p9.aes("x", "y", label="hp", colour="method"),
                data=swept,
                size=7,
                nudge_x=0.012,
                ha="left",
                va="bottom",
                show_legend=False,
            )

    if not base.empty:
        bx = _finite(base, "x_lo", "x_hi")
        by = _finite(base, "y_lo", "y_hi")
        if not bx.empty:
            plot += p9.geom_errorbarh(
                p9.aes(y="y", xmin="x_lo", xmax="x_hi"), data=bx, height=0, colour="black"
            )
        if not by.empty:
            plot += p9.geom_errorbar(
                p9.aes(x="x", ymin="y_lo", ymax="y_hi"), data=by, width=0, colour="black"
            )
        plot += p9.geom_point(p9.aes("x", "y"), data=base, shape="D", size=4, colour="black", fill="black")
        labels = base.assign(
            label=BASE_METHOD if base["hp"].nunique() <= 1 else BASE_METHOD + " " + base["hp"]
        )
        plot += p9.geom_text(
            p9.aes("x", "y", label="label"), data=labels, nudge_y=0.03, size=9, colour="black", va="bottom"
        )

    plot += p9.theme_bw() + p9.theme(figure_size=(WIDTH_IN, HEIGHT_IN))
    return plot


def pareto_plot(
    summary_df: pd.DataFrame,
    out_path: str | os.PathLike,
    x_spec: Mapping[str, Any],
    y_spec: Mapping[str, Any],
    title: str,
    x_label: str,
    y_label: str,
    setting: str | None = None,
) -> Path:
    """Pareto plot of an aggregated summary (``selgen.tables.summarize``/``write_summary`` output) saved to
    ``out_path`` (.pdf or .png). ``x_spec``/``y_spec``: ``{eval_set, category, metric, transform}`` with
    ``transform`` None or ``"one_minus"``. ``setting`` selects one setting when the summary holds several."""
    plot = pareto_figure(summary_df, x_spec, y_spec, title, x_label, y_label, setting=setting)
    return save(plot, out_path)


def pareto_gcd(summary_df: pd.DataFrame, out_path: str | os.PathLike, setting: str = "gcd") -> Path:
    """GCD sycophancy trade-off: task-test capability against 1 - pooled OOD sycophancy."""
    return pareto_plot(
        summary_df,
        out_path,
        GCD_X,
        GCD_Y,
        title="GCD sycophancy: capability vs. OOD non-sycophancy",
        x_label="GCD capability (task test)",
        y_label="1 − sycophancy (OOD, pooled)",
        setting=setting,
    )
