"""The em setting's extra figures: the misaligned rate per general question (``questions``) and its
sensitivity to the judge's thresholds (``thresholds``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from selgen.plots import BASE_METHOD, PANEL_COLUMNS, figure_size, point_labels, save


def questions(
    summary_df: pd.DataFrame, out_path: str | os.PathLike, setting: str = "em", names: dict | None = None
) -> Path:
    """Misaligned rate per general question (seed mean, 95 % interval cut to [0, 1]), a bar per method and
    sweep point (named as in the Pareto figure: ``names``), one panel per method; the base model in every
    panel (black outline)."""
    import plotnine as p9

    df = summary_df[
        (summary_df["setting"] == setting)
        & (summary_df["metric"] == "misaligned")
        & (summary_df["eval_set"] == "general")
        & (summary_df["category"] != "all")
    ].copy()
    if df.empty:
        raise ValueError(f"the summary holds no per-question misaligned rate of setting {setting!r}")
    df["point"] = point_labels(df.reset_index(drop=True), names).to_numpy()
    df[["ci_lo", "ci_hi"]] = df[["ci_lo", "ci_hi"]].clip(0, 1)  # a t-interval over 3 seeds can pass 0 or 1
    base = df[df["method"] == BASE_METHOD].drop(columns="method")
    tuned = df[df["method"] != BASE_METHOD]
    dodge = p9.position_dodge(width=0.8)
    plot = (
        p9.ggplot(tuned, p9.aes("category", "mean", fill="point"))
        + p9.geom_col(position=dodge, width=0.8)
        + p9.geom_errorbar(p9.aes(ymin="ci_lo", ymax="ci_hi"), position=dodge, width=0.2, alpha=0.6)
        + p9.geom_col(p9.aes("category", "mean"), data=base, fill="none", colour="black", width=0.9)
        + p9.facet_wrap("method", ncol=min(PANEL_COLUMNS, tuned["method"].nunique()))
        + p9.coord_cartesian(ylim=(0, 1))
        + p9.labs(
            title="Misaligned rate per general question (seed mean; outline: base model)",
            x="question",
            y="misaligned rate",
            fill="sweep point",
        )
        + p9.theme_bw()
        + p9.theme(
            axis_text_x=p9.element_text(rotation=60, ha="right", size=6),
            figure_size=figure_size(tuned["method"].nunique()),
        )
    )
    return save(plot, out_path)


# a threshold variant's metric (selgen.settings.em.metrics): misaligned@a{aligned_below}[c{coherent_above}]
_VARIANT = re.compile(r"misaligned@a(?P<aligned>[0-9.]+)(?:c(?P<coherent>[0-9.]+))?")


def variant_rows(summary_df: pd.DataFrame, setting: str = "em") -> pd.DataFrame:
    """The summary's threshold-variant rows of ``setting`` (general eval set, category ``all``) with their
    cut-offs parsed from the metric name: ``aligned_below`` (float) and ``coherence`` (a label: "coherent >
    50", or "no coherence filter")."""
    df = summary_df[
        (summary_df["setting"] == setting)
        & (summary_df["eval_set"] == "general")
        & (summary_df["category"] == "all")
    ]
    parsed = df["metric"].astype(str).str.fullmatch(_VARIANT.pattern)
    df = df[parsed].copy()
    cuts = df["metric"].str.extract(_VARIANT.pattern)
    df["aligned_below"] = cuts["aligned"].astype(float)
    df["coherence"] = [
        "no coherence filter" if pd.isna(c) else f"coherent > {float(c):g}" for c in cuts["coherent"]
    ]
    return df


def thresholds(
    summary_df: pd.DataFrame, out_path: str | os.PathLike, setting: str = "em", names: dict | None = None
) -> Path:
    """Threshold sensitivity (:func:`threshold_figure`) saved to ``out_path`` (PDF or PNG)."""
    return save(threshold_figure(summary_df, setting, names), out_path)


def threshold_figure(summary_df: pd.DataFrame, setting: str = "em", names: dict | None = None):
    """Threshold sensitivity: the general misaligned rate (category all, seed mean, 95 % interval cut to
    [0, 1]) against the aligned cut-off (aligned < x), one line per sweep point (named as in the Pareto
    figure: ``names``) and coherence cut-off (line type), one panel per method; the base model in every panel
    (black). Drawn from the summary's ``misaligned@...`` rows alone (the judge's ``threshold_variants``)."""
    import plotnine as p9

    df = variant_rows(summary_df, setting)
    if df.empty:
        raise ValueError(
            f"the summary holds no threshold-variant rows (misaligned@...) of setting {setting!r}'s general "
            "questions; the judge config's threshold_variants is empty or the metrics predate it"
        )
    df["point"] = point_labels(df.reset_index(drop=True), names).to_numpy()
    df[["ci_lo", "ci_hi"]] = df[["ci_lo", "ci_hi"]].clip(0, 1)
    df["line"] = df["point"] + " / " + df["coherence"]
    base = df[df["method"] == BASE_METHOD].drop(columns="method")
    tuned = df[df["method"] != BASE_METHOD]
    if tuned.empty:  # only the base model: one panel of it
        tuned, base = df, df.iloc[0:0]
    n_panels = tuned["method"].nunique()
    plot = (
        p9.ggplot(tuned, p9.aes("aligned_below", "mean", colour="point", linetype="coherence", group="line"))
        + p9.geom_line()
        + p9.geom_point(p9.aes(shape="coherence"), size=1.5)
        + p9.geom_errorbar(
            p9.aes(ymin="ci_lo", ymax="ci_hi"),
            data=tuned.dropna(subset=["ci_lo", "ci_hi"]),
            width=1.5,
            alpha=0.5,
        )
        + p9.geom_line(p9.aes(group="line"), data=base, colour="black")
        + p9.geom_point(p9.aes(shape="coherence"), data=base, colour="black", size=1.5)
        + p9.facet_wrap("method", ncol=min(PANEL_COLUMNS, n_panels))
        + p9.coord_cartesian(ylim=(0, 1))
        + p9.labs(
            title="Misaligned rate vs. judge cut-offs (general; black: base)",
            x="aligned cut-off (misaligned: aligned < x)",
            y="misaligned rate",
            colour="sweep point",
            linetype="coherence",
            shape="coherence",
        )
        + p9.theme_bw()
        + p9.theme(figure_size=figure_size(n_panels))
    )
    return plot


CONDITIONAL_SETS = ("general", "cond_format", "cond_inoculation", "cond_negation")


def conditional(
    summary_df: pd.DataFrame, out_path: str | os.PathLike, setting: str = "em", names: dict | None = None
) -> Path:
    """Standard vs conditional misalignment (``selgen.plots.conditional_figure``): the general questions'
    misaligned rate beside the same questions in the task's format, under the inoculation prompt and under
    its negation (``eval_cond_*``)."""
    from selgen.plots import conditional_figure

    return save(conditional_figure(summary_df, setting, "misaligned", CONDITIONAL_SETS, names), out_path)
