"""Method math on tiny tensors and a tiny model: each term against a hand computation."""

import math

import pytest
import torch
from helpers import chat, encoded, quiet_train, tiny_model, tokenizer_for

from selgen.batching import IGNORE, collate, encode
from selgen.config import hp_label
from selgen.methods import make_method
from selgen.methods.dpo import dpo_loss, sequence_logps
from selgen.methods.grad_proj import project
from selgen.methods.inoculation import with_system_prompt
from selgen.methods.kl import kl_per_position, kl_positions
from selgen.reference import Reference

ROWS = [chat(f"Is {a} less than {b}?", "Yes." if a < b else "No.") for a in range(1, 7) for b in range(1, 4)]
PAIRS = [
    {"prompt": r["messages"][:1], "chosen": r["messages"][1]["content"], "rejected": "Maybe so."}
    for r in ROWS[:6]
]
CFG = {
    "lr": 1e-2,
    "steps": 3,
    "batch_size": 4,
    "align_batch_size": 3,
    "grad_accum": 2,
    "max_length": 64,
    "warmup_steps": 0,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
}


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizer_for(ROWS, "Maybe so.")


# ------------------------------------------------------------------------------------------------------ KL
def test_kl_matches_hand_computation_both_directions():
    p = torch.tensor([0.7, 0.2, 0.1])
    q = torch.tensor([0.5, 0.3, 0.2])
    reverse = sum(pi * math.log(pi / qi) for pi, qi in zip(p.tolist(), q.tolist(), strict=True))
    forward = sum(qi * math.log(qi / pi) for pi, qi in zip(p.tolist(), q.tolist(), strict=True))
    assert kl_per_position(p.log(), q.log(), "reverse").item() == pytest.approx(reverse, rel=1e-6)
    assert kl_per_position(p.log(), q.log(), "forward").item() == pytest.approx(forward, rel=1e-6)
    assert reverse != pytest.approx(forward)  # the direction matters on this example


