"""Preventative steering (Chen et al. 2025, "Persona vectors", arXiv 2507.21509): during training only, the
residual stream after chosen decoder layers gets α·v_l added at every position, v_l a *trait direction* of the
base model. Steering towards the trait while training means the gradient need not move the weights there;
the saved and evaluated model carries no steering (``finish`` removes the hooks).

The direction (``trait_directions``): per chosen layer, the mean over trait-expressing replies of each reply's
mean output of that decoder layer over its reply tokens, minus the same over aligned replies — the paper's
``response_avg`` difference of means (its ``generate_vec.py``: per-response mean over response tokens, then
the mean over responses). It is computed once in ``setup``, before the first step, from the *base*: the run's
adapter is disabled for that pass (``frozen_base``: eval mode, no gradients, then the mode it had), so it is
the base's direction whatever the adapter holds (a fresh peft LoRA adapter is the identity anyway, its B
matrices start at zero; a resumed run recomputes it before its checkpoint is restored). Replies cut away
entirely by ``max_length`` are left out of the means.

Hyper-parameters:

- ``alpha`` (required): the steering strength. Positive adds the trait direction (steers *towards* the
  trait, as the paper's preventative steering does); negative subtracts it.
- ``layers``: ``"auto"`` (default), ``"all"`` or ``"2,4"`` (1-based decoder layers; the output of layer l
  is ``hidden_states[l]`` of transformers). ``auto`` is one layer at the paper's depth, layer
  ``round(n · 20/28)`` of n (the paper steered Qwen2.5-7B, 28 layers, at layer 20; 3 of the mini models' 4).
  The paper chose its layer by steering efficacy per trait and model; ``auto`` does no such search.
  Several layers each get their own α·v_l (the paper's appendix found multi-layer steering stronger).
- ``normalize``: false (default) keeps the paper's units: v_l is the raw difference of means, so α = 1 shifts
  the aligned replies' mean activation exactly onto the trait-expressing replies' mean. True rescales v_l to
  the mean residual norm at that layer (the mean over all replies of their mean token norm ‖h‖), so α is a
  fraction of the residual stream's size, comparable across models and layers whatever the pairs' gap.
- ``pairs_file``: a jsonl of (prompt, chosen, rejected) pairs to take the direction from (the issue's
  "configured prompt set"; e.g. gcd's wrong-claim pairs only) instead of the setting's proxy pairs.

Deviations from the paper, labelled as such:

- The contrast is the setting's proxy *pairs* (alignment kind ``pairs``: chosen = the aligned reply,
  rejected = the trait-expressing one) teacher-forced on the same prompts, not replies the model generated
  under trait-eliciting vs trait-suppressing system prompts and filtered by a judge's trait score. In gcd,
  half the proxy pairs are right claims whose rejected reply is a wrong *rejection*, not a sycophantic
  agreement: with them the direction is "wrong reply − right reply" over agreeing and disagreeing claims
  alike, not the sycophancy direction alone (``pairs_file`` takes a narrower set). In em the rejected replies
  are the HHH pairs' worse answers.
- Nothing of the pairs is trained on: ``collate_align`` streams nothing, so the run's steps, tokens and loss
  are task_only's, with the hooks added.

``report`` (the run record's ``method_report``): α, the layers, per layer the direction's norm, the mean
residual norm and the norm of the added vector α·v_l, and the number of pairs used.
"""

from __future__ import annotations

import torch

from selgen.batching import IGNORE, collate, encode
from selgen.methods.base import Method
from selgen.methods.caft import _hidden, _replace_hidden, decoder_layers, parse_layers
from selgen.reference import frozen_base

__all__ = ["Steer", "choose_layers", "reply_statistics", "steering_hook", "trait_directions"]


def choose_layers(spec, n_layers: int) -> list[int]:
    """``"auto"`` (one layer at the paper's depth, 20 of 28), ``"all"`` or ``"2,4"`` -> 1-based layers."""
    if spec in (None, "auto"):
        return [max(1, min(n_layers, round(n_layers * 20 / 28)))]
    return parse_layers(spec, n_layers)


@torch.no_grad()
def reply_statistics(model, tokenizer, examples: list[dict], layers: list[int], batch_size: int = 16) -> dict:
    """{layer: (means [n, d], norms [n])} over the ``examples`` (encoded rows) that keep a reply token: each
    reply's mean output of decoder layer ``layer`` (1-based) over its reply tokens (labelled positions), and
    the mean of those tokens' norms; float32 on the CPU. Runs ``model`` as it is (callers wanting the base
    wrap it in ``frozen_base``)."""
    blocks = decoder_layers(model)
    captured: dict[int, torch.Tensor] = {}

    def capture(layer):
        return lambda module, args, output: captured.__setitem__(layer, _hidden(output))

    handles = [blocks[layer - 1].register_forward_hook(capture(layer)) for layer in layers]
    means = {layer: [] for layer in layers}
    norms = {layer: [] for layer in layers}
    dev = next(model.parameters()).device
    try:
        for i in range(0, len(examples), batch_size):
            batch = collate(examples[i : i + batch_size], tokenizer.pad_token_id, dev)
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            mask = (batch["labels"] != IGNORE).float()  # [B, T]: reply tokens
            count = mask.sum(1)
            keep = count > 0
            for layer in layers:
                h = captured[layer].float()
                means[layer].append(((h * mask[..., None]).sum(1) / count.clamp(min=1)[:, None])[keep].cpu())
                norms[layer].append(((h.norm(dim=-1) * mask).sum(1) / count.clamp(min=1))[keep].cpu())
    finally:
        for h in handles:
            h.remove()
    return {layer: (torch.cat(means[layer]), torch.cat(norms[layer])) for layer in layers}


