"""Train an SB3 agent on a hybridrl scenario (a Hydra app; configs/train.yaml).

    hybridrl-train                                  # PPO on default, W&B offline
    hybridrl-train env=tiny agent=sac seed=3 total_timesteps=20000
    hybridrl-train agent.learning_rate=1e-4 agent.net_arch=[128,128] logger=none
    hybridrl-train resume=outputs/train/<run>       # continue a killed run
    hybridrl-train -m seed=0,1 agent=ppo,sac hydra/launcher=joblib

The run directory is Hydra's output directory (or the resumed run's); see
hybridrl/agents/training.py for what it holds.
"""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from hybridrl.agents.config import TrainConfig, register_configs
from hybridrl.apps import typed_config
from hybridrl.resources import configs_dir

register_configs()


@hydra.main(config_path=str(configs_dir()), config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    train_cfg = typed_config(cfg, TrainConfig)
    from hybridrl.agents.training import resume, train

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode is RunMode.MULTIRUN
    if train_cfg.resume is None:
        result = train(train_cfg, hydra_cfg.runtime.output_dir, multirun=multirun)
    else:
        # the saved config wins, except what this command line sets explicitly
        given = {o.split("=", 1)[0].lstrip("+~") for o in hydra_cfg.overrides.task}
        result = resume(
            train_cfg.resume,
            total_timesteps=train_cfg.total_timesteps if "total_timesteps" in given else None,
            logger=train_cfg.logger if any(k.startswith("logger") for k in given) else None,
            progress_bar=train_cfg.progress_bar,
            multirun=multirun,
        )
    resumed = "" if result.resumed_from_step is None else f" (resumed from step {result.resumed_from_step})"
    print(f"trained {result.num_timesteps} steps in {result.seconds:.1f} s{resumed}")
    print(f"run directory: {result.run_dir}")


if __name__ == "__main__":
    main()
