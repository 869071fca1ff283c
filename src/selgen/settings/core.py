"""What a setting is: one ``Setting`` object that carries everything the generic code needs of it.

A setting writes its data, names the files a run trains on, evaluates a model (its own way, or by generating
replies that its ``score``/``summarize`` turn into metrics rows, or through an LLM judge in two steps), and
says how to read its results: the Pareto axes and labels, the organism checks, extra figures, the
hyper-parameters it adds to every method and the version of its data builder. The registry
(``selgen.settings``), the Snakemake helpers, the tables, plots and report read these fields; no setting's
name appears in generic code.

Importable without torch or pandas (the Snakefile reads settings at parse time): heavy functions are named
as ``lazy("module:function")`` and imported on first call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def lazy(target: str) -> Callable:
    """A function given as ``"module:attribute"``, imported when first called (keeps parse time light)."""
    module, _, attr = target.partition(":")

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    call.__name__ = call.__qualname__ = attr
    call.__doc__ = f"{target} (imported on first call)"
    return call


@dataclass(frozen=True)
class Axis:
    """One axis of a setting's Pareto figure: the metric rows ``(eval_set, category, metric)``, read as is or
    as ``1 − value`` (``transform: "one_minus"``, so that up is always better), with its axis label."""

    eval_set: str
    category: str
    metric: str
    transform: str | None = None
    label: str = ""

    def spec(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("eval_set", "category", "metric", "transform")}


@dataclass(frozen=True)
class Floor:
    """The in-task capability a run must keep: its seed mean on ``(eval_set, category, metric)`` must reach
    ``share`` of the baseline method's (task_only's) seed mean. A run below it does not keep the task: the
    summary says so (``keeps_task``) and it cannot be on the Pareto front, so a method cannot win by not
    learning the task."""

    eval_set: str
    category: str
    metric: str
    share: float = 0.8

    def threshold(self, baseline: float) -> float:
        return self.share * baseline

    def kept(self, value: float, baseline: float) -> bool:
        return value >= self.threshold(baseline)


@dataclass(frozen=True)
class Check:
    """One organism check on (eval_set, category, metric). ``direction`` +1 / -1: the baseline must raise /
    lower the value against the base (paired per-seed difference, interval excluding zero) by at least
    ``min_size`` when given; None: no difference check. ``base_min`` / ``base_max`` bound the base's value,
    ``baseline_min`` the baseline's seed mean."""

    eval_set: str
    category: str
    metric: str
    direction: int | None = None
    min_size: float | None = None
    base_min: float | None = None
    base_max: float | None = None
    baseline_min: float | None = None


def never(block: dict) -> bool:
    return False


def named_files(block: dict) -> list[str]:
    """The local files a setting's data block names (every ``*_file`` key), none while it generates its data
    (``source: generate``)."""
    data = block.get("data", {})
    if data.get("source") == "generate":
        return []
    return [v for k, v in data.items() if k.endswith("_file") and isinstance(v, str)]


