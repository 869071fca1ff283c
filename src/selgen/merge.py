"""Merge the result tables of one setting built on several machines or clones (``selgen merge-tables``).

Each input folder holds ``runs.parquet``, ``metrics.parquet`` and ``samples.parquet`` as ``selgen tables``
writes them (``selgen.tables.build_tables``; schema in ``docs/tables.md``). The three tables are concatenated
and deduplicated by ``run_id``, a run at a time, never a row at a time:

- a run's identity is its ``run_config_hash`` (the hash of its own parameters, which cover its data and base
  model), or, where a table has no such value, the workflow's ``config_hash``; so two clones whose configs
  differ elsewhere (other methods, more seeds) still share their identical runs;
- a run held by several inputs with the same identity is kept once, from the first input that has it
  (reported on stderr with counts);
- a run held by several inputs with different identities is an error naming the run, the folders and the
  hashes, unless ``prefer`` is ``"first"`` or ``"last"``: then the first or last input holding the run gives
  all of that run's rows (its runs row, metrics rows and samples rows together).

Inputs of different settings are an error. Everything is read and checked before anything is written; each
output file is written atomically, and ``summary.parquet`` is recomputed from the merged metrics exactly as
``selgen summary`` does (``selgen.tables.write_summary``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from selgen.io import InputError, write_parquet
from selgen.provenance import PROVENANCE_COLUMNS
from selgen.tables import (
    METRIC_COLUMNS,
    SAMPLE_COLUMNS,
    concat_tables,
    harmonise_object_columns,
    write_summary,
)

TABLES = ("runs", "metrics", "samples")
#: Columns each input table must have.
REQUIRED_COLUMNS = {
    "runs": ["run_id", "setting", *PROVENANCE_COLUMNS],
    "metrics": [*METRIC_COLUMNS, *PROVENANCE_COLUMNS],
    "samples": [*SAMPLE_COLUMNS, *PROVENANCE_COLUMNS],
}
PREFER = (None, "first", "last")


@dataclass
class _Input:
    folder: Path
    tables: dict[str, pd.DataFrame]
    setting: str | None
    hashes: dict[str, str]  # run_id -> identity (run_config_hash, else config_hash), in runs table order


def _read_table(folder: Path, name: str) -> pd.DataFrame:
    path = folder / f"{name}.parquet"
    if not path.is_file():
        raise InputError(f"{path}: file not found (input folder {folder})")
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several kinds for a damaged file
        raise InputError(f"{path}: cannot read Parquet ({err})") from None
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
    return df


def _row_error(path: Path, index: int, df: pd.DataFrame, field: str, problem: str) -> InputError:
    run = df["run_id"].iloc[index]
    where = f"row {index + 1}" + ("" if pd.isna(run) or field == "run_id" else f" (run_id {run!r})")
    return InputError(f"{path}, {where}: field {field!r} {problem}")


def _read_input(folder: str | os.PathLike) -> _Input:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: input folder not found")
    tables = {name: _read_table(folder, name) for name in TABLES}
    runs, runs_path = tables["runs"], folder / "runs.parquet"
    for field in ("run_id", "config_hash"):
        empty = runs[field].isna().to_numpy().nonzero()[0]
        if len(empty):
            raise _row_error(runs_path, int(empty[0]), runs, field, "is empty")
    run_ids = runs["run_id"].astype(str)
    repeated = run_ids.duplicated().to_numpy().nonzero()[0]
    if len(repeated):
        i = int(repeated[0])
        raise _row_error(runs_path, i, runs, "run_id", f"repeats run {run_ids.iloc[i]!r} of an earlier row")
    known = set(run_ids)
    for name in ("metrics", "samples"):
        df = tables[name]
        ids = df["run_id"].astype(str)
        unknown = (~ids.isin(known) | df["run_id"].isna()).to_numpy().nonzero()[0]
        if len(unknown):
            i = int(unknown[0])
            raise _row_error(
                folder / f"{name}.parquet", i, df, "run_id", f"{ids.iloc[i]!r} has no row in {runs_path}"
            )
    settings: set[str] = set()
    for name in TABLES:
        settings |= {str(s) for s in tables[name]["setting"].dropna().unique()}
    if len(settings) > 1:
        raise InputError(
            f"{folder}: holds several settings ({', '.join(sorted(settings))}); merge one at a time"
        )
    identity = runs["config_hash"].astype(str)
    if "run_config_hash" in runs.columns:  # the run's own parameters, where the record has them
        identity = runs["run_config_hash"].where(runs["run_config_hash"].notna(), identity).astype(str)
    hashes = dict(zip(run_ids, identity, strict=True))
    return _Input(folder, tables, next(iter(settings), None), hashes)


def _owners(inputs: Sequence[_Input], prefer: str | None) -> tuple[dict[str, int], list[str], list[int]]:
    """{run_id: index of the input that gives the run}, notes on conflicts resolved by ``prefer``, and per
    input the number of its runs held by an earlier input with the same identity (see the module doc)."""
    holders: dict[str, list[int]] = {}
    for i, inp in enumerate(inputs):
        for run_id in inp.hashes:
            holders.setdefault(run_id, []).append(i)
    owners, resolved, conflicts = {}, [], []
    same = [0] * len(inputs)
    for run_id, idx in holders.items():
        hashes = {inputs[i].hashes[run_id] for i in idx}
        if len(hashes) == 1:
            owners[run_id] = idx[0]
            for i in idx[1:]:
                same[i] += 1
            continue
        first = idx[0]
        other = next(i for i in idx if inputs[i].hashes[run_id] != inputs[first].hashes[run_id])
        described = (
            f"run {run_id!r}: hash {inputs[first].hashes[run_id]} in {inputs[first].folder} but "
            f"{inputs[other].hashes[run_id]} in {inputs[other].folder}"
        )
        if prefer is None:
            conflicts.append(described)
            continue
        owners[run_id] = idx[0] if prefer == "first" else idx[-1]
        resolved.append(f"{described}; kept from {inputs[owners[run_id]].folder} (--prefer {prefer})")
    if conflicts:
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        raise InputError(
            f"{conflicts[0]}{more}; the same run_id with a different run_config_hash (or config_hash); "
            "pass --prefer first or --prefer last to choose which input gives such runs"
        )
    return owners, resolved, same


def merge_tables(
    in_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, prefer: str | None = None
) -> dict:
    """Merge the tables folders ``in_dirs`` (one setting) into ``out_dir``; see the module docstring.

    ``prefer`` (None, ``"first"`` or ``"last"``) settles runs whose identity differs between inputs.
    Returns a report: ``setting``, ``runs_in`` ([(folder, runs)] per input), ``duplicates`` (run rows dropped
    as already present), ``resolved`` (conflicts settled by ``prefer``), ``runs_out`` and ``paths`` (written
    files by name: runs, metrics, samples, summary).
    """
    if prefer not in PREFER:
        raise ValueError(f"prefer must be one of {PREFER}, got {prefer!r}")
    if not in_dirs:
        raise InputError("no input folder given")
    inputs = [_read_input(d) for d in in_dirs]
    settings = {inp.setting for inp in inputs if inp.setting is not None}
    if len(settings) > 1:
        listed = "; ".join(f"{inp.folder}: {inp.setting}" for inp in inputs if inp.setting is not None)
        raise InputError(f"inputs of different settings ({listed}); merge one setting at a time")

    owners, resolved, same = _owners(inputs, prefer)
    for i, inp in enumerate(inputs):
        if same[i]:
            print(
                f"merge-tables: {same[i]} run(s) of {inp.folder} already in an earlier input with the same "
                "identity (run_config_hash, or config_hash); kept once, from the first input",
                file=sys.stderr,
            )
    for note in resolved:
        print(f"merge-tables: {note}", file=sys.stderr)

    merged = {}
    for name in TABLES:
        parts = []
        for i, inp in enumerate(inputs):
            df = inp.tables[name]
            mine = df["run_id"].astype(str).map(owners).eq(i).to_numpy()
            parts.append(df[mine])
        required = REQUIRED_COLUMNS[name]
        merged[name] = harmonise_object_columns(concat_tables(parts, required).reset_index(drop=True))
        # provenance last, as build_tables writes it (columns only a later input has would follow it)
        merged[name] = merged[name][
            [c for c in merged[name].columns if c not in PROVENANCE_COLUMNS] + PROVENANCE_COLUMNS
        ]

    out_dir = Path(out_dir)
    paths = {name: out_dir / f"{name}.parquet" for name in (*TABLES, "summary")}
    for name in TABLES:
        write_parquet(paths[name], merged[name])
    write_summary(pd.read_parquet(paths["metrics"]), paths["summary"])  # what `selgen summary` does
    return {
        "setting": next(iter(settings), None),
        "runs_in": [(str(inp.folder), len(inp.hashes)) for inp in inputs],
        "duplicates": sum(len(inp.hashes) for inp in inputs) - len(owners),
        "resolved": len(resolved),
        "runs_out": len(merged["runs"]),
        "paths": paths,
    }


def format_report(report: dict) -> str:
    """The one-line report ``selgen merge-tables`` prints."""
    ins = ", ".join(f"{folder}: {n}" for folder, n in report["runs_in"])
    resolved = f" ({report['resolved']} conflicting run(s) settled by --prefer)" if report["resolved"] else ""
    return (
        f"merge-tables {report['setting']}: runs in {ins}; {report['duplicates']} duplicate(s) dropped"
        f"{resolved}; {report['runs_out']} runs out -> {report['paths']['runs'].parent}"
    )
