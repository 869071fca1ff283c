"""How long Snakemake takes to plan a paper-scale sweep of >= 1,000 jobs through the `slurm` profile.

    python benchmarks/dry_run.py [--jobs 1000] [--check]

Builds config/paper_em.yaml with enough seeds for the requested number of jobs (train + generate per run,
plus judge, data and table jobs), then times `snakemake --profile slurm -n results/pareto_em.pdf` from the
repository root, side by side with the same plan without the profile (local executor). Target: <= 10 s with
the profile. `--check` exits 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 10.0


def sweep_config(n_jobs: int) -> dict:
    from selgen.config import runs, validate

    config = yaml.safe_load((ROOT / "config/paper_em.yaml").read_text())
    filled = validate(yaml.safe_load(yaml.safe_dump(config)), ROOT / "workflow/schemas/config.schema.yaml")
    n_runs = len(runs(filled, "em"))
    config["seeds"] = list(range(1, n_jobs // (2 * n_runs) + 2))
    return config


def plan(workdir: Path, *extra: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "snakemake", "--directory", str(workdir), "--configfile"]
    cmd += [str(workdir / "config.yaml"), *extra, "-n", "results/pareto_em.pdf"]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(res.stderr[-3000:])
    return elapsed, res.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wd = Path(tmp)
        (wd / "config.yaml").write_text(yaml.safe_dump(sweep_config(args.jobs)))
        t_slurm, out = plan(wd, "--profile", "slurm")
        t_local, _ = plan(wd, "--cores", "1")
    total = int(re.search(r"^total\s+(\d+)", out, re.M).group(1))
    gpu_jobs = sum("gpu=1" in line.split(", ") for line in re.findall(r"resources: (.*)", out))
    print(f"{'plan':<28}{'jobs':>6}{'wall s':>9}{'target':>8}{'x target':>10}")
    print(f"{'--profile slurm -n':<28}{total:>6}{t_slurm:>9.2f}{TARGET_S:>8.0f}{t_slurm / TARGET_S:>10.2f}")
    print(f"{'local executor -n':<28}{total:>6}{t_local:>9.2f}{'':>8}{t_local / TARGET_S:>10.2f}")
    print(f"jobs asking for a GPU in the slurm plan: {gpu_jobs}; slurm/local time: {t_slurm / t_local:.2f}")
    return 1 if args.check and t_slurm > TARGET_S else 0


if __name__ == "__main__":
    sys.exit(main())
