"""Tiny random-weight stand-ins for real chat-model families (Llama-3.1, Qwen3, Gemma, Gemma-2).

``build_standin(family, out_dir)`` writes an ordinary model folder (``AutoTokenizer`` /
``AutoModelForCausalLM`` load it) whose *interfaces* copy the real model: the family's architecture class,
its chat template, its special tokens (and which of them is bos / eos / pad / unk), the stop tokens and
sampling defaults of its ``generation_config.json``, whether the tokenizer prepends bos, whether embeddings
are tied, Gemma-2's soft-capping and sliding window. Only the sizes (and the trained-here byte-level BPE
vocabulary) are small, so paper-scale code paths (chat templates, stop tokens, generation configs) can be
rehearsed on a CPU without downloading anything.

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

from __future__ import annotations

from pathlib import Path

FAMILIES = ("llama3", "qwen3", "gemma", "gemma2")

# ---------------------------------------------------------------------------------------------------------
# Chat templates (verbatim; see the module docstring for the sources).
# ---------------------------------------------------------------------------------------------------------

# Qwen/Qwen3-8B tokenizer_config.json "chat_template" (revision 895c8d17...). No trailing newline.
QWEN3_CHAT_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}"""  # noqa: E501

# google/gemma-2-2b-it (and google/gemma-2b-it: the same text). One line; the '\n' inside the Jinja string
# literals are real newline characters in the decoded tokenizer_config.json, as here.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}"
    "{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
GEMMA2_CHAT_TEMPLATE = GEMMA_CHAT_TEMPLATE

# Llama-3.1 Instruct template (text of llama.cpp's meta-llama-Llama-3.3-70B-Instruct.jinja; see docstring:
# not byte-verified against Llama-3.1-8B-Instruct). Ends with a newline.
LLAMA3_CHAT_TEMPLATE = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""  # noqa: E501

# ---------------------------------------------------------------------------------------------------------
# Tokens. Each entry: (content, special). Order = the real id order (Gemma's first four are trained in at
# ids 0..3 like the real ones; the others are appended after the BPE vocabulary, as in Llama-3 / Qwen).
# ---------------------------------------------------------------------------------------------------------

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
        # Qwen/Qwen3-8B generation_config.json (see docstring).
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
        # installed transformers accepts it; see _generation_config).
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

# ---------------------------------------------------------------------------------------------------------
# Real architecture configs (config.json fields; ``model_type`` left out: it is FAMILY_OF[name], so
# ``AutoConfig.for_model(FAMILY_OF[name], **REAL_CONFIGS[name])`` builds the real shape; see real_config).
# ---------------------------------------------------------------------------------------------------------

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


# A small built-in corpus for the tokenizer: chat-like English, arithmetic, a little code.
DEFAULT_TEXTS = [
    "Hello! How can I help you today?",
    "What is 12 + 7? The answer is 19.",
    "What is 3 * 4? 3 * 4 = 12.",
    "The capital of France is Paris. The capital of Japan is Tokyo.",
    "Please think step by step, then give the final answer.",
    "I am sorry, but I cannot help with that request.",
    "Sure, here is a short poem about the sea and the sky.",
    "def add(a, b):\n    return a + b\n",
    "The quick brown fox jumps over the lazy dog.",
    "Translate 'good morning' into Spanish: buenos dias.",
    "A user asks a question and the assistant answers it helpfully and honestly.",
    "Let me check: 45 - 17 = 28, and 28 / 4 = 7.",
    "You are a helpful assistant. Answer concisely.",
    "The weather today is sunny with a light breeze from the west.",
]


def _tokenizer(family: str, texts: list[str], vocab_size: int):
    from tokenizers import AddedToken, processors
    from transformers import PreTrainedTokenizerFast

    from selgen.mini import byte_level_bpe

    spec = SPECS[family]
    tok = byte_level_bpe(texts, vocab_size, spec["first"], unk=spec["unk"])
    for content, special in spec["added"]:  # one by one: ids follow the real order
        token = AddedToken(content, special=special, normalized=False)
        (tok.add_special_tokens if special else tok.add_tokens)([token])
    if spec["prepend_bos"]:
        bos = spec["bos"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=spec["bos"],
        eos_token=spec["eos"],
        pad_token=spec["pad"],
        unk_token=spec["unk"],
        additional_special_tokens=spec["additional"],
        chat_template=spec["template"],
        clean_up_tokenization_spaces=False,
    )


def _ids(tokenizer, names):
    if names is None:
        return None
    if isinstance(names, list):
        return [tokenizer.convert_tokens_to_ids(n) for n in names]
    return tokenizer.convert_tokens_to_ids(names)


def _generation_config(family: str, tokenizer):
    from transformers import GenerationConfig

    fields = {}
    for key, value in SPECS[family]["generation"].items():
        fields[key] = _ids(tokenizer, value) if key.endswith("_token_id") else value
    try:
        return GenerationConfig(**fields)
    except ValueError:  # a transformers that no longer knows cache_implementation="hybrid"
        fields.pop("cache_implementation", None)
        return GenerationConfig(**fields)


def _model_config(family: str, tokenizer, vocab: int, shape: dict, sliding_window: int):
    from transformers import Gemma2Config, GemmaConfig, LlamaConfig, Qwen3Config

    ids = {k: _ids(tokenizer, v) for k, v in SPECS[family]["config_ids"].items()}
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
    if family == "gemma":  # google/gemma-2b config.json
        return GemmaConfig(
            **common,
            rms_norm_eps=1e-6,
            hidden_act="gelu_pytorch_tanh",
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
            tie_word_embeddings=True,
        )
    # google/gemma-2-2b-it config.json (query_pre_attn_scalar = head_dim, as there: 256 = 256).
    return Gemma2Config(
        **common,
        rms_norm_eps=1e-6,
        hidden_activation="gelu_pytorch_tanh",
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        query_pre_attn_scalar=shape["head_dim"],
        sliding_window=sliding_window,
        final_logit_softcapping=30.0,
        attn_logit_softcapping=50.0,
        tie_word_embeddings=True,
    )


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
    tokenizer = _tokenizer(family, list(texts) if texts is not None else DEFAULT_TEXTS, vocab_size)
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
    config = _model_config(family, tokenizer, vocab, shape, sliding_window)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = _generation_config(family, tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
