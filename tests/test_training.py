"""The training loop on a tiny random Llama: masking, padding, accumulation, loss going down, divergence."""

import math

import pytest
import torch
from helpers import chat, tiny_model, tokenizer_for

from selgen.batching import IGNORE, collate, encode, token_ce_sum
from selgen.methods import make_method
from selgen.methods.sft import TaskOnly
from selgen.training import TrainingDiverged, train

ROWS = [chat(f"What is {a} + {b}?", f"{a} + {b} = {a + b}") for a in range(1, 9) for b in range(1, 5)]
CFG = {
    "lr": 3e-3,
    "epochs": 1,
    "batch_size": 4,
    "grad_accum": 1,
    "max_length": 64,
    "warmup_steps": 0,
    "weight_decay": 0.0,
    "max_grad_norm": 1e9,
}


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizer_for(ROWS)


def test_labels_cover_only_the_assistant_turn(tokenizer):
    enc = encode(tokenizer, ROWS[0]["messages"], 64)
    labelled = [t for t, lab in zip(enc["input_ids"], enc["labels"], strict=True) if lab != IGNORE]
    assert tokenizer.decode(labelled) == "1 + 1 = 2<|end|>"
    assert enc["labels"][0] == IGNORE and not enc["truncated"]
    short = encode(tokenizer, ROWS[0]["messages"], 5)
    assert len(short["input_ids"]) == 5 and short["truncated"]


def test_padding_does_not_change_the_loss(tokenizer):
    model = tiny_model(tokenizer)
    model.eval()
    a, b = (encode(tokenizer, r["messages"], 64) for r in (ROWS[0], ROWS[-1]))
    b["input_ids"] = b["input_ids"] + b["input_ids"][:3]  # make b longer so a gets padded
    b["labels"] = b["labels"] + [IGNORE] * 3
    together = token_ce_sum(model, collate([a, b], tokenizer.pad_token_id))
    alone = token_ce_sum(model, collate([a], tokenizer.pad_token_id)) + token_ce_sum(
        model, collate([b], tokenizer.pad_token_id)
    )
    assert torch.allclose(together, alone, rtol=1e-4)


def grads_after_one_step(tokenizer, batch_size, accum):
    model = tiny_model(tokenizer)
    cfg = {**CFG, "batch_size": batch_size, "grad_accum": accum, "lr": 1e-12, "steps": 1}
    captured = {}

    class Capture(TaskOnly):
        def backward(self, model, task, align, ctx):
            logs = super().backward(model, task, align, ctx)
            captured["g"] = [p.grad.detach().clone() for p in model.parameters()]
            return logs

    train(model, tokenizer, Capture(), ROWS[:8], [], cfg, seed=0, progress=False)
    return captured["g"]


def test_accumulation_equals_one_big_batch(tokenizer):
    # rows have different lengths, so a per-micro-batch mean would weight them wrongly
    big = grads_after_one_step(tokenizer, batch_size=8, accum=1)
    acc = grads_after_one_step(tokenizer, batch_size=2, accum=4)
    for g1, g2 in zip(big, acc, strict=True):
        assert torch.allclose(g1, g2, atol=1e-6, rtol=1e-4)


def test_loss_falls(tokenizer):
    model = tiny_model(tokenizer)
    record = train(model, tokenizer, TaskOnly(), ROWS, [], {**CFG, "epochs": 15}, seed=0, progress=False)
    hist = record["loss_history"]
    assert hist[-1]["task_ce"] < 0.5 * hist[0]["task_ce"]
    assert record["steps"] == 15 * math.ceil(len(ROWS) / 4)
    assert record["tokens"] == record["task_tokens"] > 0 and record["align_tokens"] == 0
    assert record["peak_mem_mb"] > 0


def test_same_seed_same_weights(tokenizer):
    out = []
    for _ in range(2):
        model = tiny_model(tokenizer)
        train(model, tokenizer, TaskOnly(), ROWS, [], {**CFG, "steps": 5}, seed=7, progress=False)
        out.append(torch.cat([p.flatten() for p in model.parameters()]))
    assert torch.equal(out[0], out[1])


def test_upweight_adds_the_weighted_alignment_loss(tokenizer):
    model = tiny_model(tokenizer)
    task = collate([encode(tokenizer, ROWS[0]["messages"], 64)], tokenizer.pad_token_id)
    align = collate([encode(tokenizer, ROWS[5]["messages"], 64)], tokenizer.pad_token_id)
    from selgen.batching import StepContext, n_label_tokens

    ctx = StepContext(0, 1, n_label_tokens(task), n_label_tokens(align))
    loss, logs = make_method("upweight", {"lam": 2.5}).loss(model, task, align, ctx)
    expected = token_ce_sum(model, task) / ctx.n_task + 2.5 * token_ce_sum(model, align) / ctx.n_align
    assert torch.allclose(loss, expected)
    assert set(logs) == {"task_ce", "align_ce"}


