"""The Optuna tuning app: trials are real training runs stored in a SQLite study, continued by
running the command again; a trial below the median is pruned and stops training early; the best
trial's values come back as a preset the training app reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")
pytest.importorskip("stable_baselines3")

import optuna

from hybridrl.agents.config import (
    ConfigError,
    EnvConfig,
    EnvMode,
    EvalConfig,
    ImitationConfig,
    LoggerConfig,
    LoggerKind,
    PPOConfig,
    VecEnvKind,
)
from hybridrl.agents.tuning import (
    ParamSpec,
    StudyConfig,
    TuneConfig,
    base_train_config,
    run_study,
    with_values,
)

REPO = Path(__file__).resolve().parents[1]


def _epoch_config(tune: StudyConfig, total: int = 256) -> TuneConfig:
    return TuneConfig(
        env=EnvConfig(scenario="tiny", mode=EnvMode.epoch),
        agent=PPOConfig(n_steps=32, batch_size=32, net_arch=[32, 32]),
        imitation=ImitationConfig(episodes=8, epochs=40),
        vec_env=VecEnvKind.dummy,
        n_envs=2,
        total_timesteps=total,
        logger=LoggerConfig(kind=LoggerKind.none),
        eval=EvalConfig(every_steps=64, episodes=4, gap_closed=False),
        tune=tune,
    )


def test_a_trial_below_the_median_is_pruned_and_stops_early(tmp_path: Path) -> None:
    """Trial 0 clones greedy; trial 1 starts from an untrained network, whose first validation
    NAV change is far below the clone's: the median pruner stops it at its first report."""
    tune = StudyConfig(
        study_name="prune",
        n_trials=2,
        startup_trials=1,
        warmup_evaluations=0,
        space=[ParamSpec(key="imitation.expert", choices=["greedy", None])],
        enqueue=[{"imitation.expert": "greedy"}, {"imitation.expert": None}],
    )
    summary = run_study(_epoch_config(tune), tmp_path)
    study = optuna.load_study(study_name="prune", storage=f"sqlite:///{tmp_path / 'study.db'}")
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]
    pruned_run = json.loads((tmp_path / "trial_0001" / "run.json").read_text())
    assert pruned_run["num_timesteps"] < 256
    complete_run = json.loads((tmp_path / "trial_0000" / "run.json").read_text())
    assert complete_run["num_timesteps"] >= 256
    assert summary.best_params == {"imitation.expert": "greedy"} and summary.pruned == 1
    assert summary.best_value_usd == pytest.approx(complete_run["best"]["best_nav_change_usd"])


def test_the_app_stores_the_study_continues_it_and_writes_a_usable_preset(tmp_path: Path) -> None:
    space = (
        "[{key: agent.learning_rate, low: 1e-4, high: 1e-3, log: true},"
        " {key: agent.net_arch, choices: ['[16]', '[8, 8]']}]"
    )
    command = [sys.executable, str(REPO / "experiments" / "tune.py"), "experiment=smoke", "tune.n_trials=2",
               "tune.study_name=t", f"tune.space={space}", f"hydra.run.dir={tmp_path / 'study'}"]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "offline"}
    for _ in range(2):
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    assert len(study.trials) == 4  # the second command continued the study
    assert "4 trials" in done.stdout
    trials = (tmp_path / "study" / "trials.csv").read_text().splitlines()
    assert len(trials) == 5
    best = json.loads((tmp_path / "study" / "best.json").read_text())
    assert best["params"] == study.best_params
    preset_dir = tmp_path / "configs" / "experiment"
    preset_dir.mkdir(parents=True)
    (preset_dir / "tuned.yaml").write_text((tmp_path / "study" / "best_preset.yaml").read_text())
    train = [sys.executable, str(REPO / "experiments" / "train.py"), "experiment=smoke",
             "+experiment@_global_=tuned", f"hydra.searchpath=[file://{tmp_path / 'configs'}]",
             "logger=none", f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    done = subprocess.run(train, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert f"learning_rate: {best['params']['agent.learning_rate']}" in saved


def test_bad_studies_are_refused_with_their_keys() -> None:
    with pytest.raises(ConfigError) as err:
        _epoch_config(
            StudyConfig(
                space=[
                    ParamSpec(key="agent.learning_rat", low=1e-5, high=1e-3),
                    ParamSpec(key="agent.gamma", low=0.99, high=0.9),
                    ParamSpec(key="agent.clip_range", low=0.0, high=0.3, log=True),
                    ParamSpec(key="agent.net_arch", choices=[[64, 64]]),
                ],
                n_trials=0,
            )
        )
    keys = [k for k, _ in err.value.problems]
    assert keys == ["tune.space[1]", "tune.space[2]", "tune.space[3]", "tune.n_trials"]
    with pytest.raises(ConfigError) as err:
        _epoch_config(StudyConfig(space=[ParamSpec(key="agent.learning_rat", low=1e-5, high=1e-3)]))
    assert err.value.problems[0][0] == "tune.space[0]" and "unknown key" in err.value.problems[0][1]
    with pytest.raises(ConfigError, match=r"agent\.learning_rate"):
        base = base_train_config(_epoch_config(StudyConfig(space=[ParamSpec(key="seed", low=0, high=3)])))
        with_values(base, {"agent.learning_rate": -1.0})
