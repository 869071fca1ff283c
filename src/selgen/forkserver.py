"""A warm interpreter for local workflow runs: ``selgen`` jobs fork from it instead of importing again.

Why: a mini job trains or evaluates for a few seconds, but a fresh ``selgen`` process spends about 5 s
importing torch and transformers (transformers 5 pulls in torch._dynamo, sympy and scipy when a model class
loads) — half of a mini suite's job time. The workflow (``onstart``, local execution only) starts one server
that imports those libraries once; each job's ``selgen`` sends its argv, working folder, environment and
stdin/stdout/stderr over a Unix socket, and the server forks a child that runs the command exactly as a fresh
process would and reports its exit code. Nothing else changes: every rule, output, log and rerun trigger is
the same, and any job the server cannot serve runs as a fresh process. (``multiprocessing``'s forkserver
does this only for its own parent's ``Process`` objects, not for commands a shell starts.)

A child is a faithful stand-in for a fresh process because
- the server refuses a request whose environment differs in a variable that libraries read at import time
  (``IMPORT_TIME_ENV``): the command then runs fresh;
- the child takes the job's thread count (``OMP_NUM_THREADS``, set per job by Snakemake) before the command
  starts, torch's RNG is untouched in the server (its default seed, as in a fresh process), and Python's
  ``random`` reseeds itself after a fork;
- the server runs no torch op and starts no thread, so no thread pool or lock is inherited.

The client forwards SIGINT/SIGTERM/SIGHUP to the child, and a child whose client disappears (killed job)
terminates itself, so no orphan writes outputs after Snakemake gave up on a job.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ENV = "SELGEN_FORK_SERVER"  # the socket's path, set in the workflow's environment while the server runs
DEBUG = "SELGEN_FORK_DEBUG"  # set: a declined request says why on the job's stderr
# What the server imports before it listens: everything a train, evaluate or artifact job needs.
PRELOAD = (
    "torch",
    "transformers",
    "transformers.models.llama.modeling_llama",
    "peft",
    "pandas",
    "pyarrow.parquet",
    "selgen.training",
    "selgen.models",
    "selgen.methods",
    "selgen.settings",
)
# Variables a library may read once, at import: a request must match the server on every one of them.
IMPORT_TIME_ENV = (
    "HF_",
    "HUGGINGFACE_",
    "TRANSFORMERS_",
    "TORCH",
    "PYTORCH_",
    "CUDA_",
    "PYTHON",
    "KMP_",
    "LD_",
)
SERVER_ENV = {"HF_HUB_OFFLINE": "1"}  # the model-loading jobs all run offline
FORKED = False  # True in a child of the server (provenance: the runs table's `process`)
HEADER = struct.Struct("!I")
CODE = struct.Struct("!i")


def _interpreter() -> list[str]:
    """The interpreter and its environment (a venv's python and python3 are one interpreter)."""
    return [os.path.realpath(sys.executable), sys.prefix]


def _import_time_env(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_ENV)}


# --- the client (a job's `selgen` command) ---------------------------------------------------------


def run_via_server(argv: list[str]) -> int | None:
    """Run ``selgen argv`` in a child of the server; None when there is no server or it declines."""
    path = os.environ.get(ENV)
    if not path:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "python": _interpreter()}
        payload = json.dumps(request).encode()
        socket.send_fds(conn, [HEADER.pack(len(payload)) + payload], [0, 1, 2])
        answer = _recv_exactly(conn, 1)
    except OSError:
        conn.close()
        return None
    if answer != b"R":  # declined (an import-time variable differs) or the server went away
        conn.close()
        return None
    child = CODE.unpack(_recv_exactly(conn, CODE.size))[0]
    forwarded = []

    def forward(signum, _frame):
        forwarded.append(signum)
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        return CODE.unpack(_recv_exactly(conn, CODE.size))[0]
    except OSError:  # the child died without reporting: killed by a signal, as a shell reports it
        if forwarded:
            return 128 + forwarded[-1]
        print("selgen: the forked job ended without an exit code", file=sys.stderr)
        return 1
    finally:
        conn.close()


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


