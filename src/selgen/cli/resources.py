"""``selgen`` subcommands that bring external inputs in: pinned downloads and hub models."""

from __future__ import annotations

import sys
from pathlib import Path

from selgen.cli.options import tool


def validators() -> dict:
    """Checks a download may ask for (``fetch`` ``validate: NAME``), from every setting's ``validators``."""
    from selgen.settings import settings

    return {name: check for s in settings().values() for name, check in s.validators.items()}


def cmd_fetch(args) -> None:
    from selgen.io import InputError
    from selgen.resources import fetch, git_blob_of, sha256_of

    checks = validators()
    if args.validate != "none" and args.validate not in checks:
        raise InputError(f"--validate {args.validate!r}: no such check; known: none, {', '.join(checks)}")
    out = fetch(args.url, args.out, args.sha256 or None, git_blob=args.git_blob or None)
    print(f"{out}: sha256 {sha256_of(out)}, git blob {git_blob_of(out)}", file=sys.stderr)
    if args.validate != "none":  # check the file on arrival
        try:
            checks[args.validate](out)
        except Exception:
            Path(out).unlink()  # nothing half-valid left behind
            raise


def cmd_fetch_model(args) -> None:
    from selgen.models import fetch_model

    out = fetch_model(args.model, args.out, args.source)
    print(f"{args.model}: {out}", file=sys.stderr)


def add_commands(sub) -> None:
    sp = tool(sub, cmd_fetch, "download a resource once, checking its sha256 and/or git blob id")
    sp.add_argument("--url", required=True, help="where to download from (pin a commit, never a branch)")
    sp.add_argument("--out", required=True, help="the file to write (atomically; nothing on failure)")
    sp.add_argument("--sha256", default="", help="expected sha256 (empty: not checked, printed)")
    sp.add_argument(
        "--git-blob", default="", help="expected git blob id, as `git ls-tree` shows it (empty: not checked)"
    )
    sp.add_argument(
        "--validate", default="none", help="check the file's format (none; questions: a question YAML)"
    )
    sp = tool(sub, cmd_fetch_model, "download a hub model once into a folder (or copy it from --source)")
    sp.add_argument("model", help="hub id, e.g. Qwen/Qwen3-8B")
    sp.add_argument("--out", required=True, help="folder to create (the models cache entry)")
    sp.add_argument("--source", help="a local folder to copy instead of downloading (mirror or stand-in)")
