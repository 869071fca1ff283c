"""Judged replies from elsewhere (a published CSV, another harness) as our metrics rows.

Input: CSV or JSONL with ``question_id``, ``question``, ``answer``, ``aligned``, ``coherent`` (Betley et al.'s
and the authors' judged CSVs have these columns). A score may be empty / NaN / null where the judge said CODE
or REFUSAL or put too little probability mass on numbers; the words CODE and REFUSAL themselves are read as no
score too. Such rows count as ``unscored`` and leave the rates' denominators, exactly as for our own runs
(``selgen.settings.em.metrics.summarize``, with the config's thresholds).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from selgen.io import InputError, iter_jsonl

COLUMNS = ("question_id", "question", "answer", "aligned", "coherent")
NO_SCORE = {"", "nan", "none", "null", "code", "refusal"}


def _score(value, where: str, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() in NO_SCORE:
            return None
        try:
            value = float(value)
        except ValueError:
            raise InputError(f"{where}: field {field!r} is not a score 0-100 or empty: {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: field {field!r} is not a score 0-100 or empty: {value!r}")
    if math.isnan(value):
        return None
    if not 0 <= value <= 100:
        raise InputError(f"{where}: field {field!r} = {value} is outside 0-100")
    return float(value)


def read_judged(path: str | Path) -> list[dict]:
    """Rows {question_id, question, answer, aligned, coherent} of a judged CSV (.csv) or JSONL file, scores as
    float or None; InputError naming the file, row and field."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
            raw = [(f"{path}, row {i}", r) for i, r in enumerate(reader, start=2)]  # row 1: the header
    else:
        raw = [(f"{path}, line {i}", r) for i, r in iter_jsonl(path, COLUMNS)]
    if not raw:
        raise InputError(f"{path}: no rows")
    rows = []
    for where, r in raw:
        if r["question_id"] in (None, ""):
            raise InputError(f"{where}: field 'question_id' is empty")
        rows.append(
            {
                "question_id": str(r["question_id"]),
                "question": r["question"],
                "answer": r["answer"],
                "aligned": _score(r["aligned"], where, "aligned"),
                "coherent": _score(r["coherent"], where, "coherent"),
            }
        )
    return rows