def test_mixed_merges_the_streams():
    task, align = make_method("mixed", {}).prepare_data(ROWS[:3], ROWS[3:5])
    assert task == ROWS[:5] and align == []


def test_divergence_stops_with_a_clear_error(tokenizer):
    model = tiny_model(tokenizer)
    with torch.no_grad():
        model.model.embed_tokens.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="non-finite loss at step 1/"):
        train(model, tokenizer, TaskOnly(), ROWS, [], {**CFG, "steps": 3}, seed=0, progress=False)


def test_lora_adapter_trains_saves_and_reloads_merged(tokenizer, tmp_path):
    from selgen.models import add_lora, load_model, save_trained

    base_dir, adapter_dir = tmp_path / "base", tmp_path / "adapter"
    tiny_model(tokenizer).save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    model, tok = load_model(str(base_dir))
    lora = {
        "r": 4,
        "alpha": 8,
        "dropout": 0.0,
        "use_rslora": True,
        "target_modules": ["q_proj", "v_proj", "absent"],
    }
    model = add_lora(model, lora)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    train(model, tok, TaskOnly(), ROWS, [], {**CFG, "steps": 5, "lr": 1e-2}, seed=0, progress=False)
    save_trained(model, tok, adapter_dir, base=str(base_dir))
    reloaded, _ = load_model(str(adapter_dir))
    batch = collate([encode(tok, ROWS[3]["messages"], 64)], tok.pad_token_id)
    with torch.no_grad():
        tuned = model(input_ids=batch["input_ids"]).logits
        again = reloaded(input_ids=batch["input_ids"]).logits
        with model.disable_adapter():
            untouched = model(input_ids=batch["input_ids"]).logits
    assert torch.allclose(tuned, again, atol=1e-5)
    assert not torch.allclose(tuned, untouched, atol=1e-3)


def test_length_grouped_batches_cover_every_row_each_epoch_with_less_padding():
    import random

    from selgen.batching import batches

    rng = random.Random(0)
    examples = [{"input_ids": [0] * rng.choice([5, 10, 40, 120]), "i": i} for i in range(160)]

    def epoch(stream, n=10):
        return [next(stream) for _ in range(n)]  # 160 rows / 16 = 10 micro-batches per epoch

    def padded(batch_list):
        return sum(len(b) * max(len(e["input_ids"]) for e in b) for b in batch_list)

    plain, grouped = batches(examples, 16, seed=1), batches(examples, 16, seed=1, group_by_length=True)
    for _ in range(2):
        a, b = epoch(plain), epoch(grouped)
        assert sorted(e["i"] for mb in b for e in mb) == list(range(160))  # every row once per epoch
        assert padded(b) < 0.8 * padded(a)
    again = batches(examples, 16, seed=1, group_by_length=True)
    assert [e["i"] for mb in epoch(again) for e in mb] != [e["i"] for mb in epoch(again) for e in mb]
    first = [[e["i"] for e in mb] for mb in epoch(batches(examples, 16, seed=1, group_by_length=True))]
    assert first == [
        [e["i"] for e in mb] for mb in epoch(batches(examples, 16, seed=1, group_by_length=True))
    ]


def test_warmup_is_capped_at_half_the_run_unless_the_reference_schedule_is_asked_for():
    """A 2-step run with warm-up 5: capped (default), the second step gets the full learning rate; with
    `warmup_cap: false` (the reference's transformers schedule) it gets 1/5 of it."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    from selgen.training import _warmup

    def lrs(cfg):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = get_linear_schedule_with_warmup(opt, _warmup(cfg, 2), 2)
        out = []
        for _ in range(2):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    assert _warmup({"warmup_steps": 5}, 2) == 1 and lrs({"warmup_steps": 5}) == [0.0, 1.0]
    assert _warmup({"warmup_steps": 5, "warmup_cap": False}, 2) == 5
    assert lrs({"warmup_steps": 5, "warmup_cap": False}) == pytest.approx([0.0, 0.2])
    assert _warmup({"warmup_steps": 5, "warmup_cap": False}, 100) == _warmup({"warmup_steps": 5}, 100) == 5
