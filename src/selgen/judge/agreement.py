"""Judge agreement: score the same replies with two judges and say how far their scores and their
misaligned verdicts agree (``selgen judge agreement``).

Per score (aligned, coherent), over the replies both judges scored (``n``): Spearman's rank correlation
(average ranks for ties), Kendall's tau-b, the mean absolute difference and the mean difference B − A (a
judge that is harsher on the whole shows there, not in the rank correlation). Per threshold (the standard
aligned < ``aligned_below`` and coherent > ``coherent_above``, then the judge config's
``threshold_variants``), over the replies both judges could classify: the share classified alike, Cohen's
kappa (p_o − p_e) / (1 − p_e) with p_e = p_A·p_B + (1 − p_A)(1 − p_B) from each judge's own misaligned share,
and each judge's misaligned rate on those same replies. A correlation or kappa is None where it is undefined
(fewer than two pairs, a judge that gives every reply one score, or both judges one and the same verdict).

Both judges read and fill their own cache (``cache_dir`` of each judge config), so a second comparison of the
same replies sends no request.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from selgen.judge.scoring import classify_variant, variant_name

SCORES = ("aligned", "coherent")
THRESHOLD_KEYS = ("aligned_below", "coherent_above", "threshold_variants")
# what a judge's summary says about its identity and its requests (selgen.judge.judge_samples)
JUDGE_FIELDS = ("judge_model", "judge_base_url", "judge_mode", "n_cache_hits", "n_http_requests", "cost_usd")


def paired(a: Sequence[float | None], b: Sequence[float | None]) -> tuple[list[float], list[float]]:
    """The two score lists restricted to the positions where both are scores (neither None nor NaN)."""
    if len(a) != len(b):
        raise ValueError(f"the judges scored {len(a)} and {len(b)} replies; they must score the same ones")
    keep = [(x, y) for x, y in zip(a, b, strict=True) if _scored(x) and _scored(y)]
    return [float(x) for x, _ in keep], [float(y) for _, y in keep]


def _scored(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _correlation(kind: str, x: list[float], y: list[float]) -> float | None:
    """Spearman's rho or Kendall's tau-b (scipy), None when undefined (under 2 pairs, a constant side)."""
    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    from scipy import stats  # here: importing scipy.stats takes about a second

    result = stats.spearmanr(x, y) if kind == "spearman" else stats.kendalltau(x, y)
    return float(result.statistic)


def score_agreement(a: Sequence[float | None], b: Sequence[float | None]) -> dict:
    """``{"n", "spearman", "kendall", "mean_abs_diff", "mean_diff"}`` of two judges' scores of the same
    replies (``mean_diff``: mean of b − a), over the replies both scored; None where undefined."""
    x, y = paired(a, b)
    diffs = [v - u for u, v in zip(x, y, strict=True)]
    return {
        "n": len(x),
        "spearman": _correlation("spearman", x, y),
        "kendall": _correlation("kendall", x, y),
        "mean_abs_diff": _mean([abs(d) for d in diffs]),
        "mean_diff": _mean(diffs),
    }


def cohen_kappa(x: Sequence[bool], y: Sequence[bool]) -> float | None:
    """Cohen's kappa of two raters' binary verdicts on the same items; None when there are none or chance
    agreement is total (both raters give every item one and the same verdict)."""
    if len(x) != len(y):
        raise ValueError(f"kappa needs verdicts on the same items; got {len(x)} and {len(y)}")
    n = len(x)
    if n == 0:
        return None
    observed = sum(u == v for u, v in zip(x, y, strict=True)) / n
    pa, pb = sum(x) / n, sum(y) / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    return None if chance >= 1.0 else (observed - chance) / (1 - chance)


def verdict_agreement(a: Sequence[bool | None], b: Sequence[bool | None]) -> dict:
    """``{"n", "agreement", "kappa", "rate_a", "rate_b", "only_a", "only_b"}`` of two judges' misaligned
    verdicts (None: not classifiable), over the replies both classified; ``only_a``: misaligned for A
    alone."""
    if len(a) != len(b):
        raise ValueError(f"the judges classified {len(a)} and {len(b)} replies; they must be the same ones")
    pairs = [(u, v) for u, v in zip(a, b, strict=True) if u is not None and v is not None]
    x, y = [bool(u) for u, _ in pairs], [bool(v) for _, v in pairs]
    n = len(pairs)
    return {
        "n": n,
        "agreement": _mean([float(u == v) for u, v in pairs]),
        "kappa": cohen_kappa(x, y),
        "rate_a": _mean([float(u) for u in x]),
        "rate_b": _mean([float(v) for v in y]),
        "only_a": sum(u and not v for u, v in pairs),
        "only_b": sum(v and not u for u, v in pairs),
    }


def thresholds_of(cfg: Mapping) -> list[tuple[str, dict]]:
    """``[(label, variant)]``: the standard threshold (label ``misaligned``) and the config's variants
    (``misaligned@NAME``) of a resolved judge config."""
    standard = {"aligned_below": cfg["aligned_below"], "coherent_above": cfg["coherent_above"]}
    return [("misaligned", standard)] + [
        (f"misaligned@{variant_name(v)}", v) for v in cfg["threshold_variants"]
    ]


def agreement(results_a: Sequence[Mapping], results_b: Sequence[Mapping], cfg: Mapping | None = None) -> dict:
    """Agreement of two judges' results on the same replies (dicts with "aligned" and "coherent" scores, in
    the same order): ``{"n_replies", "scores": {metric: score_agreement}, "thresholds": [{"metric", "aligned_
    below", "coherent_above", **verdict_agreement}]}``; thresholds from the judge config ``cfg``."""
    from selgen.judge.prompts import resolve_config

    if len(results_a) != len(results_b):
        raise ValueError(
            f"the judges scored {len(results_a)} and {len(results_b)} replies; not the same ones"
        )
    cfg = resolve_config(dict(cfg or {}))
    scores = {
        m: score_agreement([r.get(m) for r in results_a], [r.get(m) for r in results_b]) for m in SCORES
    }
    thresholds = []
    for label, variant in thresholds_of(cfg):
        verdicts = [
            [classify_variant(r.get("aligned"), r.get("coherent"), variant) for r in results]
            for results in (results_a, results_b)
        ]
        thresholds.append({"metric": label, **variant, **verdict_agreement(*verdicts)})
    return {"n_replies": len(results_a), "scores": scores, "thresholds": thresholds}


# ----------------------------------------------------------------------------------- replies and judges


def replies_to_samples(replies) -> list[dict]:
    """Judge samples (question_id, question, answer, the question's own judge prompts) of a replies table as
    ``selgen evaluate --replies`` writes it, as the em setting's judge step builds them."""
    from selgen.io import InputError

    missing = [c for c in ("question_id", "question", "response") if c not in replies.columns]
    if missing:
        raise InputError(f"replies: missing column(s) {', '.join(map(repr, missing))}")
    out = []
    for r in replies.to_dict("records"):
        prompts = r.get("judge_prompts")
        out.append(
            {
                "question_id": r["question_id"],
                "question": r["question"],
                "answer": r["response"],
                **({"judge_prompts": json.loads(prompts)} if isinstance(prompts, str) and prompts else {}),
            }
        )
    return out


def _check_judges(cfg_a: Mapping, cfg_b: Mapping) -> tuple[dict, dict]:
    """Both judge configs resolved; each must name its model, and both must use the same thresholds."""
    from selgen.io import InputError
    from selgen.judge.prompts import resolve_config

    resolved = []
    for name, cfg in (("A", cfg_a), ("B", cfg_b)):
        if not cfg.get("model"):
            raise InputError(f"judge {name}: the config must name its `model`")
        try:
            resolved.append(resolve_config(dict(cfg)))
        except ValueError as err:
            raise InputError(f"judge {name}: {err}") from None
    differ = [k for k in THRESHOLD_KEYS if resolved[0][k] != resolved[1][k]]
    if differ:
        raise InputError(
            f"the two judge configs set different thresholds ({', '.join(differ)}); set them alike"
        )
    return resolved[0], resolved[1]


def compare_judges(replies, cfg_a: Mapping, cfg_b: Mapping, eval_set: str | None = None) -> dict:
    """Score the replies (a DataFrame as ``selgen evaluate --replies`` writes; only ``eval_set`` when given)
    with both judges (``selgen.judge.judge_samples``, each through its own cache) and return
    ``{"judge_a": identity and requests, "judge_b": ..., **agreement(...)}``."""
    from selgen.io import InputError
    from selgen.judge import judge_samples

    cfg_a, cfg_b = _check_judges(cfg_a, cfg_b)
    if eval_set is not None:
        if "eval_set" not in replies.columns or not (replies["eval_set"] == eval_set).any():
            raise InputError(f"replies: no reply of eval set {eval_set!r}")
        replies = replies[replies["eval_set"] == eval_set]
    samples = replies_to_samples(replies)
    out: dict[str, Any] = {"eval_set": eval_set}
    results = []
    for name, cfg in (("judge_a", cfg_a), ("judge_b", cfg_b)):
        judged, summary = judge_samples(samples, cfg)
        results.append(judged)
        out[name] = {k: summary.get(k) for k in JUDGE_FIELDS}
    return out | agreement(*results, cfg_a)


# ------------------------------------------------------------------------------------------ the command


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def format_report(report: Mapping) -> str:
    """A readable table of :func:`compare_judges`' report."""
    a, b = report["judge_a"], report["judge_b"]
    lines = [
        f"judge A: {a['judge_model']} ({a['judge_mode']})   judge B: {b['judge_model']} ({b['judge_mode']})",
        f"replies: {report['n_replies']}"
        + (f" (eval set {report['eval_set']})" if report["eval_set"] else ""),
        "",
        f"{'score':<10}{'n':>7}{'spearman':>10}{'kendall':>10}{'mean|B-A|':>11}{'mean B-A':>10}",
    ]
    for metric, s in report["scores"].items():
        lines.append(
            f"{metric:<10}{s['n']:>7}{_number(s['spearman']):>10}{_number(s['kendall']):>10}"
            f"{_number(s['mean_abs_diff'], 2):>11}{_number(s['mean_diff'], 2):>10}"
        )
    lines += ["", f"{'threshold':<20}{'n':>7}{'agree':>8}{'kappa':>8}{'rate A':>8}{'rate B':>8}"]
    for t in report["thresholds"]:
        lines.append(
            f"{t['metric']:<20}{t['n']:>7}{_number(t['agreement']):>8}{_number(t['kappa']):>8}"
            f"{_number(t['rate_a']):>8}{_number(t['rate_b']):>8}"
        )
    lines.append(
        "misaligned: the standard threshold (aligned_below, coherent_above); @aAcC: aligned < A, coherent > C"
    )
    return "\n".join(lines)


def judge_config(text: str) -> dict:
    """A judge config given on the command line: a JSON object, or the path of a JSON or YAML file holding
    one."""
    import argparse
    from pathlib import Path

    import yaml

    try:
        value = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(Path(text).read_text())
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise argparse.ArgumentTypeError(f"not a JSON object or a readable JSON/YAML file: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            "a judge config must be a JSON object (model, base_url, cache_dir, ...)"
        )
    return value


def cmd_agreement(args) -> None:
    """``selgen judge agreement``: compare two judges on one replies table; print the table, write --out."""
    from pathlib import Path

    import pandas as pd

    from selgen.io import InputError, write_json

    if not Path(args.replies).is_file():
        raise InputError(f"{args.replies}: no such replies file")
    report = compare_judges(pd.read_parquet(args.replies), args.judge_a, args.judge_b, args.eval_set)
    print(format_report(report), file=sys.stdout)
    if args.out:
        write_json(args.out, report)


def add_command(sub) -> Any:
    """Add the ``agreement`` subcommand to an argparse subparsers object; returns its parser."""
    help_ = (
        "score the same replies with two judges and report rank correlation, mean difference and agreement "
        "at the misaligned thresholds (each judge reads and fills its own cache_dir)"
    )
    sp = sub.add_parser("agreement", help=help_, description=help_)
    sp.add_argument("--replies", required=True, help="Parquet written by `selgen evaluate --replies`")
    for name in ("a", "b"):
        sp.add_argument(
            f"--judge-{name}",
            required=True,
            type=judge_config,
            metavar="JSON",
            help=f"judge {name.upper()}'s config (selgen.judge keys; `model` required): a JSON object or a "
            "JSON/YAML file",
        )
    sp.add_argument("--eval-set", help="only the replies of this eval set (default: all)")
    sp.add_argument("--out", help="JSON file for the report (judges, score agreement, threshold agreement)")
    sp.set_defaults(func=cmd_agreement)
    return sp
