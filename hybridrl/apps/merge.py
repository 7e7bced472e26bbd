"""Merge benchmark shards into one report (``hybridrl-benchmark-merge``).

Spread a benchmark's per-path work over the jobs of a Hydra multirun, one shard of seeds a job,
e.g. on a SLURM cluster through the Hydra submitit launcher, then merge the shards::

    hybridrl-benchmark -m hydra/launcher=slurm hydra.launcher.partition=<p> seeds=8 first_seed=0,8,16,24
    hybridrl-benchmark-merge multirun/benchmark/<stamp>/* --out outputs/benchmark/merged

(``hydra/launcher=submitit_local`` runs the shards as processes on this machine.) The merged
``paths.csv`` is the one a single run over all the seeds writes (:mod:`hybridrl.evaluation.merge`).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    from hybridrl.evaluation.merge import write_merged_report

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("shards", nargs="+", help="benchmark output folders (one per shard of seeds)")
    parser.add_argument("--out", required=True, help="folder for the merged report")
    parser.add_argument("--title", default="Benchmark (merged shards)")
    args = parser.parse_args(argv)
    try:
        files = write_merged_report(args.shards, args.out, args.title)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(files["summary.md"].read_text())
    print(f"merged report: {args.out} ({', '.join(sorted(files))})")


if __name__ == "__main__":
    main()
