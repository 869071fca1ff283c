"""Issue 15: tests strong enough to refactor under. Each test pins a property of a method's loss that a
plausible refactoring bug breaks and that the hand-computation tests of test_methods.py /
test_authors_normalisation.py did not reach (they ran on unpadded batches, at θ = reference, on one
micro-batch, or never looked at the gradient):

- repr: padding masked (a padded batch equals its rows alone; zero at the base), layers averaged under
  ``reduction: ours``;
- O-LoRA: the orthogonality penalty enters the gradient of a real step, once per optimizer step, and drives
  the task adapter towards orthogonality;
- kl (and repr, dpo): micro-batch terms normalised by the whole optimizer step, so gradient accumulation over
  micro-batches of different sizes gives the one-big-batch gradient;
- dpo: chosen and rejected in their places (the term falls below log 2 when the chosen replies rise against
  the reference, equals the hand computation, and training on it raises the chosen-over-rejected margin).
"""

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import chat, encoded, quiet_train, tiny_model, tokenizer_for
from test_authors_normalisation import by_hand_logps, hidden_by_hand, perturb, step_ctx
from test_methods import CFG

from selgen.batching import StepContext, batches, collate, encode, n_label_tokens, token_ce_sum
from selgen.methods import make_method

# rows of different lengths (digits are single tokens), so that collated batches carry padding
VARIED = [
    chat("Is 1 less than 2?", "Yes."),
    chat("Is 314 less than 15?", "No, it is not."),
    chat("Is 27 less than 1828?", "Yes, it is."),
    chat("Is 6 less than 5?", "No."),
    chat("Is 41421 less than 3?", "No, 41421 is more."),
    chat("Is 2 less than 71?", "Yes, 2 is less."),
    chat("Is 99 less than 100?", "Yes."),
    chat("Is 5 less than 5?", "No, they are equal."),
]
VARIED_PAIRS = [
    {"prompt": r["messages"][:1], "chosen": r["messages"][1]["content"], "rejected": "Maybe so."}
    for r in VARIED
]
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "use_rslora": False, "target_modules": ["q_proj", "v_proj"]}


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizer_for(VARIED, "Maybe so.")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one intra-op thread is fastest, and on a loaded 2-core machine two threads spin against
    other processes (this file: ~10 s with one thread, 35-75 s with two under load). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def task_batch(tokenizer):
    return collate(encoded(tokenizer, VARIED[5:7]), tokenizer.pad_token_id)


# ---------------------------------------------------------------------------------------------------- repr
def repr_by_hand(model, rows_alone, base_alone, layers):
    """Σ over the rows' positions of the per-position distance (mean over hidden dim and ``layers``), each row
    run alone (no padding anywhere), and the number of positions."""
    total, n = 0.0, 0
    for batch, base in zip(rows_alone, base_alone, strict=True):
        d = (hidden_by_hand(model, batch) - base)[:, :, [i - 1 for i in layers]].pow(2).mean(dim=(-1, -2))
        total, n = total + d.sum().item(), n + d.numel()
    return total, n


def test_repr_masks_padding(tokenizer):
    """On a padded batch the term is zero at the base (padding positions would carry the tuned model's
    states against the cache's zeros) and, after a change, equals the rows' distances computed alone."""
    model = tiny_model(tokenizer)
    examples = encoded(tokenizer, VARIED[:4])
    batch = collate(examples, tokenizer.pad_token_id)
    assert (batch["attention_mask"] == 0).sum() >= 10  # the batch really is padded
    alone = [collate([e], tokenizer.pad_token_id) for e in examples]
    base = [hidden_by_hand(model, b).detach() for b in alone]
    method = make_method("repr", {"beta": 2.0, "layers": "1,2"})
    method.setup(model, tokenizer, examples, None)
    task = task_batch(tokenizer)
    ctx = step_ctx([batch], [task], max_length=64)
    assert method.loss(model, task, batch, ctx)[1]["repr"] == pytest.approx(0.0, abs=1e-10)
    perturb(model, 0.02)
    loss, logs = method.loss(model, task, batch, ctx)
    total, n = repr_by_hand(model, alone, base, [1, 2])
    assert n == int(batch["attention_mask"].sum())
    assert logs["repr"] == pytest.approx(total / n, rel=1e-4)
    assert loss.item() == pytest.approx(logs["task_ce"] + 2.0 * total / n, rel=1e-4)


