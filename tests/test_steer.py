"""Preventative steering (``steer``) on a tiny model: the hook adds exactly α·v at the chosen layers during
training and nothing after it; the direction is the hand-computed difference of mean reply activations."""

import json

import pytest
import torch
from helpers import TINY, chat, quiet_train, tokenizer_for
from test_methods import CFG  # the method tests' tiny training config

from selgen.batching import IGNORE
from selgen.methods import make_method
from selgen.methods.caft import decoder_layers
from selgen.methods.steer import choose_layers, encode_pair, trait_directions
from selgen.mini import build_model
from selgen.models import add_lora

ROWS = [chat(f"Is {a} less than {b}?", "Yes." if a < b else "No.") for a in range(1, 7) for b in range(1, 4)]
PAIRS = [  # replies of different lengths, so that the batched pass pads and must mask the padding
    {
        "prompt": [{"role": "user", "content": f"I think {a} is less than {b}. Right?"}],
        "chosen": "No." if a >= b else "Yes, it is less.",
        "rejected": "Yes, you are absolutely right!" if a >= b else "No.",
    }
    for a, b in [(1, 2), (3, 1), (2, 5), (6, 3), (4, 4), (1, 6), (5, 2)]
]
LORA = {"r": 4, "alpha": 8, "dropout": 0.0, "use_rslora": False, "target_modules": ["q_proj", "v_proj"]}


@pytest.fixture(scope="module")
def tokenizer():
    texts = [p[k] for p in PAIRS for k in ("chosen", "rejected")] + [p["prompt"][0]["content"] for p in PAIRS]
    return tokenizer_for(ROWS, *texts)


def model3(tokenizer, seed=0):
    torch.manual_seed(seed)
    return build_model(tokenizer, {**TINY, "num_layers": 3})


def pair_examples(tokenizer, max_length=64):
    return [encode_pair(tokenizer, p, max_length) | {"idx": i} for i, p in enumerate(PAIRS)]


def batch_of(tokenizer):
    ids = tokenizer(["Is 1 less than 3? Yes.", "Is 5 less than 2?"], padding=True, return_tensors="pt")
    return ids["input_ids"]


def capture_all(blocks):
    """{layer: output} of every block, from hooks registered now (they run after earlier hooks)."""
    out = {}

    def keep(layer):
        return lambda m, a, o: out.__setitem__(layer, (o[0] if isinstance(o, tuple) else o).detach().clone())

    return out, [b.register_forward_hook(keep(i + 1)) for i, b in enumerate(blocks)]


# --------------------------------------------------------------------------------------- the hook adds α·v
@pytest.mark.parametrize("layers, normalize", [("2", False), ("1,3", True)])
def test_hook_adds_exactly_alpha_v_at_the_chosen_layers_only(tokenizer, layers, normalize):
    model = model3(tokenizer)
    blocks = decoder_layers(model)
    ids = batch_of(tokenizer)
    with torch.no_grad():
        plain_logits = model(input_ids=ids).logits
    chosen = [int(x) for x in layers.split(",")]
    directions = trait_directions(model, tokenizer, pair_examples(tokenizer), chosen)  # un-steered model
    before, pre_handles = capture_all(blocks)  # registered before setup: they see the un-steered output
    method = make_method("steer", {"alpha": 3.0, "layers": layers, "normalize": normalize})
    method.setup(model, tokenizer, pair_examples(tokenizer), torch.device("cpu"))
    after, post_handles = capture_all(blocks)  # registered after: they see the steered output
    assert sorted(method.vectors) == chosen
    for layer in chosen:  # the added vector is α·v: the raw difference, or rescaled to the residual norm
        v, d = method.vectors[layer], directions[layer]
        if normalize:
            residual = method.report["layers"][str(layer)]["residual_norm"]
            assert torch.allclose(v.norm(), torch.tensor(3.0 * residual), rtol=1e-5)
            assert torch.nn.functional.cosine_similarity(v, d, dim=0) > 0.99999
        else:
            assert torch.allclose(v, 3.0 * d, atol=1e-6)
        assert v.norm() > 1e-3  # a real vector: the test could see a missing hook
    model.train()  # the hooks act in training mode (the loop trains with them)
    with torch.no_grad():
        steered_logits = model(input_ids=ids).logits
    for layer in (1, 2, 3):
        if layer in chosen:
            assert torch.equal(after[layer], before[layer] + method.vectors[layer]), layer
        else:
            assert torch.equal(after[layer], before[layer]), layer
    assert not torch.allclose(steered_logits, plain_logits, atol=1e-4)  # the steering reaches the output
    for h in pre_handles + post_handles:
        h.remove()


