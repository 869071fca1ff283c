"""O-LoRA (Wang et al. 2023): an alignment adapter is trained first on the alignment data; then the task
adapter is trained with both adapters active (the alignment one frozen) and the penalty
λ₁·Σ_modules Σ|A_align·A_taskᵀ| (the official code's sum of absolute values; reference λ₁ = 0.5), plus
λ₂·Σ‖A_task‖² (λ₂ = 0 by default, as in the official defaults).

The alignment adapter is trained in a phase of the one training loop (``phases``: phase ``align_adapter``,
recorded in ``record["phases"]``): plain CE on the alignment rows with the run's schedule, clipping, batch
size, weight decay and seed, for ``align_epochs`` epochs at ``align_lr``, checkpointed like the run. A
deviation from our earlier code, not from the paper: that code trained the adapter in a loop of its own (batch
8, no gradient accumulation, no clipping, no warm-up or decay, AdamW's default weight decay, torch's random
state left by set-up), so O-LoRA's numbers changed with this (issue 15).

The penalties are per optimizer step (added once, with the first micro-batch; not scaled by grad_accum), and
the alignment adapter is initialised from a generator of its own (``adapters.add_adapter``), not as a copy of
the task adapter. ``lam1: 0`` is the control point (sequential adapters without the penalty). Needs
``finetune: lora``. The saved model holds both adapters (the alignment one in a sub-folder);
``selgen.models.load_model`` merges all of them, so evaluation sees the model that was trained.
"""

from __future__ import annotations

import torch

from selgen.batching import token_ce_sum
from selgen.methods.adapters import lora_layers, require_lora, train_only
from selgen.methods.base import Method, Phase

ALIGN = "align"


def lora_a_pairs(model, task: str = "default", old: str = ALIGN) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(A_old, A_task) weight pairs of every LoRA layer holding both adapters."""
    return [(m.lora_A[old].weight, m.lora_A[task].weight) for _, m in lora_layers(model, task, old)]


def orthogonality_penalty(pairs) -> torch.Tensor:
    """Σ over layers of Σ_jk |(A_old A_taskᵀ)_jk|: zero exactly when the adapters' rows are orthogonal."""
    return sum((a_old @ a_task.T).abs().sum() for a_old, a_task in pairs)


class OLoRA(Method):
    name = "o_lora"
    alignment = "phase"  # the alignment rows train the first adapter (a phase), not every step

    def __init__(self, lam1=0.5, lam2=0.0, align_epochs=3.0, align_lr=1e-3, **context):
        super().__init__(**context)
        self.lam1, self.lam2 = float(lam1), float(lam2)
        self.align_epochs, self.align_lr = float(align_epochs), float(align_lr)

    def phases(self, task_rows, align_rows):
        overrides = {"epochs": self.align_epochs, "lr": self.align_lr, "steps": None}
        return [Phase("align_adapter", align_rows, ALIGN, overrides)]

    def setup(self, model, tokenizer, align_examples, device):
        require_lora(model, self.name)
        # after the phase: both adapters active, only the task adapter ("default") trains
        train_only(model, "default", ["default", ALIGN])
        self.pairs = lora_a_pairs(model)

    def loss(self, model, task, align, ctx):
        task_ce = token_ce_sum(model, task) / ctx.n_task
        if ctx.micro > 0:  # the penalty is a per-step term: added with the step's first micro-batch only
            return task_ce, {"task_ce": task_ce.item()}
        ortho = orthogonality_penalty(self.pairs)
        loss = task_ce + self.lam1 * ortho
        logs = {"task_ce": task_ce.item(), "ortho": ortho.item()}
        if self.lam2:
            l2 = sum(a_task.pow(2).sum() for _, a_task in self.pairs)
            loss = loss + self.lam2 * l2
            logs["l2"] = l2.item()
        return loss, logs


PLUGINS = {"o_lora": OLoRA}