def test_repr_ours_averages_the_chosen_layers(tokenizer):
    """``reduction: ours``: the term over layers 1,2 (and ``all``) is the mean of the single-layer terms,
    not their sum, in the log and in the loss."""
    model = tiny_model(tokenizer)
    examples = encoded(tokenizer, VARIED[:4])
    batch = collate(examples, tokenizer.pad_token_id)
    alone = [collate([e], tokenizer.pad_token_id) for e in examples]
    base = [hidden_by_hand(model, b).detach() for b in alone]
    methods = {spec: make_method("repr", {"beta": 3.0, "layers": spec}) for spec in ("1", "2", "1,2", "all")}
    for m in methods.values():
        m.setup(model, tokenizer, examples, None)
    perturb(model, 0.02)
    task = task_batch(tokenizer)
    ctx = step_ctx([batch], [task], max_length=64)
    out = {spec: m.loss(model, task, batch, ctx) for spec, m in methods.items()}
    term = {spec: logs["repr"] for spec, (_, logs) in out.items()}
    assert term["1"] != pytest.approx(term["2"], rel=0.1)  # layers differ: a sum is no rescaled mean
    mean = (term["1"] + term["2"]) / 2
    for spec in ("1,2", "all"):
        assert term[spec] == pytest.approx(mean, rel=1e-5)
        loss, logs = out[spec]
        assert loss.item() == pytest.approx(logs["task_ce"] + 3.0 * mean, rel=1e-5)
    total, n = repr_by_hand(model, alone, base, [1, 2])
    assert term["1,2"] == pytest.approx(total / n, rel=1e-4)


# --------------------------------------------------------------------------------------------------- O-LoRA
def run_o_lora(tokenizer, lam1, steps):
    """A real O-LoRA run (grad_accum 2); returns the method and, at the first optimizer step (before
    clipping), the task adapters' A, the alignment adapters' A and the task A's accumulated gradients."""
    from selgen.models import add_lora

    model = add_lora(tiny_model(tokenizer), LORA)
    method = make_method("o_lora", {"lam1": lam1, "align_epochs": 1})
    first = {}

    def spy(model_, ctx):
        if not first:
            first["old"] = [a.detach().clone() for a, _ in method.pairs]
            first["task"] = [t.detach().clone() for _, t in method.pairs]
            first["grad"] = [t.grad.clone() for _, t in method.pairs]

    method.before_step = spy
    quiet_train(model, tokenizer, method, VARIED, VARIED[:6], {**CFG, "steps": steps})
    return method, first


def test_o_lora_penalty_enters_the_step_gradient_once_and_makes_adapters_orthogonal(tokenizer):
    from selgen.methods.o_lora import orthogonality_penalty

    lam1 = 0.5
    off, first_off = run_o_lora(tokenizer, 0.0, steps=4)
    on, first_on = run_o_lora(tokenizer, lam1, steps=4)
    assert len(on.pairs) == 4  # 2 layers × (q_proj, v_proj)
    for name in ("old", "task"):  # both runs start the step from the same adapters
        assert all(torch.equal(a, b) for a, b in zip(first_off[name], first_on[name], strict=True))
    # the step's gradient = the task CE's (the run without penalty) + λ₁ ∂/∂A_task Σ|A_old A_taskᵀ|, the
    # latter by hand: sign(A_old A_taskᵀ)ᵀ A_old; added once per step although grad_accum = 2
    for old, task, g_off, g_on in zip(
        first_on["old"], first_on["task"], first_off["grad"], first_on["grad"], strict=True
    ):
        by_hand = lam1 * torch.sign(old @ task.T).T @ old
        assert by_hand.abs().max() > 1e-3
        torch.testing.assert_close(g_on - g_off, by_hand, atol=1e-6, rtol=1e-4)
    # and it does what it is for: after a few steps the task adapter is more orthogonal to the alignment one
    start = orthogonality_penalty(zip(first_on["old"], first_on["task"], strict=True)).item()
    with torch.no_grad():
        end_on, end_off = orthogonality_penalty(on.pairs).item(), orthogonality_penalty(off.pairs).item()
    assert end_on < 0.9 * end_off and end_on < 0.9 * start