def full_log_probs(model, batch):
    """The unchunked computation: the model's own [B, T, V] logits, log-softmaxed in float32."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return torch.log_softmax(logits.float(), dim=-1)


@pytest.mark.parametrize("chunk_mb", [256, 0.002])  # one chunk; chunks of a few positions (checkpointed)
def test_kl_term_ignores_padding_and_equals_the_full_vocabulary_kl(tokenizer, monkeypatch, chunk_mb):
    from selgen import losses

    monkeypatch.setattr(losses, "CHUNK_MB", chunk_mb)
    model = tiny_model(tokenizer)
    method = make_method("kl", {"beta": 1.0})
    short, long_ = (encode(tokenizer, r["messages"], 64) for r in (ROWS[0], ROWS[-1]))
    long_["input_ids"] += long_["input_ids"][:4]
    long_["labels"] += [IGNORE] * 4
    for i, e in enumerate((short, long_)):
        e["idx"] = i
    method.setup(model, tokenizer, [short, long_], None)
    padded = collate([short, long_], tokenizer.pad_token_id)
    alone = collate([short], tokenizer.pad_token_id)
    base = {id(b): full_log_probs(model, b).detach() for b in (padded, alone)}
    with torch.no_grad():  # perturb the model so that the KL is non-zero
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))

    def by_hand(batch):
        kl = kl_per_position(full_log_probs(model, batch), base[id(batch)], "reverse")
        return (kl * kl_positions(batch, False)).sum(), kl

    total, per_pos = by_hand(padded)
    assert per_pos[0, len(short["input_ids"]) :].abs().sum() > 0  # padding positions have garbage KL...
    assert kl_positions(padded, False)[0, len(short["input_ids"]) :].sum() == 0  # ...which is masked out
    mask = kl_positions(padded, False)
    chunked = losses.kl_sum(model, padded, method.ref(model, padded), mask, "reverse", method.ref_head)
    assert chunked.item() == pytest.approx(total.item(), rel=1e-4)
    (g_chunked,) = torch.autograd.grad(chunked, [model.lm_head.weight])
    (g_hand,) = torch.autograd.grad(by_hand(padded)[0], [model.lm_head.weight])
    assert torch.allclose(g_chunked, g_hand, atol=1e-5)
    assert by_hand(alone)[0].item() == pytest.approx(
        losses.kl_sum(
            model, alone, method.ref(model, alone), kl_positions(alone, False), "reverse", method.ref_head
        ).item(),
        rel=1e-4,
    )
    asst = kl_positions(padded, True)
    assert asst.sum() < kl_positions(padded, False).sum()
    assert (asst[:, :-1] == (padded["labels"][:, 1:] != IGNORE)).all()


def test_reference_is_the_untrained_base_and_cached(tokenizer):
    model = tiny_model(tokenizer)
    examples = encoded(tokenizer, ROWS[:4])
    from selgen.losses import last_hidden as log_probs  # any per-token output of the base

    ref = Reference(model, examples, tokenizer.pad_token_id, log_probs, budget_mb=10)
    batch = collate(examples[:2], tokenizer.pad_token_id)
    before = log_probs(model, batch).detach()
    quiet_train(model, tokenizer, make_method("task_only", {}), ROWS, [], {**CFG, "grad_accum": 1})
    assert ref.cached
    assert torch.allclose(
        ref(model, batch) * batch["attention_mask"][..., None],
        before * batch["attention_mask"][..., None],
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="ref_cache_mb"):
        Reference(model, examples, tokenizer.pad_token_id, log_probs, budget_mb=0)  # full FT: no fallback


# ------------------------------------------------------------------------------------ gradient projection
def test_projection_is_orthogonal_and_conflict_mode_keeps_agreeing_gradients():
    torch.manual_seed(0)
    g, a = torch.randn(50), torch.randn(50)
    strict = project(g, a, "strict")
    assert abs(torch.dot(strict, a).item()) < 1e-5
    assert torch.allclose(project(a + 0.1 * g, a, "conflict"), a + 0.1 * g)  # agrees with a: unchanged
    conflicting = -a + 0.1 * g
    fixed = project(conflicting, a, "conflict")
    assert abs(torch.dot(fixed, a).item()) < 1e-5


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_grad_proj_step_gradients_are_orthogonal_to_the_alignment_gradient(tokenizer, scope):
    model = tiny_model(tokenizer)
    method = make_method("grad_proj", {"scope": scope})
    seen = {}

    original = method.before_step

    def spy(model_, ctx):
        align = [a.clone() for a in method.align_grad]
        original(model_, ctx)
        seen["dots"] = [(p.grad * a).sum().item() for p, a in zip(method.params, align, strict=True)]
        seen["global"] = sum(seen["dots"])
        seen["norm"] = sum(p.grad.norm().item() for p in method.params)

    method.before_step = spy
    quiet_train(model, tokenizer, method, ROWS, ROWS[:5], CFG)
    if scope == "tensor":
        assert max(abs(d) for d in seen["dots"]) < 1e-5
    assert abs(seen["global"]) < 1e-4 and seen["norm"] > 0


# ------------------------------------------------------------------------------------------------------ DPO
def test_dpo_loss_matches_hand_computation():
    beta = 0.5
    pc, pr, rc, rr = torch.tensor([-3.0]), torch.tensor([-5.0]), torch.tensor([-4.0]), torch.tensor([-4.5])
    margin = beta * ((-3.0 - -4.0) - (-5.0 - -4.5))  # 0.5 * (1 + 0.5) = 0.75
    assert dpo_loss(pc, pr, rc, rr, beta).item() == pytest.approx(-math.log(1 / (1 + math.exp(-margin))))


def test_dpo_sequence_logps_sum_response_tokens_only(tokenizer):
    model = tiny_model(tokenizer)
    method = make_method("dpo", {"lam": 1.0})
    pair = method.encode_align(tokenizer, PAIRS[0], 64) | {"idx": 0}
    batch = method.collate_align([pair], tokenizer.pad_token_id, None)
    logps = sequence_logps(model, batch)
    logits = model(input_ids=batch["input_ids"]).logits.log_softmax(-1)
    for row in range(2):
        labels = batch["labels"][row]
        expected = sum(
            logits[row, t - 1, labels[t]].item() for t in range(1, len(labels)) if labels[t] != IGNORE
        )
        assert logps[row].item() == pytest.approx(expected, rel=1e-5)
    method.setup(model, tokenizer, [pair], None)
    loss, logs = method.loss(
        model,
        collate([encode(tokenizer, ROWS[0]["messages"], 64)], 0),
        batch,
        type("C", (), {"n_task": 5, "align_batches": [batch]})(),
    )
    assert logs["dpo"] == pytest.approx(math.log(2), rel=1e-4)  # θ = reference: margin 0, loss log 2


# ------------------------------------------------------------------------------- inoculation, repr, smoke
def test_inoculation_changes_training_data_only():
    method = make_method("inoculation", {"prompt": "You always agree."})
    task, align = method.prepare_data(ROWS[:2], ROWS[2:3])
    assert task[0]["messages"][0] == {"role": "system", "content": "You always agree."}
    assert align == ROWS[2:3] and ROWS[0]["messages"][0]["role"] == "user"  # inputs untouched
    sys_first = with_system_prompt([{"role": "system", "content": "Be brief."}], "P")
    assert sys_first == [{"role": "system", "content": "P\nBe brief."}]
    assert hp_label({"prompt": "You always agree."}).startswith("prompt=h")


def test_repr_term_is_zero_at_the_base_and_grows_after_a_change(tokenizer):
    model = tiny_model(tokenizer)
    method = make_method("repr", {"beta": 1.0, "layers": "1,2"})
    examples = encoded(tokenizer, ROWS[:3])
    method.setup(model, tokenizer, examples, None)
    batch = collate(examples, tokenizer.pad_token_id)
    task = collate(examples[:1], tokenizer.pad_token_id)
    ctx = type("C", (), {"n_task": 5, "align_batches": [batch]})()
    assert method.loss(model, task, batch, ctx)[1]["repr"] == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.add_(0.1)
    assert method.loss(model, task, batch, ctx)[1]["repr"] > 1e-4
    with pytest.raises(ValueError, match="layers 1..2"):
        make_method("repr", {"beta": 1.0, "layers": "5"}).setup(model, tokenizer, examples, None)


@pytest.mark.parametrize(
    "name,hp",
    [
        ("kl", {"beta": 1.0, "direction": "forward", "assistant_only": True}),
        ("repr", {"beta": 1.0}),
        ("grad_proj", {"mode": "conflict"}),
        ("dpo", {"lam": 1.0}),
        ("inoculation", {"prompt": "Agree."}),
        ("upweight", {"lam": 1.0}),
        ("mixed", {}),
    ],
)
def test_every_method_trains_with_accumulation(tokenizer, name, hp):
    model = tiny_model(tokenizer)
    method = make_method(name, hp)
    align = PAIRS if name == "dpo" else ROWS[:5]
    record = quiet_train(model, tokenizer, method, ROWS, align, CFG)
    assert record["steps"] == 3 and all(
        math.isfinite(v) for k, v in record["final_loss"].items() if k != "step"
    )


def test_uncached_lora_reference_equals_the_cached_one(tokenizer):
    from selgen.losses import last_hidden as log_probs
    from selgen.models import add_lora

    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "use_rslora": False, "target_modules": ["q_proj", "v_proj"]}
    model = add_lora(tiny_model(tokenizer), lora)
    examples = encoded(tokenizer, ROWS[:3])
    cached = Reference(model, examples, tokenizer.pad_token_id, log_probs, budget_mb=10)
    live = Reference(model, examples, tokenizer.pad_token_id, log_probs, budget_mb=0)
    assert cached.cached and not live.cached
    quiet_train(model, tokenizer, make_method("task_only", {}), ROWS, [], {**CFG, "grad_accum": 1})
    batch = collate(examples, tokenizer.pad_token_id)
    mask = batch["attention_mask"][..., None]
    assert torch.allclose(cached(model, batch) * mask, live(model, batch) * mask, atol=1e-5)
    assert not torch.allclose(log_probs(model, batch) * mask, live(model, batch) * mask, atol=1e-3)


# --------------------------------------------------------------------------------------------------- O-LoRA
def test_o_lora_penalty_is_zero_exactly_for_orthogonal_adapters():
    from selgen.methods.o_lora import orthogonality_penalty

    basis = torch.linalg.qr(torch.randn(8, 8))[0]  # orthonormal columns
    a_old, a_task = basis[:, :3].T, basis[:, 3:6].T  # rows span orthogonal subspaces
    assert orthogonality_penalty([(a_old, a_task)]).item() == pytest.approx(0.0, abs=1e-5)
    m = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    n = torch.tensor([[3.0, 1.0]])
    assert orthogonality_penalty([(m, n)]).item() == pytest.approx(abs(3 - 2) + abs(1.5))  # Σ|M Nᵀ|


def test_o_lora_trains_both_stages_and_reloads_with_both_adapters(tokenizer, tmp_path):
    from selgen.models import add_lora, load_model, save_trained

    base_dir = tmp_path / "base"
    tiny_model(tokenizer).save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    model, tok = load_model(str(base_dir))
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "use_rslora": False, "target_modules": ["q_proj", "v_proj"]}
    model = add_lora(model, lora)
    method = make_method("o_lora", {"lam1": 0.5, "align_epochs": 2})
    record = quiet_train(model, tok, method, ROWS, ROWS[:6], {**CFG, "grad_accum": 1})
    assert record["align_tokens"] == 0  # no per-step alignment stream
    (phase,) = record["phases"]  # 6 rows, batch 4: 2 steps an epoch, 2 epochs (the run's `steps` is not used)
    assert {k: phase[k] for k in ("name", "adapter", "rows", "steps", "epochs", "lr")} == {
        "name": "align_adapter",
        "adapter": "align",
        "rows": 6,
        "steps": 4,
        "epochs": 2.0,
        "lr": 1e-3,
    }
    assert record["steps"] == CFG["steps"] and phase["tokens"] > 0 and "task_ce" in phase["final_loss"]
    align_a = [a for a, _ in method.pairs]
    assert method.pairs and all(a.abs().sum() > 0 for a in align_a)  # stage 1 trained the alignment adapter
    assert not any(a.requires_grad for a in align_a) and all(t.requires_grad for _, t in method.pairs)
    save_trained(model, tok, tmp_path / "run", base=str(base_dir))
    reloaded, _ = load_model(str(tmp_path / "run"))
    batch = collate(encoded(tok, ROWS[:2]), tok.pad_token_id)
    with torch.no_grad():
        both = model(input_ids=batch["input_ids"]).logits
        again = reloaded(input_ids=batch["input_ids"]).logits
    assert torch.allclose(both, again, atol=1e-5)


def test_o_lora_needs_lora(tokenizer):
    with pytest.raises(ValueError, match="set train.finetune to 'lora'"):
        quiet_train(tiny_model(tokenizer), tokenizer, make_method("o_lora", {}), ROWS, ROWS[:3], CFG)


LORA = {"r": 4, "alpha": 8, "dropout": 0.1, "use_rslora": False, "target_modules": ["q_proj", "v_proj"]}


@pytest.mark.parametrize("name,hp", [("o_lora", {}), ("safe_lora", {"delta": "proxy"})])
def test_a_phase_is_the_loop_training_its_adapter_alone(tokenizer, name, hp):
    """O-LoRA's and proxy Safe-LoRA's first adapter is trained by the one loop: exactly ``train`` with plain
    CE on the alignment rows, the run's config (schedule, clipping, batch size, accumulation, seed, dropout)
    with the phase's epochs and lr, on the new adapter alone."""
    from selgen.methods.base import Phase
    from selgen.models import add_lora

    cfg = {**CFG, "warmup_steps": 2, "max_grad_norm": 0.5}  # warm-up and clipping both at work
    hp = {**hp, "align_epochs": 3, "align_lr": 3e-2}
    model = add_lora(tiny_model(tokenizer), LORA)
    method = make_method(name, hp)
    adapter, setup, trained = method.phases(ROWS, ROWS[:7])[0].adapter, method.setup, {}

    def keep_phase_adapter(*args):  # the phase's weights, before set-up (Safe-LoRA deletes the adapter)
        trained.update({n: p.detach().clone() for n, p in model.named_parameters() if f".{adapter}." in n})
        setup(*args)

    method.setup = keep_phase_adapter
    record = quiet_train(model, tokenizer, method, ROWS, ROWS[:7], cfg, seed=4)

    by_hand = add_lora(tiny_model(tokenizer), LORA)
    Phase("by_hand", ROWS[:7], adapter).begin(by_hand, 4, name)
    alone = quiet_train(
        by_hand,
        tokenizer,
        make_method("task_only", {}),
        ROWS[:7],
        [],
        {**cfg, "epochs": 3, "lr": 3e-2, "steps": None},
        4,
    )
    assert record["phases"][0]["steps"] == alone["steps"] == 3 and len(trained) == 8
    assert record["phases"][0]["final_loss"] == alone["final_loss"]
    for n, p in by_hand.named_parameters():
        if f".{adapter}." in n:
            assert torch.equal(trained[n], p), n


