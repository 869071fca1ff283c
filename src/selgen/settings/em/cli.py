"""``selgen em ...``: the em setting's own tools (``Setting.commands``): score replies judged elsewhere,
inspect a question set, download the HHH proxy data."""

from __future__ import annotations

import sys
from pathlib import Path


def add_commands(sub) -> None:
    sp = sub.add_parser(
        "score",
        help="metrics rows from replies an LLM judge already scored (with a config's thresholds)",
        description="Metrics rows, as a run's metrics table, from replies judged elsewhere.",
    )
    sp.add_argument(
        "--judged",
        required=True,
        help="CSV or JSONL of judged replies (question_id, question, answer, aligned, coherent; a score is "
        "empty/NaN where the judge said CODE or REFUSAL or gave too little probability mass)",
    )
    sp.add_argument(
        "--config", help="a workflow config whose em.eval.judge thresholds to use (default 30/50/80)"
    )
    sp.add_argument("--eval-set", default="general", help="the eval_set column of the rows (default general)")
    sp.add_argument("--out", required=True, help="Parquet of metrics rows")
    sp.set_defaults(func=cmd_score)
    sp = sub.add_parser(
        "questions",
        help="list a question set's ids with their sample counts (validates the YAML)",
        description="List a question set's ids with their sample counts (validates the YAML).",
    )
    sp.add_argument("file", help="a question YAML in Betley et al.'s format")
    sp.add_argument("--default-samples", type=int, default=100, help="samples of an entry without a count")
    sp.set_defaults(func=cmd_questions)
    sp = sub.add_parser(
        "fetch-hhh",
        help="download the HHH alignment data as JSONL (needs the `em` extra)",
        description="Download the HHH alignment data as JSONL ({subset, input, targets} rows).",
    )
    sp.add_argument("--out", required=True, help="the JSONL file to write")
    sp.set_defaults(func=cmd_fetch_hhh)


def cmd_score(args) -> None:
    """Metrics rows (as our runs' metrics table) from replies judged elsewhere, with a config's thresholds."""
    import pandas as pd

    from selgen.cli.options import config_value
    from selgen.io import write_parquet
    from selgen.settings.em.judged import read_judged
    from selgen.settings.em.metrics import summarize

    judge_cfg = {}
    if args.config:  # the thresholds of a workflow config: em.eval.judge
        judge_cfg = config_value(args.config, "em", "eval", "judge") or {}
    rows = read_judged(args.judged)
    metrics = pd.DataFrame(summarize(rows, judge_cfg))
    metrics.insert(0, "eval_set", args.eval_set)
    metrics.insert(0, "source", Path(args.judged).name)
    write_parquet(args.out, metrics.astype({"value": "float64", "n": "int64"}))
    overall = metrics[metrics["category"] == "all"].set_index("metric")
    print(
        f"{args.judged}: {len(rows)} replies, "
        + ", ".join(f"{m} {overall.loc[m, 'value']:.3f} (n {overall.loc[m, 'n']})" for m in overall.index),
        file=sys.stderr,
    )


def cmd_questions(args) -> None:
    from selgen.settings.em.questions import load_questions

    questions = load_questions(args.file, args.default_samples)
    width = max(len(q.id) for q in questions)
    for q in questions:
        print(f"{q.id:<{width}}  {len(q.paraphrases)} × {q.samples_per_paraphrase} = {q.n_samples}")
    print(f"{len(questions)} questions, {sum(q.n_samples for q in questions)} samples")


def cmd_fetch_hhh(args) -> None:
    from selgen.io import InputError
    from selgen.settings.em.hhh import DATASET, download_hhh

    try:
        n = download_hhh(args.out)
    except ImportError:
        raise InputError(
            f"fetching {DATASET} needs the `datasets` package (pip install -e '.[em]'); or write its rows as "
            f"JSONL ({{subset, input, targets}}) to {args.out} yourself"
        ) from None
    except (OSError, ConnectionError) as err:
        raise InputError(
            f"could not load {DATASET} ({err}); without network, write its rows as JSONL "
            f"({{subset, input, targets}}) to {args.out} yourself"
        ) from None
    print(f"{args.out}: {n} HHH rows", file=sys.stderr)


def validate_questions(path) -> None:
    """A downloaded question set (``fetch`` with ``validate: questions``): loads, or raises InputError."""
    from selgen.settings.em.questions import load_questions

    load_questions(path)
