"""Each stage's params — the JSON object a job gets as ``--params`` — built from a validated config.

One builder per stage, used by the workflow's rules (``workflow/rules/common.smk`` serialises them, and
Snakemake records them as the job's params, so a change re-plans exactly the jobs it touches) and by hand
runs: ``selgen <stage> SETTING --params '{...}'`` fills every key the given object lacks from the builder
applied to the schema's defaults (``with_defaults``), so ``--params '{}'`` runs a stage as the default config
would. A job's params hold only what its outputs depend on.
"""

from __future__ import annotations

import copy
from pathlib import Path

from selgen.config import config_hash, hp_label, validate

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
BASE_HP, BASE_SEED = "default", 0  # the untuned base is the run base/default/seed0


def _setting(setting: str):
    from selgen.settings import get_setting

    return get_setting(setting)


def data(config: dict, s: str) -> dict:
    """The data block (a hub base needs no mini corpus)."""
    block = config[s]["data"]
    no_corpus = "pretrain" in block and config[s]["base"]["model"] != "mini"
    return {**block, **({"pretrain": None} if no_corpus else {})}


def base(config: dict, s: str) -> dict:
    """The mini base's block (rule base)."""
    return config[s]["base"]["mini"]


def model_options(config: dict, s: str) -> dict:
    """How jobs load the setting's models (part of train and eval params: a change re-plans the runs)."""
    block = config[s]["base"]
    return {
        "name": block["model"],  # what the tables record (the hub id, not the cache folder)
        "dtype": config[s]["train"]["dtype"],  # evaluation in the training dtype
        **{k: block.get(k) for k in ("chat_template_kwargs", "attn_implementation", "device_map")},
    }


def base_stage(config: dict, s: str) -> dict:
    """Everything the base stage's output depends on: its config, the model options, the data version."""
    stage = config[s]["base"]["stage"]
    return {
        **stage,
        "model": {**model_options(config, s), "dtype": stage["train"]["dtype"]},
        "data_version": _setting(s).version_of(config[s]),
        "threads": config["threads"],
    }


def upstream_hash(config: dict, s: str) -> str:
    """What a run starts from (data and base config): in its params, so that its run_config_hash tells apart
    runs of different data or base models when tables from several clones are merged."""
    block = config[s]
    return config_hash(
        {"data": block["data"], "base": block["base"], "data_version": _setting(s).version_of(block)}
    )


def run_id(s: str, method: str, hp: str, seed: int) -> str:
    return f"{s}/{method}/{hp}/seed{seed}"


def run(config: dict, s: str, method: str, hp: str, hp_values: dict, seed: int) -> dict:
    """What every job of one run depends on: its identity, where it starts from, the model options."""
    return {
        "upstream": upstream_hash(config, s),
        "setting": s,
        "method": method,
        "hp": hp,
        "hp_values": hp_values,
        "seed": seed,
        "run_id": run_id(s, method, hp, seed),
        "threads": config["threads"],
        "model": model_options(config, s),
    }


def train(config: dict, s: str, method: str, hp: str, hp_values: dict, seed: int) -> dict:
    p = {**run(config, s, method, hp, hp_values, seed), "train": config[s]["train"]}
    return {**p, "config_hash": config_hash(p)}


def base_run(config: dict, s: str) -> dict:
    """The base run's params: what it is (no training config: the base does not depend on it)."""
    p = run(config, s, "base", BASE_HP, {}, BASE_SEED)
    return {**p, "config_hash": config_hash(p)}


def evaluate(config: dict, s: str, method: str, hp: str, hp_values: dict, seed: int) -> dict:
    # a judged setting's generation does not depend on the judge (rule judge gets it)
    judged = _setting(s).judged(config[s])
    block = {k: v for k, v in config[s]["eval"].items() if k != "judge" or not judged}
    # The generation backend (em.eval.backend, .vllm) is in the params only where it applies (judged replies)
    # and is not the default hf: configs that never name it keep their params, so nothing reruns on an
    # upgrade, while a switch to vllm (another sampler: other replies) or a change of any vllm option (vLLM
    # is not batch-invariant: batch and memory settings change the numerics) reruns the generation.
    backend, vllm = block.pop("backend", "hf"), block.pop("vllm", None)
    if judged and backend != "hf":
        from selgen.generation_vllm import DEFAULTS  # no vllm import: the engine's defaults only

        block.update(backend=backend, vllm={**DEFAULTS, **(vllm or {})})
    return {**run(config, s, method, hp, hp_values, seed), "eval": block}


def judge(config: dict, s: str) -> dict:
    return {"judge": config[s]["eval"].get("judge")}


def artifact(config: dict, s: str, method: str, points: list[dict]) -> dict:
    """Everything an artifact depends on: the builder's params from the method's sweep points that need it
    (one k for all of CAFT's controls), and the task_only run (first seed) it is built from."""
    from selgen.config import seeds_of
    from selgen.methods.registry import METHODS

    return {
        **METHODS[method].artifact.params_of(points),
        "seed": seeds_of(config, s)[0],
        "max_length": config[s]["train"]["max_length"],
        "threads": config["threads"],
        "model": model_options(config, s),
    }


# --- hand runs -------------------------------------------------------------------------------------


def default_config(setting: str) -> dict:
    """The schema's defaults for one setting (the plug-ins already loaded)."""
    return validate({"settings": [setting]}, SCHEMA)


def _hand_run(given: dict) -> tuple[str, str, dict, int]:
    method = given.get("method", "task_only")
    hp_values = given.get("hp_values", {})
    return method, given.get("hp", hp_label(hp_values)), hp_values, int(given.get("seed", BASE_SEED))


def _artifact_defaults(config: dict, s: str, given: dict, method: str | None) -> dict:
    from selgen.methods.registry import METHODS

    spec = METHODS.get(method or "")
    return artifact(config, s, method, [{}]) if spec and spec.artifact else {}


HAND_DEFAULTS = {  # command -> the workflow's builder, for a hand run's missing keys
    "data": lambda c, s, g, m: data(c, s),
    "base": lambda c, s, g, m: base(c, s),
    "base-stage": lambda c, s, g, m: base_stage(c, s) if c[s]["base"].get("stage") else {},
    "train": lambda c, s, g, m: train(c, s, *_hand_run(g)),
    "artifact": _artifact_defaults,
    "base-run": lambda c, s, g, m: base_run(c, s),
    "evaluate": lambda c, s, g, m: evaluate(c, s, *_hand_run(g)),
    "judge": lambda c, s, g, m: judge(c, s),
}


def merged(defaults: dict, given: dict, depth: int = 2) -> dict:
    """``defaults`` with ``given`` on top: key by key at the top level and inside its blocks (``train``,
    ``eval``, ``model``, ...); a value one level deeper is taken whole (``eval.sets`` given is the eval sets,
    not a few more than the default's)."""
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if depth > 1 and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value, depth - 1)
        else:
            out[key] = value
    return out


def with_defaults(command: str, setting: str, given: dict, method: str | None = None) -> dict:
    """A stage's ``--params`` with every missing key filled from the schema's defaults for ``setting``
    (``method``: the artifact command's method). A job's own params are complete: nothing changes."""
    build = HAND_DEFAULTS.get(command)
    if build is None:
        return given
    out = merged(build(default_config(setting), setting, given, method), given)
    if "config_hash" in out and "config_hash" not in given:  # the hash of what this hand run got
        out["config_hash"] = config_hash({k: v for k, v in out.items() if k != "config_hash"})
    return out
