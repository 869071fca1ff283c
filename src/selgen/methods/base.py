"""The method interface. A method may transform the data, add loss terms, change gradients before the
optimizer step (by overriding ``backward``), hook activations (``setup``/``finish``), or post-process."""

from __future__ import annotations

import torch

from selgen.training import StepContext, collate, encode, token_ce_sum


class Method:
    name = "base"
    uses_alignment = False  # whether the method gets the alignment rows (encoded, in setup)
    reads_alignment = None  # whether the run's alignment file is read at all (None: as uses_alignment)
    align_stream = True  # with uses_alignment: whether every step also gets alignment micro-batches
    # DAG inputs the caller hands over before training: "base" (the base model's folder or hub id) and, for
    # CAFT, "directions" (its concept-directions file)
    inputs: dict = {}
    seed: int = 0  # the run's seed, set by the training loop before prepare_data and setup

    @property
    def needs_alignment_data(self) -> bool:
        return self.uses_alignment if self.reads_alignment is None else self.reads_alignment

    def prepare_data(self, task_rows: list[dict], align_rows: list[dict], seed: int):
        """Return the (task, alignment) rows the loop trains on."""
        return task_rows, align_rows

    def encode_align(self, tokenizer, row: dict, max_length: int) -> dict:
        """Token ids of one alignment row (DPO encodes a chosen/rejected pair instead)."""
        return encode(tokenizer, row["messages"], max_length)

    def collate_align(self, examples: list[dict], pad_id: int, device) -> dict:
        return collate(examples, pad_id, device)

    def setup(self, model, tokenizer, align_examples: list[dict], device) -> None:
        """Called once before the first step (cache reference outputs, register hooks...)."""

    def loss(self, model, task: dict, align: dict | None, ctx: StepContext) -> tuple[torch.Tensor, dict]:
        """The micro-batch's share of the step loss, and floats to log."""
        ce = token_ce_sum(model, task) / ctx.n_task
        return ce, {"task_ce": ce.item()}

    def backward(self, model, task: dict, align: dict | None, ctx: StepContext) -> dict:
        loss, logs = self.loss(model, task, align, ctx)
        loss.backward()
        return logs

    def before_step(self, model, ctx: StepContext) -> None:
        """Called after the step's micro-batches, before clipping and the optimizer step (edit gradients)."""

    def finish(self, model) -> None:
        """Called once after the last step (remove hooks, post-process weights...)."""
