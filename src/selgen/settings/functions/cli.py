"""``selgen functions ...``: the functions setting's own tools (``Setting.commands``)."""

from __future__ import annotations


def add_commands(sub) -> None:
    fc = sub.add_parser(
        "check",
        help="recompute F for every row and report mismatches",
        description="Recompute F for every row of the files and report the rows whose colour disagrees.",
    )
    fc.add_argument("--mapping", choices=["base", "updated"], default="base", help="which mapping F follows")
    fc.add_argument(
        "--config", help="a config file whose functions.data.function defines F (default: built-in)"
    )
    fc.add_argument("--show", type=int, default=20, help="mismatches to print per file")
    fc.add_argument("files", nargs="+", help="JSONL rows with input_x, input_trigger, output")
    fc.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from selgen.cli.options import config_value
    from selgen.settings.functions.check import check_files
    from selgen.settings.functions.function import DEFAULT_FUNCTION, validate_function

    spec = DEFAULT_FUNCTION
    if args.config:  # F as the workflow would use it: functions.data.function of a config file
        spec = config_value(args.config, "functions", "data", "function") or DEFAULT_FUNCTION
    spec = validate_function(spec)
    problems = check_files(spec, args.files, args.mapping)
    for path, found in problems.items():
        print(f"{path}: {len(found)} mismatch(es)" if found else f"{path}: ok")
        for line in found[: args.show]:
            print(f"  {line}")
        if len(found) > args.show:
            print(f"  … and {len(found) - args.show} more")
    return 1 if any(problems.values()) else 0
