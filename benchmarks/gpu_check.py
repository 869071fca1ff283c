"""Per-step cost of every method at real model sizes on one GPU (random weights, stand-in tokenizers).

    python benchmarks/gpu_check.py [--check] [--models qwen3-8b,gemma-2b] [--steps 5] [--batch 4] [--seq 512]
    python benchmarks/gpu_check.py --tiny [--tiny-vocab 32768]   # on CPU, tiny shapes (CI, < 60 s)

For each model of ``selgen.standins.REAL_CONFIGS`` named in ``--models``: the real architecture at its real
size (``standins.real_config``; nothing is downloaded) with random weights in bfloat16 on CUDA, the family's
stand-in tokenizer (``standins.build_standin(..., model_vocab_size=<real vocabulary>)``, used for its
tokenizer, chat template and generation config only; token ids use the tokenizer's small part of the
vocabulary), LoRA r 32 / α 64 on the q, k, v, o, gate, up and down projections (``selgen.models.add_lora``)
and gradient checkpointing (non-reentrant, on the base model). Each method then runs ``--warmup`` (1) +
``--steps`` (5) optimizer steps on ``--batch`` (4) task rows of ``--seq`` (512) tokens plus the alignment
batch the method builds, through ``benchmarks/step_cost.py``'s ``measure_method`` (the same methods,
hyper-parameters, reference steps and ratios; sft_pairs is DPO's reference). Safe-LoRA is its proxy-delta
variant; CAFT's directions come from two random inits on 4 rows. Finally one generation batch
(``selgen.generation.generate``: 16 prompts, 128 new tokens, greedy) on the plain model (evaluation merges
adapters, so it runs at base speed).

Isolation: all methods of a model run in this one process, one after another, each on a freshly built model;
between methods everything is freed (``gc.collect``, ``torch.cuda.empty_cache``) and the peak statistics are
reset (``torch.cuda.reset_peak_memory_stats``), so each method's peak is its own (a fresh process per method
would cost ~10 s of imports and CUDA start-up each, 20 times). ``peak GiB`` is ``max_memory_allocated`` during
set-up and steps (weights included); ``+GiB`` is that peak minus what was allocated before set-up (the model
and its adapter), and the memory ratio ``× SFT`` and its target are taken on ``+GiB`` (as in step_cost.py:
the method's own memory, not diluted by 16 GB of frozen weights). With ``--tiny`` (CPU) memory is the
process's resident set (``VmHWM`` reset between methods): indicative only.

Targets (``step_cost.TARGET_TIME`` / ``TARGET_MEM``) as in step_cost.py; ``--check`` exits 1 when one is
missed (2 when a method fails).

Wall time on one H200, estimated (not measured here): an 8B LoRA step at 4 × 512 tokens is ~3 passes
(forward, backward's input gradients, the checkpointing recompute) of 2 · 8e9 · 2048 ≈ 33 TFLOP each, ≈ 100
TFLOP ≈ 0.2-0.3 s at 35-50 % of the chip's ~990 dense bf16 TFLOPS, well under a second; an SFT step (task +
alignment batch) ≈ 0.5 s, DPO's (task + 8 rows) ≈ 0.8 s. Per method: 6 steps ≈ 3-5 s, building the random
model on the GPU (a few s; CAFT builds two), set-up (reference passes, O-LoRA's and Safe-LoRA's extra
adapter, CAFT's directions) ≈ 10-15 s in all; 11 rows (the 10 methods and sft_pairs) ≈ 2.5 min for Qwen3-8B,
≈ 1 min for Gemma-2B, plus ~30 s of imports, stand-in tokenizers and the two generation batches (128 greedy
steps each): ≈ 4 min for both models, under the 6-minute budget.
"""

from __future__ import annotations

import argparse
import functools
import gc
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import step_cost  # noqa: E402  (the shared measuring code, beside this file)

MODELS = ["qwen3-8b", "gemma-2b"]
METHODS = [
    "sft",
    "sft_pairs",
    "upweight",
    "kl",
    "repr",
    "grad_proj",
    "dpo",
    "o_lora",
    "safe_lora_proxy",
    "caft",
    "inoculation",
]
LORA = {**step_cost.LORA, "r": 32, "alpha": 64}  # the paper configs' adapter (rsLoRA)
# tiny shapes of the same architecture classes (--tiny); the vocabulary: --tiny-vocab (0: the real one)
TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}
CAFT_ROWS = 4
_STANDINS: dict[str, Path] = {}  # model name -> its stand-in folder (built once per process)


def standin_folder(name: str, texts: list[str], root: str) -> Path:
    from selgen.standins import FAMILY_OF, REAL_CONFIGS, build_standin

    if name not in _STANDINS:
        vocab = REAL_CONFIGS[name]["vocab_size"]
        _STANDINS[name] = build_standin(FAMILY_OF[name], Path(root) / name, texts, model_vocab_size=vocab)
    return _STANDINS[name]


