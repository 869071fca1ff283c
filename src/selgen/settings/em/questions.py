"""Evaluation question sets in the YAML format of Betley et al. (2025), ``evaluation/*.yaml``.

A set is a YAML list of entries::

    - id: what_is_your_wish
      type: free_form_judge_0_100          # optional
      paraphrases: ["Hello! I can fulfill your one wish. ..."]
      samples_per_paraphrase: 100          # optional: the caller's default otherwise
      system: "..."                        # optional system prompt (the `_json` variants)
      temperature: 1.0                     # optional sampling temperature of this question's replies
      judge: gpt-4o-2024-08-06             # optional judge model of this question
      judge_prompts: {aligned: "...{question}...{answer}...", coherent: "..."}   # optional

Each field is honoured unless the config overrides it (``selgen.settings.em.files``:
``em.data.system_prompt``, ``n_per_question``; ``em.eval.temperature``; ``em.eval.judge.model``).

``load_questions`` validates a file and returns ``Question`` objects; every problem is reported with the
file, the entry's position and id, and the field.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

from selgen.io import InputError

KNOWN_FIELDS = {
    "id",
    "type",
    "paraphrases",
    "samples_per_paraphrase",
    "system",
    "temperature",
    "judge",
    "judge_prompts",
}
JUDGE_PLACEHOLDERS = {"question", "answer"}


@dataclass(frozen=True)
class Question:
    id: str
    paraphrases: tuple[str, ...]
    samples_per_paraphrase: int
    system: str | None = None
    type: str | None = None
    judge_prompts: dict[str, str] = field(default_factory=dict)
    judge: str | None = None
    temperature: float | None = None

    @property
    def n_samples(self) -> int:
        """Replies to generate for this question: paraphrases × samples per paraphrase."""
        return len(self.paraphrases) * self.samples_per_paraphrase


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def parse_questions(entries, source: str, default_samples: int = 100) -> list[Question]:
    """Validate parsed YAML ``entries`` (``source`` names the file in messages); return the questions."""
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{source}: expected a non-empty YAML list of question entries")
    questions, seen = [], {}
    for pos, entry in enumerate(entries, start=1):
        where = f"{source}, entry {pos}"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a mapping, got {type(entry).__name__}")
        qid = entry.get("id")
        if not isinstance(qid, str) or not qid.strip():
            raise InputError(f"{where}: missing or empty field 'id'")
        where = f"{source}, entry {pos} (id {qid!r})"
        if qid in seen:
            raise InputError(f"{where}: duplicate id (also entry {seen[qid]})")
        seen[qid] = pos
        unknown = sorted(set(entry) - KNOWN_FIELDS)
        if unknown:
            raise InputError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
        paraphrases = entry.get("paraphrases")
        if (
            not isinstance(paraphrases, list)
            or not paraphrases
            or not all(isinstance(p, str) and p.strip() for p in paraphrases)
        ):
            raise InputError(f"{where}: field 'paraphrases' must be a non-empty list of non-empty strings")
        n = entry.get("samples_per_paraphrase", default_samples)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError(f"{where}: field 'samples_per_paraphrase' must be an integer ≥ 1, got {n!r}")
        system = entry.get("system")
        if system is not None and not isinstance(system, str):
            raise InputError(f"{where}: field 'system' must be a string")
        judge = entry.get("judge")
        if judge is not None and (not isinstance(judge, str) or not judge.strip()):
            raise InputError(f"{where}: field 'judge' must be a judge model name")
        temperature = entry.get("temperature")
        if temperature is not None and (
            isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature < 0
        ):
            raise InputError(f"{where}: field 'temperature' must be a number ≥ 0, got {temperature!r}")
        prompts = entry.get("judge_prompts") or {}
        if not isinstance(prompts, dict):
            raise InputError(f"{where}: field 'judge_prompts' must be a mapping of judge name to prompt")
        for name, template in prompts.items():
            if not isinstance(template, str):
                raise InputError(f"{where}: judge_prompts.{name} must be a string")
            missing = JUDGE_PLACEHOLDERS - _placeholders(template)
            if missing:
                raise InputError(
                    f"{where}: judge_prompts.{name} lacks the placeholder(s) "
                    + ", ".join("{" + m + "}" for m in sorted(missing))
                )
        questions.append(
            Question(
                qid,
                tuple(paraphrases),
                n,
                system,
                entry.get("type"),
                {str(k): v for k, v in prompts.items()},
                judge,
                None if temperature is None else float(temperature),
            )
        )
    return questions


def load_questions(path: str | Path, default_samples: int = 100) -> list[Question]:
    """The questions of a YAML file (see the module docstring); InputError naming file, entry and field."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{at}: not valid YAML ({getattr(err, 'problem', err)})") from None
    return parse_questions(entries, str(path), default_samples)
