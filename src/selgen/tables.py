"""Result tables: run folders read and checked, then written as ``runs``, ``metrics`` and ``samples`` Parquet
tables (``build_tables``), and the seed summary written (``write_summary``).

A run folder (one per setting, method, hyper-parameter point ``hp`` and seed) holds ``record.json``,
``metrics.parquet`` and ``samples.parquet``, and, where an LLM judge scored its replies, ``judge.json`` (what
the run paid the judge). ``build_tables`` concatenates them into ``runs.parquet`` (one row per run: the
record, the judge's accounting, reply statistics), ``metrics.parquet`` and ``samples.parquet``; every row
carries the provenance columns (``selgen.provenance``). Statistics live in ``selgen.stats``, Pareto fronts
in ``selgen.fronts``; the schema is in ``docs/tables.md``.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selgen.fronts import FrontSpec, summarize
from selgen.io import InputError, read_json, write_parquet
from selgen.provenance import add_provenance, provenance

__all__ = [
    "JUDGE_FIELDS",
    "METRIC_COLUMNS",
    "SAMPLE_COLUMNS",
    "build_tables",
    "concat_tables",
    "flatten_record",
    "harmonise_object_columns",
    "read_judge",
    "read_run",
    "write_summary",
]

#: Columns every run's ``metrics.parquet`` must have.
METRIC_COLUMNS = ["setting", "method", "hp", "seed", "run_id", "eval_set", "category", "metric", "value", "n"]
#: Columns every run's ``samples.parquet`` must have (plus any number of free columns).
SAMPLE_COLUMNS = ["setting", "method", "hp", "seed", "run_id", "eval_set"]
#: Numeric fields of a run's ``judge.json`` (int or null), float64 columns of ``runs`` (NaN for null).
JUDGE_NUMBERS = ["judge_prompt_tokens", "judge_completion_tokens", "judge_cost_usd", "judge_http_requests"]
#: Every field of a run's ``judge.json``: the numbers and ``judge_models`` (a list of model names).
JUDGE_FIELDS = [*JUDGE_NUMBERS, "judge_models"]


def _json_cell(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value


def flatten_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level scalar keys as they are; nested dicts and lists (``hp_values`` included) as JSON strings."""
    row = {key: _json_cell(value) for key, value in record.items()}
    if "hp_values" in record and not isinstance(row["hp_values"], str):
        row["hp_values"] = json.dumps(record["hp_values"], sort_keys=True, default=str)
    return row


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def harmonise_object_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Columns mixing value kinds across runs (say a number in one record, a string in another) are stored as
    JSON strings so Parquet can hold them (in place; returns ``df``)."""
    for col in df.columns:
        if df[col].dtype != object:
            continue
        kinds = set()
        for v in df[col]:
            if _missing(v):
                continue
            if isinstance(v, bool):
                kinds.add("bool")
            elif isinstance(v, (int, float, np.integer, np.floating)):
                kinds.add("number")
            else:
                kinds.add(type(v).__name__)
        if len(kinds) > 1:
            df[col] = [
                None if _missing(v) else v if isinstance(v, str) else json.dumps(v, default=str)
                for v in df[col]
            ]
    return df


def concat_tables(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """The non-empty ``frames`` concatenated; with none, an empty table with the union of the frames' columns
    (``columns`` when there are no frames at all)."""
    nonempty = [f for f in frames if len(f)]
    if nonempty:
        return pd.concat(nonempty, ignore_index=True)
    if frames:  # all empty: keep the union of their columns
        cols = list(dict.fromkeys(c for f in frames for c in f.columns))
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _read_object(path: Path) -> dict:
    try:
        obj = read_json(path)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def read_judge(path: str | os.PathLike) -> dict[str, Any]:
    """A run's ``judge.json``, checked: exactly the keys ``JUDGE_FIELDS``, each number an int, a float or
    null, ``judge_models`` a list of names. Returns the numbers as floats (NaN for null) and the list as it
    is; ``InputError`` naming the file and the field otherwise."""
    path = Path(path)
    judge = _read_object(path)
    missing = [k for k in JUDGE_FIELDS if k not in judge]
    unknown = sorted(set(judge) - set(JUDGE_FIELDS))
    if missing or unknown:
        problems = [f"missing key(s) {', '.join(map(repr, missing))}"] if missing else []
        problems += [f"unknown key(s) {', '.join(map(repr, unknown))}"] if unknown else []
        raise InputError(f"{path}: {'; '.join(problems)}")
    out: dict[str, Any] = {}
    for key in JUDGE_NUMBERS:
        value = judge[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InputError(f"{path}: field {key!r} must be a number or null, got {value!r}")
        out[key] = math.nan if value is None else float(value)
    models = judge["judge_models"]
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise InputError(f"{path}: field 'judge_models' must be a list of model names, got {models!r}")
    out["judge_models"] = models
    return out


def read_run(run_dir: str | os.PathLike) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """``(record, metrics, samples)`` of a run folder, checked; the record includes the fields of the
    folder's ``judge.json`` when it has one (``read_judge``). ``InputError`` naming the folder and the file
    for a missing file, a file that is not what it should be, or a run_id other than the record's."""
    run_dir = Path(run_dir)
    paths = {name: run_dir / name for name in ("record.json", "metrics.parquet", "samples.parquet")}
    for path in paths.values():
        if not path.is_file():
            raise InputError(f"run folder {run_dir}: missing file {path}")
    record = _read_object(paths["record.json"])
    if "run_id" not in record:
        raise InputError(f"{paths['record.json']}: missing key 'run_id'")
    if (run_dir / "judge.json").is_file():
        record = {**record, **read_judge(run_dir / "judge.json")}
    frames = []
    for name, required in (("metrics.parquet", METRIC_COLUMNS), ("samples.parquet", SAMPLE_COLUMNS)):
        path = paths[name]
        try:
            df = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises several kinds for a damaged file
            raise InputError(f"{path}: cannot read Parquet ({err})") from None
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
        other = sorted({str(r) for r in df["run_id"].unique()} - {str(record["run_id"])})
        if other:
            raise InputError(
                f"{path}: run_id {other[0]!r} does not match record.json's run_id {record['run_id']!r}"
            )
        frames.append(df)
    return record, frames[0], frames[1]


