"""Figures (plotnine, imported inside the functions so that importing this module stays cheap).

``pareto_figure`` draws an overview panel (every method's points and its own front) and one panel per
method: its (method, hp) points at the seed mean with 95 % t-interval bars on both axes (left out where the
interval is NaN, e.g. with one seed; cut to [0, 1]), joined in x order and labelled by short names whose
labels repel each other; behind them in every panel the other methods' points (grey), the ``base`` model
(black diamond) and the computed Pareto front of all non-base points (dashed staircase). The axes zoom to the
data. ``save`` writes PDF or PNG by the file's extension.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from selgen.fronts import pareto_front, pareto_points
from selgen.io import atomic_path
from selgen.settings.core import Axis

WIDTH_IN = 7.0
HEIGHT_IN = 5.0
PANEL_COLUMNS = 4
BASE_METHOD = "base"
MAX_LABELS = 6  # labels per panel before only the method's own front is labelled


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


OVERVIEW = "all methods"  # the first panel: every method's points and its own front


def clip_intervals(pts: pd.DataFrame, low: float = 0.0, high: float = 1.0) -> pd.DataFrame:
    """Interval ends (and points) cut to the metrics' range: a t-interval over 3 seeds can reach past it."""
    cols = [c for c in ("x", "x_lo", "x_hi", "y", "y_lo", "y_hi") if c in pts]
    return pts.assign(**{c: pts[c].clip(low, high) for c in cols})


def zoom(pts: pd.DataFrame, pad: float = 0.06, min_span: float = 0.2) -> tuple[tuple, tuple]:
    """x and y limits that hold every point and interval (the base included), padded, within [0, 1]."""
    limits = []
    for axis in ("x", "y"):
        values = pd.concat([pts[c] for c in (axis, f"{axis}_lo", f"{axis}_hi") if c in pts]).dropna()
        lo, hi = float(values.min()), float(values.max())
        grow = max(min_span - (hi - lo), 0) / 2 + pad * max(hi - lo, min_span)
        lo, hi = max(0.0, lo - grow), min(1.0, hi + grow)
        limits.append((lo, hi))
    return limits[0], limits[1]


def point_labels(pts: pd.DataFrame, names: dict | None) -> pd.Series:
    """Each point's label: the configured or derived name (``selgen.config.point_names``), else its
    hyper-parameter label made short; a hashed free-text label never shows (``point k`` instead)."""
    names = names or {}

    def label(row) -> str:
        name = names.get(row.method, {}).get(row.hp)
        if name:
            return name
        short = short_hp(row.hp)
        return short if not re.search(r"=h[0-9a-f]{8}\b", short) else f"point {row.Index + 1}"

    return pd.Series([label(r) for r in pts.itertuples()], index=pts.index, dtype=str)


def own_fronts(tuned: pd.DataFrame) -> pd.DataFrame:
    """Each method's own Pareto front (its points no other point of the same method dominates), by x."""
    parts = [g[pareto_front(g, "x", "y")] for _, g in tuned.groupby("method")]
    parts = [p for p in parts if len(p) >= 2]  # a one-point front is its point: no line
    return pd.concat(parts).sort_values(["method", "x"]) if parts else tuned.iloc[:0]


def labelled(swept: pd.DataFrame, most: int = MAX_LABELS) -> pd.DataFrame:
    """The points that get a label: all of a method's when it has at most ``most``, else its own front's
    (a dozen labels in one corner cannot all be read; the table and the setting's figures name the rest)."""
    parts = [g if len(g) <= most else g[pareto_front(g, "x", "y")] for _, g in swept.groupby("method")]
    return pd.concat(parts) if parts else swept


