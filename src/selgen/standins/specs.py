"""Per family: which tokens the stand-in tokenizer carries (in the real id order), their roles, the chat
template, and the token names of config.json and generation_config.json (mapped to ids at build time)."""

from __future__ import annotations

from selgen.standins.templates import (
    GEMMA2_CHAT_TEMPLATE,
    GEMMA_CHAT_TEMPLATE,
    LLAMA3_CHAT_TEMPLATE,
    QWEN3_CHAT_TEMPLATE,
)

FAMILIES = ("llama3", "qwen3", "gemma", "gemma2")

# Tokens. Each entry: (content, special). Order = the real id order (Gemma's first four are trained in at
# ids 0..3 like the real ones; the others are appended after the BPE vocabulary, as in Llama-3 / Qwen).

_QWEN3_ADDED = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
]
_LLAMA3_ADDED = [  # ids 128000..128010 of the real tokenizer (the other 245 reserved tokens are left out)
    ("<|begin_of_text|>", True),
    ("<|end_of_text|>", True),
    ("<|reserved_special_token_0|>", True),
    ("<|reserved_special_token_1|>", True),
    ("<|finetune_right_pad_id|>", True),
    ("<|reserved_special_token_2|>", True),
    ("<|start_header_id|>", True),
    ("<|end_header_id|>", True),
    ("<|eom_id|>", True),
    ("<|eot_id|>", True),
    ("<|python_tag|>", True),
]
_GEMMA_FIRST = ["<pad>", "<eos>", "<bos>", "<unk>"]  # ids 0, 1, 2, 3 as in the real tokenizer
_GEMMA_ADDED = [("<start_of_turn>", True), ("<end_of_turn>", True)]  # real ids 106, 107

# Per family: tokenizer roles, whether the tokenizer prepends bos, template, the generation_config.json
# (token names, mapped to ids at build time) and the config's own eos.
SPECS: dict[str, dict] = {
    "qwen3": {
        "first": [],
        "added": _QWEN3_ADDED,
        "bos": None,
        "eos": "<|im_end|>",
        "pad": "<|endoftext|>",
        "unk": None,
        "additional": [t for t, special in _QWEN3_ADDED[1:] if special],
        "prepend_bos": False,
        "template": QWEN3_CHAT_TEMPLATE,
        # Qwen/Qwen3-8B config.json: bos 151643 (<|endoftext|>), eos 151645 (<|im_end|>), no pad_token_id.
        "config_ids": {"bos": "<|endoftext|>", "eos": "<|im_end|>", "pad": None},
        # Qwen/Qwen3-8B generation_config.json (see the package docstring).
        "generation": {
            "bos_token_id": "<|endoftext|>",
            "do_sample": True,
            "eos_token_id": ["<|im_end|>", "<|endoftext|>"],
            "pad_token_id": "<|endoftext|>",
            "temperature": 0.6,
            "top_k": 20,
            "top_p": 0.95,
        },
    },
    "gemma": {
        "first": _GEMMA_FIRST,
        "added": _GEMMA_ADDED,
        "bos": "<bos>",
        "eos": "<eos>",
        "pad": "<pad>",
        "unk": "<unk>",
        "additional": ["<start_of_turn>", "<end_of_turn>"],
        "prepend_bos": True,
        "template": GEMMA_CHAT_TEMPLATE,
        # google/gemma-2b config.json: bos 2, eos 1, pad 0.
        "config_ids": {"bos": "<bos>", "eos": "<eos>", "pad": "<pad>"},
        # google/gemma-2b-it generation_config.json: bos / eos / pad only (eos is <eos>, not <end_of_turn>).
        "generation": {"bos_token_id": "<bos>", "eos_token_id": "<eos>", "pad_token_id": "<pad>"},
    },
    "gemma2": {  # the tokens of "gemma" (added below the table)
        "template": GEMMA2_CHAT_TEMPLATE,
        # google/gemma-2-2b-it config.json: bos 2, eos [1, 107], pad 0.
        "config_ids": {"bos": "<bos>", "eos": ["<eos>", "<end_of_turn>"], "pad": "<pad>"},
        # google/gemma-2-2b-it generation_config.json (cache_implementation "hybrid" is written only when the
        # installed transformers accepts it; see configs.generation_config).
        "generation": {
            "bos_token_id": "<bos>",
            "cache_implementation": "hybrid",
            "eos_token_id": ["<eos>", "<end_of_turn>"],
            "pad_token_id": "<pad>",
        },
    },
    "llama3": {
        "first": [],
        "added": _LLAMA3_ADDED,
        "bos": "<|begin_of_text|>",
        "eos": "<|eot_id|>",  # Llama-3.1-8B-Instruct tokenizer_config.json (base model: <|end_of_text|>)
        "pad": None,  # the real tokenizer has none
        "unk": None,
        "additional": [],
        "prepend_bos": True,
        "template": LLAMA3_CHAT_TEMPLATE,
        # meta-llama/Llama-3.1-8B-Instruct config.json: bos 128000, eos [128001, 128008, 128009], no pad.
        "config_ids": {
            "bos": "<|begin_of_text|>",
            "eos": ["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"],
            "pad": None,
        },
        # meta-llama/Llama-3.1-8B-Instruct generation_config.json.
        "generation": {
            "bos_token_id": "<|begin_of_text|>",
            "do_sample": True,
            "eos_token_id": ["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"],
            "temperature": 0.6,
            "top_p": 0.9,
        },
    },
}
_GEMMA_TOKENS = ("first", "added", "bos", "eos", "pad", "unk", "additional", "prepend_bos")
SPECS["gemma2"] = {**{k: SPECS["gemma"][k] for k in _GEMMA_TOKENS}, **SPECS["gemma2"]}
