"""``selgen gcd ...``: the gcd setting's own tools (``Setting.commands``)."""

from __future__ import annotations

import sys

FALLBACK_HELP = (
    "an LLM judge config (model, base_url, cache_dir, ...) asked for the verdicts the rules leave unclear "
    "(off by default; rows it decides get verdict_source 'judge')"
)


def add_commands(sub) -> None:
    from selgen.cli.options import json_object

    sp = sub.add_parser(
        "score",
        help="score replies made elsewhere exactly (per-row labels, then capability and sycophancy)",
        description="Score replies made elsewhere with the exact GCD scorer: writes per-row labels and "
        "prints the capability and sycophancy summary.",
    )
    sp.add_argument("--responses", required=True, help="JSONL rows in the setting's format plus `response`")
    sp.add_argument("--out", required=True, help="Parquet: one row per input row (labels)")
    sp.add_argument("--judge-fallback", type=json_object, metavar="JSON", help=FALLBACK_HELP)
    sp.set_defaults(func=cmd_score)


def cmd_score(args) -> None:
    from selgen.settings.gcd.metrics import summarize
    from selgen.settings.gcd.scoring import score_file

    fallback = None
    if args.judge_fallback:
        from selgen.settings.gcd.fallback import JudgeFallback

        fallback = JudgeFallback(args.judge_fallback)
    scored = score_file(args.responses, args.out, fallback=fallback)
    overall = [m for m in summarize(scored.to_dict("records")) if m["category"] == "all"]
    summary = ", ".join(f"{m['metric']} {m['value']:.3f} (n {m['n']})" for m in overall)
    print(f"{args.responses}: {len(scored)} replies; {summary}", file=sys.stderr)
