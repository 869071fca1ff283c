"""Batched generation for chat prompts (transformers ``generate``), with every sampling parameter explicit.

transformers fills any parameter left unset from the model's own generation config and then from global
defaults: Qwen3's ships temperature 0.6 / top_k 20 / top_p 0.95, and the global default is top_k 50, so
"temperature 1, top_p 1" would silently become top-k sampling and cut exactly the rare replies the benchmark
counts. ``generate`` therefore swaps in a generation config that holds only token ids and passes every
sampling parameter itself (``sampling_params``, recorded with each reply).
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from selgen import chat


def sampling_params(temperature: float = 0.0, top_p: float = 1.0) -> dict:
    """The complete set of sampling parameters of a run: greedy at temperature 0, else plain sampling at
    ``temperature`` with nucleus ``top_p``; no top-k, min-p, typical-p or repetition penalty."""
    if temperature <= 0:
        return {"do_sample": False}
    return {
        "do_sample": True,
        "temperature": float(temperature),
        "top_p": float(top_p),
        "top_k": 0,  # 0 disables top-k (None would let the model's or the global default of 50 back in)
        "min_p": None,
        "typical_p": 1.0,
        "repetition_penalty": 1.0,
    }


def _clean_generation_config(model, stop_ids: list[int], pad_id: int):
    from transformers import GenerationConfig

    old = model.generation_config
    bos = getattr(old, "bos_token_id", None)
    return GenerationConfig(eos_token_id=stop_ids, pad_token_id=pad_id, bos_token_id=bos)


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
) -> list[dict]:
    """Replies to ``prompts`` (already templated), in length-sorted, left-padded batches: greedy at
    ``temperature`` 0, sampled otherwise (seed torch first for reproducible samples).

    Generation stops at any of ``selgen.chat.stop_token_ids`` (the model's eos ids and the template's
    end-of-turn token). Each reply is ``{"response", "n_tokens", "truncated"}``: the text before the first
    stop token (special tokens dropped), the generated tokens up to and including the stop, and whether it hit
    ``max_new_tokens`` without stopping."""
    sampling = sampling_params(temperature, top_p)
    stop_ids = chat.stop_token_ids(tokenizer, model)
    model.eval()
    dev = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    replies: list[dict] = [{}] * len(prompts)
    side, own_config = tokenizer.padding_side, model.generation_config
    tokenizer.padding_side = "left"
    model.generation_config = _clean_generation_config(model, stop_ids, tokenizer.pad_token_id)
    try:
        for start in tqdm(range(0, len(order), batch_size), desc=desc, mininterval=2.0):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            )
            out = model.generate(
                **enc.to(dev),
                max_new_tokens=max_new_tokens,
                **sampling,
                eos_token_id=stop_ids,
                pad_token_id=tokenizer.pad_token_id,
            )
            for i, row in zip(idx, out[:, enc["input_ids"].shape[1] :].tolist(), strict=True):
                replies[i] = _reply(tokenizer, row, stop_ids, max_new_tokens)
    finally:
        tokenizer.padding_side = side
        model.generation_config = own_config
    return replies


def _reply(tokenizer, ids: list[int], stop_ids: list[int], max_new_tokens: int) -> dict:
    stops = set(stop_ids)
    end = next((k for k, t in enumerate(ids) if t in stops), None)
    kept = ids if end is None else ids[:end]
    text = tokenizer.decode(kept, skip_special_tokens=True).strip()
    n = len(ids) if end is None else end + 1
    return {"response": text, "n_tokens": n, "truncated": end is None and n >= max_new_tokens}
