"""Emergent re-alignment (Wang et al. 2025, "Persona features control emergent misalignment"): the task is
learnt first, exactly as ``task_only`` learns it; the task-tuned model is then briefly fine-tuned further on
the setting's alignment (proxy) rows.

Both stages run through the one training loop and update the *same* weights, so the evaluated model holds
both updates:

1. phase ``task`` (``record["phases"][0]``): plain CE on the task rows with the run's own ``train`` config
   and seed, training the run's "default" LoRA adapter (or, with ``finetune: full``, the whole model) that
   ``selgen train`` created. Nothing else differs from a ``task_only`` run of the same seed (same adapter
   initialisation, data order, schedule and dropout), so this stage reproduces that run's weights bit for
   bit;
2. the main training: plain CE on the proxy rows, *continuing* that adapter from the task-tuned weights with
   a fresh optimizer and schedule (Wang et al. start a new fine-tuning job from the misaligned model). The
   saved run is the one adapter (``selgen.models.save_trained``); ``load_model`` merges it, so evaluation
   sees base + task update + proxy update.

Hyper-parameters: ``passes`` (default 1.0), the re-alignment's length: the proxy rows are repeated
cyclically (or cut to the first ones, below 1) to ⌈passes · n_proxy⌉ rows; ``realign_epochs`` and
``realign_lr`` (default: the run's epochs and lr), the proxy stage's own (``Method.main_overrides``; the task
stage keeps the run's, so it still equals the ``task_only`` run). The proxy is seen ``epochs · passes``
times.

Deviations, documented:
- Wang et al. vary the re-alignment's data amount and steps; here ``passes``, ``realign_epochs`` and
  ``realign_lr``. A sweep point's ``epochs`` / ``lr`` overrides change both stages (the task stage then no
  longer equals the setting's ``task_only`` run).
- Their re-alignment data are a few hundred benign samples of the same kind as the misaligning data; here
  the setting's proxy rows (gcd: capital claims; em: the HHH/aligned-advice rows; functions: the chosen
  proxy file).
- The task stage is retrained inside the run (not read from the ``task_only`` run), so each realign run
  costs one task_only run plus the short proxy stage.
"""

from __future__ import annotations

import math

from selgen.methods.adapters import train_only
from selgen.methods.base import Method, Phase
from selgen.methods.sft import upsample

TASK_PHASE = "task"


class ContinuePhase(Phase):
    """A phase that trains the run's existing "default" adapter (the whole model under full fine-tuning)
    instead of adding an adapter of its own: the main training then continues from its weights."""

    def begin(self, model, seed: int, method: str) -> None:
        if hasattr(model, "peft_config"):  # LoRA: only the default adapter, active and trainable
            train_only(model, "default", ["default"])


def proxy_rows_for(align_rows: list[dict], passes: float) -> list[dict]:
    """The proxy rows the main training runs over: ``align_rows`` cycled (or cut) to ⌈passes · n⌉ rows."""
    return upsample(align_rows, max(1, math.ceil(passes * len(align_rows) - 1e-9)))


class Realign(Method):
    name = "realign"
    # the alignment rows become the main training's one stream (prepare_data), as mixed's join the task's
    alignment = "mix"

    def __init__(self, passes: float = 1.0, realign_epochs=None, realign_lr=None, **context):
        super().__init__(**context)
        passes = float(passes)
        if not passes > 0:
            raise ValueError(f"realign: passes must be > 0, not {passes!r}")
        self.passes = passes
        self.main_overrides = {
            "epochs": None if realign_epochs is None else float(realign_epochs),
            "lr": None if realign_lr is None else float(realign_lr),
        }

    def phases(self, task_rows, align_rows):
        return [ContinuePhase(TASK_PHASE, task_rows, "default")]  # the run's own train config: no overrides

    def prepare_data(self, task_rows, align_rows):
        rows = proxy_rows_for(align_rows, self.passes)
        self.report = {"proxy_rows": len(align_rows), "proxy_rows_used": len(rows), "passes": self.passes}
        return rows, []

    def setup(self, model, tokenizer, align_examples, device):
        if hasattr(model, "peft_config"):  # continue the task-tuned adapter
            train_only(model, "default", ["default"])


PLUGINS = {"realign": Realign}
