"""Figures (plotnine, imported inside the functions so that importing this module stays cheap).

``pareto_figure`` draws one panel per method: its (method, hp) points at the seed mean with 95 % t-interval
bars on both axes (left out where the interval is NaN, e.g. with one seed), joined in x order and labelled by
their hyper-parameters; behind them in every panel the other methods' points (grey), the ``base`` model (black
diamond) and the computed Pareto front of all non-base points (dashed staircase). Axes are proportions, shown
on [0, 1]. ``save`` writes PDF or PNG by the file's extension.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from selgen.fronts import pareto_points
from selgen.io import atomic_path
from selgen.settings.core import Axis

WIDTH_IN = 7.0
HEIGHT_IN = 5.0
PANEL_COLUMNS = 4
BASE_METHOD = "base"


def save(plot, path: str | os.PathLike, dpi: int = 300) -> Path:
    """Save a plotnine plot atomically as PDF or PNG (by the extension of ``path``), at the size its theme's
    ``figure_size`` sets."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("pdf", "png"):
        raise ValueError(f"{path}: unsupported figure format {path.suffix!r} (expected .pdf or .png)")
    with atomic_path(path) as tmp:
        plot.save(tmp, format=fmt, dpi=dpi, verbose=False)
    return path


def _finite(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    return df.dropna(subset=list(cols))


def pareto_figure(summary_df: pd.DataFrame, x: Axis, y: Axis, title: str, setting: str | None = None):
    """The Pareto plot (a plotnine ggplot, not saved) of an aggregated summary (``selgen.fronts.summarize``/
    ``write_summary`` output) on the axes ``x`` and ``y`` (``selgen.settings.Axis``: metric rows, transform,
    label). ``setting`` selects one setting when the summary holds several."""
    import plotnine as p9

    x_spec, y_spec, x_label, y_label = x.spec(), y.spec(), x.label, y.label
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
    # one panel per method; every panel also shows the other methods' points (grey), the base (diamond) and
    # the front over all methods (dashed), so each sweep reads against the whole field
    others = tuned.drop(columns="method")
    plot = (
        p9.ggplot()
        + p9.labs(title=title, x=x_label, y=y_label)
        + p9.geom_point(p9.aes("x", "y"), data=others, colour="#c8c8c8", size=1.2)
    )
    front = others[others["on_front"]].sort_values(["x", "y"], ascending=[True, False])
    if len(front) >= 2:
        plot += p9.geom_step(
            p9.aes("x", "y"), data=front, direction="vh", linetype="dashed", colour="grey", size=0.6
        )
    if not base.empty:
        plot += p9.geom_point(
            p9.aes("x", "y"),
            data=base.drop(columns="method"),
            shape="D",
            size=3,
            colour="black",
            fill="black",
        )
    if not tuned.empty:
        xbars = _finite(tuned, "x_lo", "x_hi")
        ybars = _finite(tuned, "y_lo", "y_hi")
        if not xbars.empty:
            plot += p9.geom_errorbarh(
                p9.aes(y="y", xmin="x_lo", xmax="x_hi", colour="method"), data=xbars, height=0, alpha=0.5
            )
        if not ybars.empty:
            plot += p9.geom_errorbar(
                p9.aes(x="x", ymin="y_lo", ymax="y_hi", colour="method"), data=ybars, width=0, alpha=0.5
            )
        counts = tuned["method"].value_counts()
        lines = tuned[tuned["method"].isin(counts[counts >= 2].index)].sort_values(["method", "x"])
        if not lines.empty:  # each method's sweep joined in x order
            plot += p9.geom_path(p9.aes("x", "y", colour="method", group="method"), data=lines)
        plot += p9.geom_point(p9.aes("x", "y", colour="method"), data=tuned, size=2.2)
        swept = tuned[tuned["hp"] != "default"].assign(hp=lambda d: d["hp"].map(short_hp))
        edges = [swept["x"] > 0.75, swept["y"] > 0.9]
        for (right, top), part in swept.groupby(edges):  # name each sweep point by its hyper-parameters
            plot += p9.geom_text(  # labels near the right or top edge go left of / below their point
                p9.aes("x", "y", label="hp", colour="method"),
                data=part,
                size=6,
                nudge_y=-0.03 if top else 0.03,
                va="top" if top else "bottom",
                ha="right" if right else "center",
            )
        plot += p9.facet_wrap("method", ncol=min(PANEL_COLUMNS, tuned["method"].nunique()))
    # proportions: the panel is [0, 1]; an interval reaching past it (3 seeds) is cut at the edge
    plot += p9.coord_cartesian(xlim=(0, 1), ylim=(0, 1))
    plot += p9.theme_bw() + p9.theme(
        legend_position="none", figure_size=figure_size(tuned["method"].nunique())
    )
    return plot


def short_hp(label: str) -> str:
    """A point label: ``beta=10`` stays; several hyper-parameters show their values only
    (``proxy_category=foods,proxy_triggers=5`` → ``foods·5``)."""
    from selgen.config import parse_hp_label

    try:
        hp = parse_hp_label(label)
    except ValueError:  # not a key=value label
        return label
    return label if len(hp) <= 1 else "·".join(hp.values())


def figure_size(n_panels: int) -> tuple[float, float]:
    """Inches for ``n_panels`` small multiples (one panel: the classic single figure)."""
    if n_panels <= 1:
        return (WIDTH_IN, HEIGHT_IN)
    cols = min(PANEL_COLUMNS, n_panels)
    rows = -(-n_panels // cols)
    return (2.6 * cols + 0.6, 2.4 * rows + 0.8)


def pareto_setting(summary_df: pd.DataFrame, out_path: str | os.PathLike, setting: str) -> Path:
    """A setting's Pareto figure on its own axes and labels (``Setting.x``, ``.y``, ``.title``)."""
    from selgen.settings import get_setting

    spec = get_setting(setting)
    return save(pareto_figure(summary_df, spec.x, spec.y, spec.title, setting=setting), out_path)
