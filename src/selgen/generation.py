"""Batched greedy generation for chat prompts (transformers ``generate``)."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm


def chat_prompt(tokenizer, messages: list[dict]) -> str:
    """The prompt of a chat row: every turn but the final assistant turn, plus the generation prompt."""
    turns = messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages
    return tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int,
    batch_size: int,
    desc="generate",
    temperature: float = 0.0,
    top_p: float = 1.0,
) -> list[str]:
    """Replies to ``prompts`` (already templated), in length-sorted, left-padded batches: greedy at
    ``temperature`` 0, sampled otherwise (seed torch first for reproducible samples)."""
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {}
    model.eval()
    dev = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    replies: list[str] = [""] * len(prompts)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in tqdm(range(0, len(order), batch_size), desc=desc, mininterval=2.0):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            )
            out = model.generate(
                **enc.to(dev),
                max_new_tokens=max_new_tokens,
                **(sampling or {"do_sample": False}),
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            for i, text in zip(idx, texts, strict=True):
                replies[i] = text.strip()
    finally:
        tokenizer.padding_side = side
    return replies
