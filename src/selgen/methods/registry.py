"""Method names and their hyper-parameters, importable without torch (the Snakefile uses it at parse time).

Each entry: the module under ``selgen.methods`` that holds the plug-in, the hyper-parameters it requires and
those it accepts (their defaults live in the plug-in's constructor, the one place). ``epochs`` and ``lr``
are accepted by every method (they override the setting's ``train`` block for that sweep point).

Everything else about a method is on its class (``selgen.methods.base.Method``), built complete by
``make_method(name, hp, inputs=..., seed=...)``: how it uses the alignment data (``alignment``: none, stream,
pairs, mix or phase), its pre-training phases (``phases``), and the DAG inputs it reads (``inputs``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    """A file a method's runs read that the workflow builds once per setting and name (rule ``artifact``,
    ``results/<setting>/artifacts/<method>/<name>.pt``) from the base model, the setting's first-seed
    ``task_only`` run and its task rows: CAFT's concept directions.

    ``name_of(hp)``: the artifact a sweep point needs (None: none); ``params_of(points)``: the builder's
    parameters from the sweep points that need any of its artifacts; ``build``: ``"module:function"``,
    called as ``build(name, params, base, tuned, tokenizer, task_rows, out_path)``. A run gets the built
    file as its DAG input ``inputs["artifact"]``."""

    name_of: Callable[[dict], str | None]
    params_of: Callable[[list[dict]], dict]
    build: str


@dataclass(frozen=True)
class MethodSpec:
    """``module``'s ``PLUGINS[name]`` is the method's class. ``file_inputs`` / ``model_inputs``: its
    hyper-parameters that name a file / a model (hub id or folder) the run reads: DAG inputs of its runs (a
    hub model is fetched once by rule fetch_model)."""

    module: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()  # their defaults are the plug-in constructor's
    artifact: Artifact | None = None
    file_inputs: tuple[str, ...] = ()
    model_inputs: tuple[str, ...] = ()


def _caft_directions(hp: dict) -> str | None:
    """CAFT's directions: one artifact per control, unless the point brings its own file."""
    return None if hp.get("directions_file") else str(hp.get("control", "pca"))


def _caft_params(points: list[dict]) -> dict:
    """Directions for the largest k any point uses, at the layers some point ablates ("all" if any does)."""
    layers = {str(hp.get("layers", "all")) for hp in points} or {"all"}
    return {
        "k": max((int(hp.get("k", 2)) for hp in points), default=2),
        "layers": "all" if "all" in layers else ",".join(sorted(layers)),
    }


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
        model_inputs=("unaligned",),
    ),
    "steer": MethodSpec(
        "selgen.methods.steer", ("alpha",), ("layers", "normalize", "pairs_file"), file_inputs=("pairs_file",)
    ),
    "caft": MethodSpec(
        "selgen.methods.caft",
        optional=("k", "layers", "control", "directions_file"),
        artifact=Artifact(_caft_directions, _caft_params, "selgen.methods.caft:build_artifact"),
        file_inputs=("directions_file",),
    ),
    "o_lora": MethodSpec("selgen.methods.o_lora", optional=("lam1", "lam2", "align_epochs", "align_lr")),
    "realign": MethodSpec("selgen.methods.realign", optional=("passes", "realign_epochs", "realign_lr")),
    "interleave": MethodSpec(
        "selgen.methods.interleave",
        ("share", "pool"),
        ("select", "refusals"),
        # one artifact per pool (a data file stem): its rows and their NLLs under the base and task_only
        artifact=Artifact(
            lambda hp: str(hp["pool"]) if hp.get("pool") else None,
            lambda points: {},
            "selgen.methods.interleave:build_artifact",
        ),
    ),
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
