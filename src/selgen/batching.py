"""Primitives that the training loop and the methods share: chat rows as labelled token ids, padded
micro-batches, the seeded batch stream, and what a method sees of an optimizer step.

The layers go one way: ``selgen.training`` (the loop) imports this module and the methods' interface;
``selgen.methods.*`` import this module and ``selgen.losses``, never the loop.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from selgen import chat
from selgen.losses import IGNORE, token_ce_sum

__all__ = ["IGNORE", "StepContext", "batches", "collate", "encode", "n_label_tokens", "token_ce_sum"]


def encode(tokenizer, messages: list[dict], max_length: int) -> dict:
    """Token ids of a chat with labels on the final assistant turn only; truncated to ``max_length``.

    The unlabelled part is exactly the evaluation prompt of the same chat (``selgen.chat.split``)."""
    prompt, reply = chat.split(tokenizer, messages)
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = p_ids + tokenizer(reply, add_special_tokens=False)["input_ids"]
    labels = [IGNORE] * len(p_ids) + ids[len(p_ids) :]
    return {"input_ids": ids[:max_length], "labels": labels[:max_length], "truncated": len(ids) > max_length}


def collate(examples: list[dict], pad_id: int, device=None) -> dict:
    """Right-pad a list of encoded rows to the longest; returns input_ids, attention_mask, labels."""
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"])
        labels[i, :n] = torch.tensor(e["labels"])
        mask[i, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if device is not None:
        batch = {k: v.to(device) for k, v in batch.items()}
    batch["idx"] = [e.get("idx", -1) for e in examples]  # positions in the fixed example list (for caches)
    return batch


def n_label_tokens(batch: dict) -> int:
    """Tokens that carry a loss: labels shifted by one, as the causal LM loss sees them."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())


def batches(
    examples: list[dict], batch_size: int, seed: int, group_by_length: bool = False
) -> Iterator[list[dict]]:
    """Endless micro-batches: a fresh seeded shuffle each epoch; the last short batch of an epoch is kept.

    ``group_by_length``: rows of similar length share a micro-batch (the transformers Trainer's length-grouped
    order: shuffled, cut into mega-batches, sorted by length within each), so little compute goes to padding.
    """
    from transformers.trainer_pt_utils import get_length_grouped_indices

    lengths = [len(e["input_ids"]) if "input_ids" in e else 0 for e in examples]
    epoch = 0
    while True:
        if group_by_length:
            generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            order = get_length_grouped_indices(lengths, batch_size, generator=generator)
        else:
            order = list(range(len(examples)))
            random.Random(seed * 1_000_003 + epoch).shuffle(order)
        for i in range(0, len(order), batch_size):
            yield [examples[j] for j in order[i : i + batch_size]]
        epoch += 1


@dataclass
class StepContext:
    """What a method sees of the current optimizer step."""

    step: int
    total_steps: int
    n_task: int  # labelled task tokens in the whole step (all micro-batches)
    n_align: int  # labelled alignment tokens in the whole step
    align_batches: list = field(default_factory=list)  # every alignment micro-batch of the step
    micro: int = 0  # index of the current micro-batch within the step (per-step terms: add at 0 only)
    max_length: int = 0  # train.max_length: the padded row length of the authors' normalisations
