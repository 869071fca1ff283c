"""Before a sweep: what it will run, what it will cost and what it needs (``selgen plan``, ``selgen judge
estimate``), from the workflow config alone, so nothing fails after the GPU work is done.

- :func:`jobs`: jobs per setting and rule (the workflow's DAG, counted from the config: one train job per
  run, one evaluation per run and the base, ...) and the GPU-hours they request (``resources``);
- :func:`judge_estimate`: judge requests, tokens and dollars of every judged setting (``Setting.judge_plan``:
  requests per run; answers as long as the measured replies where some exist, else ``max_new_tokens``);
- :func:`hub_models`, :func:`gated`: the hub models rule fetch_model downloads, and which need a token;
- :func:`problems`: what a run will need later and is missing now: a local input no rule makes, the judge's
  API key, a token for a gated model not fetched yet.

Token counts are estimates: 4 characters a token (OpenAI's rule of thumb for English) for the judge prompts.
"""

from __future__ import annotations

import re
from pathlib import Path

from selgen.config import runs

# gated hub repositories (accept the licence on the hub, then a token): Gemma and Llama are; Qwen is not
GATED_PREFIXES = ("google/gemma", "meta-llama/")
CHARS_PER_TOKEN = 4
GPU_RULES = {"base": "base", "base_stage": "base_stage", "train": "train", "artifact": "artifact"}


def read_config(paths: list[str | Path]) -> dict:
    """The workflow config of ``--configfile`` files merged as Snakemake merges them (key by key, lists
    replaced), its plug-ins loaded, validated with the schema's defaults filled in."""
    import yaml
    from snakemake.utils import update_config

    from selgen.config import validate
    from selgen.params import SCHEMA
    from selgen.plugins import load_plugins

    config: dict = {}
    for path in paths:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    load_plugins(",".join(config.get("plugins") or []) if isinstance(config.get("plugins"), list) else "")
    return validate(config, SCHEMA)


def is_hub_id(name) -> bool:
    """A hub id ("org/name") rather than a local folder: fetched once by rule fetch_model."""
    hub = isinstance(name, str) and re.fullmatch(r"[\w.-]+/[\w.-]+", name) is not None
    return hub and not Path(name).exists()


def hub_models(config: dict) -> list[str]:
    """Every hub model the config names: bases, and models the methods' hyper-parameters name
    (``MethodSpec.model_inputs``: Safe-LoRA's ``unaligned``)."""
    from selgen.methods.registry import METHODS

    names = {config[s]["base"]["model"] for s in config["settings"]}
    for s in config["settings"]:
        for run in runs(config, s):
            names |= {run["hp_values"].get(key) for key in METHODS[run["method"]].model_inputs}
    return sorted(n for n in names if is_hub_id(n))


def gated(model: str) -> bool:
    return model.startswith(GATED_PREFIXES)


def _artifacts(config: dict, s: str) -> int:
    from selgen.methods.registry import METHODS

    names = set()
    for run in runs(config, s):
        artifact = METHODS[run["method"]].artifact
        if artifact and (name := artifact.name_of(run["hp_values"])) is not None:
            names.add((run["method"], name))
    return len(names)


def jobs(config: dict) -> list[dict]:
    """Rows {setting, rule, jobs, gpus, gpu_hours}: the jobs a full run of the config makes, per rule, and
    the GPU-hours they request (jobs × GPUs × runtime of the rule's ``resources``; 0 for local rules)."""
    from selgen.settings import get_setting

    rows = []

    def add(s: str, rule: str, n: int, resources: str | None = None) -> None:
        if n:
            job = config["resources"].get(resources) if resources else None
            gpus = job["gpu"] if job else 0
            hours = n * gpus * job["runtime"] / 60 if job else 0.0
            rows.append({"setting": s, "rule": rule, "jobs": n, "gpus": gpus, "gpu_hours": hours})

    add("-", "fetch_model", len(hub_models(config)))
    for s in config["settings"]:
        block, setting = config[s], get_setting(s)
        n_runs = len(runs(config, s))
        add(s, "data", 1)
        if block["base"]["model"] == "mini":
            add(s, "base", 1, "base")
        if block["base"].get("stage"):
            add(s, "base_stage", 1, "base_stage")
        add(s, "artifact", _artifacts(config, s), "artifact")
        add(s, "train", n_runs, "train")
        if setting.judged(block):
            add(s, "generate", n_runs + 1, "evaluate")
            if (block["eval"].get("judge") or {}).get("api") == "batch":
                add(s, "judge_batch", 1)
            add(s, "judge", n_runs + 1)
        else:
            add(s, "evaluate", n_runs + 1, "evaluate")
    return rows


