"""What paper-scale chat models need, on tiny random-weight stand-ins of each family (``selgen.standins``):
the thinking switch, stop tokens, the evaluation dtype, memory-safe losses, CAFT and O-LoRA at scale,
explicit sampling and offline weights. Each test fails on the code before these were handled."""

import os
import subprocess
import sys

import pytest
import torch
from helpers import chat

from selgen import chat as chat_mod
from selgen.models import load_model
from selgen.standins import build_standin
from selgen.training import IGNORE, collate, encode

ROWS = [chat(f"What is {a} + {b}?", f"{a} + {b} = {a + b}.") for a in range(1, 6) for b in range(1, 4)]
PAPER = {"enable_thinking": False}  # the config default


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    root = tmp_path_factory.mktemp("standins")
    texts = [m["content"] for r in ROWS for m in r["messages"]]
    return {
        f: build_standin(f, root / f, texts + ["hello world"]) for f in ("qwen3", "gemma", "gemma2", "llama3")
    }


def labelled_text(tokenizer, example) -> str:
    return tokenizer.decode(
        [t for t, y in zip(example["input_ids"], example["labels"], strict=True) if y != IGNORE]
    )


# ----------------------------------------------------------------------------------------- 1. thinking
def test_qwen3_training_labels_and_evaluation_prompts_agree(standins):
    model, tok = load_model(str(standins["qwen3"]), {"chat_template_kwargs": PAPER})
    messages = ROWS[0]["messages"]
    example = encode(tok, messages, 256)
    prompt = chat_mod.prompt(tok, messages)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")  # thinking off at evaluation
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert example["input_ids"][:n_prompt] == tok(prompt, add_special_tokens=False)["input_ids"]
    assert all(y == IGNORE for y in example["labels"][:n_prompt])
    assert labelled_text(tok, example).startswith(messages[-1]["content"])  # no think block in the labels
    with pytest.raises(ValueError, match="enable_thinking"):  # thinking on: labels and prompts would differ
        load_model(str(standins["qwen3"]), {"chat_template_kwargs": {}})


def test_gemma_folds_a_system_prompt_into_the_first_user_turn(standins):
    _, tok = load_model(str(standins["gemma"]), {"chat_template_kwargs": PAPER})
    assert not chat_mod.supports_system(tok)
    messages = [{"role": "system", "content": "Be terse."}, *ROWS[0]["messages"]]
    prompt = chat_mod.prompt(tok, messages)
    assert prompt.startswith("<bos><start_of_turn>user\nBe terse.\n\nWhat is 1 + 1?<end_of_turn>")
    assert labelled_text(tok, encode(tok, messages, 256)) == "1 + 1 = 2.<end_of_turn>\n"


# -------------------------------------------------------------------------------------------- 2. stopping
def emit_then_end(model, token: int, end: int, n: int):
    """Make greedy decoding emit ``token`` n times, then ``end`` forever (a hook on the LM head)."""
    calls = {"n": 0}

    def hook(module, args, out):
        calls["n"] += 1
        forced = torch.full_like(out, -1e4)
        forced[..., token if calls["n"] <= n else end] = 0
        return forced

    return model.get_output_embeddings().register_forward_hook(hook)


@pytest.mark.parametrize("family", ["gemma", "gemma2", "qwen3", "llama3"])
def test_generation_stops_at_the_end_of_turn_token(standins, family):
    from selgen.generation import generate

    model, tok = load_model(str(standins[family]), {"chat_template_kwargs": PAPER})
    eot = chat_mod.end_of_turn_ids(tok)[0]
    assert eot in chat_mod.stop_token_ids(tok, model)
    assert tok.convert_ids_to_tokens(eot) in {"<end_of_turn>", "<|im_end|>", "<|eot_id|>"}
    hello = tok("hello", add_special_tokens=False)["input_ids"][0]
    handle = emit_then_end(model, hello, eot, 3)
    try:
        prompts = [chat_mod.prompt(tok, r["messages"]) for r in ROWS[:2]]
        out = generate(model, tok, prompts, max_new_tokens=12, batch_size=2)
    finally:
        handle.remove()
    for reply in out:
        assert reply["n_tokens"] == 4 and not reply["truncated"]  # 3 tokens + the end of turn, not 12
        assert reply["response"] == tok.decode([hello] * 3).strip()


