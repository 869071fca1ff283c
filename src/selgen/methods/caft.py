"""Concept-ablation fine-tuning (CAFT, Casademunt et al. 2025): during training only, the residual stream
after chosen decoder layers loses its component along concept directions, h ← h − Q Qᵀ h.

Directions are a DAG artifact (``selgen artifact SETTING caft``, rule ``artifact``, one file per setting and
control, shared by every seed), built only at the layers some run ablates (``layers``; the CAFT paper
ablated a few layers, not all):

- ``control: pca`` — **automated PCA**, a deviation labelled as such: the top-k principal components of the
  differences between a task_only-tuned model's and the base model's activations on the task data's
  assistant tokens. The paper's authors chose components by *human interpretation* of PCA/SAE directions;
  taking the top-k keeps runs reproducible without a person in the loop, but it is not the paper's
  selection. The covariance is accumulated batch by batch (d×d per layer in float64, every token counted), so
  memory does not grow with the data; models load in the training dtype.
- ``control: random`` — random orthonormal directions of the same shape (the paper's random baseline).
- ``directions_file`` — directions chosen elsewhere (e.g. by interpretation): a ``torch.save`` file of
  ``{"directions": {layer: [d, k'] tensor}}`` (1-based layers; columns need not be orthonormal, they are
  orthonormalised here); it replaces the built artifact for that sweep point.
"""

from __future__ import annotations

import torch

from selgen.batching import IGNORE, collate, encode
from selgen.losses import decoder_of
from selgen.methods.base import Method


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
        qq = q.to(h.device, h.dtype)
        return _replace_hidden(output, h - (h @ qq) @ qq.T)

    return hook


def parse_layers(spec, n_layers: int) -> list[int]:
    """``"all"`` or ``"2,4"`` (1-based decoder layers) -> sorted layer numbers, checked against the model."""
    if spec in (None, "all"):
        return list(range(1, n_layers + 1))
    layers = sorted({int(x) for x in str(spec).split(",") if x.strip()})
    if not layers or not all(1 <= x <= n_layers for x in layers):
        raise ValueError(f"caft layers {spec!r}: the model has layers 1..{n_layers}")
    return layers


@torch.no_grad()
def difference_statistics(base, tuned, tokenizer, examples: list[dict], layers: list[int], batch_size=8):
    """{layer: (n, Σx, Σxxᵀ)} of x = tuned − base outputs of decoder layer ``layer`` (1-based) at assistant
    tokens, accumulated batch by batch in float64: memory d×d per layer, whatever the number of tokens (the
    exact covariance of every token, not a subsample)."""
    stats, captured = {}, {}

    def capture(key, layer):
        return lambda module, args, output: captured.__setitem__((key, layer), _hidden(output))

    handles = [
        decoder_layers(model)[layer - 1].register_forward_hook(capture(key, layer))
        for key, model in (("base", base), ("tuned", tuned))
        for layer in layers
    ]
    for model in (base, tuned):
        model.eval()
    dev = next(base.parameters()).device
    try:
        for i in range(0, len(examples), batch_size):
            batches = {}
            for key, model in (("base", base), ("tuned", tuned)):
                batches[key] = collate(examples[i : i + batch_size], tokenizer.pad_token_id, model.device)
                model(input_ids=batches[key]["input_ids"], attention_mask=batches[key]["attention_mask"])
            for layer in layers:
                b, t = captured["base", layer], captured["tuned", layer]
                x = (t[batches["tuned"]["labels"] != IGNORE].to(dev, torch.float64)) - (
                    b[batches["base"]["labels"] != IGNORE].to(dev, torch.float64)
                )
                n, total, outer = stats.get(layer, (0, 0.0, 0.0))
                stats[layer] = (n + x.shape[0], total + x.sum(0), outer + x.T @ x)
    finally:
        for h in handles:
            h.remove()
    return stats


