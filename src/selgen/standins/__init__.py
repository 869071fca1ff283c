"""Tiny random-weight stand-ins for real chat-model families (Llama-3.1, Qwen3, Gemma, Gemma-2).

``build_standin(family, out_dir)`` writes an ordinary model folder (``AutoTokenizer`` /
``AutoModelForCausalLM`` load it) whose *interfaces* copy the real model: the family's architecture class,
its chat template, its special tokens (and which of them is bos / eos / pad / unk), the stop tokens and
sampling defaults of its ``generation_config.json``, whether the tokenizer prepends bos, whether embeddings
are tied, Gemma-2's soft-capping and sliding window. Only the sizes (and the trained-here byte-level BPE
vocabulary) are small, so paper-scale code paths (chat templates, stop tokens, generation configs) can be
rehearsed on a CPU without downloading anything.

Modules: ``templates`` (the chat templates, verbatim), ``specs`` (per family: tokens and their roles,
template, config / generation-config token names), ``real_configs`` (the full-size architectures),
``tokenizer`` (the stand-in tokenizer), ``configs`` (the stand-in's config and generation config), ``build``
(``build_standin``).

Where each real value comes from (looked up through public copies; no hub access was available):

* Qwen3 (``Qwen/Qwen3-8B``): chat template = the official Qwen3 template as in
  ``huggingface.co/Qwen/Qwen3-8B/blob/895c8d171bc03c30e113cd7a28c02494b5e068b7/tokenizer_config.json#L230``
  (the revision with ``message.content is string`` / ``reasoning_content is string``; identified by the
  quote in GitHub ``tyler-griggs/SkyRL`` ``skyrl-train/skyrl_train/utils/templates/README.md``, full text
  taken from public verbatim copies of that template, which agree with each other). Config: HF commit
  "Copy config.json from Qwen/Qwen3-8B" (huggingface.co/thejaminator/qwen-hook-layer-9, 478fb720).
  Generation config: 13-line file copied from Qwen3-8B in huggingface.co/Sagicc/qwen3-8b-tokenizer
  (commit 1f56b745; only its first lines were visible) -- values as printed for the Qwen3 dense family
  (bos 151643, do_sample true, eos [151645, 151643], pad 151643, temperature 0.6, top_k 20, top_p 0.95).
  Tokens: ``<|endoftext|>`` (pad, id 151643), ``<|im_start|>``, ``<|im_end|>`` (eos), ...;
  ``<think>`` / ``</think>`` / ``<tool_call>`` / fim tokens are added tokens but not special (real Qwen2.5/3
  ``added_tokens_decoder``); no bos; nothing prepended.
* Gemma (``google/gemma-2b-it``): chat template = the Gemma-1 template (tokenizer_config.json line 1747 of
  the gemma(-1.1)-2b-it tokenizers, seen verbatim in huggingface.co/unsloth/gemma-1.1-2b-it-bnb-4bit commit
  b044d3b and trl-internal-testing/tiny-GemmaForCausalLM); it is byte-identical to Gemma-2's. Tokens and
  ids pad 0, eos 1, bos 2, unk 3, ``<start_of_turn>`` 106, ``<end_of_turn>`` 107 (special_tokens_map.json /
  tokenizer_config.json of gemma-2b-it copies); the tokenizer prepends ``<bos>`` (add_bos_token true).
  Config: ``google/gemma-2b`` config.json via copies (``_name_or_path: google/gemma-2b``: e.g.
  huggingface.co/wandb/gemma-2b-zephyr-sft 9410f28, damadei/gemma-2b-sql-finetuned); generation config
  (bos 2, eos 1, pad 0 only): huggingface.co/alpindale/gemma-2b-it 0e91f55 (a mirror,
  transformers_version 4.38.0.dev0).
* Gemma-2 (``google/gemma-2-2b-it``): chat template verbatim from GitHub ``ye-NX/llama.cpp``
  ``models/templates/google-gemma-2-2b-it.jinja`` (commit b354d7c9ecb76c97c07098617cdebbdfffa2583e; llama.cpp
  dumps these from the hub). Config: huggingface.co/mlx-community/gemma-2-2b-it-fp16 a596df5 (a verbatim
  upload: transformers 4.42.4, eos [1, 107], softcaps 30 / 50, sliding_window 4096). Generation config
  (bos 2, cache_implementation hybrid, eos [1, 107], pad 0): huggingface.co/lunahr/SystemGemma2-2b-it 131bbb8
  (the hub's "Update EOS token ids (#1)" file).
* Llama-3 (``meta-llama/Llama-3.1-8B-Instruct``): chat template = GitHub ``ye-NX/llama.cpp``
  ``models/templates/meta-llama-Llama-3.3-70B-Instruct.jinja`` (commit b354d7c9...). NOT VERIFIED
  byte-for-byte against Llama-3.1-8B-Instruct's own tokenizer_config.json (no copy attributed to that repo
  was found); it is the Llama-3.1 tool-calling template ("Cutting Knowledge Date: December 2023", default
  date "26 Jul 2024", builtin_tools / ``<|eom_id|>``), which 3.1-8B-Instruct and 3.3-70B-Instruct share as
  far as public copies show. Generation config (bos 128000, do_sample true, eos [128001, 128008, 128009],
  temperature 0.6, top_p 0.9): huggingface.co/vicky4s4s/llama-3.1-8B-instruct 5c528da (transformers 4.42.3
  upload of the original). The tokenizer's eos_token is ``<|eot_id|>`` and it has no pad token
  (special_tokens_map.json of huggingface.co/mlx-community/Llama-3.1-8B-Instruct); so the stand-in has no
  pad token either (callers that batch must set one, as with the real model). The tokenizer prepends
  ``<|begin_of_text|>``. Architecture values (rope_theta 500000 with llama3 rope scaling, rms_norm_eps 1e-5,
  untied embeddings, config eos [128001, 128008, 128009]) as in Llama-3.1-8B-Instruct's config.json
  (quoted by GitHub marin-community/marin experiments/llama.py).

As with the real Llama-3 / Gemma tokenizers, re-encoding a rendered chat prompt with ``tokenizer(text)``
prepends a second bos (the template already starts with one); ``apply_chat_template(..., tokenize=True)`` and
``tokenizer(text, add_special_tokens=False)`` do not.

Not copied: the real vocabularies (a byte-level BPE is trained here on ``texts``; digits are split one by
one; Gemma's real tokenizer is SentencePiece, Llama-3's splits digits in groups of three), Llama's 256
reserved special tokens and Gemma's unused tokens (only the named ones are added), Qwen's vision tokens'
meaning.
"""

from selgen.standins.build import build_standin
from selgen.standins.real_configs import FAMILY_OF, REAL_CONFIGS, real_config
from selgen.standins.specs import FAMILIES, SPECS
from selgen.standins.templates import (
    GEMMA2_CHAT_TEMPLATE,
    GEMMA_CHAT_TEMPLATE,
    LLAMA3_CHAT_TEMPLATE,
    QWEN3_CHAT_TEMPLATE,
)
from selgen.standins.tokenizer import DEFAULT_TEXTS

__all__ = [
    "DEFAULT_TEXTS",
    "FAMILIES",
    "FAMILY_OF",
    "GEMMA2_CHAT_TEMPLATE",
    "GEMMA_CHAT_TEMPLATE",
    "LLAMA3_CHAT_TEMPLATE",
    "QWEN3_CHAT_TEMPLATE",
    "REAL_CONFIGS",
    "SPECS",
    "build_standin",
    "real_config",
]