# ------------------------------------------------------------------------------------------ 3. precision
def test_models_load_in_the_configured_dtype_with_options(standins):
    model, _ = load_model(str(standins["qwen3"]), {"dtype": "bfloat16", "attn_implementation": "eager"})
    assert next(model.parameters()).dtype == torch.bfloat16
    assert model.config._attn_implementation == "eager"


# --------------------------------------------------------------------------------- 4. no [B, T, V] tensors
class LargestTensor(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the largest tensor any operation returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else [out]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("method", ["task_only", "kl", "dpo"])
def test_losses_never_build_the_logits_of_a_whole_micro_batch(tmp_path, monkeypatch, method):
    from selgen import losses
    from selgen.methods import make_method
    from selgen.training import StepContext

    vocab = 20_000
    path = build_standin("gemma2", tmp_path / "g", model_vocab_size=vocab)
    model, tok = load_model(str(path), {"chat_template_kwargs": PAPER})
    monkeypatch.setattr(losses, "CHUNK_MB", 4 * vocab * 16 / 2**20)  # 16 positions per chunk
    m = make_method(method, {"lam": 1.0} if method == "dpo" else {"beta": 1.0} if method == "kl" else {})
    rows = ROWS[:4]
    if method == "dpo":
        align = [
            {"prompt": r["messages"][:1], "chosen": r["messages"][1]["content"], "rejected": "no"}
            for r in rows
        ]
    else:
        align = rows
    encoded = [m.encode_align(tok, r, 64) | {"idx": i} for i, r in enumerate(align)]
    m.setup(model, tok, encoded, None)
    task = collate([encode(tok, r["messages"], 64) for r in rows], tok.pad_token_id)
    ab = m.collate_align(encoded, tok.pad_token_id, None)
    ctx = StepContext(0, 1, 10, 10, [ab])
    whole = task["input_ids"].numel() * vocab
    with LargestTensor() as seen:
        m.backward(model, task, ab, ctx)
    assert seen.largest < whole / 2, (seen.largest, whole)


# ----------------------------------------------------------------------------------------------- 6. O-LoRA
def test_o_lora_adapters_start_apart_and_the_penalty_is_per_step(standins):
    from selgen.methods import make_method
    from selgen.methods.o_lora import lora_a_pairs
    from selgen.models import add_lora
    from selgen.training import StepContext, seed_everything, train

    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "use_rslora": False, "target_modules": ["q_proj", "v_proj"]}
    seed_everything(3)  # as `selgen train` does before building the task adapter
    model, tok = load_model(str(standins["qwen3"]), {"chat_template_kwargs": PAPER})
    model = add_lora(model, lora)
    method = make_method("o_lora", {"align_epochs": 1})
    cfg = {"lr": 0.0, "steps": 1, "batch_size": 4, "grad_accum": 1, "max_length": 64, "warmup_steps": 0}
    train(
        model,
        tok,
        method,
        ROWS,
        ROWS[:4],
        {**cfg, "weight_decay": 0.0, "max_grad_norm": 1.0},
        seed=3,
        progress=False,
    )
    a_align, a_task = lora_a_pairs(model)[0]
    assert not torch.allclose(a_align, a_task)
    batch = collate([encode(tok, r["messages"], 64) for r in ROWS[:2]], tok.pad_token_id)
    first = method.loss(model, batch, None, StepContext(0, 1, 10, 0, micro=0))[1]
    later = method.loss(model, batch, None, StepContext(0, 1, 10, 0, micro=1))[1]
    assert "ortho" in first and "ortho" not in later