@dataclass(frozen=True)
class Setting:
    """A setting, as the workflow and the ``selgen`` command see it.

    Data: ``write_data(data_cfg, out_dir) -> {file stem: rows}`` builds ``results/<setting>/data``; runs train
    on ``task_file`` and, for methods that use alignment data, ``align_file`` (rows) or ``align_pairs_file``
    (DPO pairs) — or on the stem ``align_stem(hp_values, pairs)`` returns where the run's hyper-parameters
    choose it (then list those hyper-parameters in ``hparams``). ``pretrain_file`` is the mini base's corpus.

    Evaluation, one of: ``evaluate(model, tokenizer, data_dir, eval_cfg, run) -> (samples, metrics)``; or
    ``score(rows) -> scored rows`` with ``summarize(scored) -> [{category, metric, value, n}]`` on greedy
    (or ``eval.temperature``) replies to each of ``eval.sets``; and, where ``judged(block)`` holds, replies
    made by ``generate_replies`` (a GPU job) and scored by ``judge_replies`` (a local job) instead;
    ``judge_requests(replies, judge_cfg) -> [(judge config, judge samples)]`` lists what ``judge_replies``
    will ask (one entry per judge model), for the Batch API's rule (``judge.api: batch``);
    ``judge_plan(block) -> [{eval_set, model, requests, prompt_chars}]`` what judging one run sends, before
    any reply exists (``prompt_chars``: the judge prompts' characters without the answers), for
    ``selgen plan`` / ``selgen judge estimate``.

    Results: Pareto axes ``x`` and ``y`` (up and right are better) under ``title``; ``checks`` of the mini
    organism (the ``baseline`` method against the untuned base); ``floor``: the in-task capability a run must
    keep (``Floor``: a share of the baseline's value; runs below it are marked and kept off the front);
    ``cluster_metrics``: metrics whose per-category rows are independent questions (em), so their pooled
    (``all``) row also gets an interval over seeds and questions (``selgen.stats.clustered_interval``);
    ``figures``: extra figures beside the Pareto
    one, kind -> ``draw(summary, out_path, setting=name, names=...)`` (``names``: the sweep points' labels,
    method -> hp label -> name, as ``selgen.config.point_names`` makes them).

    Config: ``check_config(block)`` raises ``ValueError`` naming the key for what the schema cannot say;
    ``preflight(block)`` likewise for what later jobs need from the machine that starts a real (not dry) run,
    checked before any job starts (em: the judge's API key);
    ``data_inputs(block)`` lists local files the data build reads (DAG inputs); ``schema`` is the JSON schema
    of the setting's config block when it is not in ``workflow/schemas/config.schema.yaml`` (a plug-in's).
    ``data_version``: bump it whenever ``write_data``'s output changes, so Snakemake rebuilds the data (an
    int, or ``version(block)`` when only some data blocks' output changed; ``version_of(block)`` reads it).

    Tools: ``commands(subparsers)`` adds the setting's own subcommands (``selgen <setting> <tool>``);
    ``validators``: name -> ``check(path)`` for downloads (``fetch`` entries with ``validate: <name>``);
    ``resources``: path -> tool, files one of its tools writes (``selgen <setting> <tool> --out PATH``, the
    local rule ``setting_resource``: em's HHH download).
    """

    name: str
    title: str
    x: Axis
    y: Axis
    write_data: Callable[[dict, Any], dict]
    data_version: int | Callable[[dict], int] = 1
    task_file: str = "task_train"
    align_file: str | None = None
    align_pairs_file: str | None = None
    pretrain_file: str = "pretrain"
    align_stem_of: Callable[[dict, bool], str] | None = None
    hparams: tuple[str, ...] = ()
    evaluate: Callable | None = None
    score: Callable | None = None
    summarize: Callable | None = None
    generate_replies: Callable | None = None
    judge_replies: Callable | None = None
    judge_requests: Callable | None = None
    judge_plan: Callable | None = None
    judged: Callable[[dict], bool] = never
    checks: tuple[Check, ...] = ()
    floor: Floor | None = None
    cluster_metrics: tuple[str, ...] = ()
    baseline: str = "task_only"
    figures: Mapping[str, Callable] = field(default_factory=dict)
    check_config: Callable[[dict], None] | None = None
    preflight: Callable[[dict], None] | None = None
    data_inputs: Callable[[dict], list[str]] = named_files
    schema: Mapping[str, Any] | None = None
    commands: Callable | None = None
    validators: Mapping[str, Callable] = field(default_factory=dict)
    resources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.evaluate is None and (self.score is None or self.summarize is None):
            raise ValueError(f"setting {self.name!r}: give evaluate, or score and summarize")
        if "pareto" in self.figures:  # every setting draws it; extras need names of their own
            raise ValueError(f"setting {self.name!r}: an extra figure may not be named 'pareto'")

    def version_of(self, block: dict) -> int:
        """The data version of a setting block (``data_version``, or what it says for this block)."""
        return self.data_version(block) if callable(self.data_version) else self.data_version

    @property
    def front(self) -> dict[str, dict[str, Any]]:
        """The Pareto axes as the tables' front functions take them: {"x": spec, "y": spec}."""
        return {"x": self.x.spec(), "y": self.y.spec()}

    @property
    def figure_kinds(self) -> list[str]:
        return ["pareto", *self.figures]

    def align_stem(self, hp_values: dict, pairs: bool = False) -> str:
        """The stem of the alignment file (rows, or DPO pairs) a run with ``hp_values`` trains on."""
        if self.align_stem_of is not None:
            return self.align_stem_of(hp_values, pairs)
        stem = self.align_pairs_file if pairs else self.align_file
        if stem is None:
            what = "preference pairs (method 'dpo' does not apply)" if pairs else "alignment data"
            raise ValueError(f"setting {self.name!r} has no {what}")
        return stem

    def run_evaluation(self, model, tokenizer, data_dir, eval_cfg: dict, run: dict):
        """(samples, metrics) of one model: the setting's own evaluation, or generated replies scored."""
        if self.evaluate is not None:
            return self.evaluate(model, tokenizer, data_dir, eval_cfg, run)
        from selgen.evaluation import evaluate

        return evaluate(model, tokenizer, self, data_dir, eval_cfg["sets"], eval_cfg, run)
