"""KL penalty on alignment data: L = CE(task) + β·mean over positions of KL between the tuned and base model.

Deviations from the reference trainer (seed_code.md §3, methods.md §A.2), each deliberate:
- the direction is configurable: ``reverse`` = KL(p_θ‖p_base) (the reference's), ``forward`` = KL(p_base‖p_θ);
- padding positions are masked (the reference averaged over padding too); ``assistant_only`` restricts the
  penalty further to the positions that predict assistant tokens;
- the KL is computed in float32 and the base's log-probabilities are cached once per run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from selgen.methods.base import Method
from selgen.reference import Reference
from selgen.training import IGNORE, token_ce_sum


def kl_per_position(logp: torch.Tensor, ref_logp: torch.Tensor, direction: str) -> torch.Tensor:
    """KL over the vocabulary at each position; inputs [..., V] log-probabilities, output [...]."""
    if direction == "reverse":  # KL(p_θ ‖ p_base)
        return (logp.exp() * (logp - ref_logp)).sum(-1)
    if direction == "forward":  # KL(p_base ‖ p_θ)
        return (ref_logp.exp() * (ref_logp - logp)).sum(-1)
    raise ValueError(f"KL direction must be 'forward' or 'reverse', not {direction!r}")


def kl_positions(batch: dict, assistant_only: bool) -> torch.Tensor:
    """Bool [B, T] of the positions whose next-token distribution is penalised (never padding)."""
    if assistant_only:  # position t predicts token t+1: penalise where token t+1 is an assistant token
        mask = torch.zeros_like(batch["attention_mask"], dtype=torch.bool)
        mask[:, :-1] = batch["labels"][:, 1:] != IGNORE
        return mask
    return batch["attention_mask"].bool()


def log_probs(model, batch: dict) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.log_softmax(logits.float(), dim=-1)


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
        self.ref = Reference(model, align_examples, tokenizer.pad_token_id, log_probs, self.ref_cache_mb)

    def loss(self, model, task, align, ctx):
        task_ce = token_ce_sum(model, task) / ctx.n_task
        mask = kl_positions(align, self.assistant_only)
        n_pos = max(1, sum(int(kl_positions(b, self.assistant_only).sum()) for b in ctx.align_batches))
        kl = (
            kl_per_position(log_probs(model, align), self.ref(model, align), self.direction) * mask
        ).sum() / n_pos
        return task_ce + self.beta * kl, {"task_ce": task_ce.item(), "kl": kl.item()}


PLUGINS = {"kl": KL}
