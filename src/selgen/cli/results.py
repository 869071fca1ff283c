"""``selgen`` subcommands that turn runs into results: tables, the summary, merging tables from several
clones, the organism check and figures."""

from __future__ import annotations

from selgen.cli.options import json_object, subcommand, tool


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

    metrics = pd.concat([pd.read_parquet(p) for p in args.metrics], ignore_index=True)
    result = organism_check(metrics, args.setting, pilot=args.pilot)
    print(format_check(result))
    if args.out:
        write_json(args.out, result)


def cmd_plot(args) -> None:
    import pandas as pd

    from selgen import plots
    from selgen.io import InputError
    from selgen.settings import get_setting

    figures = {"pareto": plots.pareto_setting, **get_setting(args.setting).figures}
    if args.kind not in figures:
        raise InputError(f"no {args.kind} figure for setting {args.setting!r}; it has {', '.join(figures)}")
    summary = pd.read_parquet(args.summary)
    for out in [args.out, *([args.png] if args.png else [])]:
        figures[args.kind](summary, out, setting=args.setting, names=args.names)


def add_commands(sub) -> None:
    sp = tool(sub, cmd_tables, "merge per-run outputs into runs/metrics/samples Parquet tables")
    sp.add_argument(
        "--config", type=json_object, required=True, help="the setting's workflow config (for provenance)"
    )
    sp.add_argument("--out", required=True, help="tables folder")
    sp.add_argument("runs", nargs="+", help="run folders (record.json, metrics and samples Parquet)")
    sp = tool(sub, cmd_summary, "aggregate seeds with 95%% intervals and mark the Pareto front")
    sp.add_argument("--metrics", required=True, help="a setting's metrics table (Parquet)")
    sp.add_argument("--out", required=True, help="the summary table to write (Parquet)")
    sp = tool(
        sub, cmd_merge_tables, "merge one setting's tables folders from several clones (dedup by run_id)"
    )
    sp.add_argument("--out", required=True, help="tables folder to write (runs, metrics, samples, summary)")
    sp.add_argument(
        "--prefer",
        choices=["first", "last"],
        help="for a run_id whose run_config_hash differs between inputs: take the whole run from this input",
    )
    sp.add_argument("in_dirs", nargs="+", metavar="IN_DIR", help="tables folders of one setting")
    sp = subcommand(
        sub, cmd_organism, "check that the baseline reproduces the misgeneralization", params=False
    )
    sp.add_argument(
        "--metrics", required=True, nargs="+", help="a setting's metrics table, or its runs' metrics files"
    )
    sp.add_argument("--out", help="also write the result as JSON")
    sp.add_argument(
        "--pilot",
        action="store_true",
        help="one seed (the pilot target: the base and one baseline run): a check passes on the difference's "
        "sign and size alone, there is no interval",
    )
    sp = subcommand(
        sub,
        cmd_plot,
        "draw a setting's figure (its Pareto front, or an extra figure the setting defines)",
        params=False,
    )
    sp.add_argument("--kind", default="pareto", help="pareto (every setting) or one of the setting's extras")
    sp.add_argument("--summary", required=True, help="a setting's summary table (Parquet)")
    sp.add_argument("--out", required=True, help=".pdf or .png")
    sp.add_argument("--png", help="also write a PNG here")
    sp.add_argument(
        "--names",
        type=json_object,
        default={},
        help="sweep point labels as JSON, method -> hp label -> name (the workflow passes the config's: "
        "selgen.config.point_names); a point without one shows its short hyper-parameter label",
    )
