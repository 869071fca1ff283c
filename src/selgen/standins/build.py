"""``build_standin``: write a family's stand-in model folder (tokenizer, tiny seeded random weights, config
and generation config)."""

from __future__ import annotations

from pathlib import Path

from selgen.standins.configs import generation_config, model_config
from selgen.standins.specs import FAMILIES, SPECS
from selgen.standins.tokenizer import DEFAULT_TEXTS, build_tokenizer


def build_standin(
    family: str,
    out_dir,
    texts: list[str] | None = None,
    *,
    vocab_size: int = 400,
    hidden_size: int = 32,
    intermediate_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 2,
    num_key_value_heads: int = 1,
    head_dim: int = 16,
    max_position_embeddings: int = 512,
    seed: int = 0,
    model_vocab_size: int | None = None,
    sliding_window: int = 8,
) -> Path:
    """Write a model folder that AutoModelForCausalLM / AutoTokenizer load: a byte-level BPE trained on
    ``texts`` (DEFAULT_TEXTS when None) to ``vocab_size`` plus the family's special tokens, the family's real
    chat template, its architecture with tiny shapes and seeded random weights, and a generation_config.json
    mirroring the real one with ids mapped to this tokenizer.

    ``model_vocab_size`` (>= len(tokenizer)) pads the embedding matrix past the tokenizer, as real models do
    (Qwen3: 151936 rows for 151669 tokens). ``sliding_window`` is Gemma-2's (real: 4096), small so that it
    matters with short sequences. Returns the folder.
    """
    import torch
    from transformers import AutoModelForCausalLM

    if family not in SPECS:
        raise ValueError(f"unknown family {family!r}; one of {FAMILIES}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(family, list(texts) if texts is not None else DEFAULT_TEXTS, vocab_size)
    vocab = model_vocab_size or len(tokenizer)
    if vocab < len(tokenizer):
        raise ValueError(f"model_vocab_size {vocab} < len(tokenizer) {len(tokenizer)}")
    shape = {
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": num_attention_heads,
        "num_key_value_heads": num_key_value_heads,
        "head_dim": head_dim,
        "max_position_embeddings": max_position_embeddings,
    }
    config = model_config(family, tokenizer, vocab, shape, sliding_window)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = generation_config(family, tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