def standin_tokenizer(texts: list[str], *, name: str, root: str):
    """The stand-in tokenizer of ``name``'s family (trained on ``texts``), with its template options."""
    from selgen.models import load_tokenizer

    path = standin_folder(name, texts, root)
    tok = load_tokenizer(str(path))  # the config's default template options (Qwen3: no thinking)
    tok.selgen_standin_path = str(path)
    return tok


def real_model(tok, seed: int, device: str = "cpu", *, name: str, dtype: str, tiny: bool, vocab: int = 0):
    """Random weights of ``name``'s real architecture (tiny shapes with ``tiny``; ``vocab``: another
    vocabulary size), built on ``device``; token ids and the generation config are the stand-in's."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    from selgen.standins import REAL_CONFIGS, real_config

    path = tok.selgen_standin_path
    ids = AutoConfig.from_pretrained(path)
    overrides = {k: getattr(ids, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    overrides |= {"torch_dtype": dtype, "use_cache": True}
    if tiny:
        kv = min(TINY["num_key_value_heads"], REAL_CONFIGS[name]["num_key_value_heads"])
        overrides |= TINY | {"num_key_value_heads": kv}
        if "max_window_layers" in REAL_CONFIGS[name]:
            overrides["max_window_layers"] = TINY["num_hidden_layers"]
    if vocab:
        overrides["vocab_size"] = max(vocab, len(tok))
    config = real_config(name, **overrides)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.generation_config = GenerationConfig.from_pretrained(path)
    return model


def measure_generation(spec: step_cost.Spec, n_prompts: int, new_tokens: int) -> dict:
    """One batch of ``n_prompts`` greedy generations of up to ``new_tokens`` tokens on the plain model."""
    import torch

    from selgen.chat import prompt as chat_prompt
    from selgen.generation import generate

    task_rows, align_rows = (
        step_cost.rows(spec.batch * 4, 0, spec.reps),
        step_cost.rows(spec.batch * 4, 1, spec.reps),
    )
    tok = spec.tokenizer([m["content"] for r in task_rows + align_rows for m in r["messages"]])
    model = spec.build(tok, 0, spec.device)
    prompts = [chat_prompt(tok, r["messages"]) for r in step_cost.rows(n_prompts, 2)]
    memory = step_cost.PeakMemory(spec.device, reset=True)
    memory.start()
    t0 = time.perf_counter()
    with torch.no_grad():
        replies = generate(
            model, tok, prompts, max_new_tokens=new_tokens, batch_size=n_prompts, desc="generate"
        )
    step_cost._sync(spec.device)
    wall = time.perf_counter() - t0
    if replies and isinstance(replies[0], dict):
        n_tokens = sum(int(r["n_tokens"]) for r in replies)
    else:  # older generate: the reply texts
        n_tokens = sum(len(tok(r, add_special_tokens=False)["input_ids"]) for r in replies)
    return {"wall_s": wall, "tokens": n_tokens, "peak_mb": memory.peak(), "prompts": len(prompts)}


def check_model(name: str, args, root: str) -> tuple[dict, dict | None, dict]:
    """({method: result or None on failure}, generation result, model facts) of one model."""
    import torch

    dev = "cpu" if args.tiny else "cuda"
    spec = step_cost.Spec(
        build=functools.partial(
            real_model, name=name, dtype=args.dtype, tiny=args.tiny, vocab=args.tiny_vocab if args.tiny else 0
        ),
        tokenizer=functools.partial(standin_tokenizer, name=name, root=root),
        device=dev,
        batch=args.batch,
        steps=args.steps,
        warmup=args.warmup,
        threads=args.threads,
        lora=LORA,
        max_length=args.seq,
        reps=max(3, args.seq // 16 + 1),  # rows longer than --seq, cut to it
        gradient_checkpointing=True,
        caft_rows=CAFT_ROWS,
        reset_peak=True,
    )
    results: dict[str, dict | None] = {}
    for method in args.methods:
        t0 = time.perf_counter()
        try:
            results[method] = step_cost.measure_method(method, spec)
        except Exception:  # report it, free its memory, go on with the next method
            traceback.print_exc()
            print(f"{name} / {method}: FAILED", file=sys.stderr)
            results[method] = None
        gc.collect()
        if dev == "cuda":
            torch.cuda.empty_cache()
        print(f"{name} / {method}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    try:
        gen = measure_generation(spec, args.gen_prompts, args.gen_tokens)
    except Exception:
        traceback.print_exc()
        gen = None
    gc.collect()
    if dev == "cuda":
        torch.cuda.empty_cache()
    return results, gen, {"device": dev, "dtype": args.dtype}


def _count(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.1f} M"


def report(name: str, results: dict, gen: dict | None, args) -> list[str]:
    """Print the model's table; return the methods that missed a target or failed."""
    missed = []
    any_r = next((r for r in results.values() if r), None)
    facts = ""
    if any_r:
        facts = (
            f"{_count(any_r['n_params'])} parameters, LoRA {_count(any_r['n_trainable'])}, "
            f"vocabulary {any_r['vocab']:,} (tokenizer {any_r['tokenizer_size']}), "
        )
    print(
        f"\n{name}{' (tiny shapes)' if args.tiny else ''}: {facts}{args.dtype} on "
        f"{'cpu' if args.tiny else 'cuda'}, gradient checkpointing, batch {args.batch} × {args.seq} tokens, "
        f"{args.steps} steps after {args.warmup} warm-up"
    )
    print(
        f"{'method':<16} {'step ms':>9} {'× SFT':>6} {'target':>7} {'tokens/s':>9} {'peak GiB':>9} "
        f"{'× SFT':>6} {'+GiB':>7} {'× SFT':>6} {'setup s':>8} {'finish s':>8}"
    )
    measured = {k: v for k, v in results.items() if v is not None}
    for method, r in results.items():
        if r is None:
            print(f"{method:<16} FAILED")
            missed.append(method)
            continue
        ref = measured.get(step_cost.reference_of(method))
        if ref is None:
            t_ratio = m_ratio = p_ratio = float("nan")
            target, ok = step_cost.TARGET_TIME.get(method), False
        else:
            t_ratio, m_ratio, target, ok = step_cost.ratios(method, r, measured, large_vocab=True)
            p_ratio = r["peak_mb"] / ref["peak_mb"]
        if not ok:
            missed.append(method)
        print(
            f"{method:<16} {1000 * r['step_s']:>9.1f} {t_ratio:>6.2f} {target or '':>7} "
            f"{r['tokens_processed'] / r['step_s']:>9.0f} {r['peak_mb'] / 1024:>9.2f} {p_ratio:>6.2f} "
            f"{r['mem_mb'] / 1024:>7.2f} {m_ratio:>6.2f} {r['setup_s']:>8.2f} {r['finish_s']:>8.2f}"
            f"{'' if ok else '  MISSED'}"
        )
    if gen is None:
        print("generation: FAILED")
        missed.append("generation")
    else:
        print(
            f"generation: {gen['prompts']} prompts × up to {args.gen_tokens} new tokens: "
            f"{gen['tokens']:,} tokens in {gen['wall_s']:.2f} s = "
            f"{gen['tokens'] / gen['wall_s']:.0f} tokens/s "
            f"(peak {gen['peak_mb'] / 1024:.2f} GiB)"
        )
    return missed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--tiny", action="store_true", help="CPU, tiny shapes of the same architectures (CI)")
    ap.add_argument(
        "--tiny-vocab",
        type=int,
        default=32768,
        help="--tiny: the model vocabulary (default 32768; 0: the real one, slower on CPU)",
    )
    ap.add_argument("--models", default=",".join(MODELS), help="names in selgen.standins.REAL_CONFIGS")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 5; --tiny: 1)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=None, help="rows per micro-batch (default 4; --tiny: 2)")
    ap.add_argument("--seq", type=int, default=None, help="tokens per row (default 512; --tiny: 128)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's; --tiny: 1)")
    ap.add_argument("--gen-prompts", type=int, default=16)
    ap.add_argument("--gen-tokens", type=int, default=None, help="new tokens (default 128; --tiny: 32)")
    args = ap.parse_args(argv)
    args.steps = args.steps if args.steps is not None else (1 if args.tiny else 5)
    args.batch = args.batch if args.batch is not None else (2 if args.tiny else 4)
    args.seq = args.seq if args.seq is not None else (128 if args.tiny else 512)
    args.gen_tokens = args.gen_tokens if args.gen_tokens is not None else (32 if args.tiny else 128)
    args.dtype = "float32" if args.tiny else "bfloat16"
    args.threads = args.threads if args.threads is not None else (1 if args.tiny else None)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    known = {**step_cost.METHODS, **step_cost.REFERENCES}
    bad = [m for m in args.methods if m not in known]
    if bad:
        ap.error(f"unknown method(s) {', '.join(bad)}")
    needed = {step_cost.reference_of(m) for m in args.methods} | {"sft"}
    args.methods = [r for r in ("sft", "sft_pairs") if r in needed and r not in args.methods] + args.methods

    import torch

    from selgen.standins import REAL_CONFIGS

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in REAL_CONFIGS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(REAL_CONFIGS)}")
    if not args.tiny and not torch.cuda.is_available():
        print("no CUDA device: run this on a GPU node, or use --tiny on CPU", file=sys.stderr)
        return 2
    if not args.tiny:
        print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    t0 = time.perf_counter()
    missed, failed = [], False
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as root:
        for name in models:
            results, gen, _ = check_model(name, args, root)
            failed |= gen is None or any(r is None for r in results.values())
            missed += [f"{name}/{m}" for m in report(name, results, gen, args)]
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")
    if missed:
        print(
            f"targets missed: {', '.join(missed)} (time ≤ {step_cost.TARGET_TIME}, "
            f"memory ≤ {step_cost.TARGET_MEM}× SFT)"
        )
    if failed:
        return 2
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
