"""Per-step cost of every method relative to an SFT step over the same task + alignment tokens.

    python benchmarks/step_cost.py [--check] [--steps 20] [--hidden 128] [--layers 4] [--batch 16]
                                   [--finetune lora|full] [--vocab N] [--large-vocab] [--methods a,b]
                                   [--warmup 2] [--device cpu|cuda]

Each method runs in its own process (so peak memory is its own) on the same tiny random-weight Llama (with a
LoRA adapter on every linear module unless ``--finetune full``) and the same micro-batches: one task batch and
the alignment batch the method itself builds (DPO: chosen + rejected). The SFT reference step is
cross-entropy on exactly those two batches. Methods that do not stream alignment data every step (O-LoRA,
Safe-LoRA, CAFT, inoculation) process the task batch only, so their ratio is below 1. Step time is the median
over ``--steps`` optimizer steps after ``--warmup`` (2) warm-up steps; one-off set-up (reference caches,
CAFT's hooks, and the method's phases: O-LoRA's and the proxy Safe-LoRA's alignment adapter, trained first
through the training loop as ``selgen.training.train`` runs them, batch ``--batch``) is excluded and reported
apart; Safe-LoRA's post-hoc projection is timed as ``finish``.
Peak memory is the growth of the process's peak resident set from just before set-up (on CUDA:
``torch.cuda.max_memory_allocated`` after ``torch.cuda.reset_peak_memory_stats``, minus what was allocated
then). ``--check`` exits 1 when a target below is missed.

Large vocabulary (``--large-vocab``): the same tiny model (hidden 128, 4 layers) with Qwen3's vocabulary of
151,936 (the tokenizer stays small: token ids use only its part of the vocabulary; ``--vocab N`` sets any
model vocabulary), measuring sft, sft_no_head, sft_pairs, kl and dpo (``--methods`` picks others), 3 steps
after one warm-up step unless ``--steps`` / ``--warmup`` say otherwise. ``sft_no_head`` is the SFT step with a
loss on the final hidden states only (no language-model head): weights + activations without any logits. It
also prints the *logits budget*: one chunk as the training losses build it (``selgen.losses.CHUNK_MB`` for
all of a chunk's float32 ``[n, V]`` buffers together) and one whole micro-batch's ``[B, T, V]`` float32
logits, beside SFT's measured peak growth above sft_no_head. Here ``--check`` adds: kl and dpo memory ≤
1.15× SFT, and SFT's peak ≤ sft_no_head + one chunk (+10 % slack). KL's step time has no target here: it
puts two head passes (model and reference) on *every* position of the alignment rows, SFT one on the
labelled ones, so with a large vocabulary its step costs about twice SFT's (the mini case keeps its target).

The measuring code (``measure_method``, ``run_spawned``) is shared with ``benchmarks/gpu_check.py``: it takes
a ``Spec`` with a model builder, a tokenizer builder and a device.
"""

from __future__ import annotations

import argparse
import functools
import gc
import multiprocessing as mp
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
# reference steps that are not methods: the SFT step with its loss on the final hidden states (no LM head)
REFERENCES = {"sft_no_head": None}
LORA_ONLY = ("o_lora", "safe_lora", "safe_lora_proxy")
LORA = {
    "r": 16,
    "alpha": 32,
    "dropout": 0.0,
    "use_rslora": True,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}
LARGE_VOCAB = 151_936  # Qwen3's
LARGE_VOCAB_METHODS = ["sft", "sft_no_head", "sft_pairs", "kl", "dpo"]


def rows(n: int, seed: int, reps: int = 3) -> list[dict]:
    """Arithmetic chats; the assistant's check is repeated ``reps`` times (longer rows: larger ``reps``)."""
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
                    {"role": "assistant", "content": f"Let me check. {a} + {b} = {a + b}. " * reps},
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


