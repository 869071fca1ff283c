"""Method names and their hyper-parameters, importable without torch (the Snakefile uses it at parse time).

Each entry: the module under ``selgen.methods`` that holds the plug-in, the hyper-parameters it requires and
those it accepts (their defaults live in the plug-in's constructor, the one place). ``epochs`` and ``lr``
are accepted by every method (they override the setting's ``train`` block for that sweep point).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodSpec:
    module: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()  # their defaults are the plug-in constructor's


TRAIN_OVERRIDES = ("epochs", "lr")

METHODS: dict[str, MethodSpec] = {
    "task_only": MethodSpec("selgen.methods.sft"),
    "mixed": MethodSpec("selgen.methods.sft", optional=("align_share",)),
    "upweight": MethodSpec("selgen.methods.sft", required=("lam",)),
    "kl": MethodSpec(
        "selgen.methods.kl",
        ("beta",),
        ("direction", "assistant_only", "ref_cache_mb", "reduction", "pad_length"),
    ),
    "repr": MethodSpec(
        "selgen.methods.repr", ("beta",), ("layers", "ref_cache_mb", "reduction", "pad_length")
    ),
    "grad_proj": MethodSpec("selgen.methods.grad_proj", optional=("mode", "scope")),
    "dpo": MethodSpec("selgen.methods.dpo", ("lam",), ("beta", "logps", "max_pairs")),
    "inoculation": MethodSpec("selgen.methods.inoculation", ("prompt",)),
    "safe_lora": MethodSpec(
        "selgen.methods.safe_lora",
        optional=("delta", "unaligned", "mode", "num_proj_layers", "threshold", "align_epochs", "align_lr"),
    ),
    "caft": MethodSpec("selgen.methods.caft", optional=("k", "layers", "control", "directions_file")),
    "o_lora": MethodSpec("selgen.methods.o_lora", optional=("lam1", "lam2", "align_epochs", "align_lr")),
}


def check_hparams(method: str, hp: dict, where: str, setting: str | None = None) -> None:
    """Raise ValueError naming ``where`` when ``hp`` misses a required or holds an unknown hyper-parameter
    (``setting``'s own data hyper-parameters, its ``Setting.hparams``, are accepted too)."""
    if method not in METHODS:
        raise ValueError(f"{where}: unknown method {method!r}; valid methods: {', '.join(sorted(METHODS))}")
    spec = METHODS[method]
    missing = [k for k in spec.required if k not in hp]
    if missing:
        raise ValueError(f"{where}: method {method!r} needs hyper-parameter(s) {', '.join(missing)}")
    known = set(spec.required) | set(spec.optional) | set(TRAIN_OVERRIDES)
    if setting is not None:  # hyper-parameters the setting adds to every method: they choose the run's data
        from selgen.settings import get_setting

        known |= set(get_setting(setting).hparams)
    unknown = sorted(set(hp) - known)
    if unknown:
        raise ValueError(
            f"{where}: method {method!r} has no hyper-parameter(s) {', '.join(unknown)}; "
            f"it accepts {', '.join(sorted(known))}"
        )


def register(name: str, spec: MethodSpec) -> MethodSpec:
    """Add a method (a plug-in's, ``selgen.plugins``): its class is ``PLUGINS[name]`` of ``spec.module``."""
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"register({name!r}, ...) takes a MethodSpec, not {type(spec).__name__}")
    if name in METHODS and METHODS[name] != spec:
        raise ValueError(f"method {name!r} is registered twice")
    METHODS[name] = spec
    return spec
