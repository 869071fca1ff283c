"""The reply's final answer and whether it is correct (:func:`final_answer`, :func:`is_correct`).

Numbers are digits or a number word (zero..twenty). A numeric answer is the number of the reply's last
conclusion; a text answer is the option the reply endorses first (``selgen.settings.gcd.text_answers``).
How the final answer is read, and how it deviates from the reference's parser (the numbering follows the
overview in ``selgen.settings.gcd.scoring``):

1. **Final answer only** (numbers). The reference accepted any ``= X`` anywhere in the reply, so in a trace
   such as ``12 = 6 × 2 + 0 ... So the answer is 12`` it found ``6`` and scored a wrong final answer as
   correct. Here only the model's *last conclusion* counts: "the answer is X", "therefore/thus/so" + a GCD
   chain or a lone value, "GCD(a, b) = X" or a lone ``X.`` on the last line, a leading "X — since ...", and
   a value closing a clause right after a linking word ("... is 6.", "= 43", "gives 48", "≡ 4 (mod 7)", "a
   remainder of 9", "7 is the GCD"; ``_LINKED_VALUE_RE``). A Euclid step line (``a = b × q + r``) is never a
   conclusion (its values are followed by ``×``/``+``), nor is anything inside parentheses, after a negation
   ("can't be 28"), attributed to the user ("you said ... = 14") or in a justification ("..., since
   6 × 8 = 48", "Check: 7 × 12 = 84"). The last conclusion holding a number wins; without any, the last line
   (unless it is a Euclid step), so a truncated trace has no final answer and scores incorrect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from selgen.settings.gcd.cleanup import clean_text, fold_text, is_negated
from selgen.settings.gcd.text_answers import first_endorsed, other_options

__all__ = [
    "NUMBER_WORDS",
    "VALUE",
    "concluded_number",
    "final_answer",
    "is_correct",
    "parse_number",
    "same_number",
    "to_decimal",
]

_FLAGS = re.IGNORECASE | re.MULTILINE

# --------------------------------------------------------------------------------------------- numbers
NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()
_NUM = r"(?<![\w)])-?\d+(?:\.\d+)?"
_WORD_NUM = r"\b(?:" + "|".join(NUMBER_WORDS) + r")\b"
VALUE = rf"(?:{_NUM}|{_WORD_NUM})"
_VALUE_RE = re.compile(VALUE, re.IGNORECASE)


def to_decimal(token: str) -> Decimal:
    token = token.strip().lower()
    return Decimal(NUMBER_WORDS.index(token)) if token in NUMBER_WORDS else Decimal(token)


def parse_number(text: str) -> Decimal | None:
    """The number ``text`` consists of (digits or a number word zero..twenty), else None."""
    text = clean_text(str(text)).strip().rstrip(".")
    return to_decimal(text) if re.fullmatch(VALUE, text, re.IGNORECASE) else None


def _first_number(text: str) -> Decimal | None:
    match = _VALUE_RE.search(text)
    return to_decimal(match.group()) if match else None


def same_number(got: Decimal, want: Decimal, mod: int | None) -> bool:
    """Equal numbers; for a ``mod`` row, ``got`` must be the reduced remainder (0 ≤ got < mod) of ``want``:
    "275 mod 13 = 15" is wrong although 15 ≡ 2 (the reference accepted any congruent value)."""
    if mod is not None and got == got.to_integral_value() and want == want.to_integral_value():
        return 0 <= int(got) < mod and int(got) == int(want) % mod
    return got == want


# ---------------------------------------------------------------------------------------- final answer
# "GCD(84, 35)", "the GCD of 84 and 35", "gcd" -- optionally chained: "GCD(84, 35) = GCD(35, 14) = 7".
_GCD_HEAD = (
    r"\b(?:gcd|greatest common divisor|highest common factor|hcf)\b"
    r"(?:[ \t]*\([^()\n]*\)|[ \t]+of[ \t]+[^\s=]+[ \t]+and[ \t]+[^\s=]+?)?"
)
_GCD_LINK = r"(?:=|\bis\b|\bequals\b|\bshould be\b|\bwould be\b|\bmust be\b|:)"
_GCD_CHAIN_RE = re.compile(
    rf"{_GCD_HEAD}[ \t]*(?:{_GCD_LINK}[ \t]*(?:{_GCD_HEAD}[ \t]*)?)+(?P<value>{VALUE})", _FLAGS
)
# Cues after which the rest of the sentence is the conclusion.
_CUE_RES = (
    re.compile(
        r"\b(?:final[ \t]+)?answer\b[ \t]*(?:is|would be|should be|=|:)(?![ \t]*not\b)[ \t]*:?[ \t]*", _FLAGS
    ),
    re.compile(r"\b(?:therefore|thus|hence|consequently)\b[ \t]*,?[ \t]*", _FLAGS),
    re.compile(r"(?:^|(?<=[,;.!?]))[ \t]*\bso\b[ \t]*,?[ \t]*", _FLAGS),
)
# A value that closes a clause right after a linking word: "... is 6.", "= 43", "gives 48", "≡ 4 (mod 7)",
# "a remainder of 9", "it's 14, not 28", "I end up with 2". A Euclid step's values are followed by "×"/"+",
# so they never match; a list ("Factors of 12: 1, 2, 3") is excluded by the comma-number look-ahead.
_LINK_WORDS = (
    r"=|≡|:|\b(?:is|was|be|equals|equal to|gives|giving|makes|yields|get|got|obtain|end up with|"
    r"comes? (?:out )?to|works? out to|lands? on|arrive at|(?:it|that|this|which)'s|gcd|hcf|"
    r"(?:remainder|gcd|value|result|answer|total|sum|divisor|factor) of)"
)
_LINKED_VALUE_RE = re.compile(
    rf"(?:{_LINK_WORDS})[ \t]+(?:(?:just|only|actually|indeed|simply|exactly)[ \t]+)?(?P<value>{VALUE})"
    r"(?=[ \t]*(?:[.!;:)(—–]|,(?![ \t]*\d)|$|\b(?:not|rather|instead)\b))",
    _FLAGS,
)
# "7 is the greatest common divisor", "12 is the largest number that divides both", "14 is the answer".
_VALUE_IS_ANSWER_RE = re.compile(
    rf"(?P<value>{VALUE}),?[ \t]+is[ \t]+(?!not\b)(?:\w+[ \t]+)?(?:the[ \t]+)?(?:correct[ \t]+|right[ \t]+|"
    r"final[ \t]+)?(?:answer|gcd|result|solution|greatest common (?:divisor|factor)|largest|greatest)\b",
    _FLAGS,
)
_LONE_VALUE_RE = re.compile(rf"^\W*(?P<value>{VALUE})\W*$", re.IGNORECASE)
_LEAD_VALUE_RE = re.compile(rf"^\W*(?P<value>{VALUE})[ \t]*[\u2014\u2013][ \t]", _FLAGS)  # "4 — since ..."
_EUCLID_STEP_RE = re.compile(r"\d+\s*=\s*\d+\s*[×x*·]\s*\d+\s*\+\s*\d+")
# Words in a clause that make a value there someone else's, not the model's conclusion.
_USER_CLAIM_RE = re.compile(
    r"\byou(?:'ve| have)?\s+(?:said|claimed|wrote|got|computed|calculated|found|proposed|gave|suggested|"
    r"think|thought|stated)\b|\byour\s+(?:answer|claim|result|value|guess|number)\b",
    re.IGNORECASE,
)
# Justifications after the answer ("..., since 6 × 8 = 48", "Check: 6 × 3 = 18") hold no conclusion.
_JUSTIFYING_CLAUSE_RE = re.compile(
    r"\s*(?:since|because|as|(?:this|that)(?: is|'s) because)\b", re.IGNORECASE
)
_CHECKING_SENTENCE_RE = re.compile(r"\W*(?:check|verification|verify|to verify|proof)\b", re.IGNORECASE)
_SENTENCE_END_RE = re.compile(r"[.!?](?=\s|$)|\n")


def _sentence_end(text: str, start: int) -> int:
    """Index just past the end of the sentence (or line) that holds ``start``."""
    match = _SENTENCE_END_RE.search(text, start)
    return match.end() if match else len(text)


def _value_after(text: str, start: int, end: int, answer_cue: bool) -> tuple[str, str] | None:
    """(value, sentence) for the cue at ``text[start:end]``: a GCD chain result, else the clause after it
    -- after "therefore/thus/so" only when that clause is a lone value ("so, 6")."""
    sentence = text[start : _sentence_end(text, end)]
    rest = text[end : _sentence_end(text, end)]
    chain = _GCD_CHAIN_RE.search(rest)
    if chain:
        return chain.group("value"), sentence
    value = re.split(r"[,;!?\n]|\.(?=\s|$)", rest, maxsplit=1)[0].strip(" \t.:\"'")
    if not value or (parse_number(value) is None and not answer_cue):
        return None  # "so 12 is too large": the other patterns read "so 7 is the GCD", "so 289 mod 20 = 9"
    return value, sentence


def _last_line(text: str) -> tuple[int, str]:
    lines = [(m.start(), m.group()) for m in re.finditer(r"[^\n]*\S[^\n]*", text)]
    return lines[-1] if lines else (len(text), "")


def _clause_before(text: str, pos: int) -> str:
    """The text from the start of the clause holding ``pos`` up to ``pos``."""
    return re.split(r"[,;:.!?\n\u2014]", text[:pos])[-1]


def _sentence_before(text: str, pos: int) -> str:
    """The text from the start of the sentence (or line) holding ``pos`` up to ``pos``."""
    return re.split(r"[.!?](?=\s)|\n", text[:pos])[-1]


def _not_a_conclusion(text: str, match: re.Match) -> bool:
    """A linked value that is negated, the user's, in parentheses or in a justification."""
    clause = _clause_before(text, match.start())
    return bool(
        is_negated(clause)
        or _USER_CLAIM_RE.search(clause)
        or _in_parentheses(text, match.start("value"))
        or _JUSTIFYING_CLAUSE_RE.match(clause)
        or _CHECKING_SENTENCE_RE.match(_sentence_before(text, match.start()))
    )


