"""Resumable training: a run stopped at a checkpoint and resumed ends bit for bit where an uninterrupted run
does; stale checkpoints (other params or inputs) are never resumed; SIGTERM saves and exits 143."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
import yaml
from helpers import chat, tiny_model, tokenizer_for

from selgen.checkpoint import Checkpointer, Interrupted, fingerprint
from selgen.methods import make_method
from selgen.models import add_lora
from selgen.training import train

ROWS = [chat(f"What is {a} + {b}?", f"{a} + {b} = {a + b}") for a in range(1, 9) for b in range(1, 5)]
ALIGN = [chat(f"Is {a} even?", "yes" if a % 2 == 0 else "no") for a in range(12)]
CFG = {
    "lr": 3e-3,
    "steps": 12,
    "batch_size": 4,
    "align_batch_size": 4,
    "grad_accum": 2,
    "max_length": 64,
    "warmup_steps": 2,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "group_by_length": True,
}
LORA = {"r": 4, "alpha": 8, "dropout": 0.2, "use_rslora": False, "target_modules": ["q_proj", "v_proj"]}


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizer_for(ROWS + ALIGN)


class StopAt(Checkpointer):
    """Acts as if SIGTERM arrived during step ``stop``."""

    def __init__(self, path, stop):
        super().__init__(path.parent, every_steps=0)
        self.path, self.stop = path, stop

    def due(self, step):
        self.stop_requested = self.stop_requested or step == self.stop
        return super().due(step)


def run(tokenizer, method, hp, lora, checkpoint=None):
    model = tiny_model(tokenizer, seed=3)
    if lora:
        model = add_lora(model, LORA)
    rec = train(
        model,
        tokenizer,
        make_method(method, hp),
        ROWS,
        ALIGN,
        CFG,
        seed=5,
        progress=False,
        checkpoint=checkpoint,
    )
    return torch.cat([p.detach().flatten() for p in model.parameters()]), rec


@pytest.mark.parametrize(
    "method,hp,lora",
    [
        ("task_only", {}, False),  # full fine-tuning: every weight in the checkpoint
        ("upweight", {"lam": 2.0}, True),  # LoRA dropout: the RNG state must be restored
        ("kl", {"beta": 1.0}, True),  # reference outputs are recomputed at set-up
        ("grad_proj", {}, True),
        ("o_lora", {"lam1": 0.5, "align_epochs": 1}, True),  # a phase trains an adapter first
        (
            "safe_lora",
            {"delta": "proxy", "num_proj_layers": 2, "align_epochs": 1},
            True,
        ),  # and post-processes
    ],
)
def test_stopped_and_resumed_run_equals_uninterrupted_run(tokenizer, tmp_path, method, hp, lora):
    straight, rec_straight = run(tokenizer, method, hp, lora)
    path = tmp_path / "ck" / "checkpoint.pt"
    with pytest.raises(Interrupted, match="checkpoint saved at step 5/12"):
        run(tokenizer, method, hp, lora, StopAt(path, stop=5))
    assert torch.load(path, weights_only=False)["step"] == 5
    resumed, rec = run(tokenizer, method, hp, lora, StopAt(path, stop=-1))
    assert rec["resumed_at_step"] == 5 and rec_straight["resumed_at_step"] == 0
    assert torch.equal(straight, resumed)
    assert rec["loss_history"] == rec_straight["loss_history"]
    assert (rec["task_tokens"], rec["align_tokens"]) == (
        rec_straight["task_tokens"],
        rec_straight["align_tokens"],
    )
    for phase, straight_phase in zip(rec.get("phases", []), rec_straight.get("phases", []), strict=True):
        assert phase["resumed_at_step"] == phase["steps"]  # finished before the stop: restored, not retrained
        assert phase["final_loss"] == straight_phase["final_loss"]


def test_run_stopped_inside_a_phase_continues_the_phase(tokenizer, tmp_path):
    """A phase checkpoints to its own file: stopped inside O-LoRA's alignment-adapter phase, the run resumes
    the phase at its checkpoint, then trains the task adapter, and ends where an uninterrupted run does."""
    hp = {"lam1": 0.5, "align_epochs": 2}  # the phase: 12 alignment rows, 8 a step, 2 epochs = 4 steps
    straight, rec_straight = run(tokenizer, "o_lora", hp, True)
    path = tmp_path / "ck" / "checkpoint.pt"
    with pytest.raises(Interrupted, match="train/align_adapter: stopped on SIGTERM; .* at step 3/4"):
        run(tokenizer, "o_lora", hp, True, StopAt(path, stop=3))
    assert (
        not path.exists()
        and torch.load(path.with_name("phase-align_adapter.pt"), weights_only=False)["step"] == 3
    )
    resumed, rec = run(tokenizer, "o_lora", hp, True, StopAt(path, stop=-1))
    assert rec["phases"][0]["resumed_at_step"] == 3 and rec["resumed_at_step"] == 0
    assert torch.equal(straight, resumed)
    assert rec["loss_history"] == rec_straight["loss_history"]
    assert rec["phases"][0]["final_loss"] == rec_straight["phases"][0]["final_loss"]


def test_fingerprint_follows_params_and_input_files(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "task.jsonl").write_text("a\n")
    first = fingerprint({"lr": 1}, [data, "org/hub-model"])
    assert fingerprint({"lr": 1}, [data, "org/hub-model"]) == first
    assert fingerprint({"lr": 2}, [data, "org/hub-model"]) != first
    assert fingerprint({"lr": 1}, [data, "org/other-model"]) != first
    (data / "task.jsonl").write_text("ab\n")  # regenerated data: another checkpoint folder
    assert fingerprint({"lr": 1}, [data, "org/hub-model"]) != first


def test_checkpoints_of_changed_params_are_not_resumed(tmp_path, monkeypatch):
    monkeypatch.setenv("SELGEN_SCRATCH", str(tmp_path))
    a = Checkpointer.from_env("gcd/kl/b1/seed1", {"lr": 1}, [])
    b = Checkpointer.from_env("gcd/kl/b1/seed1", {"lr": 2}, [])
    a.save({"step": 3})
    assert a.load() == {"step": 3} and b.load() is None
    Checkpointer.from_env("gcd/kl/b2/seed1", {}, []).save({"step": 1})
    b.clear()  # a finished run removes every checkpoint of its run id, and its folders once empty
    assert not (tmp_path / "gcd/kl/b1").exists() and (tmp_path / "gcd/kl/b2/seed1").exists()


SIGTERM_SCRIPT = """
import json, sys, time
from helpers import chat, tiny_model, tokenizer_for
from selgen.checkpoint import Checkpointer, Interrupted
from selgen.methods import make_method
from selgen.training import train
rows = [chat(f"What is {a} + {b}?", f"{a} + {b} = {a + b}") for a in range(1, 9) for b in range(1, 5)]
tok = tokenizer_for(rows)
cfg = dict(lr=3e-3, steps=100000, batch_size=4, grad_accum=1, max_length=64, warmup_steps=0,
           weight_decay=0.0, max_grad_norm=1.0)
