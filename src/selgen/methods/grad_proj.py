"""Gradient projection: before each optimizer step, remove from the task gradient its component along the
alignment gradient (``strict``), or only when the two conflict (``conflict``, PCGrad-style), per parameter
tensor or over the flattened gradient (``scope``).

Both gradients are accumulated over all micro-batches of the step and projected once, so gradient
accumulation gives the same update as one big batch (the reference overwrote ``param.grad`` per micro-batch,
seed_code.md §3 / methods.md §A.2). As in the reference, the alignment gradient is only a direction: it is not
added to the update.
"""

from __future__ import annotations

import torch

from selgen.batching import token_ce_sum
from selgen.methods.base import Method


def project(g: torch.Tensor, a: torch.Tensor, mode: str) -> torch.Tensor:
    """``g`` minus its component along ``a`` (``strict``), or only if ⟨g, a⟩ < 0 (``conflict``)."""
    dot, norm2 = (g * a).sum(), (a * a).sum()
    if norm2 == 0 or (mode == "conflict" and dot >= 0):
        return g
    return g - (dot / norm2) * a


class GradProj(Method):
    name = "grad_proj"
    alignment = "stream"

    def __init__(self, mode: str = "strict", scope: str = "tensor", **context):
        super().__init__(**context)
        if mode not in ("strict", "conflict") or scope not in ("tensor", "global"):
            raise ValueError(
                f"grad_proj: mode must be strict|conflict and scope tensor|global, got {mode}/{scope}"
            )
        self.mode, self.scope = mode, scope

    def setup(self, model, tokenizer, align_examples, device):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.align_grad = None

    def backward(self, model, task, align, ctx):
        align_ce = token_ce_sum(model, align) / ctx.n_align
        grads = torch.autograd.grad(align_ce, self.params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(self.params, grads, strict=True)]
        if self.align_grad is None:
            self.align_grad = grads
        else:
            for acc, g in zip(self.align_grad, grads, strict=True):
                acc.add_(g)
        task_ce = token_ce_sum(model, task) / ctx.n_task
        task_ce.backward()
        return {"task_ce": task_ce.item(), "align_ce": align_ce.item()}

    def before_step(self, model, ctx):
        pairs = [(p, a) for p, a in zip(self.params, self.align_grad, strict=True) if p.grad is not None]
        if self.scope == "tensor":
            for p, a in pairs:
                p.grad.copy_(project(p.grad, a, self.mode))
        else:
            g = torch.cat([p.grad.flatten() for p, _ in pairs])
            flat = project(g, torch.cat([a.flatten() for _, a in pairs]), self.mode)
            offset = 0
            for p, _ in pairs:
                p.grad.copy_(flat[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
        self.align_grad = None


PLUGINS = {"grad_proj": GradProj}
