"""Method names and their hyper-parameters, importable without torch (the Snakefile uses it at parse time).

Each entry: the module under ``selgen.methods`` that holds the plug-in, the hyper-parameters it requires and
those it accepts with their defaults. ``epochs`` and ``lr`` are accepted by every method (they override the
setting's ``train`` block for that sweep point).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MethodSpec:
    module: str
    required: tuple[str, ...] = ()
    optional: dict = field(default_factory=dict)


TRAIN_OVERRIDES = ("epochs", "lr")

METHODS: dict[str, MethodSpec] = {
    "task_only": MethodSpec("selgen.methods.sft"),
    "mixed": MethodSpec("selgen.methods.sft"),
    "upweight": MethodSpec("selgen.methods.sft", required=("lam",)),
    "kl": MethodSpec(
        "selgen.methods.kl",
        required=("beta",),
        optional={"direction": "reverse", "assistant_only": False, "ref_cache_mb": 1024},
    ),
    "repr": MethodSpec(
        "selgen.methods.repr", required=("beta",), optional={"layers": "all", "ref_cache_mb": 1024}
    ),
    "grad_proj": MethodSpec("selgen.methods.grad_proj", optional={"mode": "strict", "scope": "tensor"}),
    "dpo": MethodSpec("selgen.methods.dpo", required=("lam",), optional={"beta": 0.1}),
    "inoculation": MethodSpec("selgen.methods.inoculation", required=("prompt",)),
    "safe_lora": MethodSpec(
        "selgen.methods.safe_lora",
        optional={
            "mode": "number",
            "num_proj_layers": 10,
            "threshold": 0.5,
            "align_epochs": 3.0,
            "align_lr": 1e-3,
        },
    ),
    "caft": MethodSpec("selgen.methods.caft", optional={"k": 2, "layers": "all", "control": "pca"}),
    "o_lora": MethodSpec(
        "selgen.methods.o_lora", optional={"lam1": 0.5, "lam2": 0.0, "align_epochs": 3.0, "align_lr": 1e-3}
    ),
}


def check_hparams(method: str, hp: dict, where: str) -> None:
    """Raise ValueError naming ``where`` when ``hp`` misses a required or holds an unknown hyper-parameter."""
    if method not in METHODS:
        raise ValueError(f"{where}: unknown method {method!r}; valid methods: {', '.join(sorted(METHODS))}")
    spec = METHODS[method]
    missing = [k for k in spec.required if k not in hp]
    if missing:
        raise ValueError(f"{where}: method {method!r} needs hyper-parameter(s) {', '.join(missing)}")
    known = set(spec.required) | set(spec.optional) | set(TRAIN_OVERRIDES)
    unknown = sorted(set(hp) - known)
    if unknown:
        raise ValueError(
            f"{where}: method {method!r} has no hyper-parameter(s) {', '.join(unknown)}; "
            f"it accepts {', '.join(sorted(known))}"
        )
