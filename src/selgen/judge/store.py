"""The judge's cache: one SQLite file per cache folder (``<cache_dir>/judge.sqlite``), keyed by request.

A cluster sweep judges ~270k requests; one JSON file per request (the store before this one) made that many
files on a shared file system. SQLite (the standard library's ``sqlite3``) gives one file, atomic commits and
concurrent readers beside one writer at a time (write-ahead log), which is what the judge needs: the judge
jobs are local rules on the submit host, so several of them may read and write the same store at once.
Every entry is committed on its own as its response lands: a writer killed mid-run loses at most the response
in flight, never a committed one, and never leaves a half-written entry (a transaction either lands or not).
The write-ahead log needs all processes on one host (SQLite's own rule): keep the judge rules local.

An entry keeps the response summary (text, top logprobs, usage), the judge model and the scoring mode; scores
are recomputed from the summary on read, so changing ``min_mass`` needs no new requests. A folder that still
holds the old per-file entries (``<key[:2]>/<key>.json``) is imported once, when its store is first created
(:func:`import_files` does it for any other folder).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("selgen.judge")

STORE_NAME = "judge.sqlite"
BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another one's transaction before failing

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgements (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    mode TEXT NOT NULL,
    raw TEXT NOT NULL
)
"""


class JudgeCache:
    """Judged responses in ``<directory>/judge.sqlite``; ``directory=None`` gives a cache that keeps nothing.

    Opening creates the folder and the store (and imports old per-file entries found in the folder); each
    process opens its own connection on first use.
    """

    def __init__(self, directory: str | os.PathLike | None):
        self.directory = Path(directory) if directory is not None else None
        self._conn: sqlite3.Connection | None = None

    @property
    def path(self) -> Path | None:
        return None if self.directory is None else self.directory / STORE_NAME

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            assert self.path is not None
            self.directory.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists()
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a killed process
            conn.execute(_SCHEMA)
            self._conn = conn
            if new:
                n = import_files(self.directory, self)
                if n:
                    log.info("judge cache: imported %d per-file entries into %s", n, self.path)
        return self._conn

    def get(self, key: str) -> dict | None:
        """Return the stored response summary for ``key``, or None."""
        if self.directory is None:
            return None
        row = self._db().execute("SELECT raw FROM judgements WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """Return ``{key: response summary}`` for the keys the store holds (one query per 500 keys)."""
        if self.directory is None:
            return {}
        keys = list(keys)
        out: dict[str, dict] = {}
        db = self._db()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, raw in db.execute(f"SELECT key, raw FROM judgements WHERE key IN ({marks})", chunk):
                out[key] = json.loads(raw)
        return out

    def put(self, key: str, raw: dict, cfg: dict) -> None:
        """Store the response summary ``raw`` for ``key`` (one committed transaction)."""
        self.put_many({key: raw}, cfg)

    def put_many(self, raws: dict[str, dict], cfg: dict) -> None:
        """Store several response summaries in one committed transaction (all or none)."""
        if self.directory is None or not raws:
            return
        rows = [(k, cfg["model"], cfg["mode"], json.dumps(r, ensure_ascii=False)) for k, r in raws.items()]
        db = self._db()
        with db:  # BEGIN ... COMMIT, or ROLLBACK on an exception
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO judgements VALUES (?, ?, ?, ?)", rows)

    def keys(self) -> set[str]:
        if self.directory is None:
            return set()
        return {k for (k,) in self._db().execute("SELECT key FROM judgements")}

    def __len__(self) -> int:
        if self.directory is None:
            return 0
        return self._db().execute("SELECT COUNT(*) FROM judgements").fetchone()[0]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def import_files(directory: str | os.PathLike, store: JudgeCache) -> int:
    """Import the per-file entries (``<directory>/<key[:2]>/<key>.json``, the cache before the SQLite store)
    into ``store``; unreadable files are skipped with a warning. Returns how many were imported."""
    entries: dict[tuple[str, str], dict[str, dict]] = {}
    for path in sorted(Path(directory).glob("??/*.json")):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            key, raw = entry["key"], entry["raw"]
            entries.setdefault((entry["model"], entry["mode"]), {})[key] = raw
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("judge cache: skipping unreadable old entry %s (%s)", path, type(err).__name__)
    for (model, mode), raws in entries.items():
        store.put_many(raws, {"model": model, "mode": mode})
    return sum(len(r) for r in entries.values())