# ------------------------------------------------------------------------------ accumulation (kl, repr, dpo)
def accumulated_grads(method, model, task_mbs, align_mbs):
    """The gradient one optimizer step accumulates over the micro-batches, as the training loop calls the
    method (``StepContext`` over the whole step, ``micro`` set per micro-batch)."""
    model.zero_grad(set_to_none=True)
    ctx = StepContext(
        step=0,
        total_steps=1,
        n_task=sum(n_label_tokens(b) for b in task_mbs),
        n_align=sum(n_label_tokens(b) for b in align_mbs),
        align_batches=align_mbs,
        max_length=64,
    )
    for micro, (tb, ab) in enumerate(zip(task_mbs, align_mbs, strict=True)):
        ctx.micro = micro
        method.backward(model, tb, ab, ctx)
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(
    "name,hp",
    [
        ("kl", {"beta": 5.0}),
        ("kl", {"beta": 5.0, "direction": "forward", "assistant_only": True}),
        ("repr", {"beta": 5.0}),
        ("dpo", {"lam": 5.0, "beta": 0.5}),
    ],
)
def test_accumulated_gradient_equals_the_one_big_batch_gradient(tokenizer, name, hp):
    """Micro-batches of 2 and 3 alignment rows (different numbers of penalised positions): the penalty of
    each is divided by the step's positions, so the accumulated gradient is the big batch's."""
    model = tiny_model(tokenizer)
    method = make_method(name, hp)
    examples = [
        method.encode_align(tokenizer, r, 64) | {"idx": i}
        for i, r in enumerate(VARIED_PAIRS[:5] if name == "dpo" else VARIED[:5])
    ]
    method.setup(model, tokenizer, examples, None)
    perturb(model, 0.05)  # away from the base: the penalty and its gradient are not zero
    pad = tokenizer.pad_token_id
    align_mbs = [method.collate_align(examples[:2], pad, None), method.collate_align(examples[2:], pad, None)]
    big_align = method.collate_align(examples, pad, None)
    sizes = [int(b["attention_mask"].sum()) for b in align_mbs]
    assert sizes[1] > 1.5 * sizes[0]
    task = encoded(tokenizer, VARIED[3:8])
    task_mbs = [collate(task[:3], pad), collate(task[3:], pad)]
    accumulated = accumulated_grads(method, model, task_mbs, align_mbs)
    one = accumulated_grads(method, model, [collate(task, pad)], [big_align])
    assert set(accumulated) == set(one)
    for n, g in one.items():
        torch.testing.assert_close(accumulated[n], g, atol=1e-6, rtol=1e-4, msg=lambda m, n=n: f"{n}: {m}")
    # sensitivity: the penalty's share of the gradient is large (a mis-normalised penalty would show)
    without = accumulated_grads(make_method("task_only", {}), model, task_mbs, align_mbs)
    share = (
        sum((one[n] - without[n]).norm() ** 2 for n in one) ** 0.5
        / sum(g.norm() ** 2 for g in one.values()) ** 0.5
    )
    assert share > 0.1


