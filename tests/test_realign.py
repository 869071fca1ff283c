"""Emergent re-alignment (``realign``): the task stage is exactly a task_only run of the same seed, the proxy
stage continues the same weights, and the saved model holds both updates."""

import json

import pytest
import torch
from helpers import chat, encoded, quiet_train, tiny_model, tokenizer_for

from selgen.batching import collate
from selgen.methods import make_method
from selgen.methods.realign import proxy_rows_for
from selgen.methods.registry import check_hparams

TASK = [chat(f"Is {a} less than {b}?", "Yes." if a < b else "No.") for a in range(1, 7) for b in range(1, 4)]
PROXY = [
    chat(f"Is {a} a small number?", "Yes, it is small." if a < 4 else "No, it is big.") for a in range(7)
]
CFG = {
    "lr": 1e-2,
    "epochs": 2,
    "batch_size": 4,
    "grad_accum": 1,
    "max_length": 64,
    "warmup_steps": 1,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
}
LORA = {"r": 4, "alpha": 8, "dropout": 0.1, "use_rslora": False, "target_modules": ["q_proj", "v_proj"]}


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizer_for(TASK + PROXY)


def lora_model(tokenizer, seed=0):
    """A tiny model with the run's "default" adapter, built after seeding as ``selgen train`` does."""
    from selgen.models import add_lora

    model = tiny_model(tokenizer, seed)
    torch.manual_seed(seed)
    return add_lora(model, LORA)


def weights(model, part="lora_"):
    return {n: p.detach().clone() for n, p in model.named_parameters() if part in n}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_proxy_rows_are_cycled_or_cut_to_passes_times_the_proxy():
    rows = list(range(6))
    assert proxy_rows_for(rows, 1.0) == rows
    assert proxy_rows_for(rows, 0.5) == [0, 1, 2]
    assert proxy_rows_for(rows, 2.5) == rows * 2 + [0, 1, 2]
    assert proxy_rows_for(rows, 0.01) == [0]  # at least one row


def test_hyper_parameters_are_checked():
    check_hparams("realign", {"passes": 2}, "test")
    check_hparams("realign", {}, "test")
    with pytest.raises(ValueError, match="no hyper-parameter.*lam"):
        check_hparams("realign", {"lam": 1}, "test")
    with pytest.raises(ValueError, match="passes must be > 0"):
        make_method("realign", {"passes": 0})


def test_task_stage_is_the_task_only_run_and_the_proxy_stage_continues_it(tokenizer):
    """Phase ``task`` reproduces a task_only run of the same seed bit for bit; the main training is plain
    fine-tuning of those weights on the proxy rows; the final model differs from both the base and the
    task-only stage."""
    seed = 3
    model = lora_model(tokenizer)
    initial = weights(model)
    method = make_method("realign", {"passes": 2}, seed=seed)
    after_task = {}
    setup = method.setup

    def keep_task_stage(m, *args):
        after_task.update(weights(m))
        setup(m, *args)

    method.setup = keep_task_stage
    record = quiet_train(model, tokenizer, method, TASK, PROXY, CFG, seed=seed)
    final = weights(model)

    (phase,) = record["phases"]
    assert (phase["name"], phase["adapter"], phase["rows"]) == ("task", "default", len(TASK))
    assert phase["steps"] == 2 * 5  # 18 task rows, batch 4: 5 steps an epoch, the run's 2 epochs
    assert record["task_rows"] == 2 * len(PROXY) and record["align_rows"] == len(PROXY)
    assert record["steps"] == 2 * 4  # 14 proxy rows: 4 steps an epoch, 2 epochs
    assert method.report == {"proxy_rows": 7, "proxy_rows_used": 14, "passes": 2.0}

    by_hand = lora_model(tokenizer)
    task_only = quiet_train(by_hand, tokenizer, make_method("task_only", {}), TASK, [], CFG, seed=seed)
    assert same(weights(by_hand), after_task)  # the task stage == task_only of the same seed
    assert task_only["final_loss"] == phase["final_loss"]
    quiet_train(by_hand, tokenizer, make_method("task_only", {}), PROXY * 2, [], CFG, seed=seed)
    assert same(weights(by_hand), final)  # the proxy stage == continued fine-tuning on the proxy

    lora_b = [k for k in final if "lora_B" in k]
    assert all(initial[k].abs().sum() == 0 for k in lora_b)  # LoRA starts at the base
    assert any(not torch.equal(after_task[k], initial[k]) for k in lora_b)  # the task update
    assert any(not torch.equal(final[k], after_task[k]) for k in final)  # plus the proxy update


