"""Supervised fine-tuning methods: task only, mixed, up-weighted alignment data."""

from __future__ import annotations

from selgen.methods.base import Method
from selgen.training import token_ce_sum


class TaskOnly(Method):
    """SFT on the task data alone: the misgeneralizing baseline."""

    name = "task_only"


class Mixed(Method):
    """SFT on task ∪ alignment rows, shuffled together (one stream)."""

    name = "mixed"
    reads_alignment = True  # merged into the task stream in prepare_data, not handed over in setup

    def prepare_data(self, task_rows, align_rows, seed):
        if not align_rows:
            raise ValueError("method 'mixed' needs alignment rows, but there are none")
        return task_rows + align_rows, []


class Upweight(Method):
    """L = CE(task) + λ·CE(align), each a token mean over its own stream of the step.

    The reference implemented this through its positive/negative-proxy trainer with λ_neg = 0 and left the
    name unregistered (seed_code.md §1.6); here it is its own method.
    """

    name = "upweight"
    uses_alignment = True

    def __init__(self, lam: float):
        self.lam = float(lam)

    def loss(self, model, task, align, ctx):
        task_ce = token_ce_sum(model, task) / ctx.n_task
        if self.lam == 0:  # skip the alignment forward pass entirely
            return task_ce, {"task_ce": task_ce.item()}
        align_ce = token_ce_sum(model, align) / ctx.n_align
        return task_ce + self.lam * align_ce, {"task_ce": task_ce.item(), "align_ce": align_ce.item()}


PLUGINS = {"task_only": TaskOnly, "mixed": Mixed, "upweight": Upweight}
