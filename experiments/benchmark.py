"""Benchmark every policy: the same Hydra app as the ``hybridrl-benchmark`` command
(:mod:`hybridrl.apps.benchmark`), for running from a checkout: ``python experiments/benchmark.py ...``."""

from hybridrl.apps.benchmark import main

if __name__ == "__main__":
    main()
