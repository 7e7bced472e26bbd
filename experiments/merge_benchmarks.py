"""Merge benchmark shards into one report: the ``hybridrl-benchmark-merge`` command
(:mod:`hybridrl.apps.merge`), for running from a checkout:
``python experiments/merge_benchmarks.py <shard> <shard> ... --out <folder>``."""

from hybridrl.apps.merge import main

if __name__ == "__main__":
    main()
