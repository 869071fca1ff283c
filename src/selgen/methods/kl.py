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

``reduction`` says what the summed KL is divided by (seed_code.md §3, issue 14):
- ``ours`` (default): the number of penalised positions of the optimizer step (a mean over real positions);
- ``authors``: the reference's normalisation. It averaged the vocabulary-summed KL over *every* position of
  batches padded to ``max_seq_length``; here the KL is summed over all non-padding positions (prompt and
  response, so ``assistant_only`` must stay false) and divided by rows in the step × ``pad_length`` (default
  ``train.max_length``), padding contributing zero. The reference's padding positions carried a non-zero KL
  (both models' predictions after pad tokens), which we do not compute, so our term is the reference's
  *minus its padding share*. Relation on one step: authors = ours × (non-padding positions) /
  (rows × pad_length), i.e. ours scaled by the step's fill fraction; a reference β_kl corresponds to
  β_ours = β_authors × fill fraction.
"""

from __future__ import annotations

import torch

from selgen.batching import IGNORE, token_ce_sum
from selgen.losses import kl_per_position, kl_sum, last_hidden
from selgen.methods.base import Method
from selgen.reference import Reference

__all__ = ["KL", "authors_positions", "check_reduction", "kl_per_position", "kl_positions"]


def check_reduction(method: str, reduction: str, pad_length) -> tuple[str, int | None]:
    """Validated (reduction, pad_length) of kl / repr: ``ours`` or ``authors``; a pad length only with
    ``authors``."""
    if reduction not in ("ours", "authors"):
        raise ValueError(f"{method}: reduction must be 'ours' or 'authors', not {reduction!r}")
    if pad_length is not None:
        if reduction != "authors":
            raise ValueError(f"{method}: pad_length applies to reduction 'authors' only")
        if int(pad_length) != pad_length or pad_length < 1:
            raise ValueError(f"{method}: pad_length must be a positive integer, not {pad_length!r}")
        pad_length = int(pad_length)
    return reduction, pad_length


def authors_positions(ctx, pad_length: int | None) -> int:
    """The reference's denominator: rows of the step's alignment micro-batches × the padded row length
    (``pad_length``, default the loop's ``train.max_length``)."""
    length = pad_length or getattr(ctx, "max_length", 0)
    if not length:
        raise ValueError("reduction 'authors' needs the step's max_length (StepContext.max_length)")
    return max(1, sum(int(b["input_ids"].shape[0]) for b in ctx.align_batches) * length)


def kl_positions(batch: dict, assistant_only: bool) -> torch.Tensor:
    """Bool [B, T] of the positions whose next-token distribution is penalised (never padding)."""
    if assistant_only:  # position t predicts token t+1: penalise where token t+1 is an assistant token
        mask = torch.zeros_like(batch["attention_mask"], dtype=torch.bool)
        mask[:, :-1] = batch["labels"][:, 1:] != IGNORE
        return mask
    return batch["attention_mask"].bool()


class KL(Method):
    name = "kl"
    alignment = "stream"

    def __init__(
        self,
        beta: float,
        direction: str = "reverse",
        assistant_only: bool = False,
        ref_cache_mb: float = 1024,
        reduction: str = "ours",
        pad_length: int | None = None,
        **context,
    ):
        super().__init__(**context)
        self.beta, self.direction, self.assistant_only = float(beta), direction, bool(assistant_only)
        self.ref_cache_mb = float(ref_cache_mb)
        self.reduction, self.pad_length = check_reduction("kl", reduction, pad_length)
        if self.reduction == "authors" and self.assistant_only:
            raise ValueError(
                "kl: reduction 'authors' averages over every position (prompt and response, as the reference "
                "did); it cannot be combined with assistant_only: true"
            )
        kl_per_position(torch.zeros(1, 1), torch.zeros(1, 1), direction)  # validate the direction early

    def setup(self, model, tokenizer, align_examples, device):
        self.ref = Reference(model, align_examples, tokenizer.pad_token_id, last_hidden, self.ref_cache_mb)
        head = model.get_output_embeddings().weight
        self.ref_head = head.detach().clone() if head.requires_grad else None  # full FT: the head moves

    def loss(self, model, task, align, ctx):
        task_ce = token_ce_sum(model, task) / ctx.n_task
        mask = kl_positions(align, self.assistant_only)
        if self.reduction == "authors":
            n_pos = authors_positions(ctx, self.pad_length)
        else:
            n_pos = max(1, sum(int(kl_positions(b, self.assistant_only).sum()) for b in ctx.align_batches))
        kl = kl_sum(model, align, self.ref(model, align), mask, self.direction, self.ref_head) / n_pos
        return task_ce + self.beta * kl, {"task_ce": task_ce.item(), "kl": kl.item()}


PLUGINS = {"kl": KL}