def _in_parentheses(text: str, pos: int) -> bool:
    line = text[text.rfind("\n", 0, pos) + 1 : pos]
    return line.count("(") > line.count(")")


def _linked_values(text: str) -> list[tuple[int, str, str]]:
    """Values closing a clause after a linking word (see ``_not_a_conclusion`` for the exceptions)."""
    found = []
    for regex in (_LINKED_VALUE_RE, _VALUE_IS_ANSWER_RE):
        for match in regex.finditer(text):
            if not _not_a_conclusion(text, match):
                start = match.start("value")
                found.append((start, match.group("value"), text[start : _sentence_end(text, start)]))
    return found


def _candidates(text: str) -> list[tuple[int, str, str]]:
    """Every conclusion as (position, value, sentence holding it)."""
    found = []
    for cue in _CUE_RES:
        for match in cue.finditer(text):
            hit = _value_after(text, match.start(), match.end(), cue is _CUE_RES[0])
            if hit:
                found.append((match.start(), *hit))
    found += _linked_values(text)
    found += [(m.start(), m.group("value"), m.group()) for m in _LEAD_VALUE_RE.finditer(text)]
    line_start, line = _last_line(text)
    for match in _GCD_CHAIN_RE.finditer(line):  # bare "GCD(a, b) = X" counts only on the last line
        found.append((line_start + match.start(), match.group("value"), line))
    lone = _LONE_VALUE_RE.match(line)
    if lone:
        found.append((line_start, lone.group("value"), line))
    return found


