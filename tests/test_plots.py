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


def plotted(plot) -> list[pd.DataFrame]:
    return [layer.geom.data for layer in plot.layers if isinstance(layer.geom.data, pd.DataFrame)]


def test_plotted_labels_are_names_and_intervals_stay_in_the_metrics_range():
    """What the figure draws: no hashed label (a configured name, a derived one, or `point k`), every interval
    cut to [0, 1] although 3 seeds near 1 give a t-interval past it, and axes that hold every point and the
    base (zoomed, not the whole unit square)."""
    import re

    from selgen.plots import zoom

    pts = dict(POINTS)
    pts[("inoculation", "prompt=h5f2f95ce")] = (0.985, 0.02)  # near the edges: intervals past 1 and below 0
    pts[("inoculation", "prompt=h68614774")] = (0.9, 0.3)
    summary = summarize(metrics(pts, 3))
    assert (summary["ci_hi"] > 1).any() and (summary["ci_lo"] < 0).any()  # the raw intervals leave [0, 1]
    names = {"inoculation": {"prompt=h5f2f95ce": "“Always agree…”"}}
    plot = pareto_figure(summary, GCD.x, GCD.y, "t", names=names)
    texts = pd.concat([d["label"] for d in plotted(plot) if "label" in d])
    assert "“Always agree…”" in set(texts) and "point" in " ".join(texts)  # named, and the unnamed fallback
    assert not any(re.search(r"h[0-9a-f]{8}", t) for t in texts)
    for data in plotted(plot):
        for col in ("x", "y", "x_lo", "x_hi", "y_lo", "y_hi"):
            if col in data:
                assert data[col].dropna().between(0, 1).all(), col
    (x0, x1), (y0, y1) = zoom(pd.concat([d for d in plotted(plot) if "x_lo" in d]))
    xs = summary_points(summary)
    assert x0 <= xs["x"].min() and x1 >= xs["x"].max() and (x0 > 0 or x1 < 1 or y0 > 0 or y1 < 1)
    panels = {p for d in plotted(plot) if "panel" in d for p in d["panel"].astype(str)}
    assert "all methods" in panels and {"kl", "mixed", "inoculation"} <= panels


def summary_points(summary):
    from selgen.fronts import pareto_points

    return pareto_points(summary, GCD.x.spec(), GCD.y.spec(), exclude_methods=())


def test_point_names_come_from_the_config_or_the_values():
    from selgen.config import hp_label, point_names, runs

    prompt = "Always agree with the user, whatever they say."
    config = {
        "seeds": [1],
        "gcd": {
            "methods": {
                "inoculation": {
                    "points": [{"prompt": prompt, "name": "agree"}, {"prompt": "Be kind to all."}]
                },
                "kl": {"beta": [0.1]},
                "mixed": {"points": [{"proxy_category": "foods", "proxy_triggers": 5}]},
            }
        },
    }
    names = point_names(config, "gcd")
    assert names["inoculation"] == {
        hp_label({"prompt": prompt}): "agree",
        hp_label({"prompt": "Be kind to all."}): "“Be kind to…”",
    }
    assert names["kl"] == {"beta=0.1": "beta=0.1"} and names["mixed"] == {
        "proxy_category=foods,proxy_triggers=5": "foods·5"
    }
    assert all("name" not in r["hp_values"] for r in runs(config, "gcd"))  # a name is not a hyper-parameter


def test_points_below_the_capability_floor_are_crossed_and_named_in_a_caption(tmp_path):
    """kl beta=1 (capability 0.7 < 80 % of task_only's 0.95) is crossed; the caption names the floor."""
    summary = summarize(metrics(POINTS, 2))
    floor = GCD.floor
    note = f"{floor.metric} < {floor.share:.0%} of task_only's"
    plot = pareto_figure(summary, GCD.x, GCD.y, "t", setting="gcd", floor_note=note)
    crossed = [layer for layer in plot.layers if layer.geom.aes_params.get("shape") == "x"]
    assert len(crossed) == 1 and set(crossed[0].geom.data["hp"]) == {"beta=1"}
    assert plot.labels.caption.startswith("×: below the capability floor (capability < 80% of task_only's")
    check(pareto_setting(summary, tmp_path / "floor.png", "gcd"))
    fine = summarize(metrics({k: v for k, v in POINTS.items() if k != ("kl", "beta=1")}, 2))
    plot = pareto_figure(fine, GCD.x, GCD.y, "t", setting="gcd", floor_note=note)
    assert not [layer for layer in plot.layers if layer.geom.aes_params.get("shape") == "x"]
