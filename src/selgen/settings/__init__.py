"""Settings as plug-ins. Each ``selgen.settings.<name>`` module exposes the same small interface:

- ``write_data(data_cfg, out_dir) -> {file stem: rows}``: build the setting's data files (seeded);
- ``TASK_FILE``: the stem of the task training file; ``ALIGN_FILE`` / ``ALIGN_PAIRS_FILE``: the alignment
  file and its DPO pairs, or ``align_file(hp_values, pairs) -> stem`` where they depend on the run's
  hyper-parameters (functions: the run's proxy mix); ``align_file`` below picks;
- ``PRETRAIN_FILE``: the stem of the mini base corpus;
- ``score(rows_with_response) -> scored rows`` and ``summarize(scored) -> [{category, metric, value, n}]``.
"""

from __future__ import annotations

import importlib

SETTINGS = ("gcd", "functions", "em")
# Bumped whenever a setting's data builder changes its output (new file, new fields): the data rule's params
# carry it, so Snakemake rebuilds the data and everything downstream. gcd 2: align_pairs.jsonl (DPO);
# gcd 3: pretrain rows carry ``part`` (knowledge / behaviour, for the two-stage mini base);
# gcd 4: data sources (the authors' files) and styles (paper), a missing or empty proxy is an error.
# em 2: eval rows carry their question's own `judge` and `temperature`.
DATA_VERSIONS = {"gcd": 4, "functions": 1, "em": 2}


def align_file(setting, hp_values: dict, pairs: bool = False) -> str:
    """The alignment file's stem of a run in ``setting`` (a module from ``get_setting``)."""
    if hasattr(setting, "align_file"):
        return setting.align_file(hp_values, pairs)
    return setting.ALIGN_PAIRS_FILE if pairs else setting.ALIGN_FILE


def get_setting(name: str):
    if name not in SETTINGS:
        raise ValueError(f"unknown setting {name!r}; valid settings: {', '.join(SETTINGS)}")
    return importlib.import_module(f"selgen.settings.{name}")