def _hwm_mb() -> float | None:
    """The process's peak resident set since the last reset (``VmHWM``), or None off Linux."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory growth from ``start()``: CUDA allocations on CUDA, else the process's resident set.

    On CPU the peak is ``ru_maxrss`` (a fresh process per method) or, with ``reset`` (several measurements in
    one process), ``VmHWM`` after resetting it through ``/proc/self/clear_refs`` (Linux; memory freed by an
    earlier measurement but kept by the allocator makes the later growth an underestimate)."""

    def __init__(self, device: str, reset: bool = False):
        self.cuda, self.reset = str(device).startswith("cuda"), reset

    def start(self) -> None:
        import torch

        gc.collect()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated() / 2**20
            return
        if self.reset:
            try:
                with open("/proc/self/clear_refs", "w") as fh:
                    fh.write("5")
            except OSError:
                self.reset = False
        self.base = rss_mb()

    def peak(self) -> float:
        """Absolute peak (MB) since ``start`` (CPU without reset: since the process started)."""
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        hwm = _hwm_mb() if self.reset else None
        return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def growth(self) -> float:
        return max(self.peak() - self.base, 1e-3)


# ---------------------------------------------------------------------------------------------------- models
def tiny_llama(tok, seed: int, device: str = "cpu", *, shape: dict, vocab: int | None = None):
    """The mini Llama of ``shape``; ``vocab``: a model vocabulary larger than the tokenizer's."""
    import torch

    from selgen.mini import build_model

    torch.manual_seed(seed)
    model = build_model(tok, shape)
    if vocab and vocab != model.config.vocab_size:
        model.resize_token_embeddings(vocab, mean_resizing=False)
    return model.to(device)


def mini_tokenizer(texts: list[str], vocab_size: int = 512):
    from selgen.mini import train_tokenizer

    return train_tokenizer(texts, vocab_size)


@dataclass
class Spec:
    """What one measurement needs; picklable (the builders are module-level functions or partials of them).

    ``build(tokenizer, seed, device)`` returns the base model on ``device`` (a different ``seed``: another
    random init, e.g. Safe-LoRA's unaligned model, CAFT's second model); ``tokenizer(texts)`` returns the
    tokenizer. ``reps``/``max_length`` set the rows' length (rows are cut at ``max_length``)."""

    build: Callable
    tokenizer: Callable
    device: str = "cpu"
    batch: int = 16
    steps: int = 20
    warmup: int = 2
    threads: int | None = 1
    finetune: str = "lora"
    lora: dict = field(default_factory=lambda: dict(LORA))
    max_length: int = 256
    reps: int = 3
    gradient_checkpointing: bool = False
    caft_rows: int | None = None  # rows for CAFT's directions (None: all task rows)
    reset_peak: bool = False  # several measurements in one process (see PeakMemory)


