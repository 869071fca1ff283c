"""Recheck a functions dataset against the configured F (backs ``selgen functions check``).

For every row, F(``input_x``, ``input_trigger``) under the chosen mapping (``base`` or ``updated``) must equal
``output``. Also reported: missing fields, an ``input_x`` that is not two numbers, a trigger of no category,
a ``category`` field that disagrees with the trigger's category, and an assistant turn (the training target)
that differs from ``output``. The prompt text is not parsed: datasets made elsewhere may phrase it freely.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

from selgen.io import read_jsonl
from selgen.settings.functions.function import color_of, trigger_index
from selgen.settings.functions.function import mapping as mapping_spec

__all__ = ["REQUIRED_FIELDS", "check_files", "check_rows"]

REQUIRED_FIELDS = ("input_x", "input_trigger", "output")


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_row(spec: Mapping, index: dict[str, str], number: int, row) -> str | None:
    ref = f"row {number}"
    if not isinstance(row, dict):
        return f"{ref}: expected an object, got {type(row).__name__}"
    missing = [f for f in REQUIRED_FIELDS if f not in row]
    if missing:
        return f"{ref}: missing field(s) {', '.join(map(repr, missing))}"
    x, trigger, got = row["input_x"], row["input_trigger"], row["output"]
    if not isinstance(x, list) or len(x) != 2 or not all(map(_is_number, x)):
        return f"{ref}: field 'input_x' must be a list of 2 numbers, got {x!r}"
    ref = f"{ref} (trigger {trigger!r}, x = {x})"
    if not isinstance(trigger, str) or trigger not in index:
        return f"{ref}: unknown trigger {trigger!r} (in no category of the function spec)"
    if "category" in row and row["category"] != index[trigger]:
        return f"{ref}: field 'category' is {row['category']!r}, but the trigger is in {index[trigger]!r}"
    expected = color_of(spec, x, trigger)
    if got != expected:
        return f"{ref}: expected {expected!r}, got {got!r}"
    messages = row.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        last = messages[-1]
        if last.get("role") == "assistant" and str(last.get("content", "")).strip() != got:
            return f"{ref}: assistant turn {last.get('content')!r} differs from output {got!r}"
    return None


def check_rows(spec: Mapping, rows: Iterable, mapping: str = "base") -> list[str]:
    """One description per bad row (1-based row number, trigger, x, expected and actual colour); [] if all
    rows follow F under ``mapping`` (``"base"`` or ``"updated"``). One problem is reported per row."""
    mspec = mapping_spec(spec, mapping)
    index = trigger_index(mspec)
    problems = (_check_row(mspec, index, i, row) for i, row in enumerate(rows, start=1))
    return [p for p in problems if p is not None]


def check_files(
    spec: Mapping, paths: Iterable[str | os.PathLike], mapping: str = "base"
) -> dict[str, list[str]]:
    """{path: problems} for each JSONL file (every path is a key, [] when clean). A file that cannot be read
    or holds a line that is not a JSON object raises ``selgen.io.InputError`` naming the file and line."""
    return {str(p): check_rows(spec, read_jsonl(p), mapping) for p in paths}
