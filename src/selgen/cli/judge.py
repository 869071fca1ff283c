"""``selgen judge ...``: the LLM judge's subcommands. ``score`` is rule judge's job (one run's replies),
``batch`` rule judge_batch's (a setting's replies through the Batch API), ``estimate`` what a sweep's judging
will cost before anything is sent, ``agreement`` two judges on the same replies, ``import-cache`` an old
one-file-per-request cache into the SQLite store."""

from __future__ import annotations

from selgen.cli.options import subcommand, tool
from selgen.cli.plan import CONFIGFILE_HELP, answer_tokens_option


def _setting_with(name: str, hook: str):
    from selgen.io import InputError
    from selgen.settings import get_setting

    setting = get_setting(name)
    if getattr(setting, hook) is None:
        raise InputError(f"setting {name!r} is not scored by an LLM judge (it has no {hook})")
    return setting


def cmd_score(args) -> None:
    import pandas as pd

    from selgen.io import write_json, write_parquet

    setting = _setting_with(args.setting, "judge_replies")
    replies = pd.read_parquet(args.replies)
    samples, metrics, costs = setting.judge_replies(replies, args.params.get("judge"))
    write_parquet(args.samples, samples)
    write_parquet(args.metrics, metrics)
    if args.costs:
        write_json(args.costs, costs)


def cmd_batch(args) -> None:
    import pandas as pd

    from selgen.io import write_json
    from selgen.judge.batch_runner import run_batches

    setting = _setting_with(args.setting, "judge_requests")
    replies = pd.concat([pd.read_parquet(p) for p in args.replies], ignore_index=True)
    stats = run_batches(setting.judge_requests(replies, args.params.get("judge")), args.state)
    print(f"judge batch ({args.setting}): {stats}")
    write_json(args.out, stats)


def cmd_import_cache(args) -> None:
    from selgen.judge.store import JudgeCache, import_files

    store = JudgeCache(args.to)
    print(f"imported {import_files(args.source, store)} entries into {store.path} (now {len(store)})")


def cmd_estimate(args) -> None:
    from selgen.io import InputError
    from selgen.plan import fetch_missing, judge_estimate, judge_lines, read_config

    config = read_config(args.configfile)
    if not args.no_fetch and (failed := fetch_missing(config)[1]):
        raise InputError("; ".join(failed))
    print("\n".join(judge_lines(judge_estimate(config, args.answer_tokens))))


def add_commands(sub) -> None:
    judge = sub.add_parser("judge", help="the LLM judge: score, batch, estimate, agreement, import-cache")
    jsub = judge.add_subparsers(dest="judge_command", required=True)
    sp = subcommand(jsub, cmd_score, "score one run's replies with the LLM judge (--params: {judge: {...}})")
    sp.add_argument("--replies", required=True, help="Parquet written by `selgen evaluate --replies`")
    sp.add_argument("--samples", required=True, help="Parquet of per-reply scores")
    sp.add_argument("--metrics", required=True, help="Parquet of metrics")
    sp.add_argument(
        "--costs",
        help="JSON of what the run's judgements cost (cached ones included, at the price paid), for the runs "
        "table: judge_prompt_tokens, judge_completion_tokens, judge_cost_usd (null for a model without a "
        "price), judge_http_requests (this job's, retries included), judge_models",
    )
    sp = subcommand(
        jsub,
        cmd_batch,
        "judge a setting's replies through the Batch API (half price): submit what the cache lacks, record "
        "the batch ids, poll, fill the cache; a rerun resumes polling instead of submitting again",
    )
    sp.add_argument(
        "--replies", nargs="+", required=True, help="Parquet files of `selgen evaluate --replies`"
    )
    sp.add_argument("--state", required=True, help="folder for the batch files and state.json (kept)")
    sp.add_argument("--out", required=True, help="JSON of the totals, written when every batch has ended")
    sp = tool(
        jsub,
        cmd_estimate,
        "judge requests, tokens and dollars of a planned sweep, by setting, eval set and judge model, before "
        "anything is sent (prices: selgen.judge.prices, judge config `prices`)",
    )
    sp.add_argument("--configfile", nargs="+", default=["config/config.yaml"], help=CONFIGFILE_HELP)
    answer_tokens_option(sp)
    sp = tool(jsub, cmd_import_cache, "import an old one-file-per-request judge cache into the SQLite store")
    sp.add_argument("source", help="the old cache folder (<key[:2]>/<key>.json files)")
    sp.add_argument("--to", required=True, help="the cache_dir whose judge.sqlite receives the entries")
    from selgen.judge.agreement import add_command

    add_command(jsub)