def no_head_loss(model, batch: dict):
    """A loss on the final hidden states only: the decoder runs, the language-model head does not."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    out = inner.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return out.last_hidden_state.float().pow(2).mean()


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------------- measure
def measure_method(name: str, spec: Spec) -> dict:
    """Set up method ``name`` on a fresh model, time ``spec.steps`` optimizer steps after ``spec.warmup``,
    and return step/set-up/finish seconds, peak memory growth (MB) and token counts."""
    import tempfile
    from pathlib import Path

    import torch

    from selgen.batching import StepContext, collate, encode, n_label_tokens, token_ce_sum
    from selgen.methods import make_method
    from selgen.methods.base import STREAMED
    from selgen.methods.caft import build_directions
    from selgen.mini import UNALIGNED
    from selgen.models import add_lora
    from selgen.training import enable_gradient_checkpointing, run_phase

    if spec.threads:
        torch.set_num_threads(spec.threads)
    dev = spec.device
    torch.manual_seed(0)
    task_rows, align_rows = rows(spec.batch * 4, 0, spec.reps), rows(spec.batch * 4, 1, spec.reps)
    tok = spec.tokenizer([m["content"] for r in task_rows + align_rows for m in r["messages"]])
    model = spec.build(tok, 0, dev)
    tmp = Path(tempfile.mkdtemp(prefix="step_cost_"))  # the DAG artifacts some methods read
    if name == "safe_lora":
        spec.build(tok, 1, dev).save_pretrained(tmp / UNALIGNED)
    if name == "caft":
        other = spec.build(tok, 1, dev)
        caft_rows = task_rows[: spec.caft_rows] if spec.caft_rows else task_rows
        build_directions(model, other, tok, caft_rows, spec.max_length, 2, "pca", 0, tmp / "caft.pt")
        del other
    if spec.finetune == "lora":
        model = add_lora(model, spec.lora)
    if spec.gradient_checkpointing:
        enable_gradient_checkpointing(model)
        model.config.use_cache = False
    model.train()
    sft = name.startswith("sft")
    method = make_method(
        {
            "sft": "task_only",
            "sft_no_head": "task_only",
            "sft_pairs": "dpo",
            "safe_lora_proxy": "safe_lora",
        }.get(name, name),
        {"sft_pairs": {"lam": 1.0}}.get(name, METHODS.get(name) or {}),
        # the DAG inputs some methods read (CAFT's built directions: "artifact"; older code: "directions")
        inputs={"base": str(tmp), "artifact": str(tmp / "caft.pt"), "directions": str(tmp / "caft.pt")},
        seed=0,
    )
    if name in ("dpo", "sft_pairs"):
        align_rows = [
            {
                "prompt": r["messages"][:1],
                "chosen": r["messages"][1]["content"],
                "rejected": "Yes, that is right.",
            }
            for r in align_rows
        ]
    phases = method.phases(task_rows, align_rows)  # O-LoRA's, the proxy Safe-LoRA's adapter: before set-up
    task_rows, align_rows = method.prepare_data(task_rows, align_rows)
    if sft:  # the reference step: plain CE on the task batch and on the alignment batch
        if name in ("sft", "sft_no_head"):
            align_rows, method.alignment = rows(spec.batch * 4, 1, spec.reps), "stream"
        method.setup = lambda *a: None
        if name == "sft_no_head":

            def sft_backward(model, task, align, ctx):
                (no_head_loss(model, task) + no_head_loss(model, align)).backward()
                return {}

        else:

            def sft_backward(model, task, align, ctx):
                loss = token_ce_sum(model, task) / ctx.n_task + token_ce_sum(model, align) / ctx.n_align
                loss.backward()
                return {}

        method.backward = sft_backward
    task = [encode(tok, r["messages"], spec.max_length) for r in task_rows]
    align = [method.encode_align(tok, r, spec.max_length) for r in align_rows]
    for i, e in enumerate(align):
        e["idx"] = i
    tb = collate(task[: spec.batch], tok.pad_token_id, dev)
    ab = method.collate_align(align[: spec.batch], tok.pad_token_id, dev)
    memory = PeakMemory(dev, spec.reset_peak)
    streamed = method.alignment in STREAMED  # the alignment batch is in every step (the loop's streams)
    memory.start()  # before set-up: a reference cache (and a phase's adapter) is part of the method's memory
    t0 = time.perf_counter()
    for phase in phases:  # through the training loop, as selgen.training.train runs them
        cfg = {
            "lr": 1e-4,
            "epochs": 1,
            "batch_size": spec.batch,
            "grad_accum": 1,
            "max_length": spec.max_length,
            "warmup_steps": 0,
            "weight_decay": 0.0,
            "max_grad_norm": 1.0,
            "gradient_checkpointing": spec.gradient_checkpointing,
        }
        run_phase(model, tok, method, phase, cfg, 0, False, name, None)
    model.train()  # the loop leaves the model in eval mode
    _sync(dev)
    phases_s = time.perf_counter() - t0
    method.setup(model, tok, align if streamed else [], dev)
    _sync(dev)
    setup_s = time.perf_counter() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ctx = StepContext(0, spec.steps, n_label_tokens(tb), n_label_tokens(ab), [ab])
    times = []
    for step in range(spec.steps + spec.warmup):
        t = time.perf_counter()
        method.backward(model, tb, ab if streamed else None, ctx)
        method.before_step(model, ctx)
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(dev)
        if step >= spec.warmup:
            times.append(time.perf_counter() - t)
    t0 = time.perf_counter()
    method.finish(model)
    _sync(dev)
    finish_s = time.perf_counter() - t0
    tokens = int(tb["attention_mask"].sum() + ab["attention_mask"].sum())
    return {
        "method": name,
        "step_s": statistics.median(times),
        "setup_s": setup_s,  # phases included
        "phases_s": phases_s,
        "finish_s": finish_s,
        "mem_mb": memory.growth(),
        "peak_mb": memory.peak(),
        "base_mb": memory.base,
        "tokens": tokens,
        # tokens the step actually runs through the model (the alignment batch only where it is streamed)
        "tokens_processed": int(tb["attention_mask"].sum())
        + (int(ab["attention_mask"].sum()) if streamed else 0),
        "task_shape": list(tb["input_ids"].shape),
        "task_labels": n_label_tokens(tb),  # positions the task CE builds logits for
        "vocab": int(model.get_output_embeddings().weight.shape[0]),
        "tokenizer_size": len(tok),
        "n_params": sum(p.numel() for p in model.parameters()),
        "n_trainable": sum(p.numel() for p in params),
    }


def _child(name: str, spec: Spec, queue) -> None:
    queue.put(measure_method(name, spec))


def run_spawned(names: list[str], spec: Spec) -> dict | None:
    """``{name: measure_method(name, spec)}``, each in a fresh spawned process; None if one fails."""
    ctx = mp.get_context("spawn")
    results = {}
    for name in names:
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(name, spec, queue))
        proc.start()
        proc.join()
        if proc.exitcode != 0 or queue.empty():
            print(f"{name}: the measuring process failed (exit code {proc.exitcode})", file=sys.stderr)
            return None
        results[name] = queue.get()
    return results


def reference_of(name: str) -> str:
    """The SFT step a method's ratios are taken against (DPO: SFT on its own chosen + rejected batch)."""
    return "sft_pairs" if name == "dpo" else "sft"


