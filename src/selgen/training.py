"""The one training loop: a task stream and an alignment stream, with the method as a plug-in.

Before the main training, the loop runs the method's phases (``Method.phases``: e.g. O-LoRA's alignment
adapter), each through this same loop: plain CE on the phase's rows, only the phase's LoRA adapter trainable,
the run's ``train`` config with the phase's overrides, the run's seed, and a checkpoint file of its own.

Per optimizer step:
    task micro-batches (and, if the method streams alignment data, as many alignment micro-batches)
    -> method.backward(...) for each micro-batch (the method decides the loss and how gradients are made)
    -> method.before_step, clip, AdamW step, linear warm-up/decay schedule.

Losses are token sums divided by the token count of the *whole* optimizer step (``StepContext.n_task`` /
``n_align``), so gradient accumulation gives exactly the gradient of one big batch; a plain mean per
micro-batch would weight short micro-batches up (the reference trainers' accumulation bug, seed_code.md §3).
Only assistant tokens carry labels; padding is dynamic (to the longest row of each micro-batch).

Layers: this module imports the primitives (``selgen.batching``, ``selgen.losses``) and the methods'
interface (``selgen.methods.base``); methods never import it.
"""

from __future__ import annotations

import contextlib
import math
import random
import resource
import sys
import time

import torch
from tqdm.auto import tqdm

from selgen.batching import IGNORE, StepContext, batches, collate, encode, n_label_tokens, token_ce_sum
from selgen.losses import check_head
from selgen.methods.base import ALIGNMENT, STREAMED, Method, Phase

