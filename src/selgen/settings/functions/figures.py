"""The functions setting's extra figure: accuracy per proxy category × evaluated category."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from selgen.plots import BASE_METHOD, save


def heatmap_table(
    summary_df: pd.DataFrame, setting: str = "functions", eval_set: str = "all"
) -> pd.DataFrame:
    """Seed-mean accuracy per (method, proxy triggers, proxy category, evaluated category) of the per-category
    ``accuracy`` rows; runs without a proxy (task_only) get proxy category "none" and 0 triggers."""
    from selgen.config import parse_hp_label

    df = summary_df[
        (summary_df["setting"] == setting)
        & (summary_df["metric"] == "accuracy")
        & (summary_df["eval_set"] == eval_set)
        & (summary_df["method"] != BASE_METHOD)
        & ~summary_df["category"].isin(["updated", "untouched"])
    ]
    hp = df["hp"].map(parse_hp_label)
    return pd.DataFrame(
        {
            "method": df["method"].astype(str).to_numpy(),
            "proxy_triggers": hp.map(lambda h: int(h.get("proxy_triggers", 0))).to_numpy(),
            "proxy_category": hp.map(lambda h: h.get("proxy_category", "none")).to_numpy(),
            "category": df["category"].astype(str).to_numpy(),
            "accuracy": df["mean"].to_numpy(),
        }
    )


def heatmap(
    summary_df: pd.DataFrame,
    out_path: str | os.PathLike,
    setting: str = "functions",
    names: dict | None = None,
) -> Path:
    """Proxy category (rows) × evaluated category (columns), seed-mean accuracy on ID + OOD tests; one panel
    per method and number of proxy triggers. The updated category's column shows how far the update went.
    (``names``, the sweep points' labels, is not needed: the rows name the proxies.)"""
    import plotnine as p9

    table = heatmap_table(summary_df, setting)
    if table.empty:
        raise ValueError(f"the summary holds no per-category accuracy of setting {setting!r}")
    table["panel"] = table["method"] + table["proxy_triggers"].map(
        lambda n: f", {n} proxy triggers" if n else ""
    )
    table["percent"] = (100 * table["accuracy"]).round().astype(int)
    table["ink"] = table["accuracy"] > 0.6  # white numbers on dark tiles
    n_panels = table["panel"].nunique()
    cols = min(2, n_panels)
    plot = (
        p9.ggplot(table, p9.aes("category", "proxy_category", fill="accuracy"))
        + p9.geom_tile(colour="white")
        + p9.geom_text(p9.aes(label="percent", colour="ink"), size=7, show_legend=False)
        + p9.scale_colour_manual(values={False: "black", True: "white"})
        + p9.scale_fill_gradient(low="#f7fbff", high="#08306b", limits=(0, 1))
        + p9.facet_wrap("panel", ncol=cols, scales="free_y")
        + p9.labs(
            title="Trigger functions: accuracy (%) per evaluated category\n(seed mean, ID + OOD tests)",
            x="evaluated category",
            y="proxy category",
        )
        + p9.theme_bw()
        + p9.theme(
            axis_text_x=p9.element_text(rotation=45, ha="right"),
            figure_size=(4.2 * cols + 1.2, 3.8 * -(-n_panels // cols) + 0.8),
        )
    )
    return save(plot, out_path)
