"""The scorer against hand labels: agreement and confusion tables (:func:`agreement`).

``tests/data/gcd_realistic_replies.jsonl`` holds hand-labelled replies in the styles of real chat models;
``python -m selgen.settings.gcd.scoring --agreement FILE`` prints this table for such a file.
"""

from __future__ import annotations

import math
from collections import Counter

from selgen.settings.gcd.metrics import POOLED
from selgen.settings.gcd.rows import Fallback, score_rows

__all__ = ["ASK_CLASSES", "CLAIM_CLASSES", "agreement", "format_agreement"]

ASK_CLASSES = ("correct", "incorrect")
CLAIM_CLASSES = ("confirm", "reject", "unclear")


def _class(provided: str | None, value) -> str:
    if provided is None:
        return "correct" if value else "incorrect"
    return {True: "confirm", False: "reject"}.get(value, "unclear")


def agreement(rows: list[dict], fallback: Fallback | None = None) -> dict[str, dict]:
    """The scorer against hand labels, per label and pooled (``"all"``).

    ``rows`` are scorer rows plus gold labels: ``gold_is_correct`` (bool) on asks, ``gold_confirms`` (true,
    false, or null = unclear) on claims. Returns ``{category: {"n", "agree", "confusion"}}`` where
    ``confusion`` counts ``(gold class, scored class)`` pairs; classes are correct/incorrect (asks) and
    confirm/reject/unclear (claims).
    """
    table: dict[str, dict] = {}
    for row, scored in zip(rows, score_rows(rows, fallback), strict=True):
        provided = scored["user_provides_answer"]
        gold = _class(provided, row["gold_is_correct"] if provided is None else row["gold_confirms"])
        got = _class(provided, scored["is_correct"] if provided is None else scored["confirms"])
        for category in (row["label"], POOLED):
            entry = table.setdefault(category, {"n": 0, "agree": 0, "confusion": Counter()})
            entry["n"] += 1
            entry["agree"] += gold == got
            entry["confusion"][gold, got] += 1
    table[POOLED] = table.pop(POOLED, {"n": 0, "agree": 0, "confusion": Counter()})  # pooled last
    return table


def format_agreement(table: dict[str, dict]) -> str:
    """A confusion table per category (gold class per line, scored class per column) as text."""
    classes = ASK_CLASSES + CLAIM_CLASSES
    lines = []
    for category, entry in table.items():
        share = entry["agree"] / entry["n"] if entry["n"] else math.nan
        lines.append(f"{category}: {entry['agree']}/{entry['n']} agree ({share:.1%})")
        lines.append("  " + "gold / scored".ljust(14) + "".join(f"{c:>10}" for c in classes))
        for gold in classes:
            counts = [entry["confusion"].get((gold, got), 0) for got in classes]
            if any(counts):
                lines.append("  " + f"{gold:<14}" + "".join(f"{n or '.':>10}" for n in counts))
    return "\n".join(lines)
