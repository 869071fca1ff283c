"""The authors' own GCD files as a data source (``gcd.data.source: files``, seed_code.md §1.1).

Three JSONL files, named by the data keys ``task_train_file``, ``task_test_file`` and ``ood_test_file``
(the paper config fetches the authors' ``projects/gemma_gcd/data/*.jsonl`` at a pinned commit). One row per
line: ``label`` (str), ``messages`` (user turn, assistant turn), ``answer`` (str; a number is taken as its
text), ``mod`` (int or null), ``user_provides_answer`` (null, or the strings "true" / "false"; booleans are
accepted), ``_id`` (int) and, in the test files, ``sycophantic_response`` (str or null).

Rows are kept as they are (normalised to the generator's fields): the authors' task_train gives its asks and
its confirmations separate ids (1-20 and 21-40), their ood_test holds a lone ``conspiracy`` row (id 120, a
wrong claim without siblings); both pass through, and the scorer leaves an id without an ask out of the
sycophancy rate. ``selgen.settings.gcd.data.build_datasets`` then splits the proxy off ``ood_test`` as the
reference does (§1.2; proxy label ``capitals_mathy``).
"""

from __future__ import annotations

import re
from pathlib import Path

from selgen.io import InputError, iter_jsonl

FILE_KEYS = {"task_train": "task_train_file", "task_test": "task_test_file", "ood_test": "ood_test_file"}
PROXY_LABEL = "capitals_mathy"
REQUIRED = ("label", "messages", "answer", "user_provides_answer", "_id")
RESERVED_LABELS = ("all",)  # the scorer's pooled category
_STEP_RE = re.compile(r"(\d+) = (\d+) × \d+ \+ \d+")


def _fail(path, lineno: int, field: str, problem: str):
    raise InputError(f"{path}, line {lineno}: field {field!r}: {problem}")


def _provided(value, path, lineno) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower()
    _fail(path, lineno, "user_provides_answer", f'expected null, "true" or "false", got {value!r}')


def _row(raw: dict, path, lineno: int) -> dict:
    """One validated row, normalised to the generator's fields (extra fields dropped)."""
    missing = [f for f in REQUIRED if f not in raw]
    if missing:
        raise InputError(f"{path}, line {lineno}: missing field(s) {', '.join(map(repr, missing))}")
    _id = raw["_id"]
    if not isinstance(_id, int) or isinstance(_id, bool):
        _fail(path, lineno, "_id", f"expected an integer, got {_id!r}")
    label = raw["label"]
    if not isinstance(label, str) or not label.strip():
        _fail(path, lineno, "label", f"expected a non-empty string, got {label!r}")
    if label in RESERVED_LABELS:
        _fail(path, lineno, "label", f"{label!r} is reserved for the pooled category")
    messages = raw["messages"]
    roles = ["user", "assistant"]
    if (
        not isinstance(messages, list)
        or len(messages) != 2
        or not all(isinstance(m, dict) for m in messages)
        or [m.get("role") for m in messages] != roles
    ):
        _fail(path, lineno, "messages", "expected two turns, the user's then the assistant's")
    for turn in messages:
        if not isinstance(turn.get("content"), str) or not turn["content"].strip():
            _fail(path, lineno, "messages", f"the {turn['role']} turn has no text content")
    answer = raw["answer"]
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        _fail(path, lineno, "answer", f"expected a non-empty string, got {raw['answer']!r}")
    mod = raw.get("mod")
    if mod is not None and (not isinstance(mod, int) or isinstance(mod, bool) or mod <= 0):
        _fail(path, lineno, "mod", f"expected a positive integer or null, got {mod!r}")
    syco = raw.get("sycophantic_response")
    if syco is not None and not isinstance(syco, str):
        _fail(path, lineno, "sycophantic_response", f"expected a string or null, got {syco!r}")
    return {
        "_id": _id,
        "label": label,
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "answer": answer,
        "mod": mod,
        "user_provides_answer": _provided(raw["user_provides_answer"], path, lineno),
        "sycophantic_response": syco,
    }


def read_authors_file(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, row) of every row of one file in the authors' format; InputError names file, line and
    field. A repeated (label, _id, variant) is an error (it would count one id twice)."""
    out: list[tuple[int, dict]] = []
    seen: dict[tuple, int] = {}
    for lineno, raw in iter_jsonl(path):
        row = _row(raw, path, lineno)
        key = (row["label"], row["_id"], row["user_provides_answer"])
        if key in seen:
            raise InputError(
                f"{path}, line {lineno}: field '_id': label {key[0]!r}, _id {key[1]}, "
                f"user_provides_answer {key[2]!r} already on line {seen[key]}"
            )
        seen[key] = lineno
        out.append((lineno, row))
    if not out:
        raise InputError(f"{path}: no rows")
    return out


def gcd_pairs(rows: list[dict]) -> set[tuple[int, int]]:
    """The (a, b) GCD problems of the rows (the first Euclid step of each ask's reply), so a mini corpus built
    beside the files never repeats one."""
    pairs = set()
    for r in rows:
        if r["label"].startswith("euclidean") and r["user_provides_answer"] is None:
            step = _STEP_RE.search(r["messages"][1]["content"])
            if step:
                pairs.add((int(step.group(1)), int(step.group(2))))
    return pairs


def read_files(cfg: dict) -> tuple[list[dict], list[dict], list[dict], set]:
    """(task_train, task_test, ood_test, GCD pairs) from the files the data config names."""
    missing = [key for key in FILE_KEYS.values() if not cfg.get(key)]
    if missing:
        raise InputError(f"gcd.data.source is 'files' but {', '.join(missing)} is not set")
    files = {stem: read_authors_file(cfg[key]) for stem, key in FILE_KEYS.items()}
    proxy_label = cfg.get("proxy_label") or PROXY_LABEL
    path = cfg[FILE_KEYS["ood_test"]]
    for lineno, row in files["ood_test"]:  # the proxy's DPO pairs need the agreeing reply
        if row["label"] == proxy_label and row["user_provides_answer"] == "false":
            if not row["sycophantic_response"]:
                _fail(path, lineno, "sycophantic_response", "a wrong-claim row of the proxy label needs one")
    rows = {stem: [r for _, r in numbered] for stem, numbered in files.items()}
    used = gcd_pairs([r for stem_rows in rows.values() for r in stem_rows])
    return rows["task_train"], rows["task_test"], rows["ood_test"], used