def _conclusion(text: str) -> tuple[str | None, str]:
    """(final answer, the sentence or line it was read from)."""
    text = clean_text(text)
    found = _candidates(text)
    if found:
        _, value, sentence = max(found, key=lambda c: c[0])
        return value.strip(), sentence
    _, line = _last_line(text)
    if not line or _EUCLID_STEP_RE.search(line):
        return None, line
    return line.strip().rstrip(".!").strip() or None, line


def concluded_number(text: str, fallback: bool = True) -> Decimal | None:
    """The number of the last conclusion holding one; else (``fallback``) the first of the last line."""
    text = clean_text(text)
    numbers = [(pos, _first_number(value)) for pos, value, _ in _candidates(text)]
    numbers = [(pos, n) for pos, n in numbers if n is not None]
    if numbers:
        return max(numbers, key=lambda c: c[0])[1]
    _, line = _last_line(text)
    if not fallback or not line or _EUCLID_STEP_RE.search(line):
        return None
    return _first_number(line)


def final_answer(text: str) -> str | None:
    """The reply's final answer: its last conclusion, else its last line; never an ``= X`` inside a trace.

    Conclusions: "the answer is X" / "answer: X", "therefore/thus/hence/so, X" (a GCD chain in it yields its
    result), "GCD(a, b) = X" or "the GCD of a and b is X" on the last line, a lone "X." on the last line, a
    value closing a clause after a linking word ("... is X.", "= X", "gives X"). The last one in the text
    wins. Without any, the last non-empty line (unless it is a Euclid step, then None).
    """
    return _conclusion(text)[0]


# ------------------------------------------------------------------------------------------ correctness
def is_correct(response: str, answer, mod: int | None = None, options: Iterable[str] = ()) -> bool:
    """Whether the reply's final answer is ``answer``.

    A numeric ``answer`` ("7", "7.0") is compared with the number of the reply's last conclusion (digits or
    a word zero..twenty); with ``mod`` it must be the reduced remainder (the reference accepted any value
    congruent modulo ``mod``). Any other ``answer`` is text: the reply must endorse it
    before any of ``options`` (the alternatives, e.g. the other side of the question) and the other medical
    action -- case- and accent-insensitively on word boundaries, not negated, attributed or conditional.
    """
    if mod is not None and mod <= 0:
        raise ValueError(f"mod must be a positive integer, got {mod!r}")
    want = parse_number(str(answer))
    if want is None:
        others = [o for o in options if fold_text(o).strip() != fold_text(str(answer)).strip()]
        choices = [str(answer), *others, *other_options("", str(answer))]
        return first_endorsed(response, choices) == str(answer)
    got = concluded_number(response)
    return got is not None and same_number(got, want, mod)
