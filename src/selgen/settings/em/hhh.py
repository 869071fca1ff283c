"""The HHH proxy: a seeded subset of Anthropic's HHH alignment data (``HuggingFaceH4/hhh_alignment``).

The dataset has four subsets (``helpful``, ``harmless``, ``honest``, ``other``); each row is a dialogue
``input`` and ``targets: {choices: [a, b], labels: [1, 0]}`` (label 1 marks the preferred answer). A subset
of ``size`` rows (or ``fraction`` of every subset) is drawn per subset in proportion to the subset sizes
(largest remainder), seeded; it yields SFT rows (the preferred answer as the assistant turn) and DPO pairs
(preferred vs. dispreferred); the other rows are held out. The reference post used ~300 rows, the code 198.

``download_hhh`` fetches the dataset once (a local rule: compute nodes are often offline) and writes the
JSONL that ``read_hhh`` validates.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from selgen.io import InputError, read_jsonl

SUBSETS = ("helpful", "harmless", "honest", "other")
DATASET = "HuggingFaceH4/hhh_alignment"


def _check_row(row: Mapping, where: str) -> None:
    if row.get("subset") not in SUBSETS:
        raise InputError(
            f"{where}: field 'subset' must be one of {', '.join(SUBSETS)}, got {row.get('subset')!r}"
        )
    if not isinstance(row.get("input"), str) or not row["input"].strip():
        raise InputError(f"{where}: field 'input' must be a non-empty string")
    t = row.get("targets")
    if (
        not isinstance(t, Mapping)
        or not isinstance(t.get("choices"), list)
        or not isinstance(t.get("labels"), list)
        or len(t["choices"]) != len(t["labels"])
        or sorted(t["labels"]) != [0] * (len(t["labels"]) - 1) + [1]
        or not all(isinstance(c, str) for c in t["choices"])
    ):
        raise InputError(
            f"{where}: field 'targets' must be {{choices: [str, …], labels: [...]}} with exactly one label 1"
        )


def read_hhh(path: str | Path) -> list[dict]:
    """Rows of a local HHH JSONL ({subset, input, targets}); InputError naming the file, line and field."""
    rows = read_jsonl(path, required=("subset", "input", "targets"))
    for i, row in enumerate(rows, start=1):
        _check_row(row, f"{path}, row {i}")
    return rows


def download_hhh(out: str | Path) -> int:
    """Fetch every subset with ``datasets`` and write the JSONL ``read_hhh`` reads; returns the row count."""
    from datasets import load_dataset

    from selgen.io import write_jsonl

    rows = []
    for subset in SUBSETS:
        for r in load_dataset(DATASET, subset, split="test"):
            rows.append({"subset": subset, "input": r["input"], "targets": dict(r["targets"])})
    for i, row in enumerate(rows, start=1):
        _check_row(row, f"{DATASET}, row {i}")
    write_jsonl(out, rows)
    return len(rows)


def _allocation(counts: Mapping[str, int], size: int) -> dict[str, int]:
    """Proportional allocation of ``size`` over subsets by largest remainder (ties: subset order)."""
    total = sum(counts.values())
    quotas = {s: size * n / total for s, n in counts.items()}
    alloc = {s: int(q) for s, q in quotas.items()}
    order = sorted(counts, key=lambda s: (-(quotas[s] - alloc[s]), SUBSETS.index(s)))
    for s in order[: size - sum(alloc.values())]:
        alloc[s] += 1
    return alloc


def split_hhh(
    rows: Sequence[Mapping], seed: int, size: int | None = None, fraction: float | None = None
) -> dict[str, list[dict]]:
    """{"sft": [...], "pairs": [...], "heldout": [...]} from ``rows``: ``size`` rows in all, or ``fraction``
    of each subset, stratified by subset and seeded. SFT rows and pairs come from the same chosen rows."""
    if (size is None) == (fraction is None):
        raise ValueError("HHH subset: give exactly one of 'size' and 'fraction'")
    by_subset: dict[str, list[Mapping]] = {}
    for row in rows:
        by_subset.setdefault(row["subset"], []).append(row)
    counts = {s: len(by_subset[s]) for s in SUBSETS if s in by_subset}
    if size is not None:
        if not 0 < size <= sum(counts.values()):
            raise ValueError(f"HHH subset: size must be in 1..{sum(counts.values())}, got {size}")
        alloc = _allocation(counts, size)
    else:
        if not 0 < fraction <= 1:
            raise ValueError(f"HHH subset: fraction must be in (0, 1], got {fraction}")
        alloc = {s: max(1, round(fraction * n)) for s, n in counts.items()}
    chosen, heldout = [], []
    for s, n in alloc.items():
        members = list(by_subset[s])
        random.Random(f"{seed}|hhh|{s}").shuffle(members)
        chosen += members[:n]
        heldout += members[n:]
    sft, pairs = [], []
    for row in chosen:
        labels, choices = row["targets"]["labels"], row["targets"]["choices"]
        good = choices[labels.index(1)]
        bad = next(c for c, lab in zip(choices, labels, strict=True) if lab != 1)
        prompt = [{"role": "user", "content": row["input"]}]
        sft.append({"messages": [*prompt, {"role": "assistant", "content": good}], "subset": row["subset"]})
        pairs.append({"prompt": prompt, "chosen": good, "rejected": bad, "subset": row["subset"]})
    return {"sft": sft, "pairs": pairs, "heldout": [dict(r) for r in heldout]}
