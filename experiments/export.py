"""Export a run's policy: the same Hydra app as the ``hybridrl-export`` command
(:mod:`hybridrl.apps.export`), for running from a checkout: ``python experiments/export.py ...``."""

from hybridrl.apps.export import main

if __name__ == "__main__":
    main()