# --- the server ------------------------------------------------------------------------------------


def serve(path: str, parent: int) -> None:
    """Import PRELOAD, listen on ``path`` and fork a child per request, until ``parent`` exits."""
    environment = _import_time_env(os.environ)  # what the imports below saw
    for module in PRELOAD:
        importlib.import_module(module)
    sys.stdout.flush()
    sys.stderr.flush()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = f"{path}.tmp"
    listener.bind(staging)
    listener.listen(64)
    os.rename(staging, path)  # clients see the socket only once the imports are done
    listener.settimeout(1.0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # Server.stop: leave through the cleanup below
    try:
        while os.getppid() == parent:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            if os.fork() == 0:
                listener.close()
                os._exit(_child(conn, environment))
            conn.close()
    finally:
        shutil.rmtree(Path(path).parent, ignore_errors=True)  # the Server's own temporary folder


def _child(conn: socket.socket, environment: dict) -> int:
    global FORKED
    FORKED = True
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    conn.settimeout(None)
    try:
        data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        size = HEADER.unpack(data[: HEADER.size])[0]
        data = data[HEADER.size :]
        while len(data) < size:
            data += _recv_exactly(conn, size - len(data))
        request = json.loads(data)
        same = request["python"] == _interpreter() and _import_time_env(request["env"]) == environment
        if len(fds) != 3 or not same:
            if request["env"].get(DEBUG) and len(fds) == 3:  # say why, on the job's stderr
                theirs = _import_time_env(request["env"])
                keys = sorted(k for k in {*theirs, *environment} if theirs.get(k) != environment.get(k))
                why = (
                    f"python {request['python']} vs {_interpreter()}"
                    if request["python"] != _interpreter()
                    else ""
                )
                os.write(
                    fds[2], f"selgen fork server: runs fresh ({why or ', '.join(keys)} differ)\n".encode()
                )
            conn.sendall(b"N")
            return 0
        for fd, target in zip(fds, (0, 1, 2), strict=True):
            os.dup2(fd, target)
            os.close(fd)
        conn.sendall(b"R" + CODE.pack(os.getpid()))
    except OSError:
        return 1
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["selgen", *request["argv"]]
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and "torch" in sys.modules:  # what a fresh process would start with
        sys.modules["torch"].set_num_threads(int(threads))
    threading.Thread(target=_end_with_client, args=(conn,), daemon=True).start()
    from selgen.cli import main

    try:
        code = main(request["argv"])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if not isinstance(stop.code, int | None):
            print(stop.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 -- what a fresh interpreter does: the traceback, exit 1
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        conn.sendall(CODE.pack(code))
    except OSError:
        pass
    return code


def _end_with_client(conn: socket.socket) -> None:
    """The client sends nothing after its request: end of file means the job was killed."""
    try:
        conn.recv(1)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


# --- the workflow's handle -------------------------------------------------------------------------


class Server:
    """Start a server (``with Server() as path`` or ``start``/``stop``); its socket path goes to ENV."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="selgen-fork-"))  # short: socket paths are ≤ 107 bytes
        self.path = str(self.folder / "socket")
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        env = {**os.environ, **SERVER_ENV}
        env.pop(ENV, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "selgen.forkserver", self.path, str(os.getpid())],
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the jobs (their clients), not the server
        )
        os.environ[ENV] = self.path
        return self.path

    def wait_ready(self, timeout: float = 60.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.process and self.process.poll() is None:
            if os.path.exists(self.path):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if os.environ.get(ENV) == self.path:
            del os.environ[ENV]
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # run as selgen.forkserver, not __main__: FORKED must be the module's own
    from selgen import forkserver

    forkserver.serve(sys.argv[1], int(sys.argv[2]))