# re-exported: the primitives' old home (callers outside the methods may still import them from here)
__all__ = ["IGNORE", "StepContext", "batches", "collate", "encode", "n_label_tokens", "token_ce_sum", "train"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is optional here
        pass


# ---------------------------------------------------------------------------------------------------- loop
def _warmup(cfg: dict, total_steps: int) -> int:
    """Warm-up steps of the linear schedule: at most half the run (``warmup_cap``, default on, so a short run
    still reaches the full learning rate), or exactly ``warmup_steps`` (the reference's: transformers' linear
    schedule with warm-up 5 over a 2-step run never gets past 20 % of the learning rate)."""
    if cfg.get("warmup_cap", True):
        return min(cfg["warmup_steps"], total_steps // 2)
    return cfg["warmup_steps"]


def train(
    model,
    tokenizer,
    method,
    task_rows: list[dict],
    align_rows: list[dict],
    cfg: dict,
    seed: int,
    progress: bool = True,
    desc: str = "train",
    checkpoint=None,
) -> dict:
    """Train ``model`` in place: the method's phases, then the main training; return the run record (steps,
    tokens, wall time, peak memory, losses of the main training; ``phases``: one record per phase).

    ``cfg`` keys: lr, epochs or steps, batch_size, align_batch_size (default batch_size), grad_accum,
    max_length, warmup_steps, warmup_cap (default on), weight_decay, max_grad_norm (None: no clipping),
    gradient_checkpointing (default off), group_by_length (default off).
    ``checkpoint``: a ``selgen.checkpoint.Checkpointer`` (resume from its last checkpoint, save periodically
    and on SIGTERM). A phase checkpoints to a file of its own beside the run's and saves its final state
    there, so a resumed run restores a finished phase instead of training it again, and continues an
    unfinished one from its last checkpoint.
    """
    if method.alignment not in ALIGNMENT:  # a plug-in's typo would otherwise read as "none"
        raise ValueError(f"method {method.name!r}: alignment must be one of {', '.join(ALIGNMENT)}")
    if method.alignment != "none" and not align_rows:
        raise ValueError(f"method {method.name!r} needs alignment rows, but there are none")
    phases = [
        run_phase(model, tokenizer, method, phase, cfg, seed, progress, desc, checkpoint)
        for phase in method.phases(task_rows, align_rows)
    ]
    own = {k: v for k, v in method.main_overrides.items() if v is not None}
    main = {**cfg, **own, **({"steps": None} if "epochs" in own else {})}  # its epochs, not the run's steps
    record = _loop(model, tokenizer, method, task_rows, align_rows, main, seed, progress, desc, checkpoint)
    record = {**record, "main_overrides": own} if own else record
    return {**record, "phases": phases} if phases else record


def run_phase(model, tokenizer, method, phase: Phase, cfg, seed, progress, desc, checkpoint) -> dict:
    """Train ``phase`` (its adapter alone, plain CE on its rows) through the loop; return its record."""
    phase.begin(model, seed, method.name)
    with checkpoint.phase(phase.name) if checkpoint else contextlib.nullcontext() as ck:
        rec = _loop(
            model,
            tokenizer,
            Method(),
            phase.rows,
            [],
            {**cfg, **phase.overrides},
            seed,
            progress,
            f"{desc}/{phase.name}",
            ck,
            save_final=True,
        )
    keys = ("steps", "resumed_at_step", "tokens", "truncated_rows", "wall_s", "final_loss")
    settings = {k: v for k, v in phase.overrides.items() if v is not None}  # e.g. its epochs and lr
    head = {"name": phase.name, "adapter": phase.adapter, "rows": rec["task_rows"], **settings}
    return {**head, **{k: rec[k] for k in keys}}


def _loop(
    model, tokenizer, method, task_rows, align_rows, cfg, seed, progress, desc, checkpoint, save_final=False
) -> dict:
    """One training run of ``method`` (no phases); ``save_final``: checkpoint the final state too."""
    from transformers import get_linear_schedule_with_warmup

    seed_everything(seed)
    dev = next(model.parameters()).device
    align_rows_read = len(align_rows)
    task_rows, align_rows = method.prepare_data(task_rows, align_rows)
    task = [encode(tokenizer, r["messages"], cfg["max_length"]) for r in task_rows]
    streamed = method.alignment in STREAMED
    align = [method.encode_align(tokenizer, r, cfg["max_length"]) for r in align_rows] if streamed else []
    for i, example in enumerate(align):
        example["idx"] = i  # so that methods can cache reference outputs per alignment example
    if not task:
        raise ValueError("no task rows to train on")

    accum, bs = cfg["grad_accum"], cfg["batch_size"]
    steps_per_epoch = math.ceil(len(task) / (bs * accum))
    total_steps = cfg.get("steps") or max(1, math.ceil(cfg["epochs"] * steps_per_epoch))
    task_iter = batches(task, bs, seed, cfg.get("group_by_length", False))
    align_iter = batches(align, cfg.get("align_batch_size", bs), seed + 1) if align else None

    check_head(model, collate(task[:1], tokenizer.pad_token_id, dev))
    if cfg.get("gradient_checkpointing"):
        enable_gradient_checkpointing(model)
    method.setup(model, tokenizer, align, dev)  # may change what trains (O-LoRA: the task adapter only)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    schedule = get_linear_schedule_with_warmup(optimizer, _warmup(cfg, total_steps), total_steps)

    model.train()
    history, t0, start, elapsed = [], time.perf_counter(), 0, 0.0
    task_tokens = align_tokens = 0  # non-padding tokens processed by each stream
    state = checkpoint.load() if checkpoint else None
    if state is not None:  # resume: restore the loop's state and skip the micro-batches already used
        from selgen.checkpoint import restore

        restore(state, model, optimizer, schedule)
        start, history, elapsed = state["step"], state["history"], state["elapsed_s"]
        task_tokens, align_tokens = state["task_tokens"], state["align_tokens"]
        for _ in range(start * accum):
            next(task_iter)
            if align_iter:
                next(align_iter)
        print(f"{desc}: resumed from the checkpoint at step {start}/{total_steps}", file=sys.stderr)

    def save(step: int) -> None:
        from selgen.checkpoint import capture

        extra = {"history": history, "task_tokens": task_tokens, "align_tokens": align_tokens}
        extra["elapsed_s"] = elapsed + time.perf_counter() - t0
        checkpoint.save(capture(model, optimizer, schedule, step, extra))

    bar = tqdm(
        range(start, total_steps),
        desc=desc,
        disable=not progress,
        mininterval=2.0,
        initial=start,
        total=total_steps,
    )
    for step in bar:
        task_mbs = [collate(next(task_iter), tokenizer.pad_token_id, dev) for _ in range(accum)]
        align_mbs = (
            [method.collate_align(next(align_iter), tokenizer.pad_token_id, dev) for _ in range(accum)]
            if align_iter
            else [None] * accum
        )
        ctx = StepContext(
            step=step,
            total_steps=total_steps,
            n_task=max(1, sum(n_label_tokens(b) for b in task_mbs)),
            n_align=max(1, sum(n_label_tokens(b) for b in align_mbs if b is not None)),
            align_batches=[b for b in align_mbs if b is not None],
            max_length=cfg["max_length"],
        )
        logs: dict[str, float] = {}
        for micro, (tb, ab) in enumerate(zip(task_mbs, align_mbs, strict=True)):
            ctx.micro = micro
            for k, v in method.backward(model, tb, ab, ctx).items():
                logs[k] = logs.get(k, 0.0) + v
            task_tokens += int(tb["attention_mask"].sum())
            align_tokens += int(ab["attention_mask"].sum()) if ab is not None else 0
        if not all(math.isfinite(v) for v in logs.values()):
            raise TrainingDiverged(f"{desc}: non-finite loss at step {step + 1}/{total_steps}: {logs}")
        method.before_step(model, ctx)
        if cfg["max_grad_norm"] is not None:  # null: no clipping (the reference never clipped)
            torch.nn.utils.clip_grad_norm_(params, cfg["max_grad_norm"])
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        history.append({"step": step + 1, **{k: round(v, 5) for k, v in logs.items()}})
        bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()})
        if checkpoint and step + 1 < total_steps and checkpoint.due(step + 1):
            from selgen.checkpoint import Interrupted

            save(step + 1)
            if checkpoint.stop_requested:
                raise Interrupted(
                    f"{desc}: stopped on SIGTERM; checkpoint saved at step {step + 1}/{total_steps}"
                )
    if save_final and checkpoint and start < total_steps:
        save(total_steps)
    method.finish(model)
    model.eval()

    wall = elapsed + time.perf_counter() - t0
    tokens = task_tokens + align_tokens
    return {
        "steps": total_steps,
        "resumed_at_step": start,  # 0 unless the run continued from a checkpoint
        "tokens": tokens,
        "task_tokens": task_tokens,
        "align_tokens": align_tokens,  # the alignment:task ratio is the real strength of mixing methods
        "task_rows": len(task),  # after the method's data preparation (mixed: task + alignment rows)
        "align_rows": align_rows_read,  # alignment rows the method was given
        "truncated_rows": sum(_truncated(e) for e in task + align),
        "wall_s": round(wall, 3),
        "tokens_per_s": round(tokens / wall, 1) if wall else None,
        "peak_mem_mb": peak_memory_mb(),
        "final_loss": history[-1] if history else None,
        "loss_history": history[:: max(1, len(history) // 200)],
    }


def enable_gradient_checkpointing(model) -> None:
    """Recompute each decoder layer's activations in backward (non-reentrant: works with frozen inputs under
    LoRA, no ``enable_input_require_grads`` needed)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def _truncated(example: dict) -> bool:
    """Whether an encoded row (or any row of an encoded pair, as DPO builds them) was cut at max_length."""
    if "truncated" in example:
        return example["truncated"]
    return any(_truncated(v) for v in example.values() if isinstance(v, dict))


def peak_memory_mb() -> float:
    """Peak GPU memory on CUDA, else the process's peak resident set size."""
    if torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
