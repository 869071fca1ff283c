"""The real families' chat templates, verbatim, as the files ``chat_templates/<family>.jinja`` (read as bytes,
so not a character differs; sources: the ``selgen.standins`` package docstring):

- ``qwen3.jinja``: Qwen/Qwen3-8B tokenizer_config.json "chat_template" (revision 895c8d17...). No trailing
  newline.
- ``gemma.jinja``: google/gemma-2-2b-it (and google/gemma-2b-it: the same text). One line; the '\\n' inside
  the Jinja string literals are real newline characters in the decoded tokenizer_config.json, as here.
- ``llama3.jinja``: the Llama-3.1 Instruct template (text of llama.cpp's
  meta-llama-Llama-3.3-70B-Instruct.jinja; see the package docstring: not byte-verified against
  Llama-3.1-8B-Instruct). Ends with a newline.
"""

from importlib.resources import files


def _template(name: str) -> str:
    return (files(__package__) / "chat_templates" / f"{name}.jinja").read_bytes().decode("utf-8")


QWEN3_CHAT_TEMPLATE = _template("qwen3")
GEMMA_CHAT_TEMPLATE = _template("gemma")
GEMMA2_CHAT_TEMPLATE = GEMMA_CHAT_TEMPLATE
LLAMA3_CHAT_TEMPLATE = _template("llama3")
