"""Outputs of the frozen base model on the fixed alignment examples, for methods that compare against it.

The base *is* the reference: no second copy of the weights. Methods build a ``Reference`` in ``setup``, i.e.
before the first optimizer step, when the model still holds the base weights; its outputs on every alignment
example are then cached once, on the host in the model's dtype, and reused each step. When the cache would
exceed its memory budget the outputs are recomputed each step with the LoRA adapter disabled (impossible under
full fine-tuning: a clear error).
Reference passes run in eval mode (no dropout) and without gradients.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from selgen.batching import collate


@contextlib.contextmanager
def frozen_base(model):
    """Run ``model`` as the frozen base: adapter disabled (if any), eval mode, no gradients."""
    was_training = model.training
    model.eval()
    adapter = model.disable_adapter() if hasattr(model, "disable_adapter") else contextlib.nullcontext()
    try:
        with adapter, torch.no_grad():
            yield model
    finally:
        model.train(was_training)


class Reference:
    """``fn(model, batch) -> Tensor[B, T, ...]`` of the base on alignment batches, cached when it fits."""

    def __init__(
        self, model, examples: list[dict], pad_id: int, fn: Callable, budget_mb: float, batch_size=16
    ):
        self.fn, self.pad_id = fn, pad_id
        self.cache: list[torch.Tensor] | None = None
        if not examples:
            return
        dev = next(model.parameters()).device
        with frozen_base(model):
            probe = fn(model, collate(examples[:1], pad_id, dev))
        per_token_bytes = probe[0, 0].numel() * probe.element_size()
        need_mb = per_token_bytes * sum(len(e["input_ids"]) for e in examples) / 2**20
        if need_mb <= budget_mb:
            self.cache = [None] * len(examples)
            with frozen_base(model):
                for i in range(0, len(examples), batch_size):
                    chunk = examples[i : i + batch_size]
                    out = fn(model, collate(chunk, pad_id, dev))
                    for j, e in enumerate(chunk):  # on the host, in the model's dtype
                        self.cache[i + j] = out[j, : len(e["input_ids"])].to("cpu", copy=True)
        elif not hasattr(model, "disable_adapter"):
            raise ValueError(
                f"reference outputs need {need_mb:.0f} MiB, over ref_cache_mb={budget_mb:g}; under full "
                "fine-tuning they cannot be recomputed from the base -- raise ref_cache_mb or use LoRA"
            )

    @property
    def cached(self) -> bool:
        return self.cache is not None

    def __call__(self, model, batch: dict) -> torch.Tensor:
        if self.cache is None:
            with frozen_base(model):
                return self.fn(model, batch)
        width = batch["input_ids"].shape[1]
        rows = [self.cache[i] for i in batch["idx"]]
        out = rows[0].new_zeros((len(rows), width, *rows[0].shape[1:]))
        for j, r in enumerate(rows):
            out[j, : r.shape[0]] = r
        return out.to(batch["input_ids"].device, non_blocking=True)