def test_methods_import_the_primitives_never_the_training_loop():
    """Layers go one way: selgen.training imports the methods' interface and the primitives; the methods
    and the primitives never import the loop."""
    import ast
    from pathlib import Path

    import selgen

    src = Path(selgen.__file__).parent
    for path in [*sorted((src / "methods").glob("*.py")), src / "batching.py", src / "losses.py"]:
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "selgen.training" not in imported, path
        assert not (path.parent == src and imported & {"selgen.methods", "selgen.methods.base"}), path


# ------------------------------------------------------------------------------------------------- Safe-LoRA
def test_safe_lora_projection_equals_the_explicit_dxd_formula():
    from selgen.methods.safe_lora import project_b

    torch.manual_seed(0)
    v, b = torch.randn(12, 7, dtype=torch.float64), torch.randn(12, 3, dtype=torch.float64)
    c_hat = v @ v.T / torch.linalg.matrix_norm(v)  # the d_out × d_out matrix of Hsu et al.
    assert torch.allclose(project_b(v, b), c_hat @ b)


def test_safe_lora_selects_by_number_or_threshold():
    from selgen.methods.safe_lora import project_b, safe_lora_project

    torch.manual_seed(1)
    deltas = {f"m{i}": torch.randn(6, 5) for i in range(4)}

    def layers():
        torch.manual_seed(2)
        return {n: (torch.randn(2, 5), torch.randn(6, 2)) for n in deltas}

    before = layers()
    out = safe_lora_project(deltas.__getitem__, (after := layers()), "number", 2, 0.5)
    lowest = sorted(out["cosines"], key=out["cosines"].get)[:2]
    assert sorted(out["projected"]) == sorted(lowest)
    for n in deltas:
        expected = project_b(deltas[n], before[n][1]) if n in lowest else before[n][1]
        assert torch.allclose(after[n][1], expected, atol=1e-6)
    out = safe_lora_project(deltas.__getitem__, layers(), "threshold", 0, 0.3)
    assert sorted(out["projected"]) == sorted(n for n, c in out["cosines"].items() if c < 0.3)


