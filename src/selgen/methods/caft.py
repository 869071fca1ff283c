"""Concept-ablation fine-tuning (CAFT, Casademunt et al. 2025): during training only, the residual stream
after chosen decoder layers loses its component along concept directions, h ← h − Q Qᵀ h.

Directions are a DAG artifact (``selgen caft-directions``, one file per setting shared by every seed): the
top principal components of the differences between a task_only-tuned model's and the base model's
activations on the task data's assistant tokens, per chosen layer; ``control: random`` gives random
orthonormal directions of the same shape (the paper's random baseline). The reference picked components by
human interpretation; here the top-k are taken (or an explicit list in ``components``), so runs are
reproducible without a person in the loop.
"""

from __future__ import annotations

import torch

from selgen.methods.base import Method
from selgen.models import decoder_of
from selgen.training import IGNORE, collate


def decoder_layers(model) -> torch.nn.ModuleList:
    """The list of decoder blocks, found by shape rather than by architecture name."""
    n = model.config.num_hidden_layers
    for module in decoder_of(model).modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise ValueError(f"no list of {n} decoder layers found in {type(model).__name__}")


def _hidden(output):
    return output[0] if isinstance(output, tuple) else output


def _replace_hidden(output, hidden):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


def ablation_hook(q: torch.Tensor):
    """Forward hook removing span(q) (orthonormal columns, d × k) from a layer's output."""

    def hook(module, args, output):
        h = _hidden(output)
        qq = q.to(h.dtype)
        return _replace_hidden(output, h - (h @ qq) @ qq.T)

    return hook


@torch.no_grad()
def layer_activations(model, tokenizer, examples: list[dict], layers: list[int], batch_size=16) -> dict:
    """{layer: [N, d] outputs of decoder layer ``layer`` (1-based) at assistant-token positions}."""
    blocks, dev = decoder_layers(model), next(model.parameters()).device
    out, captured = {layer: [] for layer in layers}, {}

    def capture(layer):
        return lambda module, args, output: captured.__setitem__(layer, _hidden(output))

    handles = [blocks[layer - 1].register_forward_hook(capture(layer)) for layer in layers]
    model.eval()
    try:
        for i in range(0, len(examples), batch_size):
            batch = collate(examples[i : i + batch_size], tokenizer.pad_token_id, dev)
            mask = batch["labels"] != IGNORE
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            for layer in layers:
                out[layer].append(captured[layer][mask].float().cpu())
    finally:
        for h in handles:
            h.remove()
    return {layer: torch.cat(v) for layer, v in out.items()}


def concept_directions(base_acts: dict, tuned_acts: dict, k: int, control: str, seed: int = 0) -> dict:
    """{layer: [d, k] orthonormal directions}: top-k PCs of tuned − base activation differences, or random."""
    gen = torch.Generator().manual_seed(seed)
    directions = {}
    for layer, base in base_acts.items():
        diff = tuned_acts[layer] - base
        if control == "random":
            basis = torch.randn(diff.shape[1], k, generator=gen)
        elif control == "pca":
            basis = torch.pca_lowrank(diff, q=min(k, *diff.shape), center=True)[2][:, :k]
        else:
            raise ValueError(f"caft control must be 'pca' or 'random', not {control!r}")
        directions[layer] = torch.linalg.qr(basis)[0]
    return directions


class CAFT(Method):
    """Hyper-parameters: ``k`` leading directions per layer, ``layers`` ("all" or "2,4", 1-based), ``control``
    (``pca`` or ``random``: which directions artifact). The caller sets ``inputs["directions"]`` (a DAG
    input)."""

    name = "caft"

    def __init__(self, k: int = 2, layers: str = "all", control: str = "pca"):
        self.k, self.layers, self.control = int(k), layers, control
        self.handles = []

    def setup(self, model, tokenizer, align_examples, device):
        path = self.inputs.get("directions")
        if path is None:
            raise ValueError("method 'caft' needs its directions file (selgen caft-directions)")
        saved = torch.load(path, map_location="cpu")
        if saved["control"] != self.control:
            raise ValueError(f"{path} holds {saved['control']!r} directions, not {self.control!r}")
        blocks = decoder_layers(model)
        chosen = (
            saved["directions"]
            if self.layers == "all"
            else {int(x): None for x in str(self.layers).split(",")}
        )
        for layer in chosen:
            q = saved["directions"][layer][:, : self.k]
            self.handles.append(blocks[layer - 1].register_forward_hook(ablation_hook(q.to(device))))

    def finish(self, model):
        for h in self.handles:  # ablation is for training only: evaluation sees the plain model
            h.remove()
        self.handles = []


def build_directions(base, tuned, tokenizer, task_rows, max_length, k, control, seed, out_path) -> dict:
    """The directions artifact: top-k (or random) directions at every layer, saved with torch.save."""
    from selgen.io import atomic_path
    from selgen.training import encode

    examples = [encode(tokenizer, r["messages"], max_length) for r in task_rows]
    layers = list(range(1, base.config.num_hidden_layers + 1))
    directions = concept_directions(
        layer_activations(base, tokenizer, examples, layers),
        layer_activations(tuned, tokenizer, examples, layers),
        k,
        control,
        seed,
    )
    with atomic_path(out_path) as tmp:
        torch.save({"control": control, "k": k, "directions": directions}, tmp)
    return directions


PLUGINS = {"caft": CAFT}
