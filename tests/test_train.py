"""Training: config composition and validation, every agent, determinism, resume after a kill,
W&B offline runs read back, Hydra multiruns (joblib and submitit_local)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from hybridrl.agents.config import Algo, ConfigError, TrainConfig, register_configs
from hybridrl.agents.policy import load_trained_policy
from hybridrl.agents.seeds import HELD_OUT_LIMIT, training_seeds, validation_seeds
from hybridrl.agents.training import load_config, train
from hybridrl.evaluation import evaluate
from hybridrl.sim.params import list_scenarios

from .wandb_records import history_and_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
TRAIN = ROOT / "experiments" / "train.py"
TINY = [
    "experiment=smoke",
    "logger=none",
    "total_timesteps=256",
    "agent.net_arch=[16]",
    "eval.every_steps=128",
    "checkpoint_every_steps=128",
]
register_configs()


def compose_train(overrides: list[str]) -> TrainConfig:
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    obj = OmegaConf.to_object(cfg)
    assert isinstance(obj, TrainConfig)
    return obj


def run_cli(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "1", "WANDB_SILENT": "true"}
    return subprocess.run(
        [sys.executable, str(TRAIN), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


# --------------------------------------------------------------------------- configs


def test_every_config_group_option_composes() -> None:
    for scenario in list_scenarios():
        assert (CONFIGS / "env" / f"{scenario}.yaml").is_file(), f"no configs/env/{scenario}.yaml"
        assert compose_train([f"env={scenario}"]).env.scenario == scenario
    for algo in Algo:
        cfg = compose_train([f"agent={algo.value}"])
        assert cfg.agent.algo is algo
    assert compose_train(["logger=none"]).logger.kind.value == "none"
    assert compose_train(["logger=wandb", "logger.mode=disabled"]).logger.mode.value == "disabled"
    smoke = compose_train(["experiment=smoke"])
    assert (smoke.env.scenario, smoke.total_timesteps, smoke.agent.net_arch) == ("tiny", 512, [16])
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        for launcher in ("joblib", "submitit_local", "submitit_slurm", "slurm"):
            cfg = compose("train", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
            assert "_target_" in cfg.hydra.launcher
        slurm = compose("train", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
        assert slurm.hydra.launcher.cpus_per_task == 4
        assert "SlurmLauncher" in slurm.hydra.launcher._target_


@pytest.mark.parametrize(
    ("overrides", "key", "text"),
    [
        (["agent.learning_rate=-0.001"], "agent.learning_rate", "must be > 0"),
        (["agent.gamma=1.0"], "agent.gamma", "(0, 1)"),
        (["n_envs=0"], "n_envs", ">= 1"),
        (["env.scenario=atlantis"], "env.scenario", "unknown scenario 'atlantis'"),
        (["agent=sac", "agent.tau=0"], "agent.tau", "in (0, 1]"),
        (["agent.net_arch=[0]"], "agent.net_arch", "positive layer sizes"),
        (["seed=-1"], "seed", "[0, 65536)"),
        (["resume=/nonexistent/run"], "resume", "not a run directory"),
    ],
)
def test_bad_values_fail_naming_the_key(overrides: list[str], key: str, text: str) -> None:
    with pytest.raises(ConfigError) as err:
        compose_train(overrides)
    assert any(k == key and text in m for k, m in err.value.problems), err.value.problems
    assert f"{key}:" in str(err.value)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        compose_train(["agent.learning_rate=-1", "agent.gamma=2", "total_timesteps=0"])
    keys = {k for k, _ in err.value.problems}
    assert {"agent.learning_rate", "agent.gamma", "total_timesteps"} <= keys


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        (["agent.learning_rate=fast"], "learning_rate"),  # wrong type
        (["agent.no_such_knob=1"], "no_such_knob"),  # unknown key
        (["env=atlantis"], "env/atlantis"),  # unknown scenario group option
        (["agent=dqn"], "agent/dqn"),
    ],
)
def test_wrong_types_and_unknown_keys_fail_while_composing(overrides: list[str], text: str) -> None:
    with pytest.raises(Exception) as err:
        compose_train(overrides)
    chain = []
    e: BaseException | None = err.value
    while e is not None:
        chain.append(str(e))
        e = e.__cause__
    assert any(text in s for s in chain), chain


def test_cli_reports_a_bad_value_cleanly(tmp_path: Path) -> None:
    proc = run_cli(["agent.gamma=1.5", "n_envs=0", f"hydra.run.dir={tmp_path}/run"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "agent.gamma: must lie in (0, 1), got 1.5" in proc.stderr
    assert "n_envs: must be >= 1, got 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_saved_config_round_trips(tmp_path: Path) -> None:
    cfg = compose_train(["agent=td3", "agent.policy_delay=3", "env=bear_market", "logger=none"])
    from hybridrl.agents.training import save_config

    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg


# --------------------------------------------------------------------------- seeds


def test_training_validation_and_held_out_paths_are_disjoint() -> None:
    train_s = training_seeds(0, 4)
    valid_s = validation_seeds(8)
    assert min(train_s) > max(valid_s) >= min(valid_s) >= HELD_OUT_LIMIT
    # the environments start on exactly those paths once the run seeds them (SB3 re-seeds the
    # environments with the agent's seed when it builds a model; training re-seeds them after)
    from hybridrl.agents.factory import make_model, make_vec_env, seed_paths

    cfg = compose_train(TINY)
    from hybridrl.sim.exogenous import sample_paths
    from hybridrl.sim.params import load_scenario

    params = load_scenario("tiny")
    venv = make_vec_env(params, 2)
    make_model(cfg.agent, venv, seed=0)
    seed_paths(venv, training_seeds(0, 2))
    venv.reset()
    for i, seed in enumerate(training_seeds(0, 2)):
        path = venv.get_attr("path", indices=[i])[0]
        np.testing.assert_array_equal(path.btc_price_usd, sample_paths(params, [seed]).btc_price_usd)
        assert not np.array_equal(path.btc_price_usd, sample_paths(params, [i]).btc_price_usd)


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("algo", [a.value for a in Algo])
def test_every_agent_trains_saves_and_loads(algo: str, tmp_path: Path) -> None:
    extra = ["agent.learning_starts=64", "agent.batch_size=32"] if algo in ("sac", "td3") else []
    if algo in ("ppo", "recurrent_ppo"):
        extra = ["agent.n_steps=64", "agent.batch_size=32"]
    if algo == "a2c":
        extra = ["agent.n_steps=8"]
    cfg = compose_train([*TINY, f"agent={algo}", "total_timesteps=300", *extra])
    result = train(cfg, tmp_path / "run")
    assert result.num_timesteps >= 300
    for name in ("model.zip", "vecnormalize.pkl", "vecnormalize.json", "config.yaml", "run.json", "eval.csv"):
        assert (tmp_path / "run" / name).is_file(), name
    assert (tmp_path / "run" / "best" / "model.zip").is_file()
    assert (tmp_path / "run" / "best" / "vecnormalize.json").is_file()
    assert list((tmp_path / "run" / "checkpoints").glob("step_*/model.zip"))
    policy = load_trained_policy(tmp_path / "run")
    frame = evaluate(policy, "tiny", [0, 1])
    assert len(frame) == 2 and np.isfinite(frame["nav_change_usd"]).all()


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_smoke_trains_the_steps_it_says_and_evaluates_after_learning(algo: str, tmp_path: Path) -> None:
    cfg = compose_train(["experiment=smoke", "logger=none", f"agent={algo}", "eval.gap_closed=false"])
    result = train(cfg, tmp_path / "run")
    assert result.num_timesteps == cfg.total_timesteps == 512
    import pandas as pd

    steps = pd.read_csv(tmp_path / "run" / "eval.csv")["step"].tolist()
    assert steps[-1] == 512  # the model as learning left it was evaluated


def _actions(run_dir: Path) -> np.ndarray:
    policy = load_trained_policy(run_dir)
    from hybridrl.sim.params import load_scenario

    rng = np.random.default_rng(0)
    params = load_scenario("tiny")
    from hybridrl.env import HybridMineEnv

    env = HybridMineEnv(params)
    obs = np.stack([env.reset(seed=int(s))[0] for s in rng.integers(0, 1000, 16)])
    assert policy.normalizer is not None
    return np.asarray(policy._act(policy.normalizer(obs), np.ones(16, dtype=bool)))


def test_ppo_twice_with_the_same_seed_gives_identical_actions(tmp_path: Path) -> None:
    cfg = compose_train([*TINY, "agent.n_steps=64", "agent.batch_size=32", "total_timesteps=512"])
    train(cfg, tmp_path / "a")
    train(cfg, tmp_path / "b")
    a, b = _actions(tmp_path / "a"), _actions(tmp_path / "b")
    np.testing.assert_array_equal(a, b)
    other = compose_train([*TINY, "agent.n_steps=64", "agent.batch_size=32", "total_timesteps=512", "seed=1"])
    train(other, tmp_path / "c")
    assert not np.array_equal(a, _actions(tmp_path / "c"))


def test_network_policy_in_the_evaluator_matches_the_environment(tmp_path: Path) -> None:
    """The evaluator's observation and action mapping of a trained network are the env's own:
    stepping the Gymnasium env with the same network reaches the same NAV change."""
    cfg = compose_train([*TINY, "agent.n_steps=64", "agent.batch_size=32", "total_timesteps=256"])
    train(cfg, tmp_path / "run")
    policy = load_trained_policy(tmp_path / "run")
    frame = evaluate(policy, "tiny", [5, 6])
    from hybridrl.env import HybridMineEnv

    assert policy.normalizer is not None
    for seed, expected in zip([5, 6], frame["nav_change_usd"], strict=True):
        env = HybridMineEnv("tiny")
        obs, info = env.reset(seed=seed)
        nav0, done = info["nav_usd"], False
        while not done:
            action = policy._act(policy.normalizer(obs[None, :]), np.array([env.state.t == 0]))[0]
            obs, _, terminated, truncated, info = env.step(np.clip(action, -1, 1))
            done = terminated or truncated
        # batched and single-row network passes round differently in float32 (~1e-7 in actions)
        assert info["nav_usd"] - nav0 == pytest.approx(expected, rel=1e-6)


def test_wandb_offline_run_holds_metrics_and_config(tmp_path: Path) -> None:
    cfg = compose_train(
        [
            *TINY[:1],
            "logger=wandb",
            "logger.mode=offline",
            "total_timesteps=256",
            "agent.n_steps=64",
            "agent.batch_size=32",
            "eval.every_steps=128",
        ]
    )
    train(cfg, tmp_path / "run")
    logs = list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(logs) == 1
    history, config = history_and_config(logs[0])
    keys = set().union(*history)
    for prefix in ("train/", "rollout/", "eval/", "charts/"):
        assert any(k.startswith(prefix) for k in keys), (prefix, sorted(keys))
    assert {"eval/nav_change_usd", "eval/gap_closed", "charts/mining_mw"} <= keys
    assert config["agent"]["algo"] == "ppo" and config["env"]["scenario"] == "tiny"
    assert config["total_timesteps"] == 256


def test_resume_after_a_kill_loses_at_most_one_checkpoint_interval(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [
        "experiment=smoke",
        "logger=none",
        "total_timesteps=6000",
        "checkpoint_every_steps=500",
        "eval.every_steps=100000",
        "agent.n_steps=50",
        "agent.batch_size=50",
        f"hydra.run.dir={run}",
    ]
    env = {**os.environ, "CI": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(TRAIN), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((run / "checkpoints").glob("step_*"))) < 2:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "model.zip").exists(), "the run finished before it could be killed"
    saved = sorted((run / "checkpoints").glob("step_*"))
    last = int(saved[-1].name.removeprefix("step_"))
    assert last >= 1000
    proc2 = run_cli([f"resume={run}", f"hydra.run.dir={tmp_path}/resume_launch"], cwd=tmp_path)
    assert proc2.returncode == 0, proc2.stderr
    assert f"resumed from step {last}" in proc2.stdout
    import json

    meta = json.loads((run / "run.json").read_text())
    assert meta["num_timesteps"] == 6000  # the requested total, as an uninterrupted run ends
    assert (run / f"progress_from_{last}.csv").is_file()


def test_joblib_multirun_gives_two_runs_with_two_wandb_runs(tmp_path: Path) -> None:
    proc = run_cli(
        [
            "-m",
            "seed=0,1",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "experiment=smoke",
            "total_timesteps=128",
            "logger=wandb",
            "eval.gap_closed=false",
            f"hydra.sweep.dir={tmp_path}/sweep",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    runs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir() and (p / "run.json").is_file())
    assert len(runs) == 2
    ids = set()
    for run in runs:
        logs = list(run.glob("wandb/offline-run-*/run-*.wandb"))
        assert len(logs) == 1
        ids.add(logs[0].parent.name.rsplit("-", 1)[1])
        assert (run / "model.zip").is_file()
    assert len(ids) == 2
    assert {load_config(r / "config.yaml").seed for r in runs} == {0, 1}


def test_submitit_local_multirun(tmp_path: Path) -> None:
    proc = run_cli(
        [
            "-m",
            "seed=3",
            "hydra/launcher=submitit_local",
            "hydra.launcher.timeout_min=5",
            "experiment=smoke",
            "total_timesteps=128",
            "logger=none",
            "eval.gap_closed=false",
            f"hydra.sweep.dir={tmp_path}/sweep",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    runs = [p for p in (tmp_path / "sweep").iterdir() if (p / "run.json").is_file()]
    assert len(runs) == 1 and (runs[0] / "model.zip").is_file()


def test_wandb_disabled_mode_trains_without_a_run_directory(tmp_path: Path) -> None:
    cfg = compose_train([*TINY[:1], "logger=wandb", "logger.mode=disabled", "total_timesteps=128"])
    result = train(cfg, tmp_path / "run")
    assert result.num_timesteps >= 128 and (tmp_path / "run" / "model.zip").is_file()
    assert not list((tmp_path / "run").glob("wandb/offline-run-*"))


def test_a_fresh_run_refuses_a_directory_that_holds_one(tmp_path: Path) -> None:
    cfg = compose_train([*TINY, "total_timesteps=64", "agent.n_steps=32", "agent.batch_size=32"])
    train(cfg, tmp_path / "run")
    with pytest.raises(ValueError, match="already holds a run"):
        train(cfg, tmp_path / "run")


def test_progress_bar_is_on_in_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from hybridrl.agents.training import resolve_progress_bar

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("CI", raising=False)
    assert resolve_progress_bar(None) is True
    assert resolve_progress_bar(None, multirun=True) is False
    assert resolve_progress_bar(False) is False
    monkeypatch.setenv("CI", "1")
    assert resolve_progress_bar(None) is False
    assert resolve_progress_bar(True) is True
    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert resolve_progress_bar(None) is False
