"""KL penalty on alignment data: L = CE(task) + β·mean over positions of KL between the tuned and base model.

Deviations from the reference trainer (seed_code.md §3, methods.md §A.2), each deliberate:
- the direction is configurable: ``reverse`` = KL(p_θ‖p_base) (the reference's), ``forward`` = KL(p_base‖p_θ);
- padding positions are masked (the reference averaged over padding too); ``assistant_only`` restricts the
  penalty further to the positions that predict assistant tokens;
- the KL is computed in float32 over chunks of positions (``selgen.losses.kl_sum``), never as a whole
  ``[B, T, V]`` tensor; the base is represented by its final hidden states on the alignment examples (D
  numbers per token instead of V log-probabilities: 37× smaller for Qwen3-8B), cached once per run in the
  model's dtype when they fit ``ref_cache_mb`` and otherwise recomputed each step with the adapter disabled;
  the base's log-probabilities are the frozen head applied to them (under full fine-tuning, to a copy of the
  head taken before the first step).
"""

from __future__ import annotations

import torch

from selgen.losses import kl_per_position, kl_sum, last_hidden
from selgen.methods.base import Method
from selgen.reference import Reference
from selgen.training import IGNORE, token_ce_sum

__all__ = ["KL", "kl_per_position", "kl_positions"]


def kl_positions(batch: dict, assistant_only: bool) -> torch.Tensor:
    """Bool [B, T] of the positions whose next-token distribution is penalised (never padding)."""
    if assistant_only:  # position t predicts token t+1: penalise where token t+1 is an assistant token
        mask = torch.zeros_like(batch["attention_mask"], dtype=torch.bool)
        mask[:, :-1] = batch["labels"][:, 1:] != IGNORE
        return mask
    return batch["attention_mask"].bool()


class KL(Method):
    name = "kl"
    uses_alignment = True

    def __init__(
        self,
        beta: float,
        direction: str = "reverse",
        assistant_only: bool = False,
        ref_cache_mb: float = 1024,
    ):
        self.beta, self.direction, self.assistant_only = float(beta), direction, bool(assistant_only)
        self.ref_cache_mb = float(ref_cache_mb)
        kl_per_position(torch.zeros(1, 1), torch.zeros(1, 1), direction)  # validate the direction early

    def setup(self, model, tokenizer, align_examples, device):
        self.ref = Reference(model, align_examples, tokenizer.pad_token_id, last_hidden, self.ref_cache_mb)
        head = model.get_output_embeddings().weight
        self.ref_head = head.detach().clone() if head.requires_grad else None  # full FT: the head moves

    def loss(self, model, task, align, ctx):
        task_ce = token_ce_sum(model, task) / ctx.n_task
        mask = kl_positions(align, self.assistant_only)
        n_pos = max(1, sum(int(kl_positions(b, self.assistant_only).sum()) for b in ctx.align_batches))
        kl = kl_sum(model, align, self.ref(model, align), mask, self.direction, self.ref_head) / n_pos
        return task_ce + self.beta * kl, {"task_ce": task_ce.item(), "kl": kl.item()}


PLUGINS = {"kl": KL}
