"""The em setting's extra figure: the misaligned rate per general question."""

from __future__ import annotations

import os
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