def test_kl_gradient_accumulation_in_the_training_loop(tokenizer):
    """The loop with grad_accum 2 (batch 2, alignment batch 2) and with grad_accum 1 (batch 4, alignment batch
    4) sees the same rows in the first step; their first-step gradients agree. The model is moved off the base
    after the reference is taken, so that the KL's gradient is not zero in that step."""
    align_rows = VARIED[:6]
    order = next(batches(align_rows, 4, seed=0 + 1))  # the loop's alignment stream (seed + 1)
    lengths = [len(encode(tokenizer, r["messages"], 64)["input_ids"]) for r in order]
    assert sum(lengths[:2]) != sum(lengths[2:])  # micro-batches of different numbers of positions
    grads = []
    for bs, accum in ((2, 2), (4, 1)):
        model = tiny_model(tokenizer)
        method = make_method("kl", {"beta": 50.0})
        captured = {}

        def setup_then_move(*args, model=model, setup=method.setup):
            setup(*args)
            perturb(model, 0.05)

        def spy(model_, ctx, model=model, captured=captured):
            if not captured:
                captured.update({n: p.grad.clone() for n, p in model.named_parameters()})

        method.setup, method.before_step = setup_then_move, spy
        cfg = {**CFG, "steps": 1, "batch_size": bs, "align_batch_size": bs, "grad_accum": accum}
        quiet_train(model, tokenizer, method, VARIED, align_rows, cfg)
        grads.append(captured)
    for n, g in grads[1].items():
        torch.testing.assert_close(grads[0][n], g, atol=1e-6, rtol=1e-4, msg=lambda m, n=n: f"{n}: {m}")


# ------------------------------------------------------------------------------------------------------ DPO
def test_dpo_term_falls_below_log2_when_the_chosen_replies_rise(tokenizer):
    """Move the policy towards the chosen replies (CE steps on them only): the DPO term equals
    −log σ(β[(π_c − ref_c) − (π_r − ref_r)]) computed by hand and lies below log 2."""
    model = tiny_model(tokenizer)
    method = make_method("dpo", {"lam": 2.0, "beta": 0.5})
    pairs = [method.encode_align(tokenizer, p, 64) | {"idx": i} for i, p in enumerate(VARIED_PAIRS[:4])]
    batch = method.collate_align(pairs, tokenizer.pad_token_id, None)
    ref = by_hand_logps(model, batch, False).detach()  # the reference, before any change
    method.setup(model, tokenizer, pairs, None)
    chosen = collate([p["chosen"] for p in pairs], tokenizer.pad_token_id)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(5):
        (token_ce_sum(model, chosen) / n_label_tokens(chosen)).backward()
        optimizer.step()
        optimizer.zero_grad()
    pi = by_hand_logps(model, batch, False).detach()
    margins = (pi[:4] - ref[:4]) - (pi[4:] - ref[4:])
    assert (margins > 0.5).all()  # the chosen replies rose against the rejected ones
    task = task_batch(tokenizer)
    ctx = step_ctx([batch], [task], max_length=64)
    loss, logs = method.loss(model, task, batch, ctx)
    expected = -F.logsigmoid(0.5 * margins).mean().item()
    assert logs["dpo"] < math.log(2) - 0.05
    assert logs["dpo"] == pytest.approx(expected, rel=1e-4)
    assert loss.item() == pytest.approx(logs["task_ce"] + 2.0 * expected, rel=1e-4)


def test_dpo_training_raises_the_chosen_over_rejected_margin(tokenizer):
    """The loop minimising the DPO term (a large λ) moves the chosen replies up against the rejected ones,
    relative to the reference computed by hand before training."""
    model = tiny_model(tokenizer)
    method = make_method("dpo", {"lam": 20.0, "beta": 0.5})
    pairs = [method.encode_align(tokenizer, p, 64) | {"idx": i} for i, p in enumerate(VARIED_PAIRS[:6])]
    batch = method.collate_align(pairs, tokenizer.pad_token_id, None)
    ref = by_hand_logps(model, batch, False).detach()
    cfg = {**CFG, "steps": 4, "grad_accum": 1, "align_batch_size": 6}
    quiet_train(model, tokenizer, method, VARIED, VARIED_PAIRS[:6], cfg)
    with torch.no_grad():
        pi = by_hand_logps(model, batch, False)
    margins = (pi[:6] - ref[:6]) - (pi[6:] - ref[6:])
    assert margins.mean() > 1.0
