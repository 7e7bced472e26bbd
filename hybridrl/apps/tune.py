"""Search training hyperparameters with Optuna (a Hydra app; configs/tune.yaml).

    hybridrl-tune                                     # PPO on default, the search space in tune.yaml
    hybridrl-tune env=tiny total_timesteps=20000 tune.n_trials=8
    hybridrl-tune tune=epoch_ppo experiment=epoch_clone          # another search space
    hybridrl-tune tune.study_name=s1 tune.storage=postgresql://host/db   # shared by several machines

Every key of ``hybridrl-train`` sets the config each trial starts from; ``tune.*`` sets the study
(:class:`hybridrl.agents.tuning.StudyConfig`). The study folder is ``outputs/tune/<study_name>``:
its SQLite storage (``study.db``, unless ``tune.storage`` names another), one training run per
trial (``trial_<n>``), ``trials.csv``, and the best trial's ``best.json`` and
``best_preset.yaml`` (copy it into ``configs/experiment/`` to train with ``experiment=<name>``).
Running the same command again, or in several shells at once, continues the same study.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from hybridrl.agents.config import ConfigError, register_configs
from hybridrl.apps import fail, hydra_output_dir, typed_config
from hybridrl.resources import configs_dir
from hybridrl.sim.params import ScenarioError

register_configs()


@hydra.main(config_path=str(configs_dir()), config_name="tune", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from hybridrl.agents.tuning import TuneConfig, run_study

    tune_cfg = typed_config(cfg, TuneConfig)
    try:
        summary = run_study(tune_cfg, str(hydra_output_dir()))
    except (ConfigError, ScenarioError) as err:
        fail(err)
    print(f"study {tune_cfg.tune.study_name!r}: {summary.trials} trials, {summary.pruned} pruned")
    if summary.best_value_usd is None:
        print("no trial has completed yet")
    else:
        print(f"best validation NAV change {summary.best_value_usd:,.0f} $ with {summary.best_params}")
        print(f"best run: {summary.best_trial_dir}; preset: {summary.study_dir / 'best_preset.yaml'}")


if __name__ == "__main__":
    main()
