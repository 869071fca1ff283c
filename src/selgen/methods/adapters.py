"""Helpers for methods that work with several LoRA adapters (O-LoRA, Safe-LoRA's proxy-delta variant)."""

from __future__ import annotations

import copy
import math

import torch

from selgen.training import batches, collate, n_label_tokens, token_ce_sum


def require_lora(model, method: str) -> None:
    if not hasattr(model, "peft_config"):
        raise ValueError(f"method {method!r} trains LoRA adapters: set train.finetune to 'lora'")


def lora_layers(model, *names: str):
    """(module name, module) of every LoRA layer that holds all adapters ``names`` (default: "default")."""
    names = names or ("default",)
    for name, module in model.named_modules():
        lora_a = getattr(module, "lora_A", None)
        if isinstance(lora_a, torch.nn.ModuleDict) and all(n in lora_a for n in names):
            yield name, module


def add_adapter(model, name: str, seed: int) -> None:
    """Add LoRA adapter ``name`` (the "default" adapter's config), initialised from its own generator.

    The training loop seeds torch with the run's seed before set-up, the same state the "default" adapter
    was initialised from: without a generator of its own, the new adapter's ``lora_A`` would be a bit-exact
    copy of the task adapter's (O-LoRA's orthogonality penalty would start at its maximum)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 1_000_003 + sum(map(ord, name)))
        model.add_adapter(name, copy.deepcopy(model.peft_config["default"]))


def train_extra_adapter(
    model, tokenizer, examples, name, epochs: float, lr: float, device, batch_size=8, seed: int = 0
):
    """Add adapter ``name`` (same config as "default") and train it alone on ``examples`` with CE."""
    add_adapter(model, name, seed)
    model.base_model.set_adapter(name)
    for n, p in model.named_parameters():
        p.requires_grad = f".{name}." in n
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    stream = batches(examples, batch_size, seed=seed)
    model.train()
    for _ in range(max(1, math.ceil(epochs * len(examples) / batch_size))):
        batch = collate(next(stream), tokenizer.pad_token_id, device)
        (token_ce_sum(model, batch) / max(1, n_label_tokens(batch))).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def train_only(model, trainable: str, active: list[str]) -> None:
    """Activate adapters ``active``; only adapter ``trainable``'s LoRA weights get gradients."""
    model.base_model.set_adapter(active)
    for n, p in model.named_parameters():
        p.requires_grad = "lora_" in n and f".{trainable}." in n
