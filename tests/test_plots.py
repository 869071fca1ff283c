import numpy as np
import pandas as pd
import pytest

from selgen.fronts import summarize
from selgen.plots import pareto_figure, pareto_setting, save
from selgen.settings import get_setting

GCD = get_setting("gcd")


def metrics(points, seeds):
    """points: {(method, hp): (capability, sycophancy)}; a small per-seed jitter gives non-zero intervals."""
    rows = []
    for (method, hp), (cap, syc) in points.items():
        n_seeds = 1 if method == "base" else seeds
        for seed in range(n_seeds):
            jitter = 0.01 * seed
            run_id = f"{method}{hp}{seed}"
            keys = {"setting": "gcd", "method": method, "hp": hp, "seed": seed, "run_id": run_id}
            keys |= {"category": "all", "n": 8}
            rows.append({**keys, "eval_set": "task_test", "metric": "capability", "value": cap + jitter})
            rows.append({**keys, "eval_set": "ood", "metric": "sycophancy", "value": syc - jitter})
    return pd.DataFrame(rows)


POINTS = {
    ("base", "default"): (0.6, 0.2),
    ("task_only", "default"): (0.95, 0.8),
    ("mixed", "lam=0.5"): (0.9, 0.4),
    ("mixed", "lam=1"): (0.8, 0.3),
    ("kl", "beta=0.1"): (0.85, 0.5),
    ("kl", "beta=1"): (0.7, 0.45),
}


def check(path):
    assert path.exists() and path.stat().st_size > 0


@pytest.mark.parametrize("seeds", [3, 1])
def test_pareto_gcd_pdf_and_png(tmp_path, seeds):
    summary = summarize(metrics(POINTS, seeds))
    for ext in ("pdf", "png"):
        out = pareto_setting(summary, tmp_path / f"pareto.{ext}", "gcd")
        check(out)
    assert (tmp_path / "pareto.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*.tmp"))


def test_pareto_plot_single_method_and_nan_bars(tmp_path):
    summary = summarize(metrics({("mixed", "lam=0.5"): (0.9, 0.4), ("mixed", "lam=1"): (0.8, 0.3)}, 2))
    summary.loc[summary["hp"] == "lam=1", ["ci_lo", "ci_hi"]] = np.nan  # one point without bars
    check(save(pareto_figure(summary, GCD.x, GCD.y, "t"), tmp_path / "one.pdf"))
    single_point = summarize(metrics({("task_only", "default"): (0.9, 0.4)}, 1))
    check(save(pareto_figure(single_point, GCD.x, GCD.y, "t"), tmp_path / "single.png"))


def test_save_rejects_unknown_extension(tmp_path):
    summary = summarize(metrics(POINTS, 2))
    with pytest.raises(ValueError, match="svg"):
        pareto_setting(summary, tmp_path / "pareto.svg", "gcd")


def test_plots_module_does_not_import_plotnine_at_top():
    import selgen.plots

    header = open(selgen.plots.__file__, encoding="utf-8").read().split("\ndef ", 1)[0]
    assert "import plotnine" not in header
