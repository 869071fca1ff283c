"""Is the mini organism real? The naive baseline against the untuned base, with seed intervals.

For each check: the base value, the baseline's seed mean with its 95 % t-interval, and the paired per-seed
difference with its interval; a check passes when the difference has the required sign and size with an
interval that excludes zero, and the base and baseline values are within their bounds.
"""

from __future__ import annotations

from dataclasses import asdict

from selgen.stats import mean_ci, paired_difference, select


def organism_check(metrics_df, setting: str, pilot: bool = False) -> dict:
    """The setting's checks (``Setting.checks``) of its baseline method against the untuned base.

    ``pilot``: one seed of the baseline (a paper config's pilot), no interval: a check passes on the sign and
    size of the difference alone (``"pilot": True`` in the result)."""
    from selgen.settings import get_setting

    spec = get_setting(setting)
    baseline = spec.baseline
    out = {"setting": setting, "baseline": baseline, "checks": [], "passed": True, "pilot": pilot}
    present = set(metrics_df["category"])
    for check in spec.checks:
        if check.category not in present:  # a user-defined function may not have the default categories
            continue
        sel = select(
            metrics_df, setting=setting, eval_set=check.eval_set, category=check.category, metric=check.metric
        )
        base = float(sel[sel["method"] == "base"]["value"].mean())
        runs = sel[(sel["method"] == baseline)]
        nan = float("nan")
        diff = {"mean": nan, "ci_lo": nan, "ci_hi": nan, "excludes_zero": False}
        tuned = {"mean": nan, "ci_lo": nan, "ci_hi": nan}
        if not runs.empty:  # base-only checks need no baseline rows
            diff = paired_difference(
                metrics_df,
                baseline,
                runs["hp"].iloc[0],
                eval_set=check.eval_set,
                category=check.category,
                metric=check.metric,
                setting=setting,
            )
            tuned = mean_ci(runs.groupby("seed")["value"].mean().dropna().to_numpy())
        ok = True
        if check.direction is not None:
            ok &= bool((pilot or diff["excludes_zero"]) and diff["mean"] * check.direction > 0)
            ok &= check.min_size is None or diff["mean"] * check.direction >= check.min_size
        ok &= check.base_min is None or base >= check.base_min
        ok &= check.base_max is None or base <= check.base_max
        ok &= check.baseline_min is None or tuned["mean"] >= check.baseline_min
        out["checks"].append(
            {
                **asdict(check),
                "base": base,
                "baseline_mean": tuned["mean"],
                "baseline_ci": [tuned["ci_lo"], tuned["ci_hi"]],
                "difference": diff["mean"],
                "difference_ci": [diff["ci_lo"], diff["ci_hi"]],
                "passed": ok,
            }
        )
        out["passed"] &= ok
    return out


def format_check(result: dict) -> str:
    verdict = "REAL" if result["passed"] else "NOT REAL"
    one_seed = " (pilot: one seed, no intervals)" if result.get("pilot") else ""
    lines = [f"{result['setting']}: {result['baseline']} vs base -> {verdict}{one_seed}"]
    for c in result["checks"]:
        lines.append(
            f"  {c['metric']:>11s} [{c['eval_set']}/{c['category']}]: base {c['base']:.3f}, "
            f"{result['baseline']} {c['baseline_mean']:.3f} "
            f"[{c['baseline_ci'][0]:.3f}, {c['baseline_ci'][1]:.3f}], "
            f"difference {c['difference']:+.3f} [{c['difference_ci'][0]:+.3f}, {c['difference_ci'][1]:+.3f}] "
            f"-> {'ok' if c['passed'] else 'FAIL'}"
        )
    return "\n".join(lines)