with Checkpointer.from_env("run", {}, []) as ck:
    try:
        model, method = tiny_model(tok), make_method("task_only", {})
        train(model, tok, method, rows, [], cfg, 0, progress=False, checkpoint=ck)
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        sys.exit(143)
"""


def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
    env = {
        **os.environ,
        "SELGEN_SCRATCH": str(tmp_path),
        "SELGEN_CHECKPOINT_STEPS": "0",
        "SELGEN_CHECKPOINT_MINUTES": "0",
        "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_SCRIPT], env=env, stderr=subprocess.PIPE, text=True
    )
    time.sleep(8)  # imports and the first steps; no checkpoint is due before the signal
    assert not list(tmp_path.rglob("checkpoint.pt"))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    saved = torch.load(next(tmp_path.rglob("checkpoint.pt")), weights_only=False)
    assert saved["step"] > 0 and f"checkpoint saved at step {saved['step']}/100000" in err
    assert json.dumps(saved["history"][-1]["step"]) == str(saved["step"])


# ------------------------------------------------------------------------- through Snakemake, with kill -9
def one_long_run() -> dict:
    from test_workflow import TINY

    config = json.loads(json.dumps(TINY))
    config["seeds"] = [1]
    config["gcd"]["methods"] = {"task_only": {}}
    config["gcd"]["train"]["epochs"] = 80  # 400 steps
    return config


RUN = "results/gcd/runs/task_only/default/seed1"


@pytest.mark.slow
def test_training_killed_with_sigkill_resumes_from_its_checkpoint_to_the_same_metrics(tmp_path, monkeypatch):
    from test_workflow import SNAKEMAKE, snakemake

    monkeypatch.setenv("SELGEN_CHECKPOINT_STEPS", "150")
    config, target = one_long_run(), f"{RUN}/metrics.parquet"
    straight = tmp_path / "straight"
    straight.mkdir()
    res = snakemake(straight, "--cores", "1", target, config=config)
    assert res.returncode == 0, res.stderr[-3000:]

    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        *SNAKEMAKE,
        "--directory",
        str(killed),
        "--configfile",
        str(killed / "config.yaml"),
        "--cores",
        "1",
    ]
    proc = subprocess.Popen(
        [*cmd, target], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while not list((killed / "scratch").rglob("checkpoint.pt")):  # the first checkpoint: step 150
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and the training job: nothing gets to clean up
    proc.wait()
    assert not (killed / RUN / "record.json").exists(), "training finished before the kill: make it longer"

    assert subprocess.run([*cmd, "--unlock"], capture_output=True).returncode == 0  # the killed run's lock
    res = subprocess.run([*cmd, "--rerun-incomplete", target], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    log = (killed / "results/gcd/logs/train/task_only/default/seed1.log").read_text()
    record = json.loads((killed / RUN / "record.json").read_text())
    expected = json.loads((straight / RUN / "record.json").read_text())
    n = expected["steps"]
    assert record["resumed_at_step"] >= 150 and record["steps"] == n  # finished steps were not redone
    assert f"resumed from the checkpoint at step {record['resumed_at_step']}/{n}" in log
    assert record["loss_history"] == expected["loss_history"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(killed / target), pd.read_parquet(straight / target), check_exact=True
    )
    samples = [pd.read_parquet(d / RUN / "samples.parquet") for d in (killed, straight)]
    pd.testing.assert_frame_equal(*samples, check_exact=True)
    assert list((killed / "scratch").iterdir()) == []  # a finished run leaves no checkpoint behind
