"""Backtest every policy on real network history: the same Hydra app as the ``hybridrl-backtest``
command (:mod:`hybridrl.apps.backtest`), for running from a checkout:
``python experiments/backtest.py data=<csv> ...``."""

from hybridrl.apps.backtest import main

if __name__ == "__main__":
    main()
