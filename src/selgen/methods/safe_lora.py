"""Safe-LoRA (Hsu et al., NeurIPS 2024), post hoc: after task training, each LoRA update B·A whose projection
onto the alignment direction drifts from it is replaced by its projection, B ← Ĉ·B with Ĉ = V·Vᵀ/‖V‖_F.

V per module is an *alignment delta*, from one of two sources (hyper-parameter ``delta``):

- ``aligned`` (the paper's, default): V = W_aligned − W_unaligned, the weight difference between the model
  being fine-tuned (an aligned chat model) and its pre-alignment version, given as ``unaligned`` (a folder or
  hub id, e.g. ``google/gemma-2b`` for ``google/gemma-2b-it``). Without ``unaligned``, ``<base>/unaligned`` is
  used: the two-stage mini base saves its stage-1 (knowledge-only) weights there.
- ``proxy``: the seed repository's **proxy-delta variant** (methods.md §A.2), labelled ``delta=proxy`` in
  results: V is the weight delta (scaling·B·A) of a LoRA adapter trained on the proxy alignment data first, in
  a phase of the one training loop (``phases``: phase ``proxy_adapter``, recorded in ``record["phases"]``;
  plain CE with the run's schedule, clipping, batch size, weight decay and seed, for ``align_epochs`` epochs
  at ``align_lr``; checkpointed like the run). A deviation from our earlier code, not from the seed
  repository's method: that code trained the proxy adapter in a loop of its own (batch 8, no gradient
  accumulation, no clipping, no warm-up or decay, AdamW's default weight decay), so ``delta=proxy`` numbers
  changed with this (issue 15). ``delta: aligned`` is unchanged.

Selection, as the official code: the cosine between Ĉ·B·A and B·A per module; ``mode: number`` projects the
``num_proj_layers`` modules with the lowest cosine (default 10), ``mode: threshold`` those with cosine below
``threshold`` (default 0.5). Ĉ·B is computed as V(VᵀB)/‖V‖_F: never a d_out×d_out matrix (the official code
materialises one per module, ≈1.4 GB for a 19k-wide gate projection in fp32), and V is built one module at a
time, so peak memory is one weight matrix, not a second model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from selgen.methods.adapters import lora_layers, require_lora, train_only
from selgen.methods.base import Method, Phase

PROXY = "proxy"  # the delta that needs a proxy adapter, and that adapter's name


def project_b(v: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Ĉ·B with Ĉ = V Vᵀ / ‖V‖_F, as V (Vᵀ B) / ‖V‖_F (V: d_out × d_in, B: d_out × r)."""
    return v @ (v.T @ b) / v.norm()


def cosine(x: torch.Tensor, y: torch.Tensor) -> float:
    return float((x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-12))


def safe_lora_project(delta_of, layers: dict, mode: str, num: int, threshold: float) -> dict:
    """Project the chosen modules' ``lora_B`` in place; return {module: cosine} and the projected names.

    ``delta_of(name)``: module name -> V; ``layers``: module name -> (A, B) weights of the task adapter.
    """
    if mode not in ("number", "threshold"):
        raise ValueError(f"safe_lora mode must be 'number' or 'threshold', not {mode!r}")
    cos, projected_b = {}, {}
    with torch.no_grad():
        for name, (a, b) in layers.items():
            projected_b[name] = project_b(delta_of(name).to(b.dtype), b)
            cos[name] = cosine(projected_b[name] @ a, b @ a)
        if mode == "number":
            chosen = sorted(cos, key=cos.get)[:num]
        else:
            chosen = [n for n, c in cos.items() if c < threshold]
        for name in chosen:
            layers[name][1].copy_(projected_b[name])
    return {"cosines": cos, "projected": chosen}


class SafeLoRA(Method):
    name = "safe_lora"

    def __init__(
        self,
        delta="aligned",
        unaligned=None,
        mode="number",
        num_proj_layers=10,
        threshold=0.5,
        align_epochs=3.0,
        align_lr=1e-3,
        **context,
    ):
        super().__init__(**context)
        if delta not in ("aligned", "proxy"):
            raise ValueError(f"safe_lora delta must be 'aligned' or 'proxy', not {delta!r}")
        if mode not in ("number", "threshold"):
            raise ValueError(f"safe_lora mode must be 'number' or 'threshold', not {mode!r}")
        self.delta, self.unaligned = delta, unaligned
        self.mode, self.num, self.threshold = mode, int(num_proj_layers), float(threshold)
        self.align_epochs, self.align_lr = float(align_epochs), float(align_lr)
        # the aligned delta needs no alignment data; the proxy delta trains an adapter on it first
        self.alignment = "phase" if delta == PROXY else "none"

    def phases(self, task_rows, align_rows):
        if self.delta != PROXY:
            return []
        overrides = {"epochs": self.align_epochs, "lr": self.align_lr, "steps": None}
        return [Phase("proxy_adapter", align_rows, PROXY, overrides)]

    def setup(self, model, tokenizer, align_examples, device):
        require_lora(model, self.name)
        if self.delta == "aligned":
            from selgen.mini import UNALIGNED
            from selgen.models import CheckpointWeights

            # the fetched local copy of a hub `unaligned` (a DAG input), else a folder given as `unaligned`
            given = self.inputs.get("unaligned") or self.unaligned
            source = given or str(Path(self.inputs.get("base", "")) / UNALIGNED)
            if not given and not Path(source).exists():
                raise ValueError(
                    f"safe_lora (delta 'aligned') needs the pre-alignment model: set its hyper-parameter "
                    f"'unaligned' (a folder or hub id), or use a two-stage mini base; {source} does not exist"
                )
            self.unaligned_weights = CheckpointWeights(source)
            return
        # the phase trained adapter PROXY: keep its low-rank factors (V = B·A is built per module in finish)
        with torch.no_grad():
            self.proxy = {
                name: (m.lora_B[PROXY].weight * m.scaling[PROXY], m.lora_A[PROXY].weight.clone())
                for name, m in lora_layers(model, PROXY)
            }
        train_only(model, "default", ["default"])  # the task adapter trains, active before PROXY goes
        model.delete_adapter(PROXY)

    def alignment_delta(self, name: str, module) -> torch.Tensor:
        if self.delta == "proxy":
            b, a = self.proxy[name]
            return b @ a
        aligned = module.base_layer.weight.float()
        unaligned = self.unaligned_weights.weight(name).float().to(aligned.device)
        if unaligned.shape != aligned.shape:
            raise ValueError(
                f"safe_lora: {name} has shape {tuple(aligned.shape)} but {tuple(unaligned.shape)} in "
                f"{self.unaligned_weights.path}: not the pre-alignment version of this model"
            )
        return aligned - unaligned

    def finish(self, model):
        modules = dict(lora_layers(model))
        layers = {
            name: (m.lora_A["default"].weight, m.lora_B["default"].weight) for name, m in modules.items()
        }

        def delta_of(name):
            return self.alignment_delta(name, modules[name])

        report = safe_lora_project(delta_of, layers, self.mode, self.num, self.threshold)
        self.report = {"delta": self.delta, **report}


PLUGINS = {"safe_lora": SafeLoRA}