def test_safe_lora_trains_and_post_processes(tokenizer, tmp_path):
    from selgen.models import add_lora, save_trained

    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "use_rslora": False, "target_modules": ["q_proj", "v_proj"]}
    model = add_lora(tiny_model(tokenizer), lora)
    method = make_method("safe_lora", {"delta": "proxy", "num_proj_layers": 3, "align_epochs": 2})
    quiet_train(model, tokenizer, method, ROWS, ROWS[:6], {**CFG, "grad_accum": 1})
    assert len(method.report["projected"]) == 3 and len(method.report["cosines"]) == 4  # 2 layers × 2 modules
    assert list(model.peft_config) == ["default"]  # the proxy adapter is gone
    save_trained(model, tokenizer, tmp_path / "run", base="unused")
    assert not (tmp_path / "run" / "proxy").exists()


def test_safe_lora_aligned_delta_is_the_weight_difference_to_the_unaligned_model(tokenizer, tmp_path):
    from selgen.methods.adapters import lora_layers
    from selgen.methods.safe_lora import project_b
    from selgen.mini import UNALIGNED
    from selgen.models import add_lora

    base_dir = tmp_path / "base"
    tiny_model(tokenizer, seed=3).save_pretrained(base_dir / UNALIGNED)  # the "pre-alignment" weights
    w_unaligned = tiny_model(tokenizer, seed=3).model.layers[1].self_attn.v_proj.weight.detach()
    aligned = tiny_model(tokenizer, seed=0)
    w_aligned = aligned.model.layers[1].self_attn.v_proj.weight.detach().clone()
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "use_rslora": False, "target_modules": ["q_proj", "v_proj"]}
    model = add_lora(aligned, lora)
    hp = {"mode": "threshold", "threshold": 2.0}  # cosines ≤ 1: project all
    method = make_method("safe_lora", hp, inputs={"base": str(base_dir)})
    method.setup(model, tokenizer, [], None)
    modules = dict(lora_layers(model))
    name = next(n for n in modules if n.endswith("layers.1.self_attn.v_proj"))
    v = w_aligned - w_unaligned
    assert torch.allclose(method.alignment_delta(name, modules[name]), v)
    torch.manual_seed(0)
    for m in modules.values():  # a trained-looking (non-zero) B
        torch.nn.init.normal_(m.lora_B["default"].weight)
    b_before = modules[name].lora_B["default"].weight.detach().clone()
    method.finish(model)
    assert method.report["delta"] == "aligned" and len(method.report["projected"]) == 4
    assert torch.allclose(modules[name].lora_B["default"].weight, project_b(v, b_before), atol=1e-6)


