"""The one training loop: a task stream and an alignment stream, with the method as a plug-in.

Per optimizer step:
    task micro-batches (and, if the method uses it, as many alignment micro-batches)
    -> method.backward(...) for each micro-batch (the method decides the loss and how gradients are made)
    -> clip, AdamW step, linear warm-up/decay schedule.

Losses are token sums divided by the token count of the *whole* optimizer step (``StepContext.n_task`` /
``n_align``), so gradient accumulation gives exactly the gradient of one big batch; a plain mean per
micro-batch would weight short micro-batches up (the reference trainers' accumulation bug, seed_code.md §3).
Only assistant tokens carry labels; padding is dynamic (to the longest row of each micro-batch).
"""

from __future__ import annotations

import math
import random
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from selgen import chat
from selgen.losses import IGNORE, check_head, token_ce_sum

__all__ = ["IGNORE", "token_ce_sum"]  # re-exported: methods import the loss from here


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


# ---------------------------------------------------------------------------------------------------- data
def encode(tokenizer, messages: list[dict], max_length: int) -> dict:
    """Token ids of a chat with labels on the final assistant turn only; truncated to ``max_length``.

    The unlabelled part is exactly the evaluation prompt of the same chat (``selgen.chat.split``)."""
    prompt, reply = chat.split(tokenizer, messages)
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = p_ids + tokenizer(reply, add_special_tokens=False)["input_ids"]
    labels = [IGNORE] * len(p_ids) + ids[len(p_ids) :]
    return {"input_ids": ids[:max_length], "labels": labels[:max_length], "truncated": len(ids) > max_length}


def collate(examples: list[dict], pad_id: int, device=None) -> dict:
    """Right-pad a list of encoded rows to the longest; returns input_ids, attention_mask, labels."""
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"])
        labels[i, :n] = torch.tensor(e["labels"])
        mask[i, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if device is not None:
        batch = {k: v.to(device) for k, v in batch.items()}
    batch["idx"] = [e.get("idx", -1) for e in examples]  # positions in the fixed example list (for caches)
    return batch


def n_label_tokens(batch: dict) -> int:
    """Tokens that carry a loss: labels shifted by one, as the causal LM loss sees them."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())


def batches(
    examples: list[dict], batch_size: int, seed: int, group_by_length: bool = False
) -> Iterator[list[dict]]:
    """Endless micro-batches: a fresh seeded shuffle each epoch; the last short batch of an epoch is kept.

    ``group_by_length``: rows of similar length share a micro-batch (the transformers Trainer's length-grouped
    order: shuffled, cut into mega-batches, sorted by length within each), so little compute goes to padding.
    """
    from transformers.trainer_pt_utils import get_length_grouped_indices

    lengths = [len(e["input_ids"]) if "input_ids" in e else 0 for e in examples]
    epoch = 0
    while True:
        if group_by_length:
            generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            order = get_length_grouped_indices(lengths, batch_size, generator=generator)
        else:
            order = list(range(len(examples)))
            random.Random(seed * 1_000_003 + epoch).shuffle(order)
        for i in range(0, len(order), batch_size):
            yield [examples[j] for j in order[i : i + batch_size]]
        epoch += 1


# ---------------------------------------------------------------------------------------------------- step
@dataclass
class StepContext:
    """What a method sees of the current optimizer step."""

    step: int
    total_steps: int
    n_task: int  # labelled task tokens in the whole step (all micro-batches)
    n_align: int  # labelled alignment tokens in the whole step
    align_batches: list = field(default_factory=list)  # every alignment micro-batch of the step
    micro: int = 0  # index of the current micro-batch within the step (per-step terms: add at 0 only)
    max_length: int = 0  # train.max_length: the padded row length of the authors' normalisations


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
    """Train ``model`` in place; return the run record (steps, tokens, wall time, peak memory, losses).

    ``cfg`` keys: lr, epochs or steps, batch_size, align_batch_size (default batch_size), grad_accum,
    max_length, warmup_steps, warmup_cap (default on), weight_decay, max_grad_norm (None: no clipping),
    gradient_checkpointing (default off).
    ``checkpoint``: a
    ``selgen.checkpoint.Checkpointer`` (resume from its last checkpoint, save periodically and on SIGTERM).
    """
    from transformers import get_linear_schedule_with_warmup

    seed_everything(seed)
    dev = next(model.parameters()).device
    align_rows_read = len(align_rows)
    method.seed = seed
    task_rows, align_rows = method.prepare_data(task_rows, align_rows, seed)
    task = [encode(tokenizer, r["messages"], cfg["max_length"]) for r in task_rows]
    align = (
        [method.encode_align(tokenizer, r, cfg["max_length"]) for r in align_rows]
        if method.uses_alignment
        else []
    )
    for i, example in enumerate(align):
        example["idx"] = i  # so that methods can cache reference outputs per alignment example
    if not task:
        raise ValueError("no task rows to train on")
    if method.uses_alignment and not align:
        raise ValueError(f"method {method.name!r} needs alignment rows, but there are none")

    accum, bs = cfg["grad_accum"], cfg["batch_size"]
    steps_per_epoch = math.ceil(len(task) / (bs * accum))
    total_steps = cfg.get("steps") or max(1, math.ceil(cfg["epochs"] * steps_per_epoch))
    task_iter = batches(task, bs, seed, cfg.get("group_by_length", False))
    streamed = align if method.align_stream else []
    align_iter = batches(streamed, cfg.get("align_batch_size", bs), seed + 1) if streamed else None

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    schedule = get_linear_schedule_with_warmup(optimizer, _warmup(cfg, total_steps), total_steps)
    check_head(model, collate(task[:1], tokenizer.pad_token_id, dev))
    if cfg.get("gradient_checkpointing"):
        enable_gradient_checkpointing(model)
    method.setup(model, tokenizer, align, dev)

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
            from selgen.checkpoint import Interrupted, capture

            extra = {"history": history, "task_tokens": task_tokens, "align_tokens": align_tokens}
            extra["elapsed_s"] = elapsed + time.perf_counter() - t0
            checkpoint.save(capture(model, optimizer, schedule, step + 1, extra))
            if checkpoint.stop_requested:
                raise Interrupted(
                    f"{desc}: stopped on SIGTERM; checkpoint saved at step {step + 1}/{total_steps}"
                )
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