def _pair_statistics(model, tokenizer, pair_examples, layers, batch_size):
    """(rejected, chosen) reply statistics of the base (adapter disabled, eval mode, no gradients)."""
    with frozen_base(model):
        return tuple(
            reply_statistics(model, tokenizer, [p[side] for p in pair_examples], layers, batch_size)
            for side in ("rejected", "chosen")
        )


def _differences(rejected: dict, chosen: dict) -> dict:
    out = {}
    for layer in rejected:
        if not len(rejected[layer][0]) or not len(chosen[layer][0]):
            raise ValueError(
                "steer: no reply token left in the pairs' chosen or rejected replies (max_length)"
            )
        out[layer] = rejected[layer][0].mean(0) - chosen[layer][0].mean(0)
    return out


def trait_directions(model, tokenizer, pair_examples: list[dict], layers: list[int], batch_size: int = 16):
    """{layer: [d] float32}: the base's mean reply activation of the trait-expressing (``rejected``) replies
    minus that of the aligned (``chosen``) ones, per 1-based decoder layer. ``pair_examples``: encoded pairs
    ``{"chosen": encoded row, "rejected": encoded row}`` (``Steer.encode_align``). Reusable by an evaluation
    (e.g. the mean projection of a tuned model's reply activations on these directions)."""
    rejected, chosen = _pair_statistics(model, tokenizer, pair_examples, layers, batch_size)
    return _differences(rejected, chosen)


def steering_hook(vector: torch.Tensor):
    """Forward hook adding ``vector`` ([d], already scaled by α) to a layer's output at every position."""

    def hook(module, args, output):
        h = _hidden(output)
        return _replace_hidden(output, h + vector.to(h.device, h.dtype))

    return hook


def encode_pair(tokenizer, row: dict, max_length: int) -> dict:
    """A (prompt, chosen, rejected) row as two encoded chats (the prompt, then each reply)."""
    return {
        side: encode(tokenizer, row["prompt"] + [{"role": "assistant", "content": row[side]}], max_length)
        for side in ("chosen", "rejected")
    }


class Steer(Method):
    """Hyper-parameters: ``alpha`` (required), ``layers`` ("auto", "all" or "2,4"), ``normalize`` (bool),
    ``pairs_file`` (pairs to take the direction from instead of the setting's proxy pairs)."""

    name = "steer"
    alignment = "pairs"  # the proxy pairs give the direction (setup); nothing of them streams

    def __init__(self, alpha: float, layers="auto", normalize: bool = False, pairs_file=None, **context):
        super().__init__(**context)
        self.alpha = float(alpha)
        if not isinstance(normalize, bool):
            raise ValueError(f"steer: normalize must be true or false, not {normalize!r}")
        self.layers, self.normalize, self.pairs_file = layers, normalize, pairs_file
        self.vectors: dict[int, torch.Tensor] = {}  # layer -> α·v_l, as added
        self.handles = []

    def prepare_data(self, task_rows, align_rows):
        path = self.inputs.get("pairs_file") or self.pairs_file
        if path is None:
            return task_rows, align_rows
        from selgen.io import read_jsonl

        return task_rows, read_jsonl(path, required=("prompt", "chosen", "rejected"))

    def encode_align(self, tokenizer, row, max_length):
        return encode_pair(tokenizer, row, max_length)

    def collate_align(self, examples, pad_id, device):
        return None  # the pairs only give the direction: no alignment micro-batch, no alignment loss

    def setup(self, model, tokenizer, align_examples, device):
        blocks = decoder_layers(model)
        chosen_layers = choose_layers(self.layers, len(blocks))
        rejected, chosen = _pair_statistics(model, tokenizer, align_examples, chosen_layers, 16)
        directions = _differences(rejected, chosen)
        layers_report = {}
        for layer, d in directions.items():
            residual = torch.cat([rejected[layer][1], chosen[layer][1]]).mean()
            v = d / d.norm().clamp(min=1e-12) * residual if self.normalize else d
            self.vectors[layer] = (self.alpha * v).to(device)
            self.handles.append(blocks[layer - 1].register_forward_hook(steering_hook(self.vectors[layer])))
            layers_report[str(layer)] = {
                "direction_norm": round(float(d.norm()), 6),
                "residual_norm": round(float(residual), 6),
                "added_norm": round(float(self.vectors[layer].norm()), 6),
            }
        self.report = {
            "alpha": self.alpha,
            "normalize": self.normalize,
            "pairs": len(align_examples),
            "layers": layers_report,
        }

    def finish(self, model):
        for h in self.handles:  # steering is for training only: the saved and evaluated model has none
            h.remove()
        self.handles = []


PLUGINS = {"steer": Steer}
