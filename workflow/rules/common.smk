# Helpers shared by the rules: config validation, the sweep's run list, paths and per-job params.
# Only light imports here: this file runs at every parse (every dry run and every cluster job).
import json
import mimetypes
import re
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.settings.types import DeploymentMethod

from selgen import params as stage_params
from selgen import plan
from selgen.plan import is_hub_id
from selgen.config import ConfigError, point_names, runs, seeds_of, validate
from selgen.methods.registry import METHODS
from selgen.plugins import command_option
from selgen.settings import get_setting

validate(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
# the report's table downloads get a mimetype (Python's table has none for Parquet)
mimetypes.add_type("application/vnd.apache.parquet", ".parquet")
# each configured setting's object (selgen.settings.core.Setting): all that is setting-specific comes from it
SETTINGS = {s: get_setting(s) for s in config["settings"]}


onstart:
    preflight()
    start_fork_server()


onsuccess:
    stop_fork_server()


onerror:
    stop_fork_server()


CONDA_ENV = "../../envs/selgen.yaml"
# Rules call `selgen`: a shell function in every job's shell that runs the `selgen` command of the interpreter
# running Snakemake (the venv, even when not activated; under --sdm conda the rule env's own) with the
# config's plug-ins (settings, methods). Local runs fork them from a warm interpreter (start_fork_server).
SELGEN_EXE = (
    "command selgen"
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
    else shlex.quote(str(Path(sys.executable).parent / "selgen"))
)
shell.prefix(
    "set -euo pipefail; selgen() {{ "
    + " ".join([SELGEN_EXE, command_option(config["plugins"]), '"$@"'])
    + "; }}; "
)
RUN = "results/{setting}/runs/{method}/{hp}/seed{seed}"
BASE_RUN = RUN.format(
    setting="{setting}",
    method="base",
    hp=stage_params.BASE_HP,
    seed=stage_params.BASE_SEED,
)

# (setting, method, hp label) -> hyper-parameter values; hp labels are derived, never hand-listed.
HP_VALUES = {
    (s, r["method"], r["hp"]): r["hp_values"]
    for s in config["settings"]
    for r in runs(config, s)
}


wildcard_constraints:
    setting="|".join(config["settings"]),
    method="|".join(["base", *METHODS]),
    hp="[^/]+",
    seed=r"\d+",
    name="[^/]+",


def preflight():
    """What later jobs need from this machine (`Setting.preflight`: em's judge key), checked when a real run
    starts (not in a dry run), before any job."""
    for s, setting in SETTINGS.items():
        if setting.preflight is not None:
            try:
                setting.preflight(config[s])
            except ValueError as err:
                raise ConfigError(str(err)) from None


FORK_SERVER = []


def start_fork_server():
    """Local runs: one warm interpreter that jobs' `selgen` commands fork from (selgen.forkserver), unless
    config `fork_server` is false or jobs run in their own software environment."""
    if workflow.local_exec and config["fork_server"] and SELGEN_EXE != "command selgen":
        from selgen.forkserver import Server

        FORK_SERVER.append(Server())
        FORK_SERVER[0].start()


def stop_fork_server():
    while FORK_SERVER:
        FORK_SERVER.pop().stop()


def is_mini(setting):
    return config[setting]["base"]["model"] == "mini"


def hub_models():
    """Every hub model the config names (selgen.plan.hub_models: bases, Safe-LoRA's `unaligned`)."""
    return plan.hub_models(config)


def model_path(name):
    """Where a job reads a model: a hub id's folder in the models cache, else the name itself."""
    return f"{config['models']['cache_dir']}/{name}" if is_hub_id(name) else name


def hub_pattern():
    """Only the configured hub models match rule fetch_model (nothing when there are none)."""
    return "|".join(re.escape(n) for n in hub_models()) or "(?!)"


def staged(setting):
    """Whether the setting has a base stage (base.stage): runs start from its merged model."""
    return bool(config[setting]["base"].get("stage"))


def base_model(setting):
    """The folder every run of a setting starts from: the built mini base, the base stage's model, a
    fetched hub model, or a local folder."""
    if is_mini(setting) or staged(setting):
        return f"results/{setting}/base"
    return model_path(config[setting]["base"]["model"])


def base_rule_pattern(stage):
    """Settings whose results/<setting>/base rule base_stage (stage) or rule base (mini) makes."""
    made = staged if stage else is_mini
    names = [s for s in config["settings"] if made(s)]
    return "|".join(names) if names else "(?!)"


def stage_start_input(wildcards):
    """The model a base stage starts from, as a DAG input when the workflow fetches it (a hub id)."""
    name = config[wildcards.setting]["base"]["model"]
    return [model_path(name)] if is_hub_id(name) else []


def method_inputs(wildcards):
    """A run's DAG inputs by the name its method reads them (`MethodSpec`): the setting's built artifact
    (CAFT's directions), files its hyper-parameters name, and hub models they name (fetched folders; a
    local folder is read where the hyper-parameter says)."""
    spec = METHODS[wildcards.method]
    hp = HP_VALUES.get((wildcards.setting, wildcards.method, wildcards.hp), {})
    named = {key: hp[key] for key in spec.file_inputs if hp.get(key)}
    named |= {
        key: model_path(hp[key]) for key in spec.model_inputs if is_hub_id(hp.get(key))
    }
    if spec.artifact and (name := spec.artifact.name_of(hp)):
        named["artifact"] = artifact_path(wildcards.setting, wildcards.method, name)
    return named


def artifact_path(setting, method, name):
    return f"results/{setting}/artifacts/{method}/{name}.pt"


def data_inputs(wildcards):
    """Local files a setting's data build reads (`Setting.data_inputs`: gcd on the authors' files, em on
    real data: task, HHH and question files); none while its data block generates the data.
    """
    return SETTINGS[wildcards.setting].data_inputs(config[wildcards.setting])


def placed_inputs():
    """Data files the config names that no rule fetches (the user places them, rule place_input) -> the
    config key that names each (selgen.plan.placed_inputs)."""
    return plan.placed_inputs(config)


def setting_resources():
    """Files the configured settings' own tools write (`Setting.resources`): path -> (setting, tool)."""
    return {
        path: (s, tool)
        for s, setting in SETTINGS.items()
        for path, tool in setting.resources.items()
    }


def fetch_specs():
    """resource path (under resources/) -> {url, sha256} over every setting's ``fetch`` block."""
    return {
        p: spec
        for s in config["settings"]
        for p, spec in config[s].get("fetch", {}).items()
    }


def fetch_spec(path):
    return fetch_specs()[f"resources/{path}"]


def fetch_pattern():
    """Only configured downloads match rule fetch (a pattern that matches nothing when there are none)."""
    paths = [re.escape(p.removeprefix("resources/")) for p in fetch_specs()]
    return "|".join(paths) if paths else "(?!)"


def job_resources(rule):
    """A rule's cluster request (config `resources`); memory grows with each attempt (a retry gets more)."""
    job = config["resources"][rule]
    mem_mb = job["mem_mb"]
    return {
        **{k: v for k, v in job.items() if k != "mem_mb"},
        "mem_mb": lambda wildcards, attempt: mem_mb * attempt,
    }


def judged(setting):
    """Settings whose replies an LLM judge scores (em on real data): generation is a cluster job, the judge
    a local one (compute nodes often cannot reach the judge's endpoint)."""
    return SETTINGS[setting].judged(config[setting])


def judge_batch_input(wildcards):
    """Judge api `batch`: rule judge_batch (the setting's requests through the Batch API) comes before each
    run's judge job; `ancient`, so a later batch (for runs added since) re-judges no run judged already.
    """
    s = wildcards.setting
    if (config[s]["eval"].get("judge") or {}).get("api", "online") != "batch":
        return []
    return [ancient(f"results/{s}/judge_batch/done.json")]


def pilot_metrics(wildcards):
    """The base's and the baseline method's first run's metrics (its first sweep point, first seed)."""
    s = wildcards.setting
    baseline = SETTINGS[s].baseline
    first = next((r for r in runs(config, s) if r["method"] == baseline), None)
    if first is None:
        raise ConfigError(
            f"config key {s}.methods: the pilot needs the baseline method {baseline!r}; add `{baseline}: {{}}`"
        )
    return [
        f"{d}/metrics.parquet"
        for d in (BASE_RUN.format(setting=s), RUN.format(setting=s, **first))
    ]


def judged_replies(wildcards):
    """Every run's replies of a judged setting, the base's included (rule judge_batch)."""
    return [f"{d}/replies.parquet" for d in run_dirs(wildcards.setting)]


def settings_pattern(judge):
    """Wildcard pattern of the configured settings that are (not) judged; matches nothing if none."""
    names = [s for s in config["settings"] if judged(s) == judge]
    return "|".join(names) if names else "(?!)"


def base_input(wildcards):
    """The base folder as a DAG input when the workflow makes it (mini base, fetched hub model)."""
    s = wildcards.setting
    made = is_mini(s) or staged(s) or is_hub_id(config[s]["base"]["model"])
    return [base_model(s)] if made else []


def run_dirs(setting):
    """Every run folder of a setting, the untrained base first."""
    dirs = [BASE_RUN.format(setting=setting)]
    dirs += [RUN.format(setting=setting, **r) for r in runs(config, setting)]
    return dirs


def provenance_config(setting):
    """The config as a setting's tables record it: the shared keys and the setting's own block, without
    `resources` (a cluster request changes no result) and without the other settings' blocks (a change there
    must not re-plan this setting's tables)."""
    others = set(config["settings"]) - {setting}
    shared = {k: v for k, v in config.items() if k != "resources" and k not in others}
    return json.dumps({**shared, "settings": [setting]}, sort_keys=True)


def data_params(wildcards):
    return json.dumps(stage_params.data(config, wildcards.setting), sort_keys=True)


def base_params(wildcards):
    return json.dumps(stage_params.base(config, wildcards.setting), sort_keys=True)


def base_stage_params(wildcards):
    return json.dumps(
        stage_params.base_stage(config, wildcards.setting), sort_keys=True
    )


def run_of(wildcards):
    """(setting, method, hp label, hp values, seed) of a run job."""
    s, method, hp = wildcards.setting, wildcards.method, wildcards.hp
    return s, method, hp, HP_VALUES.get((s, method, hp), {}), int(wildcards.seed)


def train_params(wildcards):
    return json.dumps(stage_params.train(config, *run_of(wildcards)), sort_keys=True)


def base_run_params(wildcards):
    return json.dumps(stage_params.base_run(config, wildcards.setting), sort_keys=True)


def eval_params(wildcards):
    return json.dumps(stage_params.evaluate(config, *run_of(wildcards)), sort_keys=True)


def judge_params(wildcards):
    return json.dumps(stage_params.judge(config, wildcards.setting), sort_keys=True)


def artifact_params(wildcards):
    """The artifact's params from the method's sweep points that need it."""
    s, method = wildcards.setting, wildcards.method
    artifact = METHODS[method].artifact
    points = [
        hp
        for (s_, m, _), hp in HP_VALUES.items()
        if s_ == s and m == method and artifact.name_of(hp) is not None
    ]
    return json.dumps(stage_params.artifact(config, s, method, points), sort_keys=True)


def names_params(wildcards):
    """The sweep points' figure labels (selgen.config.point_names): the Pareto and extra figures'."""
    return json.dumps(point_names(config, wildcards.setting), sort_keys=True)


def extra_figures():
    """Wildcard pattern of the configured settings' extra figure kinds (rule figure)."""
    kinds = {k for setting in SETTINGS.values() for k in setting.figures}
    return "|".join(sorted(kinds)) or "(?!)"


def final_targets():
    return [
        t
        for s, setting in SETTINGS.items()
        for t in [
            *(f"results/{kind}_{s}.pdf" for kind in setting.figure_kinds),
            f"results/tables/{s}/organism.json",
        ]
    ]
