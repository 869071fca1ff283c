"""Resumable training: periodic, atomic checkpoints in scratch, and SIGTERM as "save and stop".

A checkpoint holds everything the loop needs to continue bit for bit: the trainable tensors, the optimizer
and schedule states, the RNG states, the step, the loss history and the token counters. The data order needs
no state: ``batching.batches`` is a pure function of the seed and the epoch, so a resumed run skips the
micro-batches already consumed. Method set-up (reference caches, hooks, ...) is deterministic and simply runs
again; the RNG states saved at the checkpoint then replace what it consumed. A method's phases (O-LoRA's
alignment adapter, the proxy Safe-LoRA's proxy adapter) do not run again: each checkpoints to a file of its
own beside the run's (``Checkpointer.phase``: ``phase-<name>.pt``) and saves its final state there, so a
resumed run restores a finished phase and continues an unfinished one from its last checkpoint.

Checkpoints live in scratch, outside the rule's declared outputs (Snakemake deletes the outputs of a failed
or killed job), under ``<scratch>/<run_id>/<fingerprint>/``. The fingerprint covers the run's params and the
names, sizes and modification times of its input files, so a checkpoint of a run whose data or base model
changed is never resumed. A finished run removes its scratch folder.

Where and how often (not rerun triggers, so they are environment variables, not config):
    SELGEN_SCRATCH             scratch root (default ``scratch`` in the working directory; on a cluster it
                               must be on a file system that a requeued job sees again, i.e. not node-local)
    SELGEN_CHECKPOINT_MINUTES  wall-clock interval between checkpoints (default 10; 0 = off)
    SELGEN_CHECKPOINT_STEPS    step interval between checkpoints (default 0 = off)
SIGTERM (SLURM's time limit and preemption send it before SIGKILL) makes the loop save at the end of the
current step and stop with :class:`Interrupted`; the job fails, and its rerun (Snakemake ``--retries``, SLURM
requeue, or by hand) continues from that step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import time
from pathlib import Path

import torch

from selgen.io import atomic_path

FILE = "checkpoint.pt"


class Interrupted(RuntimeError):
    """Training stopped on SIGTERM after saving a checkpoint."""


def fingerprint(params: dict, inputs: list[str | os.PathLike]) -> str:
    """A hash of the run's params and the identity (name, size, mtime) of every file under its inputs."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for root in inputs:
        root = Path(root)
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.is_file():
                st = f.stat()
                h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            elif not f.exists():  # a hub id: its name is its identity
                h.update(f"{f}\n".encode())
    return h.hexdigest()[:16]


def rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np

        state["numpy"] = np.random.get_state()
    except ImportError:
        pass
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np

        np.random.set_state(state["numpy"])


class Checkpointer:
    """Saves and restores the training loop's state; also turns SIGTERM into a checkpoint and a clean stop."""

    def __init__(self, run_dir: str | os.PathLike, every_steps: int = 0, every_minutes: float = 0.0):
        self.run_dir = Path(run_dir)  # <scratch>/<run_id>: all fingerprints of the run
        self.root = self.run_dir.parent
        self.every_steps, self.every_s = int(every_steps), float(every_minutes) * 60
        self.path = None  # the run's checkpoint file (during a phase: the phase's, see phase)
        self.phase_name: str | None = None  # the phase being trained, if any
        self.phase_names: set[str] = set()  # phases that may have a file (clear removes them)
        self.stop_requested = False
        self._last = time.monotonic()
        self._old_handler = None

    @classmethod
    def from_env(cls, run_id: str, params: dict, inputs: list) -> Checkpointer:
        scratch = Path(os.environ.get("SELGEN_SCRATCH") or "scratch")
        ckpt = cls(
            scratch / run_id,
            every_steps=int(os.environ.get("SELGEN_CHECKPOINT_STEPS") or 0),
            every_minutes=float(os.environ.get("SELGEN_CHECKPOINT_MINUTES") or 10),
        )
        ckpt.path, ckpt.root = ckpt.run_dir / fingerprint(params, inputs) / FILE, scratch
        return ckpt

    # ------------------------------------------------------------------------------------------ signals
    def __enter__(self) -> Checkpointer:
        def request_stop(signum, frame):
            self.stop_requested = True

        self._old_handler = signal.signal(signal.SIGTERM, request_stop)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self._old_handler or signal.SIG_DFL)

    # ------------------------------------------------------------------------------------------ file
    @property
    def path(self) -> Path | None:
        """The file the loop saves to and resumes from: the run's, or during ``phase`` the phase's."""
        if self._path is None or self.phase_name is None:
            return self._path
        return self._path.with_name(f"phase-{self.phase_name}.pt")

    @path.setter
    def path(self, value) -> None:
        if getattr(self, "phase_name", None) is not None:
            raise RuntimeError("the run's checkpoint path cannot change during a phase")
        self._path = None if value is None else Path(value)

    @contextlib.contextmanager
    def phase(self, name: str):
        """While the phase ``name`` trains, this checkpointer saves to and resumes from the phase's own file,
        ``phase-<name>.pt`` beside the run's checkpoint: the same object, so SIGTERM stops the phase too and
        the checkpoint interval runs on; ``clear()`` removes the phase's file with the run's."""
        if self.phase_name is not None:
            raise RuntimeError(f"phase {name!r} inside phase {self.phase_name!r}")
        self.phase_names.add(name)
        self.phase_name = name
        try:
            yield self
        finally:
            self.phase_name = None

    # ------------------------------------------------------------------------------------------ state
    def load(self) -> dict | None:
        if self.path is None or not self.path.exists():
            return None
        return torch.load(self.path, map_location="cpu", weights_only=False)

    def due(self, step: int) -> bool:
        if self.path is None:
            return False
        by_steps = self.every_steps > 0 and step % self.every_steps == 0
        by_time = self.every_s > 0 and time.monotonic() - self._last >= self.every_s
        return by_steps or by_time or self.stop_requested

    def save(self, state: dict) -> None:
        """Write atomically (a kill mid-write leaves the previous checkpoint intact)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)
        self._last = time.monotonic()

    def clear(self) -> None:
        """The run finished: its checkpoint, its phases' files and its scratch folder (all fingerprints)."""
        if self._path is None:
            return
        for name in self.phase_names:  # beside the run's file, wherever that is (normally in run_dir)
            self._path.with_name(f"phase-{name}.pt").unlink(missing_ok=True)
        self._path.unlink(missing_ok=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        for parent in self.run_dir.parents:  # and the folders of the run id, once empty (not scratch itself)
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:  # not empty: other runs' checkpoints
                break


def capture(model, optimizer, schedule, step: int, extra: dict) -> dict:
    """The loop's state after ``step`` optimizer steps."""
    trainable = {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}
    return {
        "step": step,
        "trainable": trainable,
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "rng": rng_state(),
        **extra,
    }


def restore(state: dict, model, optimizer, schedule) -> None:
    params = dict(model.named_parameters())
    missing = set(state["trainable"]) ^ {n for n, p in params.items() if p.requires_grad}
    if missing:
        raise ValueError(f"checkpoint does not match the model's trainable parameters: {sorted(missing)[:5]}")
    with torch.no_grad():
        for name, value in state["trainable"].items():
            params[name].copy_(value.to(params[name].device))
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    set_rng_state(state["rng"])
