"""Every method runs a few LoRA steps on tiny random-weight Llama, Gemma, Gemma-2 and Qwen3 models: nothing in
the training code is specific to one architecture (layers and modules are found, not hard-coded)."""

import math

import pytest
import torch
from helpers import chat, quiet_train, tokenizer_for
from transformers import AutoModelForCausalLM, Gemma2Config, GemmaConfig, LlamaConfig, Qwen3Config

from selgen.methods import make_method
from selgen.methods.caft import build_directions
from selgen.models import add_lora

ROWS = [chat(f"What is {a} + {b}?", f"{a} + {b} = {a + b}.") for a in range(1, 6) for b in range(1, 4)]
PAIRS = [
    {"prompt": r["messages"][:1], "chosen": r["messages"][1]["content"], "rejected": "I do not know."}
    for r in ROWS[:4]
]
SMALL = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 16,
    "max_position_embeddings": 64,
}
CONFIGS = {
    "llama": LlamaConfig,
    "gemma": GemmaConfig,
    "gemma2": Gemma2Config,
    "qwen3": Qwen3Config,
}
METHODS = [
    ("task_only", {}),
    ("mixed", {}),
    ("upweight", {"lam": 1.0}),
    ("kl", {"beta": 1.0}),
    ("repr", {"beta": 1.0, "layers": "2"}),
    ("grad_proj", {}),
    ("dpo", {"lam": 1.0}),
    ("inoculation", {"prompt": "Agree."}),
    ("o_lora", {"align_epochs": 1}),
    ("safe_lora", {"delta": "proxy", "align_epochs": 1, "num_proj_layers": 3}),
    ("safe_lora", {"num_proj_layers": 3}),  # V = W − W_unaligned (another random init saved beside)
    ("caft", {"k": 2}),
]
LORA = {
    "r": 4,
    "alpha": 8,
    "dropout": 0.0,
    "use_rslora": True,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizer_for(ROWS, "I do not know.")


@pytest.mark.parametrize("arch", CONFIGS)
def test_every_method_runs_on_the_architecture(tokenizer, arch, tmp_path):
    config = CONFIGS[arch](
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **SMALL,
    )
    cfg = {
        "lr": 1e-3,
        "steps": 2,
        "batch_size": 4,
        "align_batch_size": 2,
        "grad_accum": 1,
        "max_length": 64,
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
    }
    for name, hp in METHODS:
        torch.manual_seed(0)
        model = add_lora(AutoModelForCausalLM.from_config(config, attn_implementation="eager"), LORA)
        align = PAIRS if name == "dpo" else ROWS[:4]
        method = make_method(name, hp)
        method.inputs = {"base": str(tmp_path / arch)}
        if name == "safe_lora" and "delta" not in hp:
            torch.manual_seed(2)
            AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / arch / "unaligned")
        if name == "caft":  # directions from this model against another random init of the architecture
            torch.manual_seed(1)
            other = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
            method.inputs["artifact"] = str(tmp_path / f"{arch}.pt")
            build_directions(model, other, tokenizer, ROWS, 64, 2, "pca", 0, method.inputs["artifact"])
        record = quiet_train(model, tokenizer, method, ROWS, align, cfg)
        losses = [v for k, v in record["final_loss"].items() if k != "step"]
        assert record["steps"] == 2 and all(math.isfinite(v) for v in losses), (arch, name)
        if name == "safe_lora":  # every LoRA module was scored; the lowest-cosine three were projected
            assert len(method.report["cosines"]) == 7 * SMALL["num_hidden_layers"], (arch, hp)
            assert len(method.report["projected"]) == 3 and all(
                math.isfinite(c) for c in method.report["cosines"].values()
            )


@pytest.mark.parametrize("arch", CONFIGS)
def test_colour_scoring_on_the_prompt_cache_matches_teacher_forcing(tokenizer, arch):
    """The functions scorer's shared-prompt path (KV cache repeated per colour) gives the scores of full
    teacher-forced sequences, sliding-window layers (Gemma-2, window 8 < prompt length) included."""
    from selgen.settings.functions.scoring import colour_logprobs

    extra = {"sliding_window": 8} if arch == "gemma2" else {}
    extra["initializer_range"] = 0.5  # peaked logits, so a wrong position or mask shows in the scores
    config = CONFIGS[arch](
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=None, **SMALL, **extra
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    messages = [r["messages"] for r in ROWS[:5]]
    colours = ["1 + 1 = 2.", "I do not know.", "3", "5 + 3 = 8."]
    cached = colour_logprobs(model, tokenizer, messages, colours, batch_size=8, share_prompt=True)
    forced = colour_logprobs(model, tokenizer, messages, colours, batch_size=8, share_prompt=False)
    for a, b in zip(cached, forced, strict=True):
        assert a == pytest.approx(b, abs=1e-4)
