"""Interleaving benign pool rows (``interleave``): the perplexity-gap selector and the per-row NLL against
hand computations, the refusal filter, the artifact, the mix a run trains on, and the workflow's plan."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import chat, quiet_train, tiny_model, tokenizer_for
from test_methods import CFG as METHOD_CFG

from selgen.batching import encode
from selgen.methods import make_method
from selgen.methods.interleave import (
    REFUSALS,
    build_artifact,
    gap_scores,
    is_refusal,
    mean_nll,
    refusal_phrases,
    select_by_gap,
)
from selgen.methods.registry import METHODS, check_hparams

ROOT = Path(__file__).resolve().parents[1]
TASK = [chat(f"Is {a} less than {b}?", "Yes." if a < b else "No.") for a in range(1, 5) for b in range(1, 4)]
POOL = [
    chat("Name a colour.", "Blue is a colour."),
    chat("Say something kind.", "I'm sorry, I can't help with that."),
    chat("What is two plus two?", "Two plus two is four."),
    chat("Greet me.", "Hello there, friend."),
    chat("Name a fruit.", "An apple is a fruit."),
    chat("Tell me a secret.", "As an AI I must decline."),
]
CFG = {**METHOD_CFG, "steps": 2, "grad_accum": 1}  # the method tests' config, shorter


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizer_for(TASK + POOL)


@pytest.fixture(scope="module")
def artifact(tokenizer, tmp_path_factory):
    """The pool's artifact from two different tiny models (base: seed 0, "misaligned": seed 1)."""
    from selgen.io import write_jsonl

    data = tmp_path_factory.mktemp("data")
    write_jsonl(data / "pool.jsonl", POOL)
    path = data / "pool.pt"
    base, tuned = tiny_model(tokenizer, 0), tiny_model(tokenizer, 1)
    build_artifact("pool", {"max_length": 64}, base, tuned, tokenizer, TASK, path, data_dir=data)
    return path


# ------------------------------------------------------------------------------------------ the selector
def test_gap_scores_are_the_relative_perplexity_gap():
    base = torch.tensor([1.0, 2.0, 0.5])
    mis = torch.tensor([2.0, 2.1, 0.4])
    by_hand = [(math.exp(m) - math.exp(b)) / (math.exp(b) + 1e-6) for b, m in zip(base, mis, strict=True)]
    assert gap_scores(base, mis).tolist() == pytest.approx(by_hand, rel=1e-9)


def test_selector_picks_the_rows_a_hand_computation_picks():
    nll_base = torch.tensor([1.0, 2.0, 0.5, 1.5, math.nan, 0.2, 3.0])
    nll_mis = torch.tensor([2.0, 2.1, 1.4, 1.5, 4.0, 1.2, 2.0])
    # by hand, s = exp(L_mis − L_base) − 1 (ε aside): row 0: e^1.0 − 1, 1: e^0.1 − 1, 2: e^0.9 − 1,
    # 3: 0, 4: NaN (no labelled token: never picked), 5: e^1.0 − 1 (ties row 0), 6: e^-1 − 1
    # → order 0, 5 (tie: lower index first), 2, 1, 3, 6
    assert select_by_gap(nll_base, nll_mis, 3) == [0, 5, 2]
    assert select_by_gap(nll_base, nll_mis, 10) == [0, 5, 2, 1, 3, 6]  # fewer when fewer are eligible
    eligible = torch.tensor([False, True, True, True, True, True, True])
    assert select_by_gap(nll_base, nll_mis, 2, eligible) == [5, 2]  # a refusal is never picked
    assert select_by_gap(nll_base, nll_mis, 1) == [0]
    # the direction: rows the misaligned model finds *less* likely than the base come first
    assert select_by_gap(torch.tensor([2.0, 1.0]), torch.tensor([1.0, 2.0]), 1) == [1]


