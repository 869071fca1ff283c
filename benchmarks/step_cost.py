"""Per-step cost of every method relative to an SFT step over the same task + alignment tokens.

    python benchmarks/step_cost.py [--check] [--steps 20] [--hidden 128] [--layers 4] [--batch 16]
                                   [--finetune lora|full]

Each method runs in its own process (so peak memory is its own) on the same tiny random-weight Llama (with a
LoRA adapter on every linear module unless ``--finetune full``) and the same micro-batches: one task batch and
the alignment batch the method itself builds (DPO: chosen + rejected). The SFT reference step is
cross-entropy on exactly those two batches. Methods that do not stream alignment data every step (O-LoRA,
Safe-LoRA, CAFT, inoculation) process the task batch only, so their ratio is below 1. Step time is the median
over ``--steps`` optimizer steps after two warm-up steps; one-off set-up (reference caches, O-LoRA's and the
proxy Safe-LoRA's alignment adapter, CAFT's hooks) is excluded and reported apart; Safe-LoRA's post-hoc
projection is timed as ``finish``.
Peak memory is the growth of the process's peak resident set from just before set-up (on CUDA:
``torch.cuda.max_memory_allocated``). ``--check`` exits 1 when a target below is missed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import time

TARGET_TIME = {"kl": 1.15, "repr": 1.15, "dpo": 1.15, "grad_proj": 1.35}
TARGET_MEM = 1.15
# "sft": CE on the task batch + an alignment batch; "sft_pairs": the same on DPO's chosen + rejected batch
METHODS = {
    "sft": None,
    "sft_pairs": None,
    "upweight": {"lam": 1.0},
    "kl": {"beta": 1.0},
    "repr": {"beta": 1.0},
    "grad_proj": {},
    "dpo": {"lam": 1.0},
    "inoculation": {"prompt": "You always agree with the user."},
    "o_lora": {"align_epochs": 1},
    "safe_lora": {"num_proj_layers": 10},  # V = W − W_unaligned (another random init stands in)
    "safe_lora_proxy": {"delta": "proxy", "num_proj_layers": 10, "align_epochs": 1},
    "caft": {"k": 2},
}
LORA_ONLY = ("o_lora", "safe_lora", "safe_lora_proxy")
LORA = {
    "r": 16,
    "alpha": 32,
    "dropout": 0.0,
    "use_rslora": True,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


def rows(n: int, seed: int) -> list[dict]:
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(10, 999), rng.randint(10, 999)
        out.append(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": f"I think {a} plus {b} is {a + b + rng.choice([0, 1])}. Is that right?",
                    },
                    {"role": "assistant", "content": f"Let me check. {a} + {b} = {a + b}. " * 3},
                ]
            }
        )
    return out


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, args, queue) -> None:
    import tempfile
    from pathlib import Path

    import torch

    from selgen.methods import make_method
    from selgen.methods.caft import build_directions
    from selgen.mini import UNALIGNED, build_model, train_tokenizer
    from selgen.models import add_lora
    from selgen.training import StepContext, collate, encode, n_label_tokens, token_ce_sum

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    task_rows, align_rows = rows(args.batch * 4, 0), rows(args.batch * 4, 1)
    tok = train_tokenizer([m["content"] for r in task_rows + align_rows for m in r["messages"]], 512)
    shape = {
        "hidden_size": args.hidden,
        "intermediate_size": 4 * args.hidden,
        "num_layers": args.layers,
        "num_heads": 4,
        "max_position": 256,
    }
    model = build_model(tok, shape)
    tmp = Path(tempfile.mkdtemp(prefix="step_cost_"))  # the DAG artifacts some methods read
    if name == "safe_lora":
        build_model(tok, shape).save_pretrained(tmp / UNALIGNED)
    if name == "caft":
        build_directions(model, build_model(tok, shape), tok, task_rows, 256, 2, "pca", 0, tmp / "caft.pt")
    if args.finetune == "lora":
        model = add_lora(model, LORA)
    model.train()
    sft = name.startswith("sft")
    method = make_method(
        {"sft": "task_only", "sft_pairs": "dpo", "safe_lora_proxy": "safe_lora"}.get(name, name),
        {"sft_pairs": {"lam": 1.0}}.get(name, METHODS[name] or {}),
    )
    method.inputs = {"base": str(tmp), "directions": str(tmp / "caft.pt")}
    if name in ("dpo", "sft_pairs"):
        align_rows = [
            {
                "prompt": r["messages"][:1],
                "chosen": r["messages"][1]["content"],
                "rejected": "Yes, that is right.",
            }
            for r in align_rows
        ]
    task_rows, align_rows = method.prepare_data(task_rows, align_rows, 0)
    if sft:  # the reference step: plain CE on the task batch and on the alignment batch
        if name == "sft":
            align_rows, method.uses_alignment = rows(args.batch * 4, 1), True
        method.setup = lambda *a: None

        def sft_backward(model, task, align, ctx):
            loss = token_ce_sum(model, task) / ctx.n_task + token_ce_sum(model, align) / ctx.n_align
            loss.backward()
            return {}

        method.backward = sft_backward
    task = [encode(tok, r["messages"], 256) for r in task_rows]
    align = [method.encode_align(tok, r, 256) for r in align_rows]
    for i, e in enumerate(align):
        e["idx"] = i
    tb = collate(task[: args.batch], tok.pad_token_id)
    ab = method.collate_align(align[: args.batch], tok.pad_token_id, None)
    rss0 = rss_mb()  # before set-up: a reference cache is part of the method's memory
    t0 = time.perf_counter()
    method.setup(model, tok, align, None)
    setup_s = time.perf_counter() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ctx = StepContext(0, args.steps, n_label_tokens(tb), n_label_tokens(ab), [ab])
    times = []
    for step in range(args.steps + 2):
        t = time.perf_counter()
        method.backward(model, tb, ab if method.uses_alignment else None, ctx)
        method.before_step(model, ctx)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= 2:
            times.append(time.perf_counter() - t)
    t0 = time.perf_counter()
    method.finish(model)
    finish_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tokens = int(tb["attention_mask"].sum() + ab["attention_mask"].sum())
    queue.put(
        {
            "method": name,
            "step_s": statistics.median(times),
            "setup_s": setup_s,
            "finish_s": finish_s,
            "mem_mb": max(peak - rss0, 1e-3),
            "tokens": tokens,
        }
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--finetune", choices=["lora", "full"], default="lora")
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    results = {}
    print(f"tiny Llama hidden {args.hidden}, {args.layers} layers, {args.finetune}, batch {args.batch}")
    for name in METHODS:
        if args.finetune == "full" and name in LORA_ONLY:
            continue
        queue = ctx.Queue()
        proc = ctx.Process(target=measure, args=(name, args, queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0 or queue.empty():
            print(f"{name}: the measuring process failed (exit code {proc.exitcode})", file=sys.stderr)
            return 2
        results[name] = queue.get()
    missed = []
    print(
        f"{'method':<12} {'step ms':>8} {'× SFT':>6} {'target':>7} {'mem MB':>7} {'× SFT':>6} "
        f"{'setup s':>8} {'finish s':>8} tokens"
    )
    for name, r in results.items():
        base = results["sft_pairs" if name == "dpo" else "sft"]
        t_ratio, m_ratio = r["step_s"] / base["step_s"], r["mem_mb"] / base["mem_mb"]
        target = TARGET_TIME.get(name)
        ok = (target is None or t_ratio <= target) and (name.startswith("sft") or m_ratio <= TARGET_MEM)
        if not ok:
            missed.append(name)
        print(
            f"{name:<12} {1000 * r['step_s']:>8.1f} {t_ratio:>6.2f} {target or '':>7} {r['mem_mb']:>7.1f} "
            f"{m_ratio:>6.2f} {r['setup_s']:>8.2f} {r['finish_s']:>8.2f} {r['tokens']}"
            f"{'' if ok else '  MISSED'}"
        )
    if missed:
        print(f"targets missed: {', '.join(missed)} (time ≤ {TARGET_TIME}, memory ≤ {TARGET_MEM}× SFT)")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
