"""The stand-in tokenizer of a family: a byte-level BPE trained on a small corpus plus the family's special
tokens (in the real id order), its bos / eos / pad / unk roles, whether it prepends bos, and its chat
template."""

from __future__ import annotations

from selgen.standins.specs import SPECS

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


def build_tokenizer(family: str, texts: list[str], vocab_size: int):
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
    roles = {f"{role}_token": spec[role] for role in ("bos", "eos", "pad", "unk")}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        additional_special_tokens=spec["additional"],
        chat_template=spec["template"],
        clean_up_tokenization_spaces=False,
        **roles,
    )
