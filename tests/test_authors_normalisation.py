"""Issue 14: the reference's normalisations (kl/repr ``reduction: authors``, dpo ``logps: mean`` and
``max_pairs``, mixed ``align_share``, ``max_grad_norm: null``) against hand computations on a tiny model, and
the defaults unchanged."""

import random

import pytest
import torch
import torch.nn.functional as F
from helpers import encoded, quiet_train, tiny_model, tokenizer_for
from test_methods import CFG, PAIRS, ROWS

from selgen.config import validate
from selgen.methods import make_method
from selgen.methods.dpo import first_pairs
from selgen.methods.kl import kl_per_position
from selgen.methods.sft import align_rows_for_share
from selgen.training import IGNORE, StepContext, collate, token_ce_sum

SCHEMA = "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizer_for(ROWS, "Maybe so.")


def step_ctx(align_batches, task_batches, max_length):
    n_task = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in task_batches)
    return StepContext(
        step=0, total_steps=1, n_task=n_task, n_align=1, align_batches=align_batches, max_length=max_length
    )


def perturb(model, scale=0.05, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn_like(p))


def log_probs(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return torch.log_softmax(logits.float(), dim=-1)


# ------------------------------------------------------------------------------------------------------ KL
def test_kl_authors_is_the_full_position_sum_over_rows_times_max_length(tokenizer):
    model = tiny_model(tokenizer)
    examples = encoded(tokenizer, ROWS[:5])
    micro = [collate(examples[:3], tokenizer.pad_token_id), collate(examples[3:], tokenizer.pad_token_id)]
    task = collate(encoded(tokenizer, ROWS[5:7]), tokenizer.pad_token_id)
    base = [log_probs(model, b).detach() for b in micro]
    authors, ours = make_method("kl", {"beta": 2.0, "reduction": "authors"}), make_method("kl", {"beta": 2.0})
    padded200 = make_method("kl", {"beta": 2.0, "reduction": "authors", "pad_length": 200})
    for m in (authors, ours, padded200):
        m.setup(model, tokenizer, examples, None)
    perturb(model)
    # by hand: KL(p_θ‖p_base) summed over the vocabulary at every non-padding position (prompt and response)
    sums = [
        (kl_per_position(log_probs(model, b), r, "reverse") * b["attention_mask"]).sum().item()
        for b, r in zip(micro, base, strict=True)
    ]
    n_real = sum(int(b["attention_mask"].sum()) for b in micro)
    ctx = step_ctx(micro, [task], max_length=64)
    loss, logs = authors.loss(model, task, micro[0], ctx)
    assert logs["kl"] == pytest.approx(sums[0] / (5 * 64), rel=1e-4)  # 5 rows in the step × max_length
    assert loss.item() == pytest.approx(logs["task_ce"] + 2.0 * logs["kl"], rel=1e-6)
    # ours: the same sum over the step's positions; authors = ours × fill fraction
    ours_kl = ours.loss(model, task, micro[0], ctx)[1]["kl"]
    assert ours_kl == pytest.approx(sums[0] / n_real, rel=1e-4)
    assert logs["kl"] == pytest.approx(ours_kl * n_real / (5 * 64), rel=1e-5)
    # pad_length replaces max_length in the denominator (GCD: the reference padded to 200)
    assert padded200.loss(model, task, micro[1], ctx)[1]["kl"] == pytest.approx(sums[1] / (5 * 200), rel=1e-4)


def test_kl_authors_rejects_assistant_only_and_bad_options():
    with pytest.raises(ValueError, match="assistant_only"):
        make_method("kl", {"beta": 1.0, "reduction": "authors", "assistant_only": True})
    with pytest.raises(ValueError, match="'ours' or 'authors'"):
        make_method("kl", {"beta": 1.0, "reduction": "reference"})
    with pytest.raises(ValueError, match="pad_length applies to reduction 'authors' only"):
        make_method("repr", {"beta": 1.0, "pad_length": 200})


# ---------------------------------------------------------------------------------------------------- repr
def hidden_by_hand(model, batch):
    """[B, T, L, D]: the full model's ``hidden_states[1:]`` (block outputs; the last after the final norm)"""
    out = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True
    )
    return torch.stack(out.hidden_states[1:], dim=2).float()