def ratios(
    name: str, r: dict, results: dict, large_vocab: bool = False
) -> tuple[float, float, float | None, bool]:
    """(time ratio, memory ratio, time target, whether the targets hold) of one measured method. With a
    large vocabulary KL's time has no target: it runs the head twice (model and reference) on every
    position of the alignment rows, SFT once on the labelled ones."""
    base = results[reference_of(name)]
    t_ratio, m_ratio = r["step_s"] / base["step_s"], r["mem_mb"] / base["mem_mb"]
    target = None if (large_vocab and name == "kl") else TARGET_TIME.get(name)
    ok = (target is None or t_ratio <= target) and (name.startswith("sft") or m_ratio <= TARGET_MEM)
    return t_ratio, m_ratio, target, ok


# ---------------------------------------------------------------------------------------------------- logits
def chunk_tokens(vocab: int) -> tuple[int, str]:
    """(positions of one chunk's float32 logits, where that comes from): a chunk's buffers together stay
    within ``selgen.losses.CHUNK_MB``."""
    from selgen.losses import CHUNK_MB, chunk_positions

    return int(chunk_positions(vocab)), f"selgen.losses.CHUNK_MB = {CHUNK_MB} MB for all of a chunk's buffers"


def logits_budget(results: dict) -> tuple[list[str], bool]:
    """Lines comparing SFT's peak growth with one chunk and one micro-batch of float32 logits; whether SFT's
    peak is within sft_no_head + one chunk (+10 % measurement slack)."""
    sft = results["sft"]
    vocab = sft["vocab"]
    n, source = chunk_tokens(vocab)
    chunk_mb = n * vocab * 4 / 2**20
    b, t = sft["task_shape"]
    batch_mb = b * t * vocab * 4 / 2**20
    lines = [
        f"logits budget (float32, vocabulary {vocab:,}; tokenizer {sft['tokenizer_size']}):",
        f"  one chunk      {n:>6,} positions × {vocab:,} × 4 B = {chunk_mb:>8.1f} MB  ({source})",
        f"  one micro-batch [{b}, {t}, {vocab:,}] × 4 B      = {batch_mb:>8.1f} MB",
    ]
    if "task_labels" in sft:
        lab = sft["task_labels"]
        lines.append(f"  labelled positions of the task micro-batch: {lab:,} = {lab / n:.2f} chunks")
    if "sft_no_head" not in results:
        return lines, True
    base = results["sft_no_head"]["mem_mb"]
    extra = sft["mem_mb"] - base
    limit = base + 1.1 * chunk_mb
    ok = sft["mem_mb"] <= limit
    lines += [
        f"  SFT peak growth {sft['mem_mb']:.1f} MB = sft_no_head {base:.1f} MB + {extra:.1f} MB "
        f"({extra / chunk_mb:.2f} chunks, {extra / batch_mb:.2f} micro-batches of logits)",
        f"  limit sft_no_head + one chunk (+10 %) = {limit:.1f} MB: {'OK' if ok else 'MISSED'}",
    ]
    return lines, ok


