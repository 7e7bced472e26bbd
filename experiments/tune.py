"""Search training hyperparameters with Optuna: the same Hydra app as the ``hybridrl-tune``
command (:mod:`hybridrl.apps.tune`), for running from a checkout: ``python experiments/tune.py ...``."""

from hybridrl.apps.tune import main

if __name__ == "__main__":
    main()
