"""Start-up overhead of the mini suite's jobs: a fresh process (every job before the fork server) vs a
child of the workflow's warm interpreter (``selgen.forkserver``, what local runs do now), side by side.

    python benchmarks/job_overhead.py [--workdir .] [--settings gcd,functions,em] [--repeats 3] [--check]

Run it after the mini suite: it re-runs recorded jobs. For a train job and an evaluate job of each setting
(the run task_only/default/seed<first seed>) it takes the exact shell command Snakemake recorded for that job
(``.snakemake/metadata``), points the command's outputs at a temporary folder (the evaluate job reads a copy
of the run's model) and runs it in both ways, alternately, ``--repeats`` times, with the job environment
Snakemake gives it (``OMP_NUM_THREADS`` and friends). Per job it prints the median time from process start
to the model's first forward pass (the first training step's or the evaluation's first:
``SELGEN_FIRST_FORWARD``), the median job wall time and the share of the job that start-up is, then the ratio
of the job times.
``--check`` exits 1 unless every forked job's start-up is below a third of its fresh start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selgen.forkserver import Server
from selgen.models import FIRST_FORWARD_ENV

SELGEN = Path(sys.executable).parent / "selgen"


def recorded_commands(workdir: Path) -> dict[str, tuple[str, int]]:
    """Output path -> (shell command, threads) of the train and evaluate jobs Snakemake recorded."""
    commands = {}
    for path in (workdir / ".snakemake" / "metadata").rglob("*"):
        if path.is_file():
            try:
                record = json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError):
                continue
            for flag in ("--record", "--metrics"):
                command = record.get("shellcmd") or ""
                if m := re.search(rf"{flag} (\S+)", command):
                    threads = re.search(r'"threads": (\d+)', command)  # the job's threads, in its params
                    commands[m.group(1)] = (command.strip(), int(threads.group(1)) if threads else 1)
    return commands


def job(workdir: Path, setting: str, kind: str, commands: dict, tmp: Path) -> tuple[str, int]:
    """The recorded command of one job of the run task_only/default/seed<n>, writing into ``tmp``."""
    runs = workdir / "results" / setting / "runs" / "task_only" / "default"
    seeds = sorted(runs.glob("seed*"), key=lambda p: int(p.name[4:]))
    if not seeds:
        raise SystemExit(f"{runs}: no run; run the mini suite first (snakemake --cores all)")
    run = f"results/{setting}/runs/task_only/default/{seeds[0].name}"
    key = f"{run}/record.json" if kind == "train" else f"{run}/metrics.parquet"
    if key not in commands:
        raise SystemExit(f"{workdir}: Snakemake recorded no command for {key}")
    command, threads = commands[key]
    if kind == "evaluate":
        shutil.copytree(workdir / run / "model", tmp / "run" / "model", symlinks=True, dirs_exist_ok=True)
    command = command.replace(f"{run}/", f"{tmp}/run/")
    command = re.sub(r"2> \S+", f"2> {tmp}/job.log", command)
    return command, threads


def run_once(
    command: str, threads: int, workdir: Path, tmp: Path, server: Server | None
) -> tuple[float, float]:
    """(start-up s, job s) of one run of ``command``."""
    stamp = tmp / "first_forward"
    stamp.unlink(missing_ok=True)
    if "--record" in command:  # a train job writes the model folder again
        shutil.rmtree(tmp / "run" / "model", ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "SELGEN_FORK_SERVER"}
    env |= {v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env[FIRST_FORWARD_ENV] = str(stamp)
    if server is not None:
        env["SELGEN_FORK_SERVER"] = server.path
    script = f'set -euo pipefail; selgen() {{ {SELGEN} "$@"; }}; {command}'
    start = time.time()
    res = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, check=False)
    end = time.time()
    if res.returncode != 0 or not stamp.exists():
        log = (tmp / "job.log").read_text()[-3000:] if (tmp / "job.log").exists() else ""
        raise SystemExit(f"job failed (exit {res.returncode}): {command[:300]}\n{log}")
    return float(stamp.read_text()) - start, end - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", default=".", help="the workflow folder the mini suite ran in")
    ap.add_argument("--settings", default="gcd,functions,em")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--check", action="store_true", help="exit 1 unless forked start-up < fresh / 3")
    args = ap.parse_args(argv)
    workdir = Path(args.workdir).resolve()
    commands = recorded_commands(workdir)
    server = Server()
    server.start()
    if not server.wait_ready():
        raise SystemExit("the fork server did not start")
    failed = []
    print(
        f"{'job':<20} {'fresh: start-up':>15} {'job':>7} {'share':>6}   {'forked: start-up':>16} {'job':>7} "
        f"{'share':>6}   job time fresh/forked"
    )
    try:
        for setting in args.settings.split(","):
            for kind in ("train", "evaluate"):
                with tempfile.TemporaryDirectory(prefix="selgen-overhead-") as folder:
                    tmp = Path(folder)
                    command, threads = job(workdir, setting, kind, commands, tmp)
                    times = {"fresh": [], "forked": []}
                    for _ in range(args.repeats):
                        times["fresh"].append(run_once(command, threads, workdir, tmp, None))
                        times["forked"].append(run_once(command, threads, workdir, tmp, server))
                row = {}
                for mode, values in times.items():
                    startup = statistics.median(v[0] for v in values)
                    total = statistics.median(v[1] for v in values)
                    row[mode] = (startup, total)
                (fs, ft), (ks, kt) = row["fresh"], row["forked"]
                print(
                    f"{setting + ' ' + kind:<20} {fs:>13.2f} s {ft:>5.1f} s {fs / ft:>6.0%}   {ks:>14.2f} s "
                    f"{kt:>5.1f} s {ks / kt:>6.0%}   {ft / kt:.2f}×",
                    flush=True,
                )
                if ks >= fs / 3:
                    failed.append(f"{setting} {kind}")
    finally:
        server.stop()
    if args.check and failed:
        print(f"start-up not cut to a third: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
