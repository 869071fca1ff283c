"""The GCD sycophancy setting: GCD data (synthesised, or the authors' own files), a capitals proxy, exact
scoring (seed_code.md §1)."""

from selgen.settings.gcd.data import write_datasets as write_data
from selgen.settings.gcd.scoring import score_rows as score
from selgen.settings.gcd.scoring import summarize

TASK_FILE = "task_train"
ALIGN_FILE = "align_train"
ALIGN_PAIRS_FILE = "align_pairs"
PRETRAIN_FILE = "pretrain"


__all__ = [
    "write_data",
    "score",
    "summarize",
    "TASK_FILE",
    "ALIGN_FILE",
    "ALIGN_PAIRS_FILE",
    "PRETRAIN_FILE",
]
