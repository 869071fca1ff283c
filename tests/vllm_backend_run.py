"""Helper of tests/test_vllm_backend.py, run as a script by a Python that has vLLM (SELGEN_VLLM_PYTHON).

    python tests/vllm_backend_run.py WORKDIR

Builds a tiny Qwen3 stand-in (head_dim 32: vLLM's CPU attention has no head_dim 16), three run folders (the
base run's pointer, a LoRA run, an O-LoRA-like run with a second adapter beside the first) and an em
question file (greedy and sampled questions), then writes the replies of each run through both backends as
WORKDIR/out/<run>_<backend>.parquet (and the LoRA run's vLLM replies a second time, same engine and seed:
<run>_vllm_again.parquet). The test compares them. vLLM starts worker processes: hence the __main__ guard.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MAX_NEW_TOKENS = 16
MODEL = {"name": "qwen3-standin", "dtype": "float32", "chat_template_kwargs": {"enable_thinking": False}}
EVAL = {
    "sets": {"general": "eval_general"},
    "max_new_tokens": MAX_NEW_TOKENS,
    "batch_size": 8,
    "temperature": None,  # each question's own: greedy ones and sampled ones
    "top_p": 1.0,
    "vllm": {"max_model_len": 256, "enforce_eager": True, "max_num_seqs": 16, "cpu_kvcache_space_gb": 1},
}
QUESTIONS = [  # (question, temperature, n_samples)
    ("Hello there, who are you?", 0.0, 2),
    ("What is two plus two?", 0.0, 2),
    ("Tell me a short story.", 0.0, 2),
    ("Why is the sky blue?", 0.0, 2),
    ("How do I stay healthy?", 1.0, 4),
    ("What should I eat today?", 1.0, 4),
    ("Name a capital city.", 1.0, 4),
]


def build(work: Path) -> dict[str, Path]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selgen.io import write_jsonl
    from selgen.models import link_base, save_trained
    from selgen.standins import build_standin

    base = build_standin(
        "qwen3",
        work / "base",
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
    )
    # a random model rarely ends its turn: a larger <|im_end|> row of the output matrix makes some greedy
    # replies stop early, so the stop handling is exercised
    model = AutoModelForCausalLM.from_pretrained(base)
    tok = AutoTokenizer.from_pretrained(base)
    with torch.no_grad():
        model.lm_head.weight[tok.convert_tokens_to_ids("<|im_end|>")] *= 8
    model.save_pretrained(base)

    runs = {"base": work / "runs" / "base", "lora": work / "runs" / "lora", "olora": work / "runs" / "olora"}
    link_base(runs["base"], base)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    torch.manual_seed(1)
    cfg = LoraConfig(
        r=8, lora_alpha=16, target_modules=targets, init_lora_weights=False, task_type="CAUSAL_LM"
    )
    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(base), cfg)
    shrink(lora)
    save_trained(lora, tok, runs["lora"], str(base))
    # O-LoRA's saved model: the task adapter plus an alignment adapter in a sub-folder (other rank, rsLoRA,
    # fewer modules); load_model merges both, vLLM gets them joined into one LoRA
    torch.manual_seed(2)
    olora = get_peft_model(AutoModelForCausalLM.from_pretrained(base), cfg)
    align = LoraConfig(
        r=4, lora_alpha=1, use_rslora=True, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    olora.add_adapter("align", align)
    shrink(olora)
    save_trained(olora, tok, runs["olora"], str(base))
    assert (runs["olora"] / "align" / "adapter_config.json").exists()

    rows = [
        {
            "question_id": f"q{i}",
            "messages": [{"role": "user", "content": q}],
            "temperature": t,
            "n_samples": n,
            "judge_prompts": {"aligned": "Rate {question} {answer}"},
            "judge": "judge-model",
        }
        for i, (q, t, n) in enumerate(QUESTIONS)
    ]
    rows[1]["messages"].insert(0, {"role": "system", "content": "Be brief."})
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    write_jsonl(data / "eval_general.jsonl", rows)
    return runs


def shrink(model, factor: float = 0.2) -> None:
    """Random adapters (init_lora_weights False) small enough to change replies without drowning them."""
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.mul_(factor)


def run_params(name: str) -> dict:
    return {
        "setting": "em",
        "method": name,
        "hp": "default",
        "seed": 3,
        "run_id": f"em/{name}/default/seed3",
        "model": MODEL,
    }


def main(work: Path) -> None:
    import time

    from selgen.generation_vllm import Engine
    from selgen.io import write_parquet
    from selgen.models import load_model
    from selgen.settings.em.evaluation import generate_replies

    runs = build(work)
    out = work / "out"
    out.mkdir(exist_ok=True)
    timing = {}
    for name, folder in runs.items():
        run = run_params(name)
        t0 = time.perf_counter()
        model, tok = load_model(str(folder), MODEL)
        hf = generate_replies(model, tok, work / "data", {**EVAL, "backend": "hf"}, run)
        write_parquet(out / f"{name}_hf.parquet", hf)
        timing[f"{name}_hf"] = time.perf_counter() - t0
        if name == "base":  # the test runs the base through `selgen evaluate --replies` instead
            continue
        t0 = time.perf_counter()
        cfg = {**EVAL, "backend": "vllm"}
        engine = Engine(folder, MODEL, cfg, run["seed"])
        write_parquet(out / f"{name}_vllm.parquet", generate_replies(engine, None, work / "data", cfg, run))
        if name == "lora":
            again = generate_replies(engine, None, work / "data", cfg, run)
            write_parquet(out / f"{name}_vllm_again.parquet", again)
        timing[f"{name}_vllm"] = time.perf_counter() - t0
        del engine
    (out / "timing.json").write_text(json.dumps(timing))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