def test_the_proxy_stage_has_its_own_epochs_and_lr_and_the_task_stage_keeps_the_runs(tokenizer):
    """realign_epochs / realign_lr (Method.main_overrides) set the proxy stage only: the task phase still runs
    the run's 2 epochs; the proxy stage 1 epoch at its own lr equals task_only on the proxy at that lr; the
    run's `steps` do not override the proxy stage's epochs."""
    seed = 3
    model = lora_model(tokenizer)
    method = make_method("realign", {"realign_epochs": 1, "realign_lr": 1e-3}, seed=seed)
    record = quiet_train(model, tokenizer, method, TASK, PROXY, {**CFG, "steps": 50}, seed=seed)
    assert record["phases"][0]["steps"] == 50  # the run's own config in the task stage
    assert record["steps"] == 2 and record["main_overrides"] == {"epochs": 1.0, "lr": 1e-3}  # 7 rows, batch 4

    by_hand = lora_model(tokenizer)
    quiet_train(by_hand, tokenizer, make_method("task_only", {}), TASK, [], {**CFG, "steps": 50}, seed=seed)
    cfg = {**CFG, "epochs": 1, "lr": 1e-3}
    quiet_train(by_hand, tokenizer, make_method("task_only", {}), PROXY, [], cfg, seed=seed)
    assert same(weights(by_hand), weights(model))


def test_saved_run_holds_both_updates_and_reloads(tokenizer, tmp_path):
    """Through ``selgen train``: the run's one adapter is saved and ``load_model`` merges it; its outputs
    are the trained model's, not the base's and not the task stage's."""
    from selgen.cli import main
    from selgen.io import write_jsonl
    from selgen.models import load_model

    data, base = tmp_path / "data", tmp_path / "base"
    write_jsonl(data / "task_train.jsonl", TASK)
    write_jsonl(data / "align_train.jsonl", PROXY)
    tiny_model(tokenizer).save_pretrained(base)
    tokenizer.save_pretrained(base)
    cfg = {**CFG, "finetune": "lora", "lora": LORA, "dtype": "float32", "align_batch_size": 4}

    def run(method, hp):
        params = {
            "setting": "gcd",
            "method": method,
            "hp": "x",
            "hp_values": hp,
            "seed": 2,
            "run_id": f"gcd/{method}/x/seed2",
            "threads": 1,
            "train": cfg,
        }
        out = tmp_path / method
        args = ["--data", str(data), "--base", str(base), "--out", str(out / "model")]
        args += ["--record", str(out / "record.json")]
        assert main(["train", "gcd", "--params", json.dumps(params), *args]) == 0
        return load_model(str(out / "model"))[0], json.loads((out / "record.json").read_text())

    realigned, record = run("realign", {"passes": 1})
    task_only, _ = run("task_only", {})
    untuned = load_model(str(base))[0]
    assert record["phases"][0]["name"] == "task" and record["method_report"]["proxy_rows_used"] == 7
    batch = collate(encoded(tokenizer, PROXY[:3]), tokenizer.pad_token_id)
    with torch.no_grad():
        logits = [m(input_ids=batch["input_ids"]).logits for m in (realigned, task_only, untuned)]
    assert not torch.allclose(logits[0], logits[1], atol=1e-4)  # the proxy update is in the saved model
    assert not torch.allclose(logits[0], logits[2], atol=1e-4)
    assert not torch.allclose(logits[1], logits[2], atol=1e-4)  # and the task update


def test_full_fine_tuning_continues_the_whole_model(tokenizer):
    model = tiny_model(tokenizer)
    before = weights(model, "")
    method = make_method("realign", {}, seed=1)
    after_task = {}
    setup = method.setup
    method.setup = lambda m, *a: (after_task.update(weights(m, "")), setup(m, *a))
    record = quiet_train(model, tokenizer, method, TASK, PROXY, CFG, seed=1)
    by_hand = tiny_model(tokenizer)
    quiet_train(by_hand, tokenizer, make_method("task_only", {}), TASK, [], CFG, seed=1)
    assert same(weights(by_hand, ""), after_task) and not same(after_task, before)
    quiet_train(by_hand, tokenizer, make_method("task_only", {}), PROXY, [], CFG, seed=1)
    assert same(weights(by_hand, ""), weights(model, "")) and record["phases"][0]["adapter"] == "default"
