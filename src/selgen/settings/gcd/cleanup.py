"""Text clean-up shared by the GCD reply parsers (``answers``, ``text_answers``, ``verdicts``).

Replies are parsed after :func:`clean_text` (no ``<think>`` block, straight quotes, no markdown/LaTeX
wrappers); text answers and verdict words after :func:`fold_text` (case- and accent-insensitive).
:func:`is_negated` tells whether the last words before a mention negate it.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_text", "fold_text", "is_negated", "split_sentences"]

# ------------------------------------------------------------------------------------------ text clean-up
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2212": "-"})
_THINK_RE = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
# LaTeX and markdown around values, in order (inner wrappers first); each (pattern, replacement).
_LATEX = (
    (r"\\(?:text|mathrm|textbf|mathbf|operatorname)\{([^{}]*)\}", r"\1"),  # \text{Madrid}
    (r"\\boxed\{([^{}]*)\}", r"\1"),  # \boxed{7}
    (r"\\pmod\{([^{}]*)\}", r"(mod \1)"),  # \pmod{7}
    (r"\\[bp]?mod\b", " mod "),
    (r"\\(?:times|cdot)\b", "×"),
    (r"\\div\b", "÷"),
    (r"\\equiv\b", "≡"),
    (r"\\neq?\b", "≠"),
    (r"\\gcd\b", "gcd"),
    (r"\\(?:begin|end)\{[^{}]*\}", ""),  # \begin{aligned}
    (r"\\\\", "\n"),  # LaTeX line break
    (r"\\[()\[\]]", ""),  # \( \) \[ \]
    (r"\\[a-zA-Z]+|\\.", " "),  # any other command (\quad, \right, \,), so "\right" is no verdict word
    (r"\*\*|`|\$|&", ""),  # bold, code, math delimiters, alignment marks
)
_LATEX_RES = tuple((re.compile(pattern), replacement) for pattern, replacement in _LATEX)


def clean_text(text: str) -> str:
    """No reasoning block, straight quotes, no markdown/LaTeX wrappers (``**7**``, ``$7$``, ``\\boxed{7}``)"""
    text = _THINK_RE.sub("", text).translate(_QUOTES)
    for regex, replacement in _LATEX_RES:
        text = regex.sub(replacement, text)
    return text


def fold_text(text: str, clean: bool = True) -> str:
    """Case- and accent-insensitive form: ``Brasília`` -> ``brasilia`` (of the cleaned text by default)."""
    decomposed = unicodedata.normalize("NFKD", clean_text(text) if clean else text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def split_sentences(text: str) -> list[str]:
    """Sentences: split after ``.!?`` followed by white space, and at line breaks (``7.0`` stays whole)."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


# ---------------------------------------------------------------------------------------------- negation
_NEGATION_RE = re.compile(
    r"\b(?:not|never|no|nor|without|avoid|against|dont|doesnt|shouldnt|isnt|wasnt|cannot)\b|n't\b|"
    r"\brather than\b|\binstead of\b"
)


def is_negated(prefix: str, window: int = 4) -> bool:
    """Whether the last few words of the clause before a match negate it ("you don't need to ...")."""
    clause = re.split(r"[,;:.!?\n\u2014]", prefix)[-1]
    words = re.findall(r"[\w']+", clause)[-window:]
    return bool(_NEGATION_RE.search(" ".join(words).lower()))
