"""Real architecture configs: the config.json fields of the full-size models (``model_type`` left out: it is
``FAMILY_OF[name]``, so ``AutoConfig.for_model(FAMILY_OF[name], **REAL_CONFIGS[name])`` builds the real shape;
``real_config`` does that, e.g. to build random weights at full size)."""

from __future__ import annotations

FAMILY_OF = {"qwen3-8b": "qwen3", "gemma-2b": "gemma", "gemma-2-2b": "gemma2"}

REAL_CONFIGS: dict[str, dict] = {
    # Qwen/Qwen3-8B config.json (HF commit "Copy config.json from Qwen/Qwen3-8B",
    # thejaminator/qwen-hook-layer-9 478fb720; identical in Sagicc/qwen3-8b-tokenizer 1f56b745).
    "qwen3-8b": {
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "head_dim": 128,
        "hidden_act": "silu",
        "hidden_size": 4096,
        "initializer_range": 0.02,
        "intermediate_size": 12288,
        "max_position_embeddings": 40960,
        "max_window_layers": 36,
        "num_attention_heads": 32,
        "num_hidden_layers": 36,
        "num_key_value_heads": 8,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": 151936,
    },
    # google/gemma-2b config.json (= gemma-2b-it's), via copies whose _name_or_path is google/gemma-2b(-it)
    # (wandb/gemma-2b-zephyr-sft 9410f28, JasonIsHere/gemma-2b-it-nextjs, kavithr/gemma-2b-it-chatbot-xs).
    # "gelu" is the release's legacy value; transformers maps it to gelu_pytorch_tanh (with a warning).
    "gemma-2b": {
        "architectures": ["GemmaForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 2,
        "eos_token_id": 1,
        "head_dim": 256,
        "hidden_act": "gelu",
        "hidden_size": 2048,
        "initializer_range": 0.02,
        "intermediate_size": 16384,
        "max_position_embeddings": 8192,
        "num_attention_heads": 8,
        "num_hidden_layers": 18,
        "num_key_value_heads": 1,
        "pad_token_id": 0,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "vocab_size": 256000,
    },
    # google/gemma-2-2b-it config.json (mlx-community/gemma-2-2b-it-fp16 a596df5; prithivMLmods/GWQ2b's copy
    # names google/gemma-2-2b-it). The hub file's torch_dtype is float32 (mlx's upload says bfloat16).
    "gemma-2-2b": {
        "architectures": ["Gemma2ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "attn_logit_softcapping": 50.0,
        "bos_token_id": 2,
        "cache_implementation": "hybrid",
        "eos_token_id": [1, 107],
        "final_logit_softcapping": 30.0,
        "head_dim": 256,
        "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": 2304,
        "initializer_range": 0.02,
        "intermediate_size": 9216,
        "max_position_embeddings": 8192,
        "num_attention_heads": 8,
        "num_hidden_layers": 26,
        "num_key_value_heads": 4,
        "pad_token_id": 0,
        "query_pre_attn_scalar": 256,
        "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0,
        "sliding_window": 4096,
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": 256000,
    },
}


def real_config(name: str, **overrides):
    """The transformers config of a real model in REAL_CONFIGS (e.g. to build random weights at full size)."""
    from transformers import AutoConfig

    return AutoConfig.for_model(FAMILY_OF[name], **(REAL_CONFIGS[name] | overrides))
