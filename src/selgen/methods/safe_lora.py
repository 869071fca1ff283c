"""Safe-LoRA (Hsu et al., NeurIPS 2024), post hoc: after task training, each LoRA update B·A whose projection
onto the alignment direction drifts from it is replaced by its projection, B ← Ĉ·B with Ĉ = V·Vᵀ/‖V‖_F.

V per module is an *alignment delta*. The paper (and IBM/SafeLoRA) takes V = W_aligned − W_base of two full
models. This implements the seed repository's **proxy-delta variant** (methods.md §A.2), labelled as such: V
is the weight delta (scaling·B·A) of a LoRA adapter trained on the proxy alignment data first, so no second
model is needed. The two-model variant (e.g. Qwen3-8B base vs instruct, or a two-stage mini base) is not here.

Selection, as the official code: the cosine between Ĉ·B·A and B·A per module; ``mode: number`` projects the
``num_proj_layers`` modules with the lowest cosine (default 10), ``mode: threshold`` those with cosine below
``threshold`` (default 0.5). Ĉ·B is computed as V(VᵀB)/‖V‖_F: never a d_out×d_out matrix (the official code
materialises one per module, ≈1.4 GB for a 19k-wide gate projection in fp32).
"""

from __future__ import annotations

import torch

from selgen.methods.adapters import lora_layers, require_lora, train_extra_adapter, train_only
from selgen.methods.base import Method

PROXY = "proxy"


def project_b(v: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Ĉ·B with Ĉ = V Vᵀ / ‖V‖_F, as V (Vᵀ B) / ‖V‖_F (V: d_out × d_in, B: d_out × r)."""
    return v @ (v.T @ b) / v.norm()


def cosine(x: torch.Tensor, y: torch.Tensor) -> float:
    return float((x * y).sum() / (x.norm() * y.norm()).clamp_min(1e-12))


def safe_lora_project(deltas: dict, layers: dict, mode: str, num: int, threshold: float) -> dict:
    """Project the chosen modules' ``lora_B`` in place; return {module: cosine} and the projected names.

    ``deltas``: module name -> V; ``layers``: module name -> (A, B) weight tensors of the task adapter.
    """
    cos = {}
    with torch.no_grad():
        for name, (a, b) in layers.items():
            cos[name] = cosine(project_b(deltas[name], b) @ a, b @ a)
        if mode == "number":
            chosen = sorted(cos, key=cos.get)[:num]
        elif mode == "threshold":
            chosen = [n for n, c in cos.items() if c < threshold]
        else:
            raise ValueError(f"safe_lora mode must be 'number' or 'threshold', not {mode!r}")
        for name in chosen:
            a, b = layers[name]
            b.copy_(project_b(deltas[name], b))
    return {"cosines": cos, "projected": chosen}


class SafeLoRA(Method):
    name = "safe_lora"
    uses_alignment = True
    align_stream = False

    def __init__(self, mode="number", num_proj_layers=10, threshold=0.5, align_epochs=3.0, align_lr=1e-3):
        self.mode, self.num, self.threshold = mode, int(num_proj_layers), float(threshold)
        self.align_epochs, self.align_lr = float(align_epochs), float(align_lr)
        if mode not in ("number", "threshold"):
            raise ValueError(f"safe_lora mode must be 'number' or 'threshold', not {mode!r}")

    def setup(self, model, tokenizer, align_examples, device):
        require_lora(model, self.name)
        train_extra_adapter(model, tokenizer, align_examples, PROXY, self.align_epochs, self.align_lr, device)
        with torch.no_grad():
            self.deltas = {
                name: (m.lora_B[PROXY].weight @ m.lora_A[PROXY].weight * m.scaling[PROXY]).detach().clone()
                for name, m in lora_layers(model, PROXY)
            }
        model.delete_adapter(PROXY)
        train_only(model, "default", ["default"])

    def finish(self, model):
        layers = {
            name: (m.lora_A["default"].weight, m.lora_B["default"].weight) for name, m in lora_layers(model)
        }
        self.report = safe_lora_project(self.deltas, layers, self.mode, self.num, self.threshold)


PLUGINS = {"safe_lora": SafeLoRA}
