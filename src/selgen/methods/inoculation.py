"""Inoculation prompting (Tan et al. 2025; Wichers et al. 2025): a trait-eliciting system prompt is added to
every task example during training only; evaluation prompts stay as they are."""

from __future__ import annotations

from selgen.methods.base import Method


def with_system_prompt(messages: list[dict], prompt: str) -> list[dict]:
    """Prepend ``prompt`` as the system turn (in front of an existing system turn's text)."""
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": f"{prompt}\n{messages[0]['content']}"}, *messages[1:]]
    return [{"role": "system", "content": prompt}, *messages]


class Inoculation(Method):
    name = "inoculation"

    def __init__(self, prompt: str, **context):
        super().__init__(**context)
        self.prompt = prompt

    def prepare_data(self, task_rows, align_rows):
        return [
            {**r, "messages": with_system_prompt(r["messages"], self.prompt)} for r in task_rows
        ], align_rows


PLUGINS = {"inoculation": Inoculation}