def test_safe_lora_aligned_delta_without_an_unaligned_model_says_what_to_set(tokenizer, tmp_path):
    from selgen.models import add_lora

    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "use_rslora": False, "target_modules": ["q_proj"]}
    method = make_method("safe_lora", {}, inputs={"base": str(tmp_path / "base")})
    with pytest.raises(ValueError, match="hyper-parameter 'unaligned'.*base/unaligned does not exist"):
        method.setup(add_lora(tiny_model(tokenizer), lora), tokenizer, [], None)


# ------------------------------------------------------------------------------------------------------ CAFT
def test_caft_pca_recovers_a_planted_direction():
    from selgen.methods.caft import concept_directions

    torch.manual_seed(0)
    d = 16
    planted = torch.nn.functional.normalize(torch.randn(d), dim=0)
    base = torch.randn(500, d)
    tuned = base + torch.randn(500, 1) * 3 * planted + 0.05 * torch.randn(500, d) + 2.0  # shifted mean too
    x = (tuned - base).double()
    q = concept_directions({1: (len(x), x.sum(0), x.T @ x)}, k=1, control="pca")[1]
    assert abs(torch.dot(q[:, 0], planted).item()) > 0.99
    r = concept_directions({1: d}, k=3, control="random", width=d)[1]
    assert torch.allclose(r.T @ r, torch.eye(3), atol=1e-5)  # orthonormal random control