# ---------------------------------------------------------------------------------------------- 7. sampling
def test_sampling_ignores_the_models_own_top_k(standins):
    """Qwen3's generation config carries top_k 20: sampling at T 1, top_p 1 must still reach the whole
    vocabulary (a random tiny model's next-token distribution is nearly flat over ~400 tokens)."""
    from selgen.generation import generate

    model, tok = load_model(str(standins["qwen3"]), {"chat_template_kwargs": PAPER})
    assert model.generation_config.top_k == 20
    torch.manual_seed(0)
    prompt = chat_mod.prompt(tok, ROWS[0]["messages"])
    out = generate(model, tok, [prompt] * 200, max_new_tokens=1, batch_size=200, temperature=1.0, top_p=1.0)
    first = {tuple(tok(r["response"], add_special_tokens=False)["input_ids"][:1]) for r in out}
    assert len(first) > 60
    assert model.generation_config.top_k == 20  # the model's own config is left as it was


# ------------------------------------------------------------------------------------- 8. weights offline
def run_selgen(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "selgen.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_fetch_model_copies_a_source_and_names_the_model_and_folder_when_offline(standins, tmp_path):
    out = tmp_path / "cache" / "Qwen" / "Qwen3-8B"
    res = run_selgen("fetch-model", "Qwen/Qwen3-8B", "--out", str(out), "--source", str(standins["qwen3"]))
    assert res.returncode == 0, res.stderr
    assert (out / "config.json").exists() and list(out.glob("*.safetensors"))
    gated = tmp_path / "cache" / "google" / "gemma-2b-it"
    res = run_selgen("fetch-model", "google/gemma-2b-it", "--out", str(gated), env={"HF_HUB_OFFLINE": "1"})
    assert res.returncode == 2
    assert "google/gemma-2b-it" in res.stderr and str(gated) in res.stderr and not gated.exists()
    assert not list(gated.parent.glob(".*tmp"))  # nothing half-written


def test_safe_lora_reads_its_unaligned_model_from_a_folder_only(tmp_path):
    from selgen.models import CheckpointWeights

    with pytest.raises(FileNotFoundError, match="fetch_model"):
        CheckpointWeights("Qwen/Qwen3-8B-Base")  # a hub id is never downloaded inside a job


def test_paper_plans_fetch_every_hub_model_once_before_the_jobs(tmp_path):
    """The em paper config names Qwen/Qwen3-8B (base) and Qwen/Qwen3-8B-Base (Safe-LoRA's unaligned): both are
    fetched by local jobs, and the training jobs read the cache folders."""
    import yaml
    from test_workflow import ROOT, SNAKEMAKE

    overlay = tmp_path / "cache.yaml"
    overlay.write_text(yaml.safe_dump({"models": {"cache_dir": "/shared/models"}}))
    res = subprocess.run(
        [
            *SNAKEMAKE,
            "-n",
            "-p",
            "--directory",
            str(tmp_path),
            "--configfile",
            str(ROOT / "config/paper_em.yaml"),
            str(overlay),
            "--",
            "results/pareto_em.pdf",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    text = res.stdout
    assert "selgen fetch-model Qwen/Qwen3-8B --out /shared/models/Qwen/Qwen3-8B " in text
    assert "selgen fetch-model Qwen/Qwen3-8B-Base --out /shared/models/Qwen/Qwen3-8B-Base " in text
    assert text.count("rule fetch_model:") == 2
    assert "--base /shared/models/Qwen/Qwen3-8B " in text
    assert "--input unaligned=/shared/models/Qwen/Qwen3-8B-Base" in text
    assert "HF_HUB_OFFLINE=1 selgen train" in text and "HF_HUB_OFFLINE=1 selgen evaluate" in text
    assert "--base Qwen/Qwen3-8B " not in text  # no job loads a hub id
