"""em.eval.backend vllm against the HF path, on a tiny Qwen3 stand-in (docs/vllm.md).

vLLM is not a dependency of the test environment (its CPU build pins its own torch and transformers), so
the generation runs in the Python that SELGEN_VLLM_PYTHON names (a virtual environment with vLLM and this
repository installed, `.ci/run` makes one) as subprocesses: tests/vllm_backend_run.py (both backends on a
base run, a LoRA run and an O-LoRA run with two adapters) and `selgen evaluate em --replies` with backend
vllm on the base run. Nothing here imports vllm. Without SELGEN_VLLM_PYTHON the tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).resolve().parent
PYTHON = os.environ.get("SELGEN_VLLM_PYTHON")

SKIP = (
    "SELGEN_VLLM_PYTHON (a Python with vLLM and selgen, e.g. .venv-vllm/bin/python made as in .ci/run) is "
    "not set"
)
GREEDY = '"do_sample": false'
SAME = ["question_id", "prompt", "response", "n_tokens", "truncated"]


def _run(cmd: list[str], log: Path, timeout: int = 600) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if proc.returncode != 0:
        tail = log.read_text()[-4000:]
        pytest.fail(f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{tail}")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """The replies (Parquet files) of the runs through both backends, made once (about a minute on CPU)."""
    if not PYTHON:
        pytest.skip(SKIP)
    if not Path(PYTHON).exists():
        pytest.fail(f"SELGEN_VLLM_PYTHON={PYTHON} does not exist")
    work = tmp_path_factory.mktemp("vllm")
    _run([PYTHON, str(HERE / "vllm_backend_run.py"), str(work)], work / "script.log")
    sys.path.insert(0, str(HERE))
    try:
        from vllm_backend_run import EVAL, MODEL
    finally:
        sys.path.remove(str(HERE))
    params = {
        "method": "base",
        "hp": "default",
        "seed": 3,
        "model": MODEL,
        "eval": {**EVAL, "backend": "vllm"},
    }
    cmd = [PYTHON, "-m", "selgen", "evaluate", "em", "--params", json.dumps(params)]
    cmd += ["--model", str(work / "runs" / "base"), "--data", str(work / "data")]
    _run([*cmd, "--replies", str(work / "out" / "base_vllm.parquet")], work / "cli.log")
    return work / "out"


def _read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(out / f"{name}.parquet")


@pytest.mark.slow
@pytest.mark.parametrize("run", ["base", "lora", "olora"])
def test_same_columns_and_dtypes(out, run):
    hf, vllm = _read(out, f"{run}_hf"), _read(out, f"{run}_vllm")
    assert list(vllm.columns) == list(hf.columns)
    assert vllm.dtypes.astype(str).to_dict() == hf.dtypes.astype(str).to_dict()
    assert len(vllm) == len(hf)
    cols = [
        "setting",
        "method",
        "hp",
        "seed",
        "run_id",
        "eval_set",
        "question",
        "judge_prompts",
        "judge_model",
    ]
    pd.testing.assert_frame_equal(vllm[cols], hf[cols])


@pytest.mark.slow
@pytest.mark.parametrize("run", ["base", "lora", "olora"])
def test_n_replies_per_question(out, run):
    rows = [
        json.loads(line) for line in (out.parent / "data" / "eval_general.jsonl").read_text().splitlines()
    ]
    want = {r["question_id"]: r["n_samples"] for r in rows}
    assert _read(out, f"{run}_vllm").groupby("question_id").size().to_dict() == want


@pytest.mark.slow
@pytest.mark.parametrize("run", ["base", "lora", "olora"])
def test_greedy_replies_equal_hf(out, run):
    """Temperature 0: the same tokens as transformers, the reply text, token count and truncation alike; the
    base served alone (the base run's pointer, through `selgen evaluate`), with a LoRA request, and with
    O-LoRA's two adapters joined into one LoRA request (HF merges both into the weights)."""
    hf, vllm = _read(out, f"{run}_hf"), _read(out, f"{run}_vllm")
    greedy = vllm["sampling"].str.contains(GREEDY)
    assert greedy.any() and (greedy == hf["sampling"].str.contains(GREEDY)).all()
    pd.testing.assert_frame_equal(vllm.loc[greedy, SAME], hf.loc[greedy, SAME])


@pytest.mark.slow
def test_sampled_replies_reproducible_with_the_seed(out):
    first, again = _read(out, "lora_vllm"), _read(out, "lora_vllm_again")
    pd.testing.assert_frame_equal(first, again)
    sampled = first[~first["sampling"].str.contains(GREEDY)]
    # n different samples per question (one request with n); the run's seed and the backend recorded
    assert (sampled.groupby("question_id")["response"].nunique() > 1).all()
    assert set(first["seed"]) == {3} and sampled["sampling"].nunique() == 1
    meta = json.loads(sampled["sampling"].iloc[0])
    assert meta["backend"] == "vllm" and meta["temperature"] == 1.0 and meta["top_k"] == 0
    assert json.loads(_read(out, "lora_hf")["sampling"].iloc[-1]) == {**meta, "backend": "hf"}


@pytest.mark.slow
def test_the_adapter_changes_the_replies(out):
    base, lora, olora = (_read(out, f"{r}_vllm")["response"].tolist() for r in ("base", "lora", "olora"))
    assert base != lora and lora != olora


@pytest.mark.slow
@pytest.mark.parametrize("run", ["base", "lora", "olora"])
def test_stops_at_end_of_turn(out, run):
    vllm = _read(out, f"{run}_vllm")
    assert not vllm["response"].str.contains("<|im_end|>", regex=False).any()
    assert (~vllm["truncated"]).any()  # some replies end their turn before max_new_tokens


# ------------------------------------------------------------------------ without vLLM: config and errors


def _em_config(**eval_block):
    from selgen.config import validate
    from selgen.params import SCHEMA

    em = {"data": {"task_file": "task.jsonl"}, "eval": eval_block}  # a task file: real data (judged)
    return validate({"settings": ["em"], "em": em}, SCHEMA)


def test_the_backend_enters_the_generate_params_only_when_it_is_vllm():
    """hf (absent or named) leaves the params as they were (no rerun on an upgrade); vllm and each of its
    options change them (Snakemake's params trigger reruns the generation); the mini organism (not judged)
    ignores the backend."""
    from selgen import params

    def p(config):
        return params.evaluate(config, "em", "task_only", "default", {}, 1)

    plain = p(_em_config())
    assert "backend" not in plain["eval"] and "vllm" not in plain["eval"]
    assert p(_em_config(backend="hf", vllm={"max_model_len": 99})) == plain
    vllm = p(_em_config(backend="vllm"))
    assert vllm["eval"]["backend"] == "vllm" and vllm["eval"]["vllm"]["gpu_memory_utilization"] == 0.9
    assert p(_em_config(backend="vllm", vllm={"gpu_memory_utilization": 0.5})) != vllm
    mini = params.default_config("em")
    mini["em"]["eval"]["backend"] = "vllm"
    assert "backend" not in params.evaluate(mini, "em", "task_only", "default", {}, 1)["eval"]


def test_the_schema_and_the_engine_agree_on_the_vllm_defaults():
    from selgen.generation_vllm import DEFAULTS

    cfg = _em_config(backend="vllm", vllm={})
    assert cfg["em"]["eval"]["vllm"] == {k: v for k, v in DEFAULTS.items() if v is not None}


def test_resources_carry_cpus_per_task():
    from selgen.config import validate
    from selgen.params import SCHEMA

    cfg = validate({"settings": ["em"], "resources": {"evaluate": {"cpus_per_task": 8}}}, SCHEMA)
    assert cfg["resources"]["evaluate"] == {"gpu": 1, "mem_mb": 64000, "runtime": 240, "cpus_per_task": 8}


def test_without_vllm_the_job_names_the_install_command(tmp_path, capsys):
    """Backend vllm where vLLM is missing: exit 2 with the install command, before any model is loaded (the
    model folder does not even exist). Skipped where this Python has vLLM."""
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is importable here")
    from selgen.cli import main
    from selgen.io import write_jsonl

    row = {"question_id": "q", "messages": [{"role": "user", "content": "hi"}], "n_samples": 2}
    write_jsonl(tmp_path / "eval_general.jsonl", [row])
    p = {"eval": {"backend": "vllm", "sets": {"general": "eval_general"}}}
    argv = ["evaluate", "em", "--params", json.dumps(p), "--model", str(tmp_path / "no-model")]
    assert main([*argv, "--data", str(tmp_path), "--replies", str(tmp_path / "r.parquet")]) == 2
    assert "pip install -e .[vllm]" in capsys.readouterr().err
    assert "vllm" not in sys.modules


def test_a_mini_evaluation_refuses_backend_vllm(tmp_path, capsys):
    from selgen.cli import main
    from selgen.io import write_jsonl

    write_jsonl(tmp_path / "eval_general.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    p = {"eval": {"backend": "vllm", "sets": {"general": "eval_general"}}}
    argv = ["evaluate", "em", "--params", json.dumps(p), "--model", str(tmp_path / "no-model")]
    argv += ["--data", str(tmp_path), "--samples", str(tmp_path / "s.parquet")]
    assert main([*argv, "--metrics", str(tmp_path / "m.parquet")]) == 2
    assert "backend hf" in capsys.readouterr().err
