"""``selgen plan``: a sweep's preflight, before anything runs (selgen.plan)."""

from __future__ import annotations

from selgen.cli.options import tool

CONFIGFILE_HELP = (
    "workflow config file(s), merged as `snakemake --configfile A B` merges them (key by key, lists "
    "replaced); paths in them are read relative to the current folder, as the workflow reads them"
)


def cmd_plan(args) -> None:
    from selgen.config import ConfigError
    from selgen.plan import fetch_missing, problems, read_config, report

    config = read_config(args.configfile)
    fetched, failed = ([], []) if args.no_fetch else fetch_missing(config)
    for path in fetched:
        print(f"fetched {path} (pinned; rule fetch would download it first)")
    print(report(config, args.answer_tokens))
    missing = failed + problems(config)
    if missing:
        raise ConfigError(
            "not ready - a run of this config would fail later:\n" + "\n".join(f"  - {m}" for m in missing)
        )
    print("\nready: every input, key and token a run needs is here (or a rule makes it)")


def answer_tokens_option(sp) -> None:
    sp.add_argument(
        "--no-fetch",
        action="store_true",
        help="do not download the judged settings' pinned files (question sets) the estimate reads",
    )
    sp.add_argument(
        "--answer-tokens",
        type=float,
        help="assume replies of this many tokens (default: the mean of replies generated so far under "
        "results/, else max_new_tokens, an upper bound)",
    )


def add_commands(sub) -> None:
    sp = tool(
        sub,
        cmd_plan,
        "preflight of a sweep: jobs and GPU-hours requested, judge requests and dollars, hub models to "
        "fetch (gated or not); exits 2 naming what a run would miss (a task file, the judge's API key, a "
        "token for a gated model)",
    )
    sp.add_argument("--configfile", nargs="+", default=["config/config.yaml"], help=CONFIGFILE_HELP)
    answer_tokens_option(sp)
