"""Provenance of the result tables: the config hash, the git commit and the package versions on every row.

``build_tables`` adds ``config_hash`` (first 16 hex digits of the sha256 of the workflow config's canonical
JSON), ``git_commit`` (``-dirty`` appended for uncommitted tracked changes) and ``versions`` (a JSON string
``{package: version}``) to every row of ``runs``, ``metrics`` and ``samples``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from selgen.config import config_hash

#: Provenance columns added to every table row.
PROVENANCE_COLUMNS = ["config_hash", "git_commit", "versions"]
#: Packages whose versions the provenance records (read from metadata, never imported).
VERSION_PACKAGES = ["selgen", "torch", "transformers", "peft", "pandas", "snakemake"]


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """``git rev-parse HEAD`` of ``cwd`` (default: the current folder), ``-dirty`` appended when a tracked
    file has uncommitted changes; ``"unknown"`` outside a repository or without git."""
    cwd = os.getcwd() if cwd is None else os.fspath(cwd)
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return head + ("-dirty" if status else "")


def package_versions(packages: Sequence[str] = VERSION_PACKAGES) -> dict[str, str]:
    """Installed version of each package from its metadata (nothing is imported); ``"absent"`` if missing."""
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def provenance(config: Mapping, cwd: str | os.PathLike | None = None) -> dict[str, Any]:
    """``{"config_hash": str, "git_commit": str, "versions": {package: version}}``."""
    return {"config_hash": config_hash(config), "git_commit": git_commit(cwd), "versions": package_versions()}


def add_provenance(df: pd.DataFrame, prov: Mapping[str, Any]) -> pd.DataFrame:
    """A copy of ``df`` with the provenance columns last; a clashing column already in ``df`` is kept as
    ``run_<name>``."""
    df = df.copy()
    values = {
        "config_hash": prov["config_hash"],
        "git_commit": prov["git_commit"],
        "versions": json.dumps(prov["versions"], sort_keys=True),
    }
    for col, val in values.items():
        if col in df.columns:
            df = df.rename(columns={col: f"run_{col}"})
        df[col] = pd.Series([val] * len(df), index=df.index, dtype=object)
    return df
