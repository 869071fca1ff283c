"""CE(task) + λ·DPO on (prompt, chosen, rejected) alignment pairs, in the same optimizer steps.

The DPO term is the sigmoid loss of Rafailov et al. with log-probabilities *summed over response tokens*
(the reference averaged them, padding included, seed_code.md §3), computed over chunks of response positions
(``selgen.losses.sequence_logps``: no ``[B, T, V]`` tensor). The reference model is the untuned base: its
sequence log-probabilities on the fixed pairs are computed once in ``setup`` (before any update) and cached.
TRL's ``DPOTrainer`` trains on one preference dataset and keeps its loss inside the trainer; a task-CE plus
DPO objective on two streams needs only the three-line loss below, so we do not depend on it.

Options for the reference's strengths (issue 14):
- ``logps: mean``: each reply's log-probability is the *mean* over its response tokens (the reference's length
  normalisation), for the policy and the cached reference alike. The reference's mean also ran over the
  padding positions after the reply (pad exclusion was off, each reply padded to ``max_seq_length``), i.e. its
  c, r were (Σ_response log p + Σ_padding log p(pad)) / (response + padding positions); those padding terms
  (log-probabilities of predicting pad tokens, with rows padded to the full length) are left out, so ``mean``
  is the reference's normalisation without its padding.
  There is no fixed factor to ``sum``: the per-reply token counts enter the margin, so a β of the reference's
  grid corresponds to a β about (response tokens) times smaller under ``sum``, reply by reply.
- ``max_pairs``: train on at most n pairs (the reference's DPO runs used a smaller proxy: EM coverage 0.45 =
  99 pairs against the other methods' 198 (199 here); GCD train_split 0.3 = 6 ids = 12 pairs). Which n:
  pairs that carry GCD's ``_id`` keep the lowest ids (sorted by id, stable; two pairs per id: the
  reference's first ``int(20 × train_split)`` ids); other pairs (EM's HHH pairs, written grouped by HHH
  subset) are a seeded random subset (a fixed seed, the same for every training seed; nested in n), kept in
  file order. The reference drew its 99 from all 221 HHH items; ours come from the 199-row proxy.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

from selgen.batching import IGNORE, collate, encode, token_ce_sum
from selgen.losses import sequence_logps
from selgen.methods.base import Method
from selgen.reference import frozen_base

__all__ = ["DPO", "dpo_loss", "sequence_logps"]


def dpo_loss(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta: float) -> torch.Tensor:
    """Per-pair −log σ(β[(π_c − ref_c) − (π_r − ref_r)]) from sequence log-probabilities (sums or means)."""
    return -F.logsigmoid(beta * ((pi_chosen - ref_chosen) - (pi_rejected - ref_rejected)))


def first_pairs(pairs: list[dict], n: int) -> list[dict]:
    """The first ``n`` pairs: by ascending ``_id`` for pairs that carry one (GCD: the first ids; a stable
    sort, so file order within an id), else a seeded random subset (fixed seed; nested in ``n``) in file
    order."""
    if all("_id" in p for p in pairs):
        return sorted(pairs, key=lambda p: p["_id"])[:n]
    order = list(range(len(pairs)))
    random.Random("selgen|dpo|max_pairs").shuffle(order)
    return [pairs[i] for i in sorted(order[:n])]


class DPO(Method):
    name = "dpo"
    alignment = "pairs"

    def __init__(
        self, lam: float, beta: float = 0.1, logps: str = "sum", max_pairs: int | None = None, **context
    ):
        super().__init__(**context)
        self.lam, self.beta = float(lam), float(beta)
        if logps not in ("sum", "mean"):
            raise ValueError(f"dpo: logps must be 'sum' or 'mean', not {logps!r}")
        if max_pairs is not None and (int(max_pairs) != max_pairs or max_pairs < 1):
            raise ValueError(f"dpo: max_pairs must be a positive integer, not {max_pairs!r}")
        self.average = logps == "mean"
        self.max_pairs = None if max_pairs is None else int(max_pairs)

    def prepare_data(self, task_rows, align_rows):
        if self.max_pairs is None or len(align_rows) <= self.max_pairs:
            return task_rows, align_rows
        kept = first_pairs(align_rows, self.max_pairs)
        self.report = {"pairs_given": len(align_rows), "pairs_used": len(kept)}
        return task_rows, kept

    def encode_align(self, tokenizer, row, max_length):
        prompt = row["prompt"]
        return {
            "chosen": encode(
                tokenizer, prompt + [{"role": "assistant", "content": row["chosen"]}], max_length
            ),
            "rejected": encode(
                tokenizer, prompt + [{"role": "assistant", "content": row["rejected"]}], max_length
            ),
        }

    def collate_align(self, examples, pad_id, device):
        """Chosen rows first, then rejected rows, in one batch (one forward pass)."""
        batch = collate([e["chosen"] for e in examples] + [e["rejected"] for e in examples], pad_id, device)
        batch["idx"] = [e["idx"] for e in examples]
        return batch

    def setup(self, model, tokenizer, align_examples, device):
        self.ref = torch.zeros(len(align_examples), 2)
        with frozen_base(model):
            for i in range(0, len(align_examples), 16):
                chunk = align_examples[i : i + 16]
                batch = self.collate_align(chunk, tokenizer.pad_token_id, device)
                logps = sequence_logps(model, batch, self.average).cpu()
                self.ref[i : i + len(chunk), 0] = logps[: len(chunk)]
                self.ref[i : i + len(chunk), 1] = logps[len(chunk) :]

    def loss(self, model, task, align, ctx):
        task_ce = token_ce_sum(model, task) / ctx.n_task
        n_pairs = max(1, sum(int(has_replies(b).sum()) for b in ctx.align_batches))
        logps = sequence_logps(model, align, self.average)
        k = len(align["idx"])
        ref = self.ref[align["idx"]].to(logps.device)
        per_pair = dpo_loss(logps[:k], logps[k:], ref[:, 0], ref[:, 1], self.beta)
        dpo = torch.where(has_replies(align).to(per_pair.device), per_pair, 0.0).sum() / n_pairs
        return task_ce + self.lam * dpo, {"task_ce": task_ce.item(), "dpo": dpo.item()}


def has_replies(batch: dict) -> torch.Tensor:
    """Bool [pairs]: both replies of the pair kept a labelled token after truncation to ``max_length``. A
    pair whose prompt alone fills ``max_length`` has no preference left to learn: it adds nothing and is not
    counted in the mean (as TRL, which drops such rows; counting it would shrink the other pairs' weight)."""
    has = (batch["labels"] != IGNORE).any(dim=1)
    k = len(batch["idx"])
    return has[:k] & has[k:]


PLUGINS = {"dpo": DPO}
