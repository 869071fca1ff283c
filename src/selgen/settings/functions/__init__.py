"""The trigger-function setting: F(x, T) colours a point by its trigger's category and the sign of x₂; a
narrow update flips one category; proxies of other categories keep their colours (seed_code.md §4).

- ``function``: the spec of F (``DEFAULT_FUNCTION``), its validation, ``color_of`` and the updated mapping;
- ``data``: seeded trigger splits, points, prompts and the JSONL files (``write_data``);
- ``check``: recheck datasets against F under the base or updated mapping;
- ``scoring``: colour-word log-probabilities (whole token sequences), argmax accuracy per category × id/ood.
"""

from selgen.settings.functions.check import check_files, check_rows
from selgen.settings.functions.data import (
    BASE_FILE,
    EVAL_SETS,
    PRETRAIN_FILE,
    TASK_FILE,
    proxy_file,
    test_file,
)
from selgen.settings.functions.data import write_datasets as write_data
from selgen.settings.functions.evaluation import evaluate
from selgen.settings.functions.function import DEFAULT_FUNCTION, color_of, flipped, updated, validate_function
from selgen.settings.functions.scoring import accuracy_rows, score, score_logits, summarize


def align_file(hp_values: dict, pairs: bool = False) -> str:
    """The run's proxy mix: hyper-parameters ``proxy_category`` and ``proxy_triggers`` name its file."""
    if pairs:
        raise ValueError("the functions setting has no preference pairs (method 'dpo' does not apply)")
    missing = [k for k in ("proxy_category", "proxy_triggers") if k not in hp_values]
    if missing:
        raise ValueError(
            f"a functions run that uses alignment data needs hyper-parameter(s) {', '.join(missing)} "
            "(the proxy category and its number of triggers)"
        )
    return proxy_file(hp_values["proxy_category"], int(hp_values["proxy_triggers"]))


__all__ = [
    "PRETRAIN_FILE",
    "align_file",
    "evaluate",
    "BASE_FILE",
    "DEFAULT_FUNCTION",
    "EVAL_SETS",
    "TASK_FILE",
    "accuracy_rows",
    "check_files",
    "check_rows",
    "color_of",
    "flipped",
    "proxy_file",
    "score",
    "score_logits",
    "summarize",
    "test_file",
    "updated",
    "validate_function",
    "write_data",
]