# ---------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 20; --large-vocab: 3)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 2; --large-vocab: 1)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--finetune", choices=["lora", "full"], default="lora")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument(
        "--vocab", type=int, default=None, help="model vocabulary (default: the tokenizer's size)"
    )
    ap.add_argument(
        "--large-vocab",
        action="store_true",
        help=f"vocabulary {LARGE_VOCAB:,} (Qwen3's); methods {', '.join(LARGE_VOCAB_METHODS)}; logits budget",
    )
    ap.add_argument(
        "--methods", default=None, help="comma-separated subset (default: all, or the large-vocab set)"
    )
    args = ap.parse_args(argv)
    large = args.large_vocab
    vocab = args.vocab or (LARGE_VOCAB if large else None)
    steps = args.steps if args.steps is not None else (3 if large else 20)
    warmup = args.warmup if args.warmup is not None else (1 if large else 2)
    known = {**METHODS, **REFERENCES}
    if args.methods:
        names = [m.strip() for m in args.methods.split(",") if m.strip()]
    else:
        names = LARGE_VOCAB_METHODS if large else list(METHODS)
    bad = [m for m in names if m not in known]
    if bad:
        ap.error(f"unknown method(s) {', '.join(bad)}; known: {', '.join(known)}")
    needed = {reference_of(m) for m in names} | {"sft"}  # sft_pairs is itself compared with sft
    refs = [r for r in ("sft", "sft_pairs") if r in needed and r not in names]
    names = refs + names  # the references the ratios need, measured first
    if args.finetune == "full":
        names = [m for m in names if m not in LORA_ONLY]
    shape = {
        "hidden_size": args.hidden,
        "intermediate_size": 4 * args.hidden,
        "num_layers": args.layers,
        "num_heads": 4,
        "max_position": 256,
    }
    spec = Spec(
        build=functools.partial(tiny_llama, shape=shape, vocab=vocab),
        tokenizer=mini_tokenizer,
        device=args.device,
        batch=args.batch,
        steps=steps,
        warmup=warmup,
        threads=args.threads,
        finetune=args.finetune,
    )
    head = f"tiny Llama hidden {args.hidden}, {args.layers} layers, {args.finetune}, batch {args.batch}"
    print(
        head
        + (f", vocabulary {vocab:,}" if vocab else "")
        + (f", {args.device}" if args.device != "cpu" else "")
    )
    results = run_spawned(names, spec)
    if results is None:
        return 2
    missed = []
    print(
        f"{'method':<12} {'step ms':>8} {'× SFT':>6} {'target':>7} {'mem MB':>7} {'× SFT':>6} "
        f"{'setup s':>8} {'finish s':>8} tokens"
    )
    for name, r in results.items():
        t_ratio, m_ratio, target, ok = ratios(name, r, results, large_vocab=bool(vocab))
        if not ok:
            missed.append(name)
        print(
            f"{name:<12} {1000 * r['step_s']:>8.1f} {t_ratio:>6.2f} {target or '':>7} {r['mem_mb']:>7.1f} "
            f"{m_ratio:>6.2f} {r['setup_s']:>8.2f} {r['finish_s']:>8.2f} {r['tokens']}"
            f"{'' if ok else '  MISSED'}"
        )
    if vocab and "sft" in results:
        lines, ok = logits_budget(results)
        print("\n".join(lines))
        if not ok:
            missed.append("sft (logits budget)")
    if missed:
        print(f"targets missed: {', '.join(missed)} (time ≤ {TARGET_TIME}, memory ≤ {TARGET_MEM}× SFT)")
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
