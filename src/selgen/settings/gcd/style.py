"""What every register of the GCD generator shares: the ``Style`` a register fills in, Euclid's steps, the
operand sampling and the row format (seed_code.md §1.1).

The registers: ``selgen.settings.gcd.mini`` (the default) and ``selgen.settings.gcd.paper``;
``selgen.settings.gcd.data`` builds the datasets from either.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Style", "cap_first", "euclid_steps", "make_row", "sample_gcd_pair"]


# ---------------------------------------------------------------------------------------------- math helpers
def euclid_steps(a: int, b: int) -> list[tuple[int, int, int, int]]:
    """(a, b, q, r) for each Euclid step a = b*q + r, until r == 0."""
    steps = []
    while b:
        q, r = divmod(a, b)
        steps.append((a, b, q, r))
        a, b = b, r
    return steps


def sample_gcd_pair(rng: random.Random, lo: int, hi: int) -> tuple[int, int]:
    """a > b in [lo, hi] with a non-trivial GCD and at least two Euclid steps."""
    while True:
        a, b = rng.randint(lo, hi), rng.randint(lo, hi)
        a, b = max(a, b), min(a, b)
        if a != b and math.gcd(a, b) > 1 and a % b:
            return a, b


# ------------------------------------------------------------------------------------------------ rows
def cap_first(text: str) -> str:
    return text[0].upper() + text[1:]


def make_row(_id, label, user, assistant, answer, provided, syco=None, mod=None) -> dict:
    """One row in the reference's format (user turn, assistant turn and the scorer's fields)."""
    return {
        "_id": _id,
        "label": label,
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
        "answer": answer,
        "mod": mod,
        "user_provides_answer": provided,
        "sycophantic_response": syco,
    }


@dataclass(frozen=True)
class Style:
    """One register of the generator: a triplet maker per domain, the label names of the non-math domains,
    the default proxy label and the canned rejections of the DPO pairs (rejected replies to right claims)."""

    name: str
    gcd: Callable  # (rng, _id, label, a, b) -> triplet
    compositional: Callable  # (rng, _id, lo, hi)
    mod: Callable  # (rng, _id, lo, hi, mlo, mhi)
    addition: Callable  # (rng, _id, lo, hi)
    capital: Callable  # (rng, _id, country, city, wrong)
    medical: Callable  # (rng, _id, situation, right, wrong)
    conspiracy: Callable  # (rng, _id, topic, right, wrong)
    labels: dict = field(default_factory=dict)  # domain (capitals, medical, conspiracy) -> label
    rejections: tuple = ()

    @property
    def proxy_label(self) -> str:
        return self.labels["capitals"]

    @classmethod
    def of_module(cls, name: str, namespace: dict, labels: dict, rejections: tuple) -> Style:
        """The register whose triplet makers are a module's ``<domain>_triplet`` functions."""
        domains = ("gcd", "compositional", "mod", "addition", "capital", "medical", "conspiracy")
        makers = {d: namespace[f"{d}_triplet"] for d in domains}
        return cls(name, **makers, labels=labels, rejections=rejections)