def _measured_answer_tokens(s: str) -> tuple[float, int] | None:
    """(mean reply tokens, replies) over the setting's replies already generated here, or None."""
    import pandas as pd

    files = sorted(Path("results", s, "runs").glob("*/*/seed*/replies.parquet"))
    lengths = [pd.read_parquet(f, columns=["n_tokens"])["n_tokens"] for f in files]
    if not lengths:
        return None
    all_ = pd.concat(lengths)
    return float(all_.mean()), len(all_)


def judge_estimate(config: dict, answer_tokens: float | None = None) -> list[dict]:
    """Rows {setting, eval_set, model, runs, requests, prompt_tokens, completion_tokens, api, usd,
    answer_tokens, answer_source}: every judge request a full run of the config sends (cache hits
    included), per judged setting, eval set and judge model; ``usd`` None for a model without a price."""
    from selgen.judge.prices import cost
    from selgen.judge.prompts import resolve_config
    from selgen.settings import get_setting

    rows = []
    for s in config["settings"]:
        block, setting = config[s], get_setting(s)
        if not setting.judged(block) or setting.judge_plan is None:
            continue
        n_runs = len(runs(config, s)) + 1  # the base is judged too
        measured = _measured_answer_tokens(s)
        if answer_tokens is not None:
            answer, source = float(answer_tokens), "given"
        elif measured is not None:
            answer, source = measured[0], f"mean of {measured[1]} replies generated so far"
        else:
            answer, source = float(block["eval"]["max_new_tokens"]), "max_new_tokens (an upper bound)"
        for part in setting.judge_plan(block):
            cfg = resolve_config({**(block["eval"].get("judge") or {}), "model": part["model"]})
            requests = n_runs * part["requests"]
            prompt = n_runs * (part["prompt_chars"] / CHARS_PER_TOKEN + part["requests"] * answer)
            completion = requests * (1 if cfg["mode"] == "logprobs" else cfg["sample_max_tokens"])
            factor = cfg["batch_price_factor"] if cfg["api"] == "batch" else 1.0
            rows.append(
                {
                    "setting": s,
                    "eval_set": part["eval_set"],
                    "model": part["model"],
                    "runs": n_runs,
                    "requests": requests,
                    "prompt_tokens": round(prompt),
                    "completion_tokens": completion,
                    "api": cfg["api"],
                    "usd": cost(round(prompt), completion, cfg, factor),
                    "answer_tokens": answer,
                    "answer_source": source,
                }
            )
    return rows


def fetch_missing(config: dict) -> tuple[list[str], list[str]]:
    """Download the judged settings' pinned ``fetch`` files that are not here yet, as rule fetch would first
    (checked against their pins and validators; nothing half-valid is left): the judge estimate reads the
    question files. Returns (paths downloaded, messages of downloads that failed: where to place the file)."""
    from selgen.io import InputError
    from selgen.resources import fetch
    from selgen.settings import get_setting

    done, failed = [], []
    for s in config["settings"]:
        setting = get_setting(s)
        if not setting.judged(config[s]):
            continue
        for path, spec in config[s].get("fetch", {}).items():
            if Path(path).exists():
                continue
            try:
                fetch(spec["url"], path, spec.get("sha256"), git_blob=spec.get("git_blob"))
            except InputError as err:
                failed.append(str(err))
                continue
            check = setting.validators.get(spec.get("validate"))
            if check is not None:
                try:
                    check(path)
                except Exception:
                    Path(path).unlink()
                    raise
            done.append(path)
    return done, failed


