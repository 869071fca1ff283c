"""The stand-in's config.json (the family's architecture class and real non-size values with tiny shapes) and
generation_config.json (the real sampling defaults and stop tokens), with token names mapped to the stand-in
tokenizer's ids."""

from __future__ import annotations

from selgen.standins.specs import SPECS


def token_ids(tokenizer, names):
    if names is None:
        return None
    if isinstance(names, list):
        return [tokenizer.convert_tokens_to_ids(n) for n in names]
    return tokenizer.convert_tokens_to_ids(names)


def generation_config(family: str, tokenizer):
    from transformers import GenerationConfig

    fields = {}
    for key, value in SPECS[family]["generation"].items():
        fields[key] = token_ids(tokenizer, value) if key.endswith("_token_id") else value
    try:
        return GenerationConfig(**fields)
    except ValueError:  # a transformers that no longer knows cache_implementation="hybrid"
        fields.pop("cache_implementation", None)
        return GenerationConfig(**fields)


def model_config(family: str, tokenizer, vocab: int, shape: dict, sliding_window: int):
    from transformers import Gemma2Config, GemmaConfig, LlamaConfig, Qwen3Config

    ids = {k: token_ids(tokenizer, v) for k, v in SPECS[family]["config_ids"].items()}
    common = shape | {"vocab_size": vocab, "bos_token_id": ids["bos"], "eos_token_id": ids["eos"]}
    common["pad_token_id"] = ids["pad"]
    if family == "llama3":  # meta-llama/Llama-3.1-8B-Instruct config.json
        # Real: original_max_position_embeddings 8192 of max_position_embeddings 131072; the same 1/16 here
        # (transformers warns when the original length is not below the maximum).
        rope = {
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": max(1, shape["max_position_embeddings"] // 16),
        }
        return LlamaConfig(
            **common, rms_norm_eps=1e-5, hidden_act="silu", rope_parameters=rope, tie_word_embeddings=False
        )
    if family == "qwen3":  # Qwen/Qwen3-8B config.json
        return Qwen3Config(
            **common,
            rms_norm_eps=1e-6,
            hidden_act="silu",
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
            use_sliding_window=False,
            sliding_window=None,
            max_window_layers=shape["num_hidden_layers"],
            tie_word_embeddings=False,
        )
    # What google/gemma-2b and google/gemma-2-2b-it config.json share.
    gemma = common | {
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
        "tie_word_embeddings": True,
    }
    if family == "gemma":  # google/gemma-2b config.json
        return GemmaConfig(**gemma, hidden_act="gelu_pytorch_tanh")
    # google/gemma-2-2b-it config.json (query_pre_attn_scalar = head_dim, as there: 256 = 256).
    return Gemma2Config(
        **gemma,
        hidden_activation="gelu_pytorch_tanh",
        query_pre_attn_scalar=shape["head_dim"],
        sliding_window=sliding_window,
        final_logit_softcapping=30.0,
        attn_logit_softcapping=50.0,
    )
