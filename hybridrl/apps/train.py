"""Train an SB3 agent on a hybridrl scenario (a Hydra app; configs/train.yaml).

    hybridrl-train                                  # PPO on default, W&B offline
    hybridrl-train env=tiny agent=sac seed=3 total_timesteps=20000
    hybridrl-train env=path/to/mine.yaml            # your own scenario file
    hybridrl-train agent.learning_rate=1e-4 agent.net_arch=[128,128] logger=none
    hybridrl-train resume=outputs/train/<run>       # continue a killed run
    hybridrl-train -m seed=0,1 agent=ppo,sac hydra/launcher=joblib

The run directory is Hydra's output directory, or the resumed run's: resuming keeps the saved
configuration and the run's copy of its scenario, accepts only ``total_timesteps``, ``logger``,
``progress_bar``, ``device``, ``torch_threads`` and ``vec_env``, and refuses (exit 2, the keys
listed) any other setting that differs from the saved one; the resume command's own Hydra
record is filed under ``<run>/resumes/``. See hybridrl/agents/training.py for what a run holds.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from hybridrl.agents.config import ConfigError, TrainConfig, register_configs
from hybridrl.apps import fail, holds_only_hydra_files, hydra_output_dir, typed_config
from hybridrl.resources import configs_dir
from hybridrl.sim.params import ScenarioError

register_configs()


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def keys_set_by(overrides: list[str], requested: TrainConfig, without_overrides: TrainConfig) -> set[str]:
    """The config keys a command line sets: those its overrides change from the composed
    defaults, and those it names explicitly (``seed=0`` sets ``seed`` even if 0 is the default)."""
    from hybridrl.agents.training import config_to_dict

    asked, base = flatten(config_to_dict(requested)), flatten(config_to_dict(without_overrides))
    named = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    return {
        k for k in asked if asked[k] != base.get(k) or any(k == n or k.startswith(n + ".") for n in named)
    }


def resume_conflicts(keys: set[str], requested: TrainConfig, saved: TrainConfig) -> list[tuple[str, str]]:
    """Keys this command sets to a value other than the saved run's, outside what a resumed run
    may change."""
    from hybridrl.agents.training import RESUMABLE_SETTINGS, config_to_dict

    asked, was = flatten(config_to_dict(requested)), flatten(config_to_dict(saved))
    allowed = (*RESUMABLE_SETTINGS, "resume")
    return [
        (k, f"the run was trained with {was.get(k)!r}; this command asks for {asked[k]!r}")
        for k in sorted(keys)
        if k.split(".", 1)[0] not in allowed and asked[k] != was.get(k)
    ]


def file_resume_record(run_dir: Path) -> None:
    """Move the resume command's own Hydra folder (its record and log) into ``<run>/resumes/``
    instead of leaving an empty, misleadingly named run folder."""
    folder = hydra_output_dir()
    if folder is None or not holds_only_hydra_files(folder) or folder.resolve() == run_dir.resolve():
        return
    target = run_dir / "resumes" / folder.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), str(target))


def resume_from_command(train_cfg: TrainConfig, multirun: bool) -> Any:
    from hybridrl.agents.files import RUN_CONFIG_FILE
    from hybridrl.agents.run_scenario import RunScenarioError
    from hybridrl.agents.training import RESUMABLE_SETTINGS, load_config, resume

    assert train_cfg.resume is not None
    run_dir = Path(train_cfg.resume)
    overrides = list(HydraConfig.get().overrides.task)
    base = typed_config(
        hydra.compose(config_name="train", overrides=[o for o in overrides if o.startswith("resume=")]),
        TrainConfig,
    )
    keys = keys_set_by(overrides, train_cfg, base)
    conflicts = resume_conflicts(keys, train_cfg, load_config(run_dir / RUN_CONFIG_FILE))
    if conflicts:
        raise ConfigError(conflicts)
    settings = {
        k: getattr(train_cfg, k) for k in RESUMABLE_SETTINGS if any(x.split(".")[0] == k for x in keys)
    }
    settings.setdefault("progress_bar", train_cfg.progress_bar)
    try:
        result = resume(run_dir, multirun=multirun, **settings)
    except (ConfigError, ScenarioError, RunScenarioError):
        raise  # refused before training: nothing to file
    except BaseException:
        file_resume_record(run_dir)
        raise
    file_resume_record(run_dir)
    return result


@hydra.main(config_path=str(configs_dir()), config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    train_cfg = typed_config(cfg, TrainConfig)
    from hybridrl.agents.run_scenario import RunScenarioError
    from hybridrl.agents.training import train

    multirun = HydraConfig.get().mode is RunMode.MULTIRUN
    try:
        if train_cfg.resume is None:
            result = train(train_cfg, HydraConfig.get().runtime.output_dir, multirun=multirun)
        else:
            result = resume_from_command(train_cfg, multirun)
    except (ConfigError, ScenarioError, RunScenarioError) as err:
        fail(err)
    resumed = "" if result.resumed_from_step is None else f" (resumed from step {result.resumed_from_step})"
    print(f"trained {result.num_timesteps} steps in {result.seconds:.1f} s{resumed}")
    print(f"run directory: {result.run_dir}")


if __name__ == "__main__":
    main()
