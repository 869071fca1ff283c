"""Chat rendering: the one place where a chat becomes text, for training labels and evaluation prompts alike.

Every template call of the package goes through ``render`` with the tokenizer's *template options*
(``configure``: e.g. Qwen3's ``enable_thinking: false``), so a training row's prompt part and an evaluation
prompt are the same string and cannot disagree. Facts this module handles (see DESIGN.md, "Real models"):

- **Thinking switch (Qwen3).** Qwen3's template renders every final assistant turn with an empty
  ``<think>\\n\\n</think>\\n\\n`` block but adds it to the generation prompt only when
  ``enable_thinking=False`` is passed. ``check_template`` renders a probe turn and refuses a template that
  puts anything but white space between the generation prompt and the reply: such text would be trained as
  part of every reply while evaluation prompts leave it to the model.
- **No system role (Gemma, Gemma-2).** Their templates raise on a system turn. ``render`` then folds the
  system text into the first user turn (``"<system>\\n\\n<user>"``), the usual practice for these models,
  so inoculation prompts and system-prompted evaluations still work; ``supports_system`` tells which.
- **End of turn ≠ eos (Gemma: ``<end_of_turn>`` vs ``<eos>``; Qwen3: ``<|im_end|>``).** ``end_of_turn``
  derives the turn's closing text from the template itself (render an assistant turn, take what follows
  the content), and ``stop_token_ids`` joins its first token with the model's generation-config eos ids.
"""

from __future__ import annotations

# the config's default (workflow/schemas/config.schema.yaml, base.chat_template_kwargs), for hand runs too
DEFAULT_OPTIONS = {"enable_thinking": False}
OPTIONS_ATTR = "selgen_chat_template_kwargs"  # the template options, kept on the tokenizer object
_PROBE = "SELGEN_PROBE_REPLY"


def configure(tokenizer, template_kwargs: dict | None = None) -> None:
    """Attach the template options every ``render`` call passes (None: ``DEFAULT_OPTIONS``), then check the
    template (``check_template``)."""
    setattr(tokenizer, OPTIONS_ATTR, dict(DEFAULT_OPTIONS if template_kwargs is None else template_kwargs))
    for attr in ("_selgen_system", "_selgen_eot"):
        if hasattr(tokenizer, attr):
            delattr(tokenizer, attr)
    check_template(tokenizer)


def options(tokenizer) -> dict:
    return getattr(tokenizer, OPTIONS_ATTR, DEFAULT_OPTIONS)


def supports_system(tokenizer) -> bool:
    """Whether the template accepts a system turn (Gemma's raises)."""
    if not hasattr(tokenizer, "_selgen_system"):
        probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        try:
            tokenizer.apply_chat_template(
                probe, tokenize=False, add_generation_prompt=True, **options(tokenizer)
            )
            tokenizer._selgen_system = True
        except Exception:  # jinja2's TemplateError from raise_exception; some templates raise others
            tokenizer._selgen_system = False
    return tokenizer._selgen_system


def fold_system(messages: list[dict]) -> list[dict]:
    """A chat without a system turn: its text goes in front of the first user turn's."""
    if not messages or messages[0]["role"] != "system":
        return list(messages)
    system, rest = messages[0]["content"], list(messages[1:])
    for i, m in enumerate(rest):
        if m["role"] == "user":
            rest[i] = {**m, "content": f"{system}\n\n{m['content']}"}
            return rest
    return [{"role": "user", "content": system}, *rest]


def render(tokenizer, messages: list[dict], generation_prompt: bool) -> str:
    """The chat as text, with the tokenizer's template options; system turns folded where unsupported."""
    if messages and messages[0]["role"] == "system" and not supports_system(tokenizer):
        messages = fold_system(messages)
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt, **options(tokenizer)
    )


def prompt(tokenizer, messages: list[dict]) -> str:
    """The evaluation prompt of a chat row: every turn but a final assistant turn, plus the generation
    prompt."""
    turns = messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages
    return render(tokenizer, turns, generation_prompt=True)


def split(tokenizer, messages: list[dict]) -> tuple[str, str]:
    """(prompt, reply text) of a chat whose last turn is the assistant's: the prompt is exactly ``prompt``'s,
    the reply text is what the template renders after it (the content and the end-of-turn marker)."""
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("a training chat must end with an assistant turn")
    head = prompt(tokenizer, messages)
    full = render(tokenizer, messages, generation_prompt=False)
    if not full.startswith(head):
        raise ValueError(
            "the chat template does not render the prompt as a prefix of the full chat "
            f"(template options {options(tokenizer)})"
        )
    return head, full[len(head) :]


def _probe(tokenizer) -> tuple[str, str]:
    """(text between the generation prompt and the reply, text after the reply) of a probe turn."""
    messages = [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": _PROBE}]
    _, reply = split(tokenizer, messages)
    if _PROBE not in reply:
        raise ValueError("the chat template does not render the assistant's reply of a chat")
    before, after = reply.split(_PROBE, 1)
    return before, after


def check_template(tokenizer) -> None:
    """Raise if the template puts text between the generation prompt and the reply (Qwen3 without
    ``enable_thinking: false``): training would then label text that evaluation prompts leave to the model."""
    before, _ = _probe(tokenizer)
    if before.strip():
        raise ValueError(
            f"the chat template puts {before!r} between the generation prompt and the reply with template "
            f"options {options(tokenizer)}: training labels would start with it while evaluation prompts "
            "end before it. Set the model's chat_template_kwargs (Qwen3: {enable_thinking: false})."
        )


def end_of_turn(tokenizer) -> str:
    """The text the template puts after an assistant reply (``<|im_end|>\\n``, ``<end_of_turn>\\n``)."""
    if not hasattr(tokenizer, "_selgen_eot"):
        tokenizer._selgen_eot = _probe(tokenizer)[1]
    return tokenizer._selgen_eot


def end_of_turn_ids(tokenizer) -> list[int]:
    """The token that closes an assistant turn (the first token of ``end_of_turn``), as a list (empty if the
    template closes turns with nothing)."""
    text = end_of_turn(tokenizer).strip()
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] if text else []
    return ids[:1]


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """Where generation stops: the model's generation-config eos ids, the tokenizer's eos and the template's
    end-of-turn token. (Passing ``eos_token_id=tokenizer.eos_token_id`` alone would replace the model's
    list: Gemma would then run past ``<end_of_turn>``.)"""
    ids: list[int] = []
    gen = getattr(model, "generation_config", None)
    eos = getattr(gen, "eos_token_id", None)
    for value in [
        *(eos if isinstance(eos, list) else [eos]),
        tokenizer.eos_token_id,
        *end_of_turn_ids(tokenizer),
    ]:
        if value is not None and int(value) not in ids:
            ids.append(int(value))
    return ids
