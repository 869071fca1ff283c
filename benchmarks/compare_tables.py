"""Compare two runs of the workflow metric row by metric row: did a change alter any result?

    python benchmarks/compare_tables.py BEFORE AFTER [--settings gcd,functions,em]

BEFORE and AFTER are workflow folders (each with ``results/tables/<setting>/metrics.parquet``), e.g. a
clone at the old commit and one at the new, both after ``snakemake --cores all``. Rows are matched on
(method, hp, seed, eval_set, category, metric); per setting it prints how many rows both have, how many are
identical (value and n, exactly), how many differ (with the largest difference) and how many only one side
has.
Exit 1 if any matched row differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

KEYS = ["method", "hp", "seed", "eval_set", "category", "metric"]


def compare(before: Path, after: Path, setting: str) -> dict:
    a, b = (pd.read_parquet(d / "results" / "tables" / setting / "metrics.parquet") for d in (before, after))
    both = a.merge(b, on=KEYS, how="outer", suffixes=("_before", "_after"), indicator=True)
    matched = both[both["_merge"] == "both"]
    same_value = (matched["value_before"] == matched["value_after"]) | (
        matched["value_before"].isna() & matched["value_after"].isna()
    )
    same = same_value & (matched["n_before"] == matched["n_after"])
    diff = (matched["value_before"] - matched["value_after"]).abs()
    return {
        "setting": setting,
        "matched": len(matched),
        "identical": int(same.sum()),
        "different": int((~same).sum()),
        "max_abs_diff": float(diff[~same].max()) if (~same).any() else 0.0,
        "only_before": int((both["_merge"] == "left_only").sum()),
        "only_after": int((both["_merge"] == "right_only").sum()),
        "runs_differing": sorted({f"{r.method}/{r.hp}/seed{r.seed}" for r in matched[~same].itertuples()}),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--settings", default="gcd,functions,em")
    args = ap.parse_args(argv)
    differ = False
    print(
        f"{'setting':<10} {'matched':>8} {'identical':>10} {'different':>10} {'max |Δ|':>9} "
        f"{'only before':>12} {'only after':>11}"
    )
    for setting in args.settings.split(","):
        r = compare(args.before, args.after, setting)
        print(
            f"{setting:<10} {r['matched']:>8} {r['identical']:>10} {r['different']:>10} "
            f"{r['max_abs_diff']:>9.3g} {r['only_before']:>12} {r['only_after']:>11}"
        )
        if r["different"]:
            differ = True
            print(f"  runs with a differing row: {', '.join(r['runs_differing'][:20])}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
