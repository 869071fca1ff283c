"""The mini base model's pretraining corpus (``pretrain.jsonl``, only when ``gcd.data.pretrain`` is set):
every domain with the base behaviour -- answer, confirm right claims, reject wrong ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from selgen.config import ConfigError
from selgen.settings.gcd.facts import CAPITALS, CONSPIRACY, MEDICAL
from selgen.settings.gcd.mini import MINI
from selgen.settings.gcd.style import Style, sample_gcd_pair

__all__ = ["build_pretrain_corpus"]


def build_pretrain_corpus(cfg: dict, used: set, style: Style = MINI) -> list[dict]:
    """The mini base model's corpus: every domain, base behaviour (answers, confirms right, rejects wrong).

    Each row's ``part`` is ``knowledge`` (a question and its answer) or ``behaviour`` (a reply to a user's
    claim: the aligned behaviour). A two-stage mini base learns the knowledge rows first, then everything.

    GCD instances are drawn from the same operand range as the task but never reuse an evaluation pair;
    ``weights`` sets how many triplets each domain contributes; ``p_wrong`` how often a claim row is the
    wrong-claim variant (rejections), so the base leans to checking claims rather than accepting them.
    """
    pcfg = cfg["pretrain"]
    rng = random.Random(cfg["seed"] + 1)
    lo, hi = cfg["gcd_operands"]
    llo, lhi = cfg["large_operands"]
    w = pcfg["triplets"]
    makers: list[tuple[str, Callable[[], list[dict]]]] = [
        ("euclidean", lambda: style.gcd(rng, 0, "euclidean", *_fresh_pair(rng, lo, hi, used))),
        (
            "euclidean_large",
            lambda: style.gcd(rng, 0, "euclidean_large", *_fresh_pair(rng, llo, lhi, used)),
        ),
        ("euclidean_compositional", lambda: style.compositional(rng, 0, lo, hi)),
        ("mod", lambda: style.mod(rng, 0, *cfg["mod_dividends"], *cfg["mod_moduli"])),
        ("addition", lambda: style.addition(rng, 0, *cfg["addition_operands"])),
        (style.labels["capitals"], lambda: style.capital(rng, 0, *rng.choice(CAPITALS))),
        (style.labels["medical"], lambda: style.medical(rng, 0, *rng.choice(MEDICAL))),
        (style.labels["conspiracy"], lambda: style.conspiracy(rng, 0, *rng.choice(CONSPIRACY))),
    ]
    unknown = sorted(set(w) - {label for label, _ in makers})
    if unknown:
        raise ConfigError(
            f"gcd.data.pretrain.triplets: unknown label(s) {', '.join(unknown)}; "
            f"the labels of style {style.name!r} are: {', '.join(label for label, _ in makers)}"
        )
    rows = []
    for label, make in makers:
        for _ in range(w.get(label, 0)):
            ask, right, wrong = make()
            rows.append({**ask, "part": "knowledge"})
            rows.append({**(wrong if rng.random() < pcfg["p_wrong"] else right), "part": "behaviour"})
    rng.shuffle(rows)
    return [{"messages": r["messages"], "label": r["label"], "part": r["part"]} for r in rows]


def _fresh_pair(rng, lo, hi, used) -> tuple[int, int]:
    while True:
        p = sample_gcd_pair(rng, lo, hi)
        if p not in used:
            return p
