"""The workflow's warm interpreter (selgen.forkserver): a forked job is indistinguishable from a fresh one
(same outputs, exit code, stdout and stderr), declines requests whose import-time environment differs, and
never outlives its client or its workflow."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from selgen import forkserver
from selgen.forkserver import Server

ROOT = Path(__file__).resolve().parents[1]
SELGEN = str(Path(sys.executable).parent / "selgen")
SLEEPY = str(ROOT / "tests" / "plugins" / "sleepy.py")
sys.path.insert(0, str(ROOT / "benchmarks"))

import job_overhead  # noqa: E402


@pytest.fixture(scope="module")
def server():
    running = Server()
    with running as path:
        assert running.wait_ready(120), "the fork server did not come up"
        yield path


def selgen(*args, server=None, env=None, **kw) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != forkserver.ENV}
    environment |= {"HF_HUB_OFFLINE": "1", **(env or {})}
    if server:
        environment |= {forkserver.ENV: server, forkserver.DEBUG: "1"}  # a declined request says so
    return subprocess.run([SELGEN, *args], capture_output=True, text=True, env=environment, **kw)


def test_a_forked_command_prints_and_exits_as_a_fresh_one(server, tmp_path):
    for args in (
        ["--help"],
        ["no-such-command"],
        [
            "train",
            "gcd",
            "--params",
            "{}",
            "--data",
            str(tmp_path),
            "--base",
            "b",
            "--out",
            str(tmp_path / "m"),
            "--record",
            str(tmp_path / "r.json"),
        ],
    ):
        fresh, forked = selgen(*args), selgen(*args, server=server)
        assert "runs fresh" not in forked.stderr  # the `selgen` script's python3 is the server's python
        assert forked.returncode == fresh.returncode != None  # noqa: E711
        assert forked.stdout == fresh.stdout
        # the last line of a traceback or an argparse error: the same message on the job's own stderr
        assert forked.stderr.strip().splitlines()[-1:] == fresh.stderr.strip().splitlines()[-1:]
    assert selgen("no-such-command", server=server).returncode == 2


def test_a_request_whose_import_time_environment_differs_runs_fresh(server):
    os.environ[forkserver.ENV] = server
    try:
        os.environ["HF_HUB_OFFLINE"] = "1"
        assert forkserver.run_via_server(["--help"]) == 0
        os.environ["HF_HUB_OFFLINE"] = "0"  # read by huggingface_hub at import: the server's copy says 1
        assert forkserver.run_via_server(["--help"]) is None
        os.environ[forkserver.ENV] = server + ".gone"
        assert forkserver.run_via_server(["--help"]) is None  # no server: the caller runs it itself
    finally:
        del os.environ[forkserver.ENV]
        os.environ.pop("HF_HUB_OFFLINE")


def wait_for(path: Path, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(path.read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_the_forked_job_ends_with_its_client(server, tmp_path, how):
    """SIGTERM to the job's command reaches the forked child (exit 143, as a shell reports a killed job);
    a client killed outright (SIGKILL) leaves no orphan that could write outputs later."""
    pid_file = tmp_path / "pid"
    env = {k: v for k, v in os.environ.items() if k != forkserver.ENV}
    env |= {"HF_HUB_OFFLINE": "1", forkserver.ENV: server, "SLEEPY_PID": str(pid_file)}
    client = subprocess.Popen([SELGEN, "--plugins", SLEEPY, "--help"], env=env, stdout=subprocess.DEVNULL)
    child = wait_for(pid_file)
    assert child != client.pid  # the command runs in the server's child, not in the client
    client.send_signal(getattr(signal, how))
    rc = client.wait(timeout=30)
    assert rc == (143 if how == "SIGTERM" else -9)
    assert gone_within(child, 10)


def test_the_server_ends_with_the_workflow(tmp_path):
    """A server whose workflow process died (no onsuccess/onerror ran) exits by itself."""
    code = (
        "import sys, time; from selgen.forkserver import Server; s = Server(); s.start(); "
        "s.wait_ready(); print(s.process.pid, s.path, flush=True); time.sleep(60)"
    )
    workflow = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pid, path = workflow.stdout.readline().split()
    assert alive(int(pid)) and Path(path).exists()
    workflow.kill()
    workflow.wait()
    assert gone_within(int(pid), 10)
    assert not Path(path).parent.exists()  # its socket and folder removed


def test_a_forked_train_and_evaluate_job_write_what_a_fresh_job_writes(finished, server, tmp_path):
    """The tiny workflow's recorded train and evaluate commands, re-run fresh and forked: the same adapter
    weights and the same metric rows, byte for byte (the workflow itself ran them forked)."""
    commands = job_overhead.recorded_commands(finished)
    outputs = {}
    for mode in ("fresh", "forked"):
        for kind in ("train", "evaluate"):
            tmp = tmp_path / mode / kind
            tmp.mkdir(parents=True)
            command, threads = job_overhead.job(finished, "gcd", kind, commands, tmp)
            env = {k: v for k, v in os.environ.items() if k != forkserver.ENV}
            env |= {"OMP_NUM_THREADS": str(threads)}
            if mode == "forked":
                env[forkserver.ENV] = server
            script = f'set -euo pipefail; selgen() {{ {SELGEN} "$@"; }}; {command}'
            res = subprocess.run(
                ["bash", "-c", script], cwd=finished, env=env, capture_output=True, text=True
            )
            assert res.returncode == 0, (tmp / "job.log").read_text()[-3000:]
        outputs[mode] = (
            (tmp_path / mode / "train" / "run" / "model" / "adapter_model.safetensors").read_bytes(),
            pd.read_parquet(tmp_path / mode / "evaluate" / "run" / "metrics.parquet"),
        )
    assert outputs["fresh"][0] == outputs["forked"][0]
    pd.testing.assert_frame_equal(outputs["fresh"][1], outputs["forked"][1])
    records = pd.read_parquet(finished / "results" / "tables" / "gcd" / "runs.parquet")
    # the workflow forked its jobs once the server was up (jobs before that, the data's, run fresh)
    assert "forked" in set(records.loc[records.method != "base", "process"])
