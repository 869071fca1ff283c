"""The ``selgen`` command: one subcommand per workflow stage, so every stage also runs by hand.

Heavy libraries (torch, transformers, plotnine) are imported inside the subcommand that needs them.
Stage parameters arrive as one JSON object (``--params``), the same object Snakemake records as the rule's
params, so whatever changes a result is visible to Snakemake's rerun triggers. Modules: ``stages`` (what the
rules run), ``judge`` (the LLM judge's), ``results`` (tables, summary, figures), ``resources`` (downloads),
``plan`` (a sweep's preflight), ``options`` (shared pieces);
each setting adds its own tools as ``selgen <setting> <tool>`` (``Setting.commands``).
"""

from __future__ import annotations

import argparse
import sys

from selgen.cli import judge, plan, resources, results, stages

PLUGINS_HELP = (
    "comma-separated plug-in modules or .py files that register settings or methods (the workflow passes "
    "the config's `plugins`)"
)


def parser(plugins: str = "") -> argparse.ArgumentParser:
    """The command line parser; the settings' own tools come from the registry (plug-ins loaded first)."""
    from selgen.plugins import load_plugins
    from selgen.settings import settings

    load_plugins(plugins)
    ap = argparse.ArgumentParser(prog="selgen", description=__doc__.split("\n\n")[0])
    ap.add_argument("--plugins", default="", help=PLUGINS_HELP)
    sub = ap.add_subparsers(dest="command", required=True)
    for module in (stages, judge, results, resources, plan):
        module.add_commands(sub)
    for name, setting in settings().items():
        if setting.commands is not None:
            sp = sub.add_parser(name, help=f"the {name} setting's own tools", description=f"{name} tools")
            setting.commands(sp.add_subparsers(dest="tool", required=True))
    return ap


def main(argv=None) -> int:
    """Run one subcommand. Bad input (``selgen.io.InputError``, ``selgen.config.ConfigError``: a file, a
    row, a field or a config key the message names) exits 2 with the message alone; anything else is a bug
    or a failure and shows its traceback (exit 1)."""
    from selgen.config import ConfigError
    from selgen.io import InputError

    if argv is None:  # the `selgen` command itself: a workflow's warm interpreter runs it when it can
        from selgen.forkserver import run_via_server

        rc = run_via_server(sys.argv[1:])
        if rc is not None:
            return rc
    argv = sys.argv[1:] if argv is None else list(argv)
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--plugins", default="")
    try:
        ap = parser(first.parse_known_args(argv)[0].plugins)
    except (InputError, ConfigError) as err:  # a plug-in that does not load
        print(f"selgen: error: {err}", file=sys.stderr)
        return 2
    args = ap.parse_args(argv)
    try:
        if isinstance(getattr(args, "params", None), dict) and getattr(args, "setting", None):
            from selgen.params import with_defaults

            args.params = with_defaults(
                args.command, args.setting, args.params, getattr(args, "method", None)
            )
        rc = args.func(args)  # None: success; a command may return its own exit code
    except (InputError, ConfigError) as err:
        print(f"selgen {args.command}: error: {err}", file=sys.stderr)
        return 2
    return rc or 0