@pytest.mark.parametrize("length", [8, 64])  # 8: every row cut to the full length (no padding)
def test_repr_authors_sums_layers_and_divides_by_rows_times_max_length(tokenizer, length):
    model = tiny_model(tokenizer)
    examples = encoded(tokenizer, ROWS[:4], max_length=length)
    batch = collate(examples, tokenizer.pad_token_id)
    task = collate(encoded(tokenizer, ROWS[5:7]), tokenizer.pad_token_id)
    base = hidden_by_hand(model, batch).detach()
    authors, ours = (
        make_method("repr", {"beta": 1.0, "reduction": "authors"}),
        make_method("repr", {"beta": 1.0}),
    )
    for m in (authors, ours):
        m.setup(model, tokenizer, examples, None)
    assert authors.layers == [1, 2]  # layers "all" = 1..L
    perturb(model, 0.02)
    ctx = step_ctx([batch], [task], max_length=length)
    got_a = authors.loss(model, task, batch, ctx)[1]["repr"]
    got_o = ours.loss(model, task, batch, ctx)[1]["repr"]
    per_layer = (hidden_by_hand(model, batch) - base).pow(2).mean(-1)  # [B, T, L]: mean over hidden dim
    mask = batch["attention_mask"].bool()
    n_real, k = int(mask.sum()), per_layer.shape[-1]
    assert got_a == pytest.approx(per_layer.sum(-1)[mask].sum().item() / (4 * length), rel=1e-4)
    assert got_o == pytest.approx(per_layer.mean(-1)[mask].sum().item() / n_real, rel=1e-4)
    assert got_a == pytest.approx(got_o * k * n_real / (4 * length), rel=1e-5)  # the exact relation
    if length == 8:
        assert n_real == 4 * 8  # no padding: authors = K × ours
        assert got_a == pytest.approx(k * got_o, rel=1e-5)


# ----------------------------------------------------------------------------------------------------- DPO
def by_hand_logps(model, batch, average):
    logp = log_probs(model, batch)[:, :-1]
    labels = batch["labels"][:, 1:]
    mask = labels != IGNORE
    tok = logp.gather(-1, labels.clamp_min(0)[..., None]).squeeze(-1) * mask
    return tok.sum(-1) / (mask.sum(-1) if average else 1)


def test_dpo_mean_logps_and_loss_against_a_direct_computation(tokenizer):
    from selgen.losses import sequence_logps

    model = tiny_model(tokenizer)
    method = make_method("dpo", {"lam": 1.5, "beta": 0.5, "logps": "mean"})
    pairs = [method.encode_align(tokenizer, p, 64) | {"idx": i} for i, p in enumerate(PAIRS[:4])]
    batch = method.collate_align(pairs, tokenizer.pad_token_id, None)
    counts = (batch["labels"][:, 1:] != IGNORE).sum(-1)
    assert len(set(counts.tolist())) > 1  # replies of different lengths: the mean is not a fixed rescale
    summed = sequence_logps(model, batch)
    assert torch.allclose(sequence_logps(model, batch, average=True), summed / counts, rtol=1e-6)
    ref = by_hand_logps(model, batch, True).detach()
    method.setup(model, tokenizer, pairs, None)
    assert torch.allclose(method.ref[:, 0], ref[:4], atol=1e-5)  # the cached reference uses the mean too
    assert torch.allclose(method.ref[:, 1], ref[4:], atol=1e-5)
    perturb(model)
    task = collate(encoded(tokenizer, ROWS[5:7]), tokenizer.pad_token_id)
    ctx = step_ctx([batch], [task], max_length=64)
    loss, logs = method.loss(model, task, batch, ctx)
    pi = by_hand_logps(model, batch, True)
    expected = -F.logsigmoid(0.5 * ((pi[:4] - ref[:4]) - (pi[4:] - ref[4:]))).mean()
    assert logs["dpo"] == pytest.approx(expected.item(), rel=1e-4)
    ce = token_ce_sum(model, task).item() / ctx.n_task
    assert loss.item() == pytest.approx(ce + 1.5 * expected.item(), rel=1e-4)
    with pytest.raises(ValueError, match="'sum' or 'mean'"):
        make_method("dpo", {"lam": 1.0, "logps": "avg"})


