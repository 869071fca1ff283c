"""The judge's SQLite cache store (selgen.judge.store): parallel readers beside a writer killed mid-run
(nothing committed is lost, nothing half-written is read), two writers at once, and the one-off import of the
old one-file-per-request cache."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

from selgen.judge import JudgeCache
from selgen.judge.store import STORE_NAME, import_files

CFG = {"model": "judge-a", "mode": "logprobs"}


def raw_for(i: int) -> dict:
    """A response summary whose content can be checked from its key alone (and big enough to span pages)."""
    return {
        "text": f"answer {i}",
        "top_logprobs": [[str(k), -k / 10] for k in range(20)],
        "usage": {"prompt_tokens": i, "completion_tokens": 1},
        "pad": "x" * (3000 + i % 997),
    }


WRITER = """
import sys
from selgen.judge import JudgeCache
from tests.test_judge_store import CFG, raw_for
cache = JudgeCache(sys.argv[1])
start = int(sys.argv[2])
for i in range(start, start + 1_000_000):
    cache.put(f"k{i}", raw_for(i), CFG)
    print(i, flush=True)  # acknowledged: committed before this line is written
"""

READER = """
import sys, time
from selgen.judge import JudgeCache
from tests.test_judge_store import raw_for
cache = JudgeCache(sys.argv[1])
seen = bad = 0
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    got = cache.get_many(f"k{i}" for i in range(0, 5000))
    for key, raw in got.items():
        bad += raw != raw_for(int(key[1:]))
    seen = max(seen, len(got))
print(seen, bad)
"""


def spawn(code: str, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE, text=True, cwd=_root()
    )


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


def test_parallel_readers_and_a_killed_writer_lose_nothing_committed(tmp_path):
    store = tmp_path / "cache"
    writer = spawn(WRITER, store, 0)
    readers = [spawn(READER, store, 4.0) for _ in range(3)]
    acked = []
    deadline = time.monotonic() + 60
    while len(acked) < 400 and time.monotonic() < deadline:
        acked.append(int(writer.stdout.readline()))
    writer.send_signal(signal.SIGKILL)  # mid-run: no clean close, maybe mid-transaction
    writer.wait()
    acked += [int(line) for line in writer.stdout.read().split()]  # lines written before the kill
    outs = [r.communicate(timeout=60)[0].split() for r in readers]
    assert all(r.returncode == 0 for r in readers)
    assert all(int(bad) == 0 for _, bad in outs)  # no reader ever saw a partial or wrong entry
    assert max(int(seen) for seen, _ in outs) > 0  # and they did read while the writer wrote

    with sqlite3.connect(store / STORE_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    cache = JudgeCache(store)
    keys = cache.keys()
    assert {f"k{i}" for i in acked} <= keys  # every acknowledged commit is there
    assert len(keys) <= len(acked) + 1  # at most the one in flight besides
    got = cache.get_many(keys)
    assert all(raw == raw_for(int(k[1:])) for k, raw in got.items())

    # the store keeps working after the crash: a new writer appends
    cache.put("after", raw_for(7), CFG)
    assert JudgeCache(store).get("after") == raw_for(7)


def test_two_writers_at_once_both_land(tmp_path):
    store = tmp_path / "cache"
    writers = [spawn(WRITER, store, start) for start in (0, 100_000)]
    counts = [0, 0]
    while min(counts) < 150:
        for j, w in enumerate(writers):
            if counts[j] < 150:
                w.stdout.readline()
                counts[j] += 1
    for w in writers:
        w.kill()
        w.wait()
    keys = JudgeCache(store).keys()
    assert {f"k{i}" for i in range(150)} <= keys and {f"k{100_000 + i}" for i in range(150)} <= keys


def test_old_per_file_entries_are_imported_once(tmp_path, caplog):
    old = tmp_path / "cache"
    for i in range(5):
        key = f"{i:02d}" + "ab" * 31
        (old / key[:2]).mkdir(parents=True, exist_ok=True)
        entry = {"version": 1, "key": key, "model": "judge-a", "mode": "logprobs", "raw": raw_for(i)}
        (old / key[:2] / f"{key}.json").write_text(json.dumps(entry | {"scored": {"score": 1}}))
    (old / "00" / "broken.json").write_text("{not json")
    caplog.set_level("INFO")
    cache = JudgeCache(old)
    assert len(cache) == 5 and cache.get("03" + "ab" * 31) == raw_for(3)
    assert "imported 5" in caplog.text and "broken.json" in caplog.text
    # opening again imports nothing more; importing into another store copies them
    assert len(JudgeCache(old)) == 5
    other = JudgeCache(tmp_path / "other")
    assert import_files(old, other) == 5 and other.keys() == cache.keys()


def test_no_directory_keeps_nothing(tmp_path):
    cache = JudgeCache(None)
    cache.put("k", raw_for(1), CFG)
    assert cache.get("k") is None and len(cache) == 0 and cache.get_many(["k"]) == {}
