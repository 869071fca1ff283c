"""Representation constraint (LDIFS-style): L = CE(task) + β·mean over chosen layers of the squared distance
between the tuned and the base model's hidden states on alignment data, padding masked.

Deviations from the reference trainer (seed_code.md §3): the distance is averaged over the chosen layers (the
reference summed all layers, so the deepest, largest-norm layers dominated and β meant something different per
depth), padding is masked, and the language-model head is skipped (only the decoder runs). Per position the
distance is the mean over the hidden dimension (as the reference's ``mse_loss``), so β values stay comparable
to the reference's sweep up to the factor of the number of layers.

``reduction: authors`` computes the reference's normalisation instead (seed_code.md §3, issue 14): per
position the mean over the hidden dimension, **summed** (not averaged) over the chosen layers (``layers:
all`` = the outputs of blocks 1..L, the last one after the final norm, as the reference's
``hidden_states[1:]``), and the positions' sum divided by rows in the step × ``pad_length`` (default
``train.max_length``), as the reference's ``mse_loss`` over batches padded to ``max_seq_length``. Padding
contributes zero here; the reference's padding positions carried a non-zero distance (the tuned model's
states after pad tokens differ from the base's too), which we do not compute, so our term is the reference's
minus its padding share. Exact relation on one
step with K chosen layers and N non-padding positions over R rows: authors = ours × K × N / (R × pad_length);
with every row at the full pad length (no padding), authors = K × ours. A reference β therefore corresponds to
β_ours = β_authors × K × fill fraction.
"""

from __future__ import annotations

import torch

from selgen.batching import token_ce_sum
from selgen.losses import decoder_of
from selgen.methods.base import Method
from selgen.methods.kl import authors_positions, check_reduction
from selgen.reference import Reference


def parse_layers(spec, n_layers: int) -> list[int]:
    """``"all"`` or ``"1,3"`` (1-based block outputs) -> indices into ``hidden_states`` (1..n_layers)."""
    if spec in (None, "all"):
        return list(range(1, n_layers + 1))
    layers = [int(x) for x in str(spec).split(",") if x.strip()]
    bad = [i for i in layers if not 1 <= i <= n_layers]
    if bad or not layers:
        raise ValueError(f"repr layers {spec!r}: the model has layers 1..{n_layers}")
    return layers


class Repr(Method):
    name = "repr"
    alignment = "stream"

    def __init__(
        self,
        beta: float,
        layers: str = "all",
        ref_cache_mb: float = 1024,
        reduction: str = "ours",
        pad_length: int | None = None,
        **context,
    ):
        super().__init__(**context)
        self.beta, self.layers_spec, self.ref_cache_mb = float(beta), layers, float(ref_cache_mb)
        self.reduction, self.pad_length = check_reduction("repr", reduction, pad_length)

    def hidden(self, model, batch: dict) -> torch.Tensor:
        """[B, T, K, D] hidden states after the chosen blocks, in the model's dtype (a small cache)."""
        out = decoder_of(model)(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True
        )
        return torch.stack([out.hidden_states[i] for i in self.layers], dim=2)

    def setup(self, model, tokenizer, align_examples, device):
        self.layers = parse_layers(self.layers_spec, model.config.num_hidden_layers)
        self.ref = Reference(model, align_examples, tokenizer.pad_token_id, self.hidden, self.ref_cache_mb)

    def loss(self, model, task, align, ctx):
        task_ce = token_ce_sum(model, task) / ctx.n_task
        mask = align["attention_mask"].bool()
        diff = self.hidden(model, align).float() - self.ref(model, align).float()
        if self.reduction == "authors":  # sum over layers of the mean over the hidden dimension
            n_pos = authors_positions(ctx, self.pad_length)
            dist = diff.pow(2).mean(dim=-1).sum(dim=-1)  # [B, T]
        else:
            n_pos = max(1, sum(int(b["attention_mask"].sum()) for b in ctx.align_batches))
            dist = diff.pow(2).mean(dim=(-1, -2))  # [B, T]
        term = (dist * mask).sum() / n_pos
        return task_ce + self.beta * term, {"task_ce": task_ce.item(), "repr": term.item()}


PLUGINS = {"repr": Repr}
