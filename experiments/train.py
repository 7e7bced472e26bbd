"""Train an SB3 agent: the same Hydra app as the ``hybridrl-train`` command
(:mod:`hybridrl.apps.train`), for running from a checkout: ``python experiments/train.py ...``."""

from hybridrl.apps.train import main

if __name__ == "__main__":
    main()