def test_max_pairs_takes_exactly_n_first_ids_or_a_seeded_subset():
    gcd_like = [{"_id": 141 + i // 2, "prompt": [], "chosen": "a", "rejected": "b"} for i in range(24)]
    method = make_method("dpo", {"lam": 1.0, "max_pairs": 12})
    task, kept = method.prepare_data(["t"], gcd_like)
    assert task == ["t"] and kept == gcd_like[:12]  # the first 6 ids (the reference's train_split 0.3)
    assert {p["_id"] for p in kept} == set(range(141, 147))
    assert method.report == {"pairs_given": 24, "pairs_used": 12}
    shuffled = gcd_like[12:] + gcd_like[:12]  # whatever the file order: the lowest ids
    assert first_pairs(shuffled, 12) == gcd_like[:12]
    em_like = [{"prompt": [], "chosen": str(i), "rejected": "x", "subset": "s"} for i in range(198)]
    kept = make_method("dpo", {"lam": 1.0, "max_pairs": 99}).prepare_data([], em_like)[1]
    assert len(kept) == 99 and kept != em_like[:99]  # a random subset, not the subset-ordered head
    assert [int(p["chosen"]) for p in kept] == sorted(int(p["chosen"]) for p in kept)  # in file order
    assert kept == make_method("dpo", {"lam": 1.0, "max_pairs": 99}, seed=7).prepare_data([], em_like)[1]
    assert all(p in kept for p in first_pairs(em_like, 40))  # nested in n
    assert make_method("dpo", {"lam": 1.0, "max_pairs": 500}).prepare_data([], em_like)[1] == em_like


def test_max_pairs_on_the_gcd_builder_keeps_the_first_capital_ids():
    from selgen.settings.gcd.data import build_datasets

    cfg = validate({"settings": ["gcd"], "gcd": {}}, SCHEMA)["gcd"]["data"]
    data = build_datasets({**cfg, "pretrain": None, "proxy_train_split": 0.6})
    pairs = data["align_pairs"]
    ids = sorted({p["_id"] for p in pairs})
    kept = first_pairs(pairs, 2 * int(len(ids) * 0.5))
    assert {p["_id"] for p in kept} == set(ids[: int(len(ids) * 0.5)])


# --------------------------------------------------------------------------------------------------- mixed
def test_mixed_align_share_upsamples_cyclically_to_the_share():
    assert align_rows_for_share(6000, 0.1) == 666  # the reference's upsample_proxy_to 0.1 (seed_code §2.2)
    assert align_rows_for_share(6000, 0.2) == 1500 and align_rows_for_share(6000, 0.5) == 6000
    task, align = [{"t": i} for i in range(6000)], [{"a": i} for i in range(198)]
    mixed, rest = make_method("mixed", {"align_share": 0.1}).prepare_data(task, align)
    assert rest == [] and mixed[:6000] == task and len(mixed) == 6666
    assert mixed[6000:] == (align * 4)[:666]  # cyclic repetition
    assert make_method("mixed", {}).prepare_data(task, align)[0] == task + align  # default: once
    with pytest.raises(ValueError, match="align_share"):
        make_method("mixed", {"align_share": 1.0})


# ---------------------------------------------------------------------------------------------- clipping
def test_max_grad_norm_null_leaves_a_huge_gradient_unclipped(tokenizer, monkeypatch):
    seen = []
    step = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        seen.append(
            torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
        )
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    weights = {}
    for norm in (None, 1e-3):
        model = tiny_model(tokenizer)
        method = make_method("upweight", {"lam": 1e4})  # a huge alignment weight: a huge gradient
        quiet_train(
            model,
            tokenizer,
            method,
            ROWS,
            ROWS[:5],
            {**CFG, "steps": 1, "grad_accum": 1, "max_grad_norm": norm},
        )
        weights[norm] = model.lm_head.weight.detach().clone()
    unclipped, clipped = seen
    assert unclipped > 100 and clipped == pytest.approx(1e-3, rel=1e-4)
    assert not torch.allclose(weights[None], weights[1e-3])
    cfg = validate({"settings": ["gcd"], "gcd": {"train": {"max_grad_norm": None}}}, SCHEMA)
    assert cfg["gcd"]["train"]["max_grad_norm"] is None
    assert validate({"settings": ["gcd"], "gcd": {}}, SCHEMA)["gcd"]["train"]["max_grad_norm"] == 1.0


# ---------------------------------------------------------------------------------------------- defaults
@pytest.mark.parametrize(
    "name,default,explicit",
    [
        ("kl", {"beta": 1.0}, {"beta": 1.0, "reduction": "ours"}),
        ("repr", {"beta": 1.0}, {"beta": 1.0, "reduction": "ours"}),
        ("dpo", {"lam": 1.0}, {"lam": 1.0, "logps": "sum"}),
        ("mixed", {}, {}),
    ],
)
def test_defaults_keep_todays_loss(tokenizer, name, default, explicit):
    """A default run equals today's: one step's loss against the formula the method had before issue 14,
    and a short training run with the explicit default equal to the implicit one, exactly."""
    align = PAIRS if name == "dpo" else ROWS[:5]
    records = []
    for hp in (default, explicit):
        model = tiny_model(tokenizer)
        cfg = {**CFG, "steps": 1}
        records.append(quiet_train(model, tokenizer, make_method(name, hp), ROWS, align, cfg)["loss_history"])
    assert records[0] == records[1]
    if name == "mixed":
        return
    model = tiny_model(tokenizer)
    method = make_method(name, default)
    examples = (
        [method.encode_align(tokenizer, p, 64) | {"idx": i} for i, p in enumerate(PAIRS[:3])]
        if name == "dpo"
        else encoded(tokenizer, ROWS[:3])
    )
    batch = method.collate_align(examples, tokenizer.pad_token_id, None)
    before = hidden_by_hand(model, batch).detach() if name == "repr" else log_probs(model, batch).detach()
    method.setup(model, tokenizer, examples, None)
    perturb(model)
    task = collate(encoded(tokenizer, ROWS[5:7]), tokenizer.pad_token_id)
    ctx = step_ctx([batch], [task], max_length=64)
    got = method.loss(model, task, batch, ctx)[1]
    mask = batch["attention_mask"].bool()
    if name == "kl":  # mean over the step's non-padding positions
        today = kl_per_position(log_probs(model, batch), before, "reverse")[mask].mean().item()
    elif name == "repr":  # mean over layers and hidden dimension, then over non-padding positions
        today = (hidden_by_hand(model, batch) - before).pow(2).mean(dim=(-1, -2))[mask].mean().item()
    else:  # summed response log-probabilities
        pi, ref = by_hand_logps(model, batch, False), by_hand_logps_of(before, batch)
        today = -F.logsigmoid(0.1 * ((pi[:3] - ref[:3]) - (pi[3:] - ref[3:]))).mean().item()
    assert got[name] == pytest.approx(today, rel=1e-4)


def by_hand_logps_of(logp, batch):
    labels = batch["labels"][:, 1:]
    mask = labels != IGNORE
    return (logp[:, :-1].gather(-1, labels.clamp_min(0)[..., None]).squeeze(-1) * mask).sum(-1)


def test_new_hyper_parameters_are_registered():
    from selgen.methods.registry import check_hparams

    check_hparams("kl", {"beta": 1, "reduction": "authors", "pad_length": 200}, "t")
    check_hparams("repr", {"beta": 1, "reduction": "authors", "pad_length": 200}, "t")
    check_hparams("dpo", {"lam": 1, "logps": "mean", "max_pairs": 12}, "t")
    check_hparams("mixed", {"align_share": 0.1}, "t")
    random.seed(0)  # (first_pairs uses its own generator: the global one is irrelevant)
    assert first_pairs([{"x": i} for i in range(10)], 3) == first_pairs([{"x": i} for i in range(10)], 3)
