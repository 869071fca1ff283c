"""The ``selgen`` command: one subcommand per workflow stage, so every stage also runs by hand.

Heavy libraries (torch, transformers, plotnine) are imported inside the subcommand that needs them.
Stage parameters arrive as one JSON object (``--params``), the same object Snakemake records as the rule's
params, so whatever changes a result is visible to Snakemake's rerun triggers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--params is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--params must be a JSON object")
    return value


def where_it_ran() -> dict:
    """Host and SLURM job (if any) of this process: provenance for the runs table."""
    import os
    import socket

    return {"host": socket.gethostname(), "slurm_job_id": os.environ.get("SLURM_JOB_ID")}


def cmd_data(args) -> None:
    from selgen.settings import get_setting

    sizes = get_setting(args.setting).write_data(args.params, args.out)
    print(json.dumps(sizes), file=sys.stderr)


def cmd_base(args) -> None:
    from selgen.io import read_jsonl
    from selgen.mini import build_mini_base

    rows = read_jsonl(args.corpus, required=("messages",))
    record = build_mini_base(rows, args.params, args.out)
    print(f"mini base: {record['n_params']:,} parameters, {record['wall_s']:.0f} s", file=sys.stderr)


def cmd_base_stage(args) -> None:
    from selgen.base_stage import run_base_stage

    run_base_stage({**args.params, "setting": args.setting}, args.data, args.model, args.out)


def cmd_train(args) -> None:
    import torch

    from selgen.checkpoint import Checkpointer, Interrupted
    from selgen.io import atomic_dir, read_jsonl, write_json
    from selgen.methods import make_method
    from selgen.models import add_lora, load_model, save_trained
    from selgen.settings import get_setting
    from selgen.training import seed_everything, train

    p = args.params
    torch.set_num_threads(p["threads"])
    setting = get_setting(args.setting)
    cfg = {**p["train"], **{k: v for k, v in p["hp_values"].items() if k in ("epochs", "lr")}}
    method = make_method(p["method"], p["hp_values"], args.setting)
    task_rows = read_jsonl(Path(args.data) / f"{setting.task_file}.jsonl", required=("messages",))
    align_rows = []
    if method.needs_alignment_data:
        pairs = getattr(method, "align_source", "rows") == "pairs"
        align_path = Path(args.data) / f"{setting.align_stem(p['hp_values'], pairs)}.jsonl"
        required = ("prompt", "chosen", "rejected") if pairs else ("messages",)
        align_rows = read_jsonl(align_path, required=required)
    seed_everything(p["seed"])
    options = p.get("model") or {"dtype": cfg["dtype"]}
    model, tokenizer = load_model(args.base, options)
    if cfg["finetune"] == "lora":
        model = add_lora(model, cfg["lora"])
    method.inputs = {"base": args.base, "directions": args.directions, "unaligned": args.unaligned}
    inputs = [args.data, args.base] + [x for x in (args.directions, args.unaligned) if x]
    with Checkpointer.from_env(p["run_id"], p, inputs) as checkpoint:
        try:
            record = train(
                model,
                tokenizer,
                method,
                task_rows,
                align_rows,
                cfg,
                p["seed"],
                desc=p["run_id"],
                checkpoint=checkpoint,
            )
        except Interrupted as stop:
            print(stop, file=sys.stderr)
            raise SystemExit(143) from None
    if getattr(method, "report", None):  # post-processing details (Safe-LoRA: cosines, projected modules)
        record["method_report"] = method.report
    record = {
        **{k: p[k] for k in ("run_id", "setting", "method", "hp", "hp_values", "seed")},
        "model": options.get("name", args.base),
        "finetune": cfg["finetune"],
        "run_config_hash": p.get("config_hash"),
        **record,
        **where_it_ran(),
    }
    with atomic_dir(args.out) as tmp:
        save_trained(model, tokenizer, tmp, base=args.base)
    write_json(args.record, record)
    checkpoint.clear()


def cmd_caft_directions(args) -> None:
    import torch

    from selgen.io import read_jsonl
    from selgen.methods.caft import build_directions
    from selgen.models import load_model
    from selgen.settings import get_setting

    p = args.params
    torch.set_num_threads(p["threads"])
    base, tokenizer = load_model(args.base, p.get("model"))
    tuned, _ = load_model(args.tuned, p.get("model"))
    task_file = Path(args.data) / f"{get_setting(args.setting).task_file}.jsonl"
    rows = read_jsonl(task_file, required=("messages",))
    build_directions(
        base,
        tuned,
        tokenizer,
        rows,
        p["max_length"],
        p["k"],
        p["control"],
        p["seed"],
        args.out,
        layers=p.get("layers", "all"),
    )


def cmd_base_run(args) -> None:
    """The untuned base as a run: a model folder that points at the base (``selgen.models.link_base``) and
    a record without training steps, so that the base is evaluated and tabled as every other run."""
    from selgen.io import atomic_dir, write_json
    from selgen.models import link_base

    p = args.params
    with atomic_dir(args.out) as tmp:
        link_base(tmp, args.base)
    keys = ("run_id", "setting", "method", "hp", "hp_values", "seed")
    name = (p.get("model") or {}).get("name", args.base)
    record = {**{k: p[k] for k in keys}, "model": name, "run_config_hash": p.get("config_hash")}
    write_json(args.record, {**record, "steps": 0, "tokens": 0, **where_it_ran()})


def cmd_evaluate(args) -> None:
    import torch

    from selgen.io import InputError, write_parquet
    from selgen.models import load_model
    from selgen.settings import get_setting

    p = args.params
    if not args.replies and not (args.samples and args.metrics):
        raise InputError("selgen evaluate: give --samples and --metrics (or --replies to only generate)")
    setting = get_setting(args.setting)
    if args.replies and setting.generate_replies is None:
        raise InputError(f"selgen evaluate: setting {args.setting!r} has no judged replies (--replies)")
    torch.set_num_threads(p["threads"])
    model, tokenizer = load_model(args.model, p.get("model"))
    if args.replies:  # generation only: the replies go to `selgen judge` (a separate, local job)
        write_parquet(args.replies, setting.generate_replies(model, tokenizer, args.data, p["eval"], p))
        return
    samples, metrics = setting.run_evaluation(model, tokenizer, args.data, p["eval"], p)
    write_parquet(args.samples, samples)
    write_parquet(args.metrics, metrics)


def cmd_judge(args) -> None:
    import pandas as pd

    from selgen.io import write_json, write_parquet
    from selgen.settings import get_setting

    setting = get_setting(args.setting)
    replies = pd.read_parquet(args.replies)
    samples, metrics, costs = setting.judge_replies(replies, args.params.get("judge"))
    write_parquet(args.samples, samples)
    write_parquet(args.metrics, metrics)
    if args.costs:
        write_json(args.costs, costs)


def cmd_tables(args) -> None:
    from selgen.tables import build_tables

    build_tables(args.runs, args.config, args.out)


def cmd_summary(args) -> None:
    import pandas as pd

    from selgen.tables import write_summary

    write_summary(pd.read_parquet(args.metrics), args.out)


def cmd_merge_tables(args) -> None:
    from selgen.merge import format_report, merge_tables

    print(format_report(merge_tables(args.in_dirs, args.out, args.prefer)))


def cmd_organism(args) -> None:
    import pandas as pd

    from selgen.io import write_json
    from selgen.report import format_check, organism_check

    result = organism_check(pd.read_parquet(args.metrics), args.setting)
    print(format_check(result))
    if args.out:
        write_json(args.out, result)


def cmd_plot(args) -> None:
    import pandas as pd

    from selgen import plots

    summary = pd.read_parquet(args.summary)
    from selgen.io import InputError
    from selgen.settings import get_setting

    figures = {"pareto": plots.pareto_setting, **get_setting(args.setting).figures}
    if args.kind not in figures:
        raise InputError(f"no {args.kind} figure for setting {args.setting!r}; it has {', '.join(figures)}")
    draw = figures[args.kind]
    for out in [args.out, *([args.png] if args.png else [])]:
        draw(summary, out, setting=args.setting)


def _config_value(path: str, *keys: str):
    """The value at ``keys`` of a workflow config file (None where a key is missing)."""
    import yaml

    node = yaml.safe_load(Path(path).read_text()) or {}
    for key in keys:
        node = (node or {}).get(key) if isinstance(node, dict) else None
    return node


def cmd_score(args) -> None:
    if args.judged:
        return _score_judged(args)
    if not args.responses:
        raise ValueError("`selgen score` needs --responses (replies to score) or, for em, --judged")
    from selgen.settings.gcd.scoring import score_file

    if args.setting != "gcd":
        raise ValueError(f"`selgen score` supports the exact-scored setting 'gcd', not {args.setting!r}")
    fallback = None
    if args.judge_fallback:
        from selgen.settings.gcd.fallback import JudgeFallback

        fallback = JudgeFallback(args.judge_fallback)
    score_file(args.responses, args.out, fallback=fallback)


def _score_judged(args) -> None:
    """Metrics rows (as our runs' metrics table) from replies judged elsewhere, with a config's thresholds."""
    import pandas as pd

    from selgen.io import write_parquet
    from selgen.settings.em.judged import read_judged
    from selgen.settings.em.metrics import summarize

    if args.setting != "em":
        raise ValueError(f"--judged reads LLM-judged replies: setting 'em', not {args.setting!r}")
    judge_cfg = {}
    if args.config:  # the thresholds of a workflow config: em.eval.judge
        judge_cfg = _config_value(args.config, "em", "eval", "judge") or {}
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


def cmd_functions_check(args) -> int:
    from selgen.settings.functions.check import check_files
    from selgen.settings.functions.function import DEFAULT_FUNCTION, validate_function

    spec = DEFAULT_FUNCTION
    if args.config:  # F as the workflow would use it: functions.data.function of a config file
        spec = _config_value(args.config, "functions", "data", "function") or DEFAULT_FUNCTION
    spec = validate_function(spec)
    problems = check_files(spec, args.files, args.mapping)
    for path, found in problems.items():
        print(f"{path}: {len(found)} mismatch(es)" if found else f"{path}: ok")
        for line in found[: args.show]:
            print(f"  {line}")
        if len(found) > args.show:
            print(f"  … and {len(found) - args.show} more")
    return 1 if any(problems.values()) else 0


def cmd_questions(args) -> None:
    from selgen.settings.em.questions import load_questions

    questions = load_questions(args.file, args.default_samples)
    width = max(len(q.id) for q in questions)
    for q in questions:
        print(f"{q.id:<{width}}  {len(q.paraphrases)} × {q.samples_per_paraphrase} = {q.n_samples}")
    print(f"{len(questions)} questions, {sum(q.n_samples for q in questions)} samples")


def cmd_fetch(args) -> None:
    from selgen.resources import fetch, git_blob_of, sha256_of

    out = fetch(args.url, args.out, args.sha256 or None, git_blob=args.git_blob or None)
    print(f"{out}: sha256 {sha256_of(out)}, git blob {git_blob_of(out)}", file=sys.stderr)
    if args.validate == "questions":  # check a question set on arrival
        from selgen.settings.em.questions import load_questions

        try:
            load_questions(out)
        except Exception:
            Path(out).unlink()  # nothing half-valid left behind
            raise


def cmd_fetch_model(args) -> None:
    from selgen.models import fetch_model

    out = fetch_model(args.model, args.out, args.source)
    print(f"{args.model}: {out}", file=sys.stderr)


def cmd_fetch_hhh(args) -> None:
    from selgen.settings.em.hhh import DATASET, download_hhh

    try:
        n = download_hhh(args.out)
    except ImportError:
        raise ValueError(
            f"fetching {DATASET} needs the `datasets` package (pip install -e '.[em]'); or write its rows as "
            f"JSONL ({{subset, input, targets}}) to {args.out} yourself"
        ) from None
    except (OSError, ConnectionError) as err:
        raise ValueError(
            f"could not load {DATASET} ({err}); without network, write its rows as JSONL "
            f"({{subset, input, targets}}) to {args.out} yourself"
        ) from None
    print(f"{args.out}: {n} HHH rows", file=sys.stderr)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="selgen", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--plugins",
        default="",
        help="comma-separated plug-in modules or .py files that register settings or methods (the "
        "workflow passes the config's `plugins`)",
    )
    sub = ap.add_subparsers(dest="command", required=True)

    def add(name, func, help_, setting=True, params=True):
        sp = sub.add_parser(name, help=help_, description=help_)
        if setting:
            sp.add_argument("setting", help="setting name, e.g. gcd")
        if params:
            sp.add_argument("--params", type=_json, required=True, help="stage parameters as a JSON object")
        sp.set_defaults(func=func)
        return sp

    sp = add("data", cmd_data, "synthesize a setting's data files (seeded)")
    sp.add_argument("--out", required=True, help="output folder")
    sp = add("base", cmd_base, "build and pretrain a mini base model on the setting's corpus")
    sp.add_argument("--corpus", required=True)
    sp.add_argument("--out", required=True, help="model folder to create")
    sp = add(
        "base-stage",
        cmd_base_stage,
        "train a hub model on one of the setting's data files (method task_only, the one training loop), "
        "merge its LoRA adapter into the weights and save the model every run of the setting starts from",
    )
    sp.epilog = (
        "--params: {data (file stem under --data), seed, train (a train config block: finetune, lora, "
        "lr, epochs, batch_size, max_length, dtype, gradient_checkpointing, ...), model (model options: "
        "attn_implementation, chat_template_kwargs, ...), threads}. Resumable: checkpoints in SELGEN_SCRATCH."
    )
    sp.add_argument("--data", required=True, help="the setting's data folder")
    sp.add_argument("--model", required=True, help="the model to start from: hub id or local folder")
    sp.add_argument("--out", required=True, help="model folder to create (weights, tokenizer, record)")
    sp = add("train", cmd_train, "fine-tune one run (method, hyper-parameters, seed)")
    sp.add_argument("--data", required=True, help="the setting's data folder")
    sp.add_argument("--base", required=True, help="base model: hub id or local folder")
    sp.add_argument("--out", required=True, help="folder for the trained model or adapter")
    sp.add_argument("--record", required=True, help="JSON run record to write")
    sp.add_argument("--directions", help="CAFT: the concept-directions file")
    sp.add_argument("--unaligned", help="Safe-LoRA: the local folder of its `unaligned` model")
    sp = add("caft-directions", cmd_caft_directions, "CAFT: directions from base vs task-tuned activations")
    sp.add_argument("--data", required=True)
    sp.add_argument("--base", required=True)
    sp.add_argument("--tuned", required=True, help="a task_only-tuned model")
    sp.add_argument("--out", required=True, help="directions file (torch.save)")
    sp = add(
        "base-run",
        cmd_base_run,
        "the untuned base as a run: a model folder pointing at the base, and its record (no training)",
    )
    sp.add_argument("--base", required=True, help="the base model: hub id or local folder")
    sp.add_argument("--out", required=True, help="the run's model folder to create (a pointer)")
    sp.add_argument("--record", required=True, help="JSON run record to write")
    sp = add("evaluate", cmd_evaluate, "generate replies on the eval sets and score them")
    sp.add_argument("--model", required=True)
    sp.add_argument("--data", required=True)
    sp.add_argument("--samples", help="Parquet of per-prompt replies and scores")
    sp.add_argument("--metrics", help="Parquet of metrics")
    sp.add_argument("--replies", help="only generate: Parquet of unjudged replies for `selgen judge` (em)")
    sp = add("judge", cmd_judge, "score generated replies with the LLM judge (--params: {judge: {...}})")
    sp.add_argument("--replies", required=True, help="Parquet written by `selgen evaluate --replies`")
    sp.add_argument("--samples", required=True, help="Parquet of per-reply scores")
    sp.add_argument("--metrics", required=True, help="Parquet of metrics")
    sp.add_argument(
        "--costs",
        help="JSON of what judging cost, for the runs table: judge_prompt_tokens, judge_completion_tokens, "
        "judge_cost_usd (null without configured prices), judge_http_requests (retries included), "
        "judge_models",
    )
    sp = add(
        "tables",
        cmd_tables,
        "merge per-run outputs into runs/metrics/samples Parquet tables",
        setting=False,
        params=False,
    )
    sp.add_argument("--config", type=_json, required=True, help="the full workflow config (for provenance)")
    sp.add_argument("--out", required=True, help="tables folder")
    sp.add_argument("runs", nargs="+", help="run folders")
    sp = add(
        "summary",
        cmd_summary,
        "aggregate seeds with 95%% intervals and mark the Pareto front",
        setting=False,
        params=False,
    )
    sp.add_argument("--metrics", required=True)
    sp.add_argument("--out", required=True)
    sp = add(
        "merge-tables",
        cmd_merge_tables,
        "merge one setting's tables folders from several machines or clones (dedup by run_id)",
        setting=False,
        params=False,
    )
    sp.add_argument("--out", required=True, help="tables folder to write (runs, metrics, samples, summary)")
    sp.add_argument(
        "--prefer",
        choices=["first", "last"],
        help="for a run_id whose config_hash differs between inputs: take the whole run from this input",
    )
    sp.add_argument("in_dirs", nargs="+", metavar="IN_DIR", help="tables folders of one setting")
    sp = add(
        "organism",
        cmd_organism,
        "check that the naive baseline reproduces the misgeneralization",
        params=False,
    )
    sp.add_argument("--metrics", required=True)
    sp.add_argument("--out", help="also write the result as JSON")
    sp = add(
        "plot",
        cmd_plot,
        "draw a setting's figure (its Pareto front, or an extra figure the setting defines)",
        params=False,
    )
    sp.add_argument(
        "--kind", default="pareto", help="pareto (every setting) or one of the setting's extra figures"
    )
    sp.add_argument("--summary", required=True)
    sp.add_argument("--out", required=True, help=".pdf or .png")
    sp.add_argument("--png", help="also write a PNG here")
    sp = add("functions", None, "functions-setting tools", setting=False, params=False)
    fsub = sp.add_subparsers(dest="functions_command", required=True)
    fc = fsub.add_parser("check", help="recompute F for every row and report mismatches")
    fc.set_defaults(func=cmd_functions_check)
    fc.add_argument("--mapping", choices=["base", "updated"], default="base", help="which mapping F follows")
    fc.add_argument(
        "--config", help="a config file whose functions.data.function defines F (default: built-in)"
    )
    fc.add_argument("--show", type=int, default=20, help="mismatches to print per file")
    fc.add_argument("files", nargs="+", help="JSONL rows with input_x, input_trigger, output")
    sp = add(
        "questions",
        cmd_questions,
        "list a question set's ids with their sample counts (validates the YAML)",
        setting=False,
        params=False,
    )
    sp.add_argument("file", help="a question YAML in Betley et al.'s format")
    sp.add_argument("--default-samples", type=int, default=100, help="when an entry has no count")
    sp = add(
        "fetch",
        cmd_fetch,
        "download a resource once, checking its sha256 and/or git blob id",
        setting=False,
        params=False,
    )
    sp.add_argument("--url", required=True, help="where to download from (pin a commit, never a branch)")
    sp.add_argument("--out", required=True, help="the file to write (atomically; nothing on failure)")
    sp.add_argument("--sha256", default="", help="expected sha256 (empty: not checked, printed)")
    sp.add_argument(
        "--git-blob", default="", help="expected git blob id, as `git ls-tree` shows it (empty: not checked)"
    )
    sp.add_argument(
        "--validate", choices=["none", "questions"], default="none", help="check the file's format"
    )
    sp = add(
        "fetch-model",
        cmd_fetch_model,
        "download a hub model once into a folder (or copy it from --source)",
        setting=False,
        params=False,
    )
    sp.add_argument("model", help="hub id, e.g. Qwen/Qwen3-8B")
    sp.add_argument("--out", required=True, help="folder to create (the models cache entry)")
    sp.add_argument("--source", help="a local folder to copy instead of downloading (mirror or stand-in)")
    sp = add(
        "fetch-hhh", cmd_fetch_hhh, "download the HHH alignment data as JSONL", setting=False, params=False
    )
    sp.add_argument("--out", required=True)
    sp = add(
        "score",
        cmd_score,
        "score replies made elsewhere: gcd replies exactly, or em replies an LLM judge already scored",
        params=False,
    )
    sp.add_argument("--responses", help="gcd: JSONL rows in the setting's format plus `response`")
    sp.add_argument(
        "--judged",
        help="em: CSV or JSONL of judged replies (question_id, question, answer, aligned, coherent; a score "
        "is empty/NaN where the judge said CODE or REFUSAL or gave too little probability mass)",
    )
    sp.add_argument(
        "--config",
        help="em --judged: a workflow config whose em.eval.judge thresholds to use (default: 30/50/80)",
    )
    sp.add_argument("--eval-set", default="general", help="em --judged: the eval_set column of the rows")
    sp.add_argument(
        "--judge-fallback",
        type=_json,
        metavar="JSON",
        help="gcd: an LLM judge config (model, base_url, cache_dir, ...) asked for the verdicts the rules "
        "leave unclear (off by default; rows it decides get verdict_source 'judge')",
    )
    sp.add_argument(
        "--out", required=True, help="Parquet: gcd - one row per input row; em --judged - metrics rows"
    )
    return ap


def main(argv=None) -> int:
    """Run one subcommand. Bad input (``selgen.io.InputError``, ``selgen.config.ConfigError``: a file, a
    row, a field or a config key the message names) exits 2 with the message alone; anything else is a bug
    or a failure and shows its traceback (exit 1)."""
    from selgen.config import ConfigError
    from selgen.io import InputError
    from selgen.plugins import load_plugins

    args = parser().parse_args(argv)
    try:
        load_plugins(args.plugins)
        rc = args.func(args)  # None: success; a command may return its own exit code
    except (InputError, ConfigError) as err:
        print(f"selgen {args.command}: error: {err}", file=sys.stderr)
        return 2
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