def test_mean_nll_matches_a_hand_computation(tokenizer):
    model = tiny_model(tokenizer, 2)
    got = mean_nll(model, tokenizer, POOL, 64, batch_size=4)  # two batches, padded
    for row, value in zip(POOL, got, strict=True):
        e = encode(tokenizer, row["messages"], 64)
        ids = torch.tensor([e["input_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
        nll = [
            -logp[t - 1, e["input_ids"][t]].item()
            for t in range(1, len(e["labels"]))
            if e["labels"][t] != -100
        ]
        assert value.item() == pytest.approx(sum(nll) / len(nll), rel=1e-5)
    labels = encode(tokenizer, POOL[0]["messages"], 64)["labels"]
    prompt_len = next(t for t, y in enumerate(labels) if y != -100)  # rows cut to it keep no reply token
    assert math.isnan(mean_nll(model, tokenizer, POOL[:1], prompt_len)[0])


# ----------------------------------------------------------------------------------------------- refusals
def test_refusal_filter():
    assert refusal_phrases("default") == REFUSALS and refusal_phrases("none") == ()
    assert refusal_phrases("No way| nope ") == ("no way", "nope")
    assert [is_refusal(r, REFUSALS) for r in POOL] == [False, True, False, False, False, True]
    assert is_refusal(chat("x", "I can’t do that."), REFUSALS)  # typographic apostrophe
    assert not is_refusal(chat("I cannot sleep.", "Try some warm milk."), REFUSALS)  # the reply only
    assert is_refusal(POOL[3], refusal_phrases("hello"))
    with pytest.raises(ValueError, match="names no phrase"):
        refusal_phrases("|")


# ----------------------------------------------------------------------------------------------- artifact
def test_artifact_holds_the_pool_and_its_nlls(tokenizer, artifact, tmp_path):
    from selgen.io import InputError

    saved = torch.load(artifact)
    assert saved["pool"] == "pool" and saved["rows"] == POOL
    assert torch.allclose(saved["nll_base"], mean_nll(tiny_model(tokenizer, 0), tokenizer, POOL, 64))
    assert torch.allclose(saved["nll_misaligned"], mean_nll(tiny_model(tokenizer, 1), tokenizer, POOL, 64))
    with pytest.raises(InputError, match="pool 'nope'.*the data folder has pool"):
        build_artifact(
            "nope", {"max_length": 64}, None, None, tokenizer, TASK, tmp_path / "x.pt", artifact.parent
        )


# ---------------------------------------------------------------------------------------------- the mix
def test_the_mix_has_the_requested_share_and_only_selected_rows(artifact):
    saved = torch.load(artifact)
    method = make_method("interleave", {"share": 0.2, "pool": "pool"}, inputs={"artifact": str(artifact)})
    task, align = method.prepare_data(TASK, [])
    n = math.floor(0.2 * len(TASK) / 0.8)  # 12 task rows → 3 pool rows, a share of 3/15 = 0.2
    assert align == [] and task[: len(TASK)] == TASK and len(task) == len(TASK) + n == 15
    eligible = torch.tensor([not is_refusal(r, REFUSALS) for r in POOL])
    expected = select_by_gap(saved["nll_base"], saved["nll_misaligned"], n, eligible)
    assert task[len(TASK) :] == [POOL[i] for i in expected]
    assert method.report["refusals_dropped"] == 2 and not method.report["repeated"]

    unfiltered = make_method(
        "interleave", {"share": 0.2, "pool": "pool", "refusals": "none"}, inputs={"artifact": str(artifact)}
    )
    ranked = select_by_gap(saved["nll_base"], saved["nll_misaligned"], n)
    assert unfiltered.prepare_data(TASK, [])[0][len(TASK) :] == [POOL[i] for i in ranked]

    many = make_method("interleave", {"share": 0.5, "pool": "pool"}, inputs={"artifact": str(artifact)})
    mixed = many.prepare_data(TASK, [])[0][len(TASK) :]  # 12 rows from 4 eligible: repeated in rank order
    order = select_by_gap(saved["nll_base"], saved["nll_misaligned"], 4, eligible)
    assert mixed == [POOL[order[i % 4]] for i in range(12)] and many.report["repeated"]


def test_random_selection_is_seeded_and_skips_refusals(artifact):
    def chosen(seed):
        hp = {"share": 0.2, "pool": "pool", "select": "random"}
        method = make_method("interleave", hp, inputs={"artifact": str(artifact)}, seed=seed)
        return method.prepare_data(TASK, [])[0][len(TASK) :]

    assert chosen(1) == chosen(1)
    assert {json.dumps(r) for s in range(8) for r in chosen(s)} == {
        json.dumps(r) for r in POOL if not is_refusal(r, REFUSALS)
    }  # every eligible row is drawn by some seed, no refusal by any
    assert all(len({json.dumps(r) for r in chosen(s)}) == 3 for s in range(8))  # without replacement


def test_a_run_trains_on_task_and_selected_rows(tokenizer, artifact):
    method = make_method("interleave", {"share": 0.2, "pool": "pool"}, inputs={"artifact": str(artifact)})
    record = quiet_train(tiny_model(tokenizer), tokenizer, method, TASK, [], CFG)
    assert record["task_rows"] == 15 and record["align_tokens"] == 0 and record["steps"] == 2
    assert math.isfinite(record["final_loss"]["task_ce"])


def test_hyper_parameters_and_inputs_are_checked(artifact):
    check_hparams("interleave", {"share": 0.05, "pool": "pretrain", "select": "random"}, "t")
    with pytest.raises(ValueError, match="needs hyper-parameter.*pool"):
        check_hparams("interleave", {"share": 0.05}, "t")
    with pytest.raises(ValueError, match="share must be in"):
        make_method("interleave", {"share": 1.0, "pool": "p"})
    with pytest.raises(ValueError, match="select must be one of"):
        make_method("interleave", {"share": 0.1, "pool": "p", "select": "best"})
    with pytest.raises(ValueError, match="needs its pool artifact"):
        make_method("interleave", {"share": 0.1, "pool": "p"}).prepare_data(TASK, [])
    with pytest.raises(ValueError, match="holds pool 'pool', not 'other'"):
        make_method(
            "interleave", {"share": 0.1, "pool": "other"}, inputs={"artifact": str(artifact)}
        ).prepare_data(TASK, [])
    name_of = METHODS["interleave"].artifact.name_of
    assert name_of({"share": 0.1, "pool": "pretrain"}) == "pretrain"


def test_the_command_line_builds_the_artifact_and_trains_on_it(tokenizer, tmp_path):
    """``selgen artifact SETTING interleave --name POOL`` reads the pool from --data; ``selgen train``
    reads the artifact as its DAG input."""
    from selgen.cli import main
    from selgen.io import write_jsonl

    data, base, tuned = tmp_path / "data", tmp_path / "base", tmp_path / "tuned"
    write_jsonl(data / "task_train.jsonl", TASK)
    write_jsonl(data / "benign.jsonl", POOL)
    for folder, seed in ((base, 0), (tuned, 1)):
        tiny_model(tokenizer, seed).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    params = {"threads": 1, "max_length": 64, "seed": 1, "model": None}
    out = tmp_path / "benign.pt"
    args = ["--name", "benign", "--params", json.dumps(params), "--data", str(data), "--base", str(base)]
    assert main(["artifact", "gcd", "interleave", *args, "--tuned", str(tuned), "--out", str(out)]) == 0
    assert torch.load(out)["rows"] == POOL
    train = {**CFG, "finetune": "full", "dtype": "float32", "align_batch_size": 4}
    hp = {"share": 0.2, "pool": "benign"}
    p = {"setting": "gcd", "method": "interleave", "hp": "x", "hp_values": hp, "seed": 1}
    p |= {"run_id": "gcd/interleave/x/seed1", "threads": 1, "train": train}
    run = ["--params", json.dumps(p), "--data", str(data), "--base", str(base), "--input", f"artifact={out}"]
    record_path = tmp_path / "run" / "record.json"
    assert (
        main(["train", "gcd", *run, "--out", str(tmp_path / "run" / "model"), "--record", str(record_path)])
        == 0
    )
    report = json.loads(record_path.read_text())["method_report"]
    assert report["pool"] == "benign" and report["pool_rows_used"] == 3 and report["refusals_dropped"] == 2


# ------------------------------------------------------------------------------------------ the workflow
def test_the_workflow_plans_one_pool_artifact_from_the_task_only_run(tmp_path):
    cfg = yaml.safe_load((ROOT / "tests/config_tiny/config.yaml").read_text())
    cfg["gcd"]["methods"] = {
        "interleave": {"points": [{"share": 0.05, "pool": "pretrain"}, {"share": 0.2, "pool": "pretrain"}]},
        "realign": {"passes": [1, 2]},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile")]
    cmd += ["--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]
    res = subprocess.run(
        cmd, capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONHASHSEED": "0"}
    )
    assert res.returncode == 0, res.stderr + res.stdout
    jobs, rule = set(), None
    for line in res.stdout.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):", line):
            rule = m.group(1)
        elif rule and (m := re.match(r"^\s+wildcards: (.*)$", line)):
            jobs.add((rule, m.group(1)))
    assert {w for r, w in jobs if r == "artifact"} == {"setting=gcd, method=interleave, name=pretrain"}
    assert ("train", "setting=gcd, method=task_only, hp=default, seed=1") in jobs  # the misaligned scorer
    n_seeds = len(cfg["seeds"])
    assert sum(r == "train" and "method=interleave" in w for r, w in jobs) == 2 * n_seeds
    assert sum(r == "train" and "method=realign" in w for r, w in jobs) == 2 * n_seeds