def concept_directions(stats: dict, k: int, control: str, seed: int = 0, width: int | None = None) -> dict:
    """{layer: [d, k] orthonormal float32 directions}: the top-k principal components of the differences
    (eigenvectors of their covariance, from ``difference_statistics``), or random (``control: random``)."""
    if control not in ("pca", "random"):
        raise ValueError(f"caft control must be 'pca' or 'random', not {control!r}")
    gen = torch.Generator().manual_seed(seed)
    directions = {}
    for layer, stat in stats.items():
        if control == "random":
            directions[layer] = torch.linalg.qr(torch.randn(width or stat, k, generator=gen))[0]
            continue
        n, total, outer = stat
        mean = total / n
        cov = (outer - n * torch.outer(mean, mean)) / max(1, n - 1)
        _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
        directions[layer] = vectors[:, -k:].flip(-1).float().cpu().contiguous()
    return directions


class CAFT(Method):
    """Hyper-parameters: ``k`` leading directions per layer, ``layers`` ("all" or "2,4", 1-based), ``control``
    (``pca`` or ``random``: which directions artifact), ``directions_file`` (directions chosen elsewhere).
    The built artifact arrives as the DAG input ``inputs["artifact"]`` (``make_method(..., inputs=)``)."""

    name = "caft"

    def __init__(
        self, k: int = 2, layers: str = "all", control: str = "pca", directions_file=None, **context
    ):
        super().__init__(**context)
        self.k, self.layers, self.control = int(k), layers, control
        self.directions_file = directions_file
        self.handles = []

    def setup(self, model, tokenizer, align_examples, device):
        path = self.directions_file or self.inputs.get("artifact")
        if path is None:
            raise ValueError("method 'caft' needs its directions (`selgen artifact SETTING caft`)")
        saved = torch.load(path, map_location="cpu")
        if not self.directions_file and saved["control"] != self.control:
            raise ValueError(f"{path} holds {saved['control']!r} directions, not {self.control!r}")
        blocks = decoder_layers(model)
        chosen = (
            parse_layers(self.layers, len(blocks)) if self.layers != "all" else sorted(saved["directions"])
        )
        missing = [layer for layer in chosen if layer not in saved["directions"]]
        if missing:
            raise ValueError(
                f"{path}: no directions for layer(s) {missing} (it has {sorted(saved['directions'])})"
            )
        for layer in chosen:
            q = torch.linalg.qr(saved["directions"][layer][:, : self.k].float())[0].to(device)
            self.handles.append(blocks[layer - 1].register_forward_hook(ablation_hook(q)))

    def finish(self, model):
        for h in self.handles:  # ablation is for training only: evaluation sees the plain model
            h.remove()
        self.handles = []


def build_directions(
    base, tuned, tokenizer, task_rows, max_length, k, control, seed, out_path, layers="all"
) -> dict:
    """The directions artifact: top-k principal directions (automated PCA, ``control: pca``) or random
    orthonormal ones (``control: random``) at the chosen ``layers``, saved with torch.save. The random
    control needs no activations."""
    from selgen.io import atomic_path

    chosen = parse_layers(layers, base.config.num_hidden_layers)
    if control == "random":
        width = base.config.hidden_size
        directions = concept_directions(dict.fromkeys(chosen, width), k, control, seed, width)
    else:
        examples = [encode(tokenizer, r["messages"], max_length) for r in task_rows]
        stats = difference_statistics(base, tuned, tokenizer, examples, chosen)
        directions = concept_directions(stats, k, control, seed)
    with atomic_path(out_path) as tmp:
        torch.save({"control": control, "k": k, "directions": directions}, tmp)
    return directions


PLUGINS = {"caft": CAFT}


def build_artifact(name, params, base, tuned, tokenizer, task_rows, out_path) -> dict:
    """The registry's CAFT artifact (``selgen.methods.registry.Artifact``): the ``name`` control's
    directions (``pca`` or ``random``) at ``params``' k and layers."""
    return build_directions(
        base,
        tuned,
        tokenizer,
        task_rows,
        params["max_length"],
        params["k"],
        name,
        params["seed"],
        out_path,
        layers=params.get("layers", "all"),
    )
