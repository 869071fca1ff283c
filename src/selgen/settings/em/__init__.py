"""The emergent-misalignment setting (`em`): the mini organism's data (``data``), exact scoring in the LLM
judge's terms (``scoring``), metrics from judged samples (``metrics``), evaluation question sets
(``questions``) and the HHH proxy subsets (``hhh``). The LLM judge for real models is ``selgen.judge``."""

from selgen.settings.em.data import ALIGN_FILE, ALIGN_PAIRS_FILE, PRETRAIN_FILE, TASK_FILE
from selgen.settings.em.data import write_datasets as write_data
from selgen.settings.em.scoring import score, summarize


def align_file(hp_values: dict, pairs: bool = False) -> str:
    """The alignment file's stem: the proxy (its DPO pairs for ``pairs``), whatever the run."""
    return ALIGN_PAIRS_FILE if pairs else ALIGN_FILE


__all__ = [
    "write_data",
    "score",
    "summarize",
    "align_file",
    "TASK_FILE",
    "ALIGN_FILE",
    "ALIGN_PAIRS_FILE",
    "PRETRAIN_FILE",
]