def test_layers_before_the_first_chosen_one_are_untouched(tokenizer):
    model = model3(tokenizer)
    blocks = decoder_layers(model)
    ids = batch_of(tokenizer)
    plain, handles = capture_all(blocks)
    with torch.no_grad():
        model(input_ids=ids)
    for h in handles:
        h.remove()
    method = make_method("steer", {"alpha": -2.0, "layers": "2"})  # negative α subtracts the direction
    method.setup(model, tokenizer, pair_examples(tokenizer), torch.device("cpu"))
    steered, handles = capture_all(blocks)
    with torch.no_grad():
        model(input_ids=ids)
    assert torch.equal(steered[1], plain[1])
    assert torch.equal(steered[2], plain[2] + method.vectors[2])
    assert not torch.allclose(steered[3], plain[3], atol=1e-4)
    for h in handles:
        h.remove()


# --------------------------------------------------------------------------------------- nothing after
def test_finish_leaves_the_unsteered_model(tokenizer):
    model = model3(tokenizer)
    blocks = decoder_layers(model)
    ids = batch_of(tokenizer)
    with torch.no_grad():
        plain = model(input_ids=ids).logits
    method = make_method("steer", {"alpha": 5.0, "layers": "all"})
    method.setup(model, tokenizer, pair_examples(tokenizer), torch.device("cpu"))
    with torch.no_grad():
        assert not torch.allclose(model(input_ids=ids).logits, plain, atol=1e-4)
    method.finish(model)
    assert all(not b._forward_hooks for b in blocks)
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, plain)


# --------------------------------------------------------------------------------------- the direction
def hand_direction(model, tokenizer, layer):
    """mean over rejected replies of each reply's mean hidden state (``output_hidden_states``, one row at a
    time, no padding) over its reply tokens, minus the same over chosen replies."""
    sides = {}
    for side in ("rejected", "chosen"):
        means = []
        for p in PAIRS:
            e = encode_pair(tokenizer, p, 64)[side]
            with torch.no_grad():
                hs = model(input_ids=torch.tensor([e["input_ids"]]), output_hidden_states=True).hidden_states
            reply = torch.tensor(e["labels"]) != IGNORE
            means.append(hs[layer][0, reply].mean(0))
        sides[side] = torch.stack(means).mean(0)
    return sides["rejected"] - sides["chosen"]


def test_direction_is_the_difference_of_mean_reply_activations(tokenizer):
    model = model3(tokenizer).eval()
    got = trait_directions(model, tokenizer, pair_examples(tokenizer), [1, 2], batch_size=3)
    for layer in (1, 2):  # hidden_states[3] is after the final norm: layers 1 and 2 only
        want = hand_direction(model, tokenizer, layer)
        assert torch.allclose(got[layer], want, atol=1e-5), layer
        assert want.norm() > 1e-3
    one_batch = trait_directions(model, tokenizer, pair_examples(tokenizer), [2], batch_size=len(PAIRS))
    assert torch.allclose(one_batch[2], got[2], atol=1e-5)  # batching does not change it


def test_direction_is_the_bases_even_with_a_trained_adapter(tokenizer):
    """``setup`` takes the direction with the adapter disabled (the base), and restores training mode."""
    base = model3(tokenizer).eval()
    want = hand_direction(base, tokenizer, 2)
    model = add_lora(model3(tokenizer), LORA)
    with torch.no_grad():  # an adapter that is not the identity (a fresh one is: B = 0)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    model.train()
    assert trait_directions(model, tokenizer, pair_examples(tokenizer), [2])[2].sub(want).abs().max() < 1e-5
    assert model.training
    with_adapter = hand_direction(model.eval(), tokenizer, 2)
    assert not torch.allclose(with_adapter, want, atol=1e-3)  # the adapter would have changed it


def test_fresh_lora_adapter_is_the_base(tokenizer):
    base = model3(tokenizer).eval()
    model = add_lora(model3(tokenizer), LORA).eval()
    ids = batch_of(tokenizer)
    assert all(torch.all(p == 0) for n, p in model.named_parameters() if "lora_B" in n)
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, base(input_ids=ids).logits)


