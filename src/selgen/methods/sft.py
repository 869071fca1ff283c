"""Supervised fine-tuning methods: task only, mixed, up-weighted alignment data."""

from __future__ import annotations

import math

from selgen.batching import token_ce_sum
from selgen.methods.base import Method


class TaskOnly(Method):
    """SFT on the task data alone: the misgeneralizing baseline."""

    name = "task_only"


class Mixed(Method):
    """SFT on task ∪ alignment rows, shuffled together (one stream).

    ``align_share`` (default None: every alignment row once): the alignment rows are repeated cyclically (or,
    with fewer needed than given, cut to the first ones) to n = ⌊s·n_task/(1 − s)⌋ rows, so they make up a
    share s of the mix, as the reference's ``upsample_proxy_to`` (EM: 0.1 with 6,000 task rows → 666 proxy
    rows, seed_code.md §2.2; it truncated with ``int``).
    """

    name = "mixed"
    alignment = "mix"

    def __init__(self, align_share: float | None = None, **context):
        super().__init__(**context)
        if align_share is not None and not 0 < align_share < 1:
            raise ValueError(f"mixed: align_share must be in (0, 1), not {align_share!r}")
        self.align_share = None if align_share is None else float(align_share)

    def prepare_data(self, task_rows, align_rows):
        if self.align_share is not None:
            align_rows = upsample(align_rows, align_rows_for_share(len(task_rows), self.align_share))
            self.report = {"align_rows_used": len(align_rows)}
        return task_rows + align_rows, []


def align_rows_for_share(n_task: int, share: float) -> int:
    """Alignment rows that make a share ``share`` of the mix with ``n_task`` task rows (at least 1):
    ⌊share·n_task/(1 − share)⌋, as the reference truncated it (the 1e-9 absorbs float error, e.g. 0.2/0.8)."""
    return max(1, math.floor(share * n_task / (1 - share) + 1e-9))


def upsample(rows: list, n: int) -> list:
    """``rows`` repeated cyclically to ``n`` rows (the first ``n`` when there are more)."""
    return [rows[i % len(rows)] for i in range(n)]


class Upweight(Method):
    """L = CE(task) + λ·CE(align), each a token mean over its own stream of the step.

    The reference implemented this through its positive/negative-proxy trainer with λ_neg = 0 and left the
    name unregistered (seed_code.md §1.6); here it is its own method.
    """

    name = "upweight"
    alignment = "stream"

    def __init__(self, lam: float, **context):
        super().__init__(**context)
        self.lam = float(lam)

    def loss(self, model, task, align, ctx):
        task_ce = token_ce_sum(model, task) / ctx.n_task
        if self.lam == 0:  # skip the alignment forward pass entirely
            return task_ce, {"task_ce": task_ce.item()}
        align_ce = token_ce_sum(model, align) / ctx.n_align
        return task_ce + self.lam * align_ce, {"task_ce": task_ce.item(), "align_ce": align_ce.item()}


PLUGINS = {"task_only": TaskOnly, "mixed": Mixed, "upweight": Upweight}