def placed_inputs(config: dict) -> dict[str, str]:
    """Local files the settings' data builds read that no rule makes (the user places them) -> the config key
    that names each."""
    from selgen.settings import get_setting

    made = {p for s in config["settings"] for p in config[s].get("fetch", {})}
    made |= {p for s in config["settings"] for p in get_setting(s).resources}
    out = {}
    for s in config["settings"]:
        keys = {
            path: f"{s}.data.{key}"
            for key, value in config[s]["data"].items()
            for path in (value.values() if isinstance(value, dict) else [value])
            if isinstance(path, str)
        }
        for f in get_setting(s).data_inputs(config[s]):
            if f not in made:
                out[f] = keys.get(f, f"{s}.data")
    return out


def problems(config: dict) -> list[str]:
    """What the run will need and is missing here, one message each (empty: ready)."""
    from huggingface_hub import get_token

    from selgen.settings import get_setting

    found = [
        f"config key {key}: {path} not found (no rule makes it: place it there, or fix the path)"
        for path, key in placed_inputs(config).items()
        if not Path(path).exists()
    ]
    for s in config["settings"]:
        setting = get_setting(s)
        if setting.preflight is not None:
            try:
                setting.preflight(config[s])
            except ValueError as err:
                found.append(str(err))
    models = config["models"]
    for model in hub_models(config):
        here = Path(models["cache_dir"], model).exists() or model in (models.get("sources") or {})
        if gated(model) and not here and not get_token():
            found.append(
                f"{model} is a gated model and no Hugging Face token is set: accept its licence on "
                f"huggingface.co/{model}, then `huggingface-cli login` or export HF_TOKEN"
            )
    return found


def report(config: dict, answer_tokens: float | None = None) -> str:
    """The plan as text: jobs and GPU-hours, judge requests and dollars, models to fetch."""
    from selgen.io import InputError

    lines = ["jobs (a full run of this config):"]
    table = jobs(config)
    for r in table:
        gpu = f"{r['gpu_hours']:,.1f} GPU-h requested" if r["gpus"] else "local / CPU"
        lines.append(f"  {r['setting']:<10} {r['rule']:<12} {r['jobs']:>6}   {gpu}")
    total = sum(r["gpu_hours"] for r in table)
    n_runs = {s: len(runs(config, s)) for s in config["settings"]}
    lines.append(f"  runs: {n_runs}; GPU-hours requested (the runtime limits: an upper bound): {total:,.0f}")
    try:
        lines += [""] + judge_lines(judge_estimate(config, answer_tokens))
    except InputError as err:  # a question file not here (not fetched yet)
        lines += ["", f"judge: no estimate: {err}"]
    lines += ["", "hub models to fetch (rule fetch_model):"]
    models = config["models"]
    for model in hub_models(config):
        here = Path(models["cache_dir"], model).exists()
        state = "already fetched" if here else "to download"
        lines.append(f"  {model:<40} {state}{'; gated: needs a token' if gated(model) else ''}")
    return "\n".join(lines)


def judge_lines(rows: list[dict]) -> list[str]:
    if not rows:
        return ["judge: no judged setting (nothing is sent to an LLM judge)"]
    lines = ["judge requests (every run, cache hits included):"]
    for r in rows:
        usd = "no price known" if r["usd"] is None else f"${r['usd']:,.2f}"
        lines.append(
            f"  {r['setting']:<6} {r['eval_set']:<12} {r['model']:<28} {r['runs']:>4} runs "
            f"{r['requests']:>10,} requests {r['prompt_tokens']:>14,} prompt tokens  {r['api']:<6} {usd}"
        )
    known = [r["usd"] for r in rows if r["usd"] is not None]
    total = f"${sum(known):,.2f}" + (" (+ models without a price)" if len(known) < len(rows) else "")
    lines.append(f"  total: {sum(r['requests'] for r in rows):,} requests, {total}")
    lines.append(f"  answers: {rows[0]['answer_tokens']:.0f} tokens each ({rows[0]['answer_source']})")
    return lines