def build_tables(
    run_dirs: Sequence[str | os.PathLike],
    config: Mapping,
    out_dir: str | os.PathLike,
    cwd: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Concatenate run folders into ``out_dir/{runs,metrics,samples}.parquet`` (atomic writes).

    A run_id met twice keeps its last folder (with a warning). A missing file or a metrics/samples file
    without a required column raises ``InputError`` naming the folder and the file. A folder's
    ``judge.json`` gives its runs row the ``JUDGE_FIELDS`` columns (null for runs without one). Returns the
    written paths by name.
    """
    by_id: dict[str, tuple[Path, dict, pd.DataFrame, pd.DataFrame]] = {}
    for run_dir in map(Path, run_dirs):
        record, metrics, samples = read_run(run_dir)
        run_id = str(record["run_id"])
        if run_id in by_id:
            warnings.warn(
                f"run_id {run_id!r} appears twice ({by_id[run_id][0]} and {run_dir}); keeping the last one",
                stacklevel=2,
            )
            del by_id[run_id]  # re-insert so the kept run takes the later position
        by_id[run_id] = (run_dir, record, metrics, samples)

    prov = provenance(config, cwd)
    runs = pd.DataFrame([flatten_record(rec) for _, rec, _, _ in by_id.values()])
    for col in JUDGE_NUMBERS:
        if col in runs.columns:
            runs[col] = runs[col].astype("float64")
    runs = harmonise_object_columns(runs)
    metrics = concat_tables([m for _, _, m, _ in by_id.values()], METRIC_COLUMNS)
    if len(metrics):
        metrics["value"] = pd.to_numeric(metrics["value"], errors="coerce").astype("float64")
    samples = harmonise_object_columns(concat_tables([s for _, _, _, s in by_id.values()], SAMPLE_COLUMNS))
    if "truncated" in samples.columns and len(samples):  # generated replies: how many ran out of tokens
        gen = samples.groupby("run_id").agg(
            truncated_share=("truncated", lambda v: v.astype("float64").mean()),
            reply_tokens_mean=("n_tokens", "mean"),
        )
        runs = runs.merge(gen, left_on="run_id", right_index=True, how="left")

    out_dir = Path(out_dir)
    out = {}
    for name, df in (("runs", runs), ("metrics", metrics), ("samples", samples)):
        out[name] = out_dir / f"{name}.parquet"
        write_parquet(out[name], add_provenance(df, prov))
    return out


def write_summary(
    metrics_df: pd.DataFrame,
    out_path: str | os.PathLike,
    fronts: Mapping[str, FrontSpec] | None = None,
    exclude_methods: Sequence[str] = ("base",),
) -> pd.DataFrame:
    """``summarize`` (``selgen.fronts``; ``fronts`` default: each setting's own) written to ``out_path`` as
    Parquet (atomically); returns the summary."""
    summary = summarize(metrics_df, fronts, exclude_methods)
    write_parquet(out_path, summary)
    return summary
