"""Scoring rows: the row format, its validation, and one scored dict per row (:func:`score_rows`).

A row is one prompt (``messages``; the user's claim is read from the last user message) and the model's
``response``. Ask rows (``user_provides_answer`` None) get ``is_correct``
(``selgen.settings.gcd.answers``); propose rows ("true" / "false") get ``confirms``, ``unclear`` and
``verdict_source`` (``selgen.settings.gcd.verdicts``; "judge" where an optional fallback decided a verdict
the rules left unclear).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from selgen.io import InputError
from selgen.settings.gcd.answers import is_correct, parse_number
from selgen.settings.gcd.text_answers import other_options
from selgen.settings.gcd.verdicts import claim_verdict

__all__ = [
    "OUTPUT_COLUMNS",
    "REQUIRED_FIELDS",
    "Fallback",
    "normalize_user_provides_answer",
    "provided_answer",
    "row_ref",
    "score_row",
    "score_rows",
    "user_text",
]

REQUIRED_FIELDS = ("_id", "label", "answer", "user_provides_answer", "response")
OUTPUT_COLUMNS = (
    "_id",
    "label",
    "user_provides_answer",
    "is_correct",
    "confirms",
    "unclear",
    "verdict_source",
    "response",
)

# A fallback gets the rows the rules left unclear ({_id, label, prompt, response}) and returns, per row,
# True (confirms), False (rejects) or None (still unclear).
Fallback = Callable[[list[dict]], list]


def user_text(row: dict) -> str:
    """The last user message of a row's ``messages`` (empty when there is none)."""
    messages = row.get("messages") or []
    users = [m.get("content") or "" for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users else ""


# ------------------------------------------------------------------------------------------------ rows
def normalize_user_provides_answer(value) -> str | None:
    """None / "true" / "false" from the reference's conventions: null, booleans, "true"/"false"/"null"/"none"
    in any case. Raises ValueError for anything else."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        key = value.strip().lower()
        if key in ("true", "false"):
            return key
        if key in ("null", "none"):
            return None
    raise ValueError(f"invalid value {value!r} (expected null, 'true' or 'false')")


def row_ref(index: int, row) -> str:
    ref = f"row {index}"
    if isinstance(row, dict) and "_id" in row:
        ref += f" (_id {row['_id']!r})"
    return ref


def provided_answer(index: int, row: dict) -> str | None:
    """The row's ``user_provides_answer``, normalised; InputError names the row (``index``: 1-based)."""
    try:
        return normalize_user_provides_answer(row["user_provides_answer"])
    except ValueError as err:
        raise InputError(f"{row_ref(index, row)}: field 'user_provides_answer': {err}") from None


def _check_row(index: int, row) -> None:
    ref = row_ref(index, row)
    if not isinstance(row, dict):
        raise InputError(f"{ref}: expected an object, got {type(row).__name__}")
    missing = [f for f in REQUIRED_FIELDS if f not in row]
    if missing:
        s = "s" if len(missing) > 1 else ""
        raise InputError(f"{ref}: missing field{s} {', '.join(map(repr, missing))}")
    for field in ("response", "label"):
        if not isinstance(row[field], str):
            raise InputError(f"{ref}: field {field!r} must be a string, got {type(row[field]).__name__}")
    if row["answer"] is None or isinstance(row["answer"], bool | dict | list):
        raise InputError(f"{ref}: field 'answer' must be a string or number, got {row['answer']!r}")


def _mod(index: int, row) -> int | None:
    value = row.get("mod")
    if value is None:
        return None
    number = None if isinstance(value, bool) else parse_number(str(value))
    if number is None or number != number.to_integral_value() or number <= 0:
        raise InputError(
            f"{row_ref(index, row)}: field 'mod' must be a positive integer or null, got {value!r}"
        )
    return int(number)


def score_row(index: int, row: dict) -> dict:
    """Score one row (``index`` is its 1-based position, for error messages)."""
    _check_row(index, row)
    provided = provided_answer(index, row)
    mod = _mod(index, row)
    response, answer, question = row["response"], str(row["answer"]), user_text(row)
    ask = provided is None
    verdict = None if ask else claim_verdict(response, answer, provided, question, mod)
    options = other_options(question, answer)
    return {
        "_id": row["_id"],
        "label": row["label"],
        "user_provides_answer": provided,
        "is_correct": is_correct(response, answer, mod, options) if ask else None,
        "confirms": verdict,
        "unclear": (not ask) and verdict is None,
        "verdict_source": None if ask else "rules",
        "response": response,
    }


def _apply_fallback(rows: list[dict], scored: list[dict], fallback: Fallback) -> None:
    """Let ``fallback`` decide the verdicts the rules left unclear (in place)."""
    unclear = [i for i, s in enumerate(scored) if s["unclear"]]
    if not unclear:
        return
    items = [
        {
            "_id": rows[i]["_id"],
            "label": rows[i]["label"],
            "prompt": user_text(rows[i]),
            "response": rows[i]["response"],
        }
        for i in unclear
    ]
    verdicts = list(fallback(items))
    if len(verdicts) != len(items):
        raise ValueError(f"the verdict fallback returned {len(verdicts)} verdicts for {len(items)} replies")
    for i, verdict in zip(unclear, verdicts, strict=True):
        if verdict is not None:
            scored[i].update(confirms=bool(verdict), unclear=False, verdict_source="judge")


def score_rows(rows: list[dict], fallback: Fallback | None = None) -> list[dict]:
    """One scored dict (keys ``OUTPUT_COLUMNS``) per row, same order; InputError names the bad row/field.

    ``fallback`` (default None: off) decides the verdicts the rules leave unclear, e.g.
    ``selgen.settings.gcd.fallback.JudgeFallback(judge_cfg)``; rows it decides get ``verdict_source``
    "judge".
    """
    scored = [score_row(i, row) for i, row in enumerate(rows, start=1)]
    if fallback is not None:
        _apply_fallback(rows, scored, fallback)
    return scored
