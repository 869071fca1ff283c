"""CE(task) + λ·DPO on (prompt, chosen, rejected) alignment pairs, in the same optimizer steps.

The DPO term is the sigmoid loss of Rafailov et al. with log-probabilities *summed over response tokens*
(the reference averaged them, padding included, seed_code.md §3), computed over chunks of response positions
(``selgen.losses.sequence_logps``: no ``[B, T, V]`` tensor). The reference model is the untuned base: its
sequence log-probabilities on the fixed pairs are computed once in ``setup`` (before any update) and cached.
TRL's ``DPOTrainer`` trains on one preference dataset and keeps its loss inside the trainer; a task-CE plus
DPO objective on two streams needs only the three-line loss below, so we do not depend on it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from selgen.losses import sequence_logps
from selgen.methods.base import Method
from selgen.reference import frozen_base
from selgen.training import collate, encode, token_ce_sum

__all__ = ["DPO", "dpo_loss", "sequence_logps"]


def dpo_loss(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta: float) -> torch.Tensor:
    """Per-pair −log σ(β[(π_c − ref_c) − (π_r − ref_r)]) from summed sequence log-probabilities."""
    return -F.logsigmoid(beta * ((pi_chosen - ref_chosen) - (pi_rejected - ref_rejected)))


class DPO(Method):
    name = "dpo"
    uses_alignment = True
    align_source = "pairs"

    def __init__(self, lam: float, beta: float = 0.1):
        self.lam, self.beta = float(lam), float(beta)

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
                logps = sequence_logps(model, self.collate_align(chunk, tokenizer.pad_token_id, device)).cpu()
                self.ref[i : i + len(chunk), 0] = logps[: len(chunk)]
                self.ref[i : i + len(chunk), 1] = logps[len(chunk) :]

    def loss(self, model, task, align, ctx):
        task_ce = token_ce_sum(model, task) / ctx.n_task
        n_pairs = sum(len(b["idx"]) for b in ctx.align_batches)
        logps = sequence_logps(model, align)
        k = len(align["idx"])
        ref = self.ref[align["idx"]].to(logps.device)
        dpo = dpo_loss(logps[:k], logps[k:], ref[:, 0], ref[:, 1], self.beta).sum() / n_pairs
        return task_ce + self.lam * dpo, {"task_ce": task_ce.item(), "dpo": dpo.item()}


PLUGINS = {"dpo": DPO}