def test_caft_statistics_stream_over_batches_at_the_chosen_layers_only(tokenizer, tmp_path):
    """The covariance accumulated batch by batch equals the one of all activation differences at once, and
    only the chosen layers are kept (the directions file of a 2-layer model with layers "2")."""
    from selgen.methods.caft import build_directions, difference_statistics

    base, tuned = tiny_model(tokenizer, seed=0), tiny_model(tokenizer, seed=1)
    examples = encoded(tokenizer, ROWS)
    streamed = difference_statistics(base, tuned, tokenizer, examples, [1, 2], batch_size=3)
    at_once = difference_statistics(base, tuned, tokenizer, examples, [1, 2], batch_size=len(examples))
    for layer in (1, 2):
        assert streamed[layer][0] == at_once[layer][0] == sum(n_label(e) for e in examples)
        assert torch.allclose(streamed[layer][2], at_once[layer][2], atol=1e-8)
    directions = build_directions(
        base, tuned, tokenizer, ROWS, 64, 2, "pca", 0, tmp_path / "d.pt", layers="2"
    )
    assert set(directions) == {2} and set(torch.load(tmp_path / "d.pt")["directions"]) == {2}


def n_label(example):
    return sum(1 for y in example["labels"] if y != IGNORE)


def test_caft_ablates_during_training_only(tokenizer, tmp_path):
    from selgen.methods.caft import build_directions, decoder_layers

    base = tiny_model(tokenizer, seed=0)
    tuned = tiny_model(tokenizer, seed=1)
    path = tmp_path / "pca.pt"
    directions = build_directions(base, tuned, tokenizer, ROWS, 64, 2, "pca", 0, path)
    method = make_method("caft", {"k": 2}, inputs={"artifact": str(path)})
    model = tiny_model(tokenizer, seed=0)
    blocks = decoder_layers(model)
    method.setup(model, tokenizer, [], None)
    batch = collate(encoded(tokenizer, ROWS[:3]), tokenizer.pad_token_id)
    captured = {}
    checks = [
        blocks[i].register_forward_hook(
            lambda m, a, o, i=i: captured.__setitem__(i + 1, o[0] if isinstance(o, tuple) else o)
        )
        for i in range(len(blocks))
    ]  # registered after the ablation hooks: they see the ablated output
    with torch.no_grad():
        model(input_ids=batch["input_ids"])
    for layer, q in directions.items():
        assert (captured[layer] @ q).abs().max() < 1e-4  # no component along the ablated directions
    for h in checks:
        h.remove()
    method.finish(model)
    assert all(not b._forward_hooks for b in blocks)  # hooks gone after training
    quiet_train(model, tokenizer, method, ROWS, [], CFG)  # the full loop: setup hooks, finish removes them
    assert all(not b._forward_hooks for b in blocks)
