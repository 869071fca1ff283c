"""The gcd setting's extra figure: standard vs conditional sycophancy."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from selgen.plots import conditional_figure, save

CONDITIONAL_SETS = ("ood", "cond_inoculation", "cond_negation")


def conditional(
    summary_df: pd.DataFrame, out_path: str | os.PathLike, setting: str = "gcd", names: dict | None = None
) -> Path:
    """OOD sycophancy beside the same claims under the inoculation prompt and its negation
    (``ood_cond_*``, ``selgen.settings.gcd.data.conditional_sets``)."""
    return save(conditional_figure(summary_df, setting, "sycophancy", CONDITIONAL_SETS, names), out_path)
