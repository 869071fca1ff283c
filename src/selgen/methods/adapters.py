"""Helpers for methods that work with several LoRA adapters (O-LoRA, Safe-LoRA's proxy-delta variant)."""

from __future__ import annotations

import copy

import torch


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

    ``selgen train`` seeds torch with the run's seed before building the "default" adapter, and the loop
    seeds it again before each phase: without a generator of its own, the new adapter's ``lora_A`` would be
    a bit-exact copy of the task adapter's (O-LoRA's orthogonality penalty would start at its maximum)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 1_000_003 + sum(map(ord, name)))
        model.add_adapter(name, copy.deepcopy(model.peft_config["default"]))


def train_only(model, trainable: str, active: list[str]) -> None:
    """Activate adapters ``active``; only adapter ``trainable``'s LoRA weights get gradients."""
    model.base_model.set_adapter(active)
    for n, p in model.named_parameters():
        p.requires_grad = "lora_" in n and f".{trainable}." in n