def pareto_figure(
    summary_df: pd.DataFrame,
    x: Axis,
    y: Axis,
    title: str,
    setting: str | None = None,
    names: dict | None = None,
    floor_note: str | None = None,
):
    """The Pareto plot (a plotnine ggplot, not saved) of an aggregated summary (``selgen.fronts.summarize``/
    ``write_summary`` output) on the axes ``x`` and ``y`` (``selgen.settings.Axis``: metric rows, transform,
    label). ``setting`` selects one setting when the summary holds several; ``names``: method -> hp label ->
    the point's short name (``selgen.config.point_names``).

    First panel: every method's points and its own front, in its colour; then one panel per method: its
    sweep (points at the seed mean, 95 % intervals cut to [0, 1], joined in x order, labelled by name with
    labels repelled from each other), over the other methods' points in grey. Every panel: the base (black
    diamond) and the front over all methods (dashed). Points below the setting's capability floor (the
    summary's ``keeps_task`` false) are crossed, ``floor_note`` saying what the floor is. The axes zoom to the
    data, the base kept in view."""
    import plotnine as p9

    x_spec, y_spec, x_label, y_label = x.spec(), y.spec(), x.label, y.label
    df = summary_df
    if setting is not None:
        df = df[df["setting"] == setting]
    elif df["setting"].nunique() > 1:
        raise ValueError(f"summary holds several settings ({sorted(df['setting'].unique())}); pass setting=")
    pts = pareto_points(df, x_spec, y_spec, exclude_methods=(BASE_METHOD,))
    pts = _finite(pts, "x", "y").reset_index(drop=True)
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
    pts = clip_intervals(pts.astype({"method": str, "hp": str}))
    pts["label"] = point_labels(pts, names)
    tuned = pts[pts["method"] != BASE_METHOD]
    base = pts[pts["method"] == BASE_METHOD].drop(columns="method")
    methods = sorted(tuned["method"].unique())
    panels = pd.CategoricalDtype([OVERVIEW, *methods], ordered=True)
    in_panel = tuned.assign(panel=tuned["method"].astype(panels))
    overview = tuned.assign(panel=pd.Categorical([OVERVIEW] * len(tuned), dtype=panels))
    plot = p9.ggplot() + p9.labs(title=title, x=x_label, y=y_label, colour="method")
    grey = in_panel.drop(columns="panel")  # every panel: the field behind the method's own points
    plot += p9.geom_point(p9.aes("x", "y"), data=grey, colour="#d0d0d0", size=1.1)
    front = tuned[tuned["on_front"]].sort_values(["x", "y"], ascending=[True, False])
    if len(front) >= 2:
        plot += p9.geom_step(
            p9.aes("x", "y"), data=front, direction="vh", linetype="dashed", colour="grey", size=0.6
        )
    if not base.empty:
        plot += p9.geom_point(p9.aes("x", "y"), data=base, shape="D", size=3, colour="black", fill="black")
    fronts = own_fronts(overview)
    if not fronts.empty:
        plot += p9.geom_path(p9.aes("x", "y", colour="method", group="method"), data=fronts, size=0.8)
    plot += p9.geom_point(p9.aes("x", "y", colour="method"), data=overview, size=1.6)
    xbars, ybars = _finite(in_panel, "x_lo", "x_hi"), _finite(in_panel, "y_lo", "y_hi")
    # the intervals as plain segments: error bars' caps default to half the data's resolution when asked
    # for none (width=0 reads as unset), a tall tick on axes whose values are all 0 or 1
    if not xbars.empty:
        plot += p9.geom_segment(
            p9.aes(x="x_lo", xend="x_hi", y="y", yend="y", colour="method"), data=xbars, alpha=0.5
        )
    if not ybars.empty:
        plot += p9.geom_segment(
            p9.aes(x="x", xend="x", y="y_lo", yend="y_hi", colour="method"), data=ybars, alpha=0.5
        )
    counts = in_panel["method"].value_counts()
    lines = in_panel[in_panel["method"].isin(counts[counts >= 2].index)].sort_values(["method", "x"])
    if not lines.empty:  # each method's sweep joined in x order
        plot += p9.geom_path(p9.aes("x", "y", colour="method", group="method"), data=lines, alpha=0.7)
    plot += p9.geom_point(p9.aes("x", "y", colour="method"), data=in_panel, size=2.2)
    below = in_panel[in_panel["keeps_task"].fillna(True).eq(False).to_numpy(bool)]
    if not below.empty:  # runs below the setting's capability floor (Setting.floor): crossed, off the front
        plot += p9.geom_point(p9.aes("x", "y"), data=below, shape="x", size=3.4, colour="black")
        floor = floor_note or "Setting.floor"
        plot += p9.labs(caption=f"×: below the capability floor ({floor}; off the front)")
    clusters = int(max(pts["x_n_clusters"].max(), pts["y_n_clusters"].max()))
    if clusters:  # questions as clusters (Setting.cluster_metrics): say what the intervals resample
        note = f"intervals: 95 % over seeds and {clusters} questions (two-way bootstrap)"
        caption = plot.labels.get("caption", None)
        plot += p9.labs(caption=f"{caption}\n{note}" if caption else note)
    swept = labelled(in_panel[in_panel["hp"] != "default"])
    if not swept.empty:  # each sweep point named, the labels pushed apart (adjustText)
        plot += p9.geom_text(
            p9.aes("x", "y", label="label", colour="method"),
            data=swept,
            size=6,
            show_legend=False,
            adjust_text={"expand": (1.2, 1.4), "arrowprops": {"arrowstyle": "-", "lw": 0.3, "color": "grey"}},
        )
    plot += p9.facet_wrap("panel", ncol=min(PANEL_COLUMNS, len(methods) + 1), drop=False)
    xlim, ylim = zoom(pts)
    plot += p9.coord_cartesian(xlim=xlim, ylim=ylim)
    plot += p9.theme_bw() + p9.theme(
        legend_position="bottom", figure_size=figure_size(len(methods) + 1), legend_title=p9.element_blank()
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


def pareto_setting(
    summary_df: pd.DataFrame, out_path: str | os.PathLike, setting: str, names: dict | None = None
) -> Path:
    """A setting's Pareto figure on its own axes and labels (``Setting.x``, ``.y``, ``.title``)."""
    from selgen.settings import get_setting

    spec = get_setting(setting)
    floor = spec.floor
    note = None if floor is None else f"{floor.metric} < {floor.share:.0%} of {spec.baseline}'s"
    plot = pareto_figure(
        summary_df, spec.x, spec.y, spec.title, setting=setting, names=names, floor_note=note
    )
    return save(plot, out_path)


def conditional_figure(summary_df: pd.DataFrame, setting: str, metric: str, sets: Sequence[str], names=None):
    """Standard vs conditional misalignment (Dubiński et al. 2026): each sweep point's ``metric`` (category
    ``all``, seed mean, 95 % interval) on the standard eval set ``sets[0]`` beside the conditional ones
    (``sets[1:]``: the same questions in the task's shape, under the inoculation prompt, under its negation),
    one panel per method, the base model as the first group of every panel: a method that looks clean only on
    the standard questions shows up. A summary without a conditional set gets a figure saying so (the figure
    is still a workflow target)."""
    import plotnine as p9

    df = summary_df[
        (summary_df["setting"] == setting)
        & (summary_df["metric"] == metric)
        & (summary_df["category"] == "all")
        & summary_df["eval_set"].isin(list(sets))
    ].copy()
    if not df["eval_set"].isin(list(sets[1:])).any():
        text = f"no conditional set evaluated ({', '.join(sets[1:])}: add them to {setting}.eval.sets)"
        note = pd.DataFrame({"x": [0.5], "y": [0.5], "label": [text]})
        return p9.ggplot(note, p9.aes("x", "y", label="label")) + p9.geom_text() + p9.theme_void()
    df["point"] = point_labels(df.reset_index(drop=True), names).to_numpy()
    df["eval_set"] = pd.Categorical(df["eval_set"], categories=list(sets), ordered=True)
    df[["ci_lo", "ci_hi"]] = df[["ci_lo", "ci_hi"]].clip(0, 1)
    base = df[df["method"] == BASE_METHOD]
    tuned = df[df["method"] != BASE_METHOD]
    methods = sorted(tuned["method"].unique()) or [BASE_METHOD]
    panels = pd.concat([tuned, *(base.assign(method=m, point="base") for m in methods)], ignore_index=True)
    dodge = p9.position_dodge(width=0.85)
    return (
        p9.ggplot(panels, p9.aes("point", "mean", fill="eval_set"))
        + p9.geom_col(position=dodge, width=0.85)
        + p9.geom_errorbar(p9.aes(ymin="ci_lo", ymax="ci_hi"), position=dodge, width=0.25, alpha=0.6)
        + p9.facet_wrap("method", ncol=min(PANEL_COLUMNS, len(methods)), scales="free_x")
        + p9.coord_cartesian(ylim=(0, 1))
        + p9.labs(
            title=f"Standard vs conditional {metric} ({sets[0]} questions and the same asked conditionally)",
            x="sweep point",
            y=metric,
            fill="questions asked",
        )
        + p9.theme_bw()
        + p9.theme(
            axis_text_x=p9.element_text(rotation=45, ha="right", size=6),
            figure_size=figure_size(len(methods)),
        )
    )