def test_layers_auto_is_the_papers_depth():
    assert choose_layers("auto", 28) == [20]  # Qwen2.5-7B: the paper's layer 20
    assert choose_layers("auto", 4) == [3]  # the mini models
    assert choose_layers("auto", 1) == [1]
    assert choose_layers("all", 3) == [1, 2, 3]
    assert choose_layers("3,1", 4) == [1, 3]
    with pytest.raises(ValueError, match="layers"):
        choose_layers("5", 4)


# --------------------------------------------------------------------------------------- through the loop
def train_run(tokenizer, name, hp, seed=0):
    model = add_lora(model3(tokenizer), LORA)
    method = make_method(name, hp)
    record = quiet_train(model, tokenizer, method, ROWS, PAIRS if name == "steer" else [], CFG, seed=seed)
    return model, method, record


def test_training_with_steering_runs_and_leaves_no_hooks(tokenizer):
    model, method, record = train_run(tokenizer, "steer", {"alpha": 4.0, "layers": "2,3"})
    assert record["steps"] == 3 and record["align_tokens"] == 0  # the pairs only give the direction
    assert all(not b._forward_hooks for b in decoder_layers(model))
    assert sorted(method.report["layers"]) == ["2", "3"] and method.report["pairs"] == len(PAIRS)
    json.dumps(method.report)  # it goes into the run record
    _, _, plain = train_run(tokenizer, "task_only", {})
    assert record["final_loss"]["task_ce"] != plain["final_loss"]["task_ce"]  # the steering changed training
    _, _, zero = train_run(tokenizer, "steer", {"alpha": 0.0, "layers": "2,3"})
    assert zero["loss_history"] == plain["loss_history"]  # α = 0: exactly task_only


# --------------------------------------------------------------------------------------- hyper-parameters
def test_hyper_parameters_are_checked(tokenizer, tmp_path):
    with pytest.raises(ValueError, match=r"'steer' needs hyper-parameter\(s\) alpha"):
        make_method("steer", {})
    with pytest.raises(ValueError, match=r"no hyper-parameter\(s\) beta"):
        make_method("steer", {"alpha": 1.0, "beta": 2})
    with pytest.raises(ValueError, match="normalize must be true or false"):
        make_method("steer", {"alpha": 1.0, "normalize": "yes"})
    method = make_method("steer", {"alpha": 1.0})
    assert method.alignment == "pairs" and method.layers == "auto" and method.normalize is False
    own = tmp_path / "pairs.jsonl"
    own.write_text("".join(json.dumps(p) + "\n" for p in PAIRS[:2]))
    method = make_method("steer", {"alpha": 1.0, "pairs_file": "ignored"}, inputs={"pairs_file": str(own)})
    assert method.prepare_data(ROWS, PAIRS)[1] == PAIRS[:2]  # the configured pairs replace the proxy's


@pytest.mark.parametrize("arch", ["llama", "gemma", "gemma2", "qwen3"])
def test_steering_is_exact_on_every_architecture(arch):
    """Decoder blocks that return a tuple or a tensor alike: α·v lands on the chosen layer's output, and the
    loop runs (the architectures of tests/test_architectures.py)."""
    from test_architectures import CONFIGS, LORA, PAIRS, ROWS, SMALL
    from transformers import AutoModelForCausalLM

    tok = tokenizer_for(ROWS, "I do not know.")
    config = CONFIGS[arch](
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        **SMALL,
    )
    torch.manual_seed(0)
    model = add_lora(AutoModelForCausalLM.from_config(config, attn_implementation="eager"), LORA)
    blocks = decoder_layers(model)
    method = make_method("steer", {"alpha": 2.0, "layers": "1"})
    before, pre = capture_all(blocks)
    method.setup(model, tok, [encode_pair(tok, p, 64) | {"idx": i} for i, p in enumerate(PAIRS)], None)
    after, post = capture_all(blocks)
    with torch.no_grad():
        model(input_ids=batch_of(tok))
    assert torch.equal(after[1], before[1] + method.vectors[1]) and method.vectors[1].norm() > 1e-4
    method.finish(model)
    for h in pre + post:
        h.remove()
    record = quiet_train(model, tok, make_method("steer", {"alpha": 2.0}), ROWS, PAIRS, {**CFG, "steps": 2})
    assert record["steps"] == 2 and all(not b._forward_hooks for b in blocks)
