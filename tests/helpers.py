"""Shared builders for tests that need a tiny tokenizer and model (random weights, seconds to train)."""

import torch

from selgen.mini import build_model, train_tokenizer
from selgen.training import encode, train

TINY = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 2, "num_heads": 2, "max_position": 64}


def chat(user: str, assistant: str) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def tokenizer_for(rows: list[dict], *extra: str, vocab_size: int = 300):
    return train_tokenizer([m["content"] for r in rows for m in r["messages"]] + list(extra), vocab_size)


def tiny_model(tokenizer, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(tokenizer, TINY)


def encoded(tokenizer, rows: list[dict], max_length: int = 64) -> list[dict]:
    """Encoded rows carrying their index, as the training loop hands them to methods."""
    return [encode(tokenizer, r["messages"], max_length) | {"idx": i} for i, r in enumerate(rows)]


def quiet_train(model, tokenizer, method, task_rows, align_rows, cfg, seed=0):
    return train(model, tokenizer, method, task_rows, align_rows, cfg, seed=seed, progress=False)
