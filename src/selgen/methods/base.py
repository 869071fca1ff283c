"""The method interface: one object, complete when built (``make_method``), that the one training loop
(``selgen.training.train``) asks, in this order:

1. ``alignment`` — how the method uses the run's alignment data (one field, read by ``selgen train`` to
   choose the file and by the loop to choose the streams; see ``ALIGNMENT``);
2. ``phases(task_rows, align_rows)`` — training phases to run first, each through the same loop (same
   schedule, clipping, batch size and seed as the run, its own checkpoint) on a LoRA adapter of its own;
3. ``prepare_data`` (transform the rows), ``encode_align``/``collate_align`` (alignment examples);
4. ``setup`` (once, before the first step: reference caches, hooks, adapters' roles after the phases);
5. per micro-batch ``backward`` (default: ``loss`` then ``.backward()``), per step ``before_step`` (edit
   gradients before clipping and the optimizer step);
6. ``finish`` (remove hooks, post-process weights; details for the run record in ``report``).

A method module imports only the primitives below the loop (``selgen.batching``, ``selgen.losses``,
``selgen.reference``), never ``selgen.training``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from selgen.batching import StepContext, collate, encode, token_ce_sum
from selgen.methods.adapters import add_adapter, require_lora, train_only

Alignment = Literal["none", "stream", "pairs", "mix", "phase"]
ALIGNMENT: dict[str, str] = {
    "none": "the run's alignment file is not read",
    "stream": "alignment micro-batches beside the task micro-batches in every optimizer step",
    "pairs": "as stream, with (prompt, chosen, rejected) pairs from the alignment pairs file",
    "mix": "the alignment rows join the task rows (prepare_data): one stream",
    "phase": "the alignment rows train a phase before the main training (phases), not streamed",
}
STREAMED = ("stream", "pairs")  # alignment kinds with a per-step alignment stream (encoded, given to setup)


@dataclass(frozen=True)
class Phase:
    """A training phase run before the main training, through the same loop: plain CE on ``rows`` (chat
    rows), training only a new LoRA adapter ``adapter`` (the "default" adapter's config), with the run's
    ``train`` config updated by ``overrides`` (e.g. its own epochs and lr). Recorded as
    ``record["phases"][i]``; checkpointed to a file of its own beside the run's checkpoint."""

    name: str
    rows: list[dict]
    adapter: str
    overrides: dict = field(default_factory=dict)

    def begin(self, model, seed: int, method: str) -> None:
        """Add the phase's adapter (initialised from its own generator, see ``add_adapter``) and make it the
        only active and trainable one."""
        require_lora(model, method)
        add_adapter(model, self.adapter, seed)
        train_only(model, self.adapter, [self.adapter])


class Method:
    """The base method: plain SFT on the task rows (``task_only`` is this class). Hyper-parameters are the
    constructor's keyword arguments; every method also takes the context ``inputs`` and ``seed``."""

    name = "base"
    alignment: Alignment = "none"
    # the main training's own train-config values over the run's (e.g. realign's proxy stage: its own epochs
    # and lr after a task phase that used the run's); None values are ignored; recorded in the run record
    main_overrides: dict = {}

    def __init__(self, *, inputs: dict | None = None, seed: int = 0):
        # DAG inputs of the run: "base" (the base model's folder or hub id), "artifact" (the method's built
        # artifact: CAFT's directions), and its MethodSpec's file and model inputs by hyper-parameter name
        # (Safe-LoRA's "unaligned": the fetched pre-alignment model)
        self.inputs = dict(inputs or {})
        self.seed = int(seed)  # the run's seed (the loop seeds data order, dropout and phase adapters itself)

    def phases(self, task_rows: list[dict], align_rows: list[dict]) -> list[Phase]:
        """Phases to run before the main training (default none)."""
        return []

    def prepare_data(self, task_rows: list[dict], align_rows: list[dict]):
        """Return the (task, alignment) rows the loop trains on."""
        return task_rows, align_rows

    def encode_align(self, tokenizer, row: dict, max_length: int) -> dict:
        """Token ids of one alignment row (DPO encodes a chosen/rejected pair instead)."""
        return encode(tokenizer, row["messages"], max_length)

    def collate_align(self, examples: list[dict], pad_id: int, device) -> dict:
        return collate(examples, pad_id, device)

    def setup(self, model, tokenizer, align_examples: list[dict], device) -> None:
        """Called once before the first step, after the phases (cache reference outputs, register hooks...).
        ``align_examples``: the encoded alignment rows of a streamed kind (``STREAMED``), else empty."""

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
