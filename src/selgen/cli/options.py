"""Pieces the ``selgen`` subcommands share: option types, the subcommand adder, a config value, provenance."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PARAMS_HELP = (
    "stage parameters as one JSON object: what Snakemake records as the job's params (`snakemake -n -p "
    "TARGET` prints a job's exact command); every key it lacks comes from the config schema's defaults "
    "for the setting (selgen.params), so '{}' or no --params runs the stage as the default config would"
)


def json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def named_path(text: str) -> tuple[str, str]:
    """``NAME=PATH`` (a run's DAG input, e.g. ``artifact=results/gcd/artifacts/caft/pca.pt``)."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def subcommand(sub, func, help_: str, setting: bool = True, params: bool = True):
    """Add the subcommand ``func`` runs (named after it: ``cmd_merge_tables`` is ``merge-tables``) with a
    positional setting name and ``--params`` (JSON) unless told otherwise."""
    name = func.__name__.removeprefix("cmd_").replace("_", "-")
    sp = sub.add_parser(name, help=help_, description=help_)
    if setting:
        sp.add_argument("setting", help="setting name, e.g. gcd (or a plug-in's)")
    if params:
        sp.add_argument("--params", type=json_object, default={}, help=PARAMS_HELP)
    sp.set_defaults(func=func)
    return sp


def tool(sub, func, help_: str):
    """A subcommand without a setting or ``--params`` (tables, downloads, ...)."""
    return subcommand(sub, func, help_, setting=False, params=False)


def config_value(path: str, *keys: str):
    """The value at ``keys`` of a workflow config file (None where a key is missing)."""
    import yaml

    node = yaml.safe_load(Path(path).read_text()) or {}
    for key in keys:
        node = (node or {}).get(key) if isinstance(node, dict) else None
    return node


def where_it_ran() -> dict:
    """Host, SLURM job (if any) and kind of this process (a fresh one, or forked from the workflow's warm
    interpreter): provenance for the runs table."""
    import os
    import socket

    from selgen import forkserver

    return {
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "process": "forked" if forkserver.FORKED else "fresh",
    }
