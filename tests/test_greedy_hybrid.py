"""The greedy-hybrid mode: a network sets greedy's parameters per path and epoch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import hybridrl
from hybridrl.baselines.rules import Greedy
from hybridrl.env.epoch_env import DecisionEpochEnv
from hybridrl.env.greedy_hybrid import GREEDY_PARAMETER_NAMES, greedy_parameters
from hybridrl.evaluation import evaluate
from hybridrl.sim import load_scenario, sample_paths


def test_the_zero_action_is_greedy_and_the_range_is_as_documented() -> None:
    centre = greedy_parameters(np.zeros((1, 4)))
    default = Greedy()
    assert [float(centre[k][0]) for k in GREEDY_PARAMETER_NAMES] == [
        default.payback_months,
        default.mining_horizon_months,
        default.reserve_usd,
        default.offer_hurdle,
    ]
    low, high = greedy_parameters(-np.ones((1, 4))), greedy_parameters(np.full((1, 4), 5.0))  # clipped
    assert [float(low[k][0]) for k in GREEDY_PARAMETER_NAMES] == pytest.approx([4.0, 1.5, 0.0, 0.5])
    assert [float(high[k][0]) for k in GREEDY_PARAMETER_NAMES] == pytest.approx([36.0, 24.0, 40e6, 2.0])
    with pytest.raises(ValueError, match="shape"):
        greedy_parameters(np.zeros((2, 3)))


def test_an_episode_of_zero_actions_is_greedys() -> None:
    env = gym.make_vec(hybridrl.GREEDY_HYBRID_ENV_ID, num_envs=2, scenario="default")
    assert env.single_action_space.shape == (4,)
    env.reset(seed=40)
    total, done = np.zeros(2), np.zeros(2, dtype=bool)
    while not done.all():
        _, reward, terminated, _, _ = env.step(np.zeros(env.action_space.shape))
        total += np.where(done, 0.0, reward)
        done |= terminated
    frame = evaluate(Greedy(), "default", [40, 41])
    np.testing.assert_allclose(total * 1e6, frame["nav_change_usd"].to_numpy(), rtol=1e-9)


def test_per_path_parameters_equal_each_path_run_alone() -> None:
    params = load_scenario("default")
    seeds = [3, 4, 5]
    path = sample_paths(params, seeds)
    points = [(6.0, 24.0, 0.0, 0.7), (12.0, 6.0, 20e6, 1.0), (30.0, 2.0, 35e6, 1.8)]
    columns = {k: np.array([p[i] for p in points]) for i, k in enumerate(GREEDY_PARAMETER_NAMES)}
    together = evaluate(Greedy(**columns), params, seeds, path)["nav_change_usd"].to_numpy()  # type: ignore[arg-type]
    for b, point in enumerate(points):
        alone = evaluate(Greedy(*point), params, [seeds[b]])["nav_change_usd"].to_numpy()
        assert together[b] == pytest.approx(alone[0], rel=1e-9)
    assert len(set(np.round(together, -3))) == 3


def test_a_hybrid_run_trains_is_labelled_refuses_cloning_and_can_be_distilled(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from hybridrl.agents.config import (
        ConfigError,
        EnvConfig,
        EnvMode,
        ImitationConfig,
        LoggerKind,
        PPOConfig,
        TrainConfig,
        VecEnvKind,
    )
    from hybridrl.agents.policy import load_trained_policy
    from hybridrl.agents.training import config_from_dict, train
    from hybridrl.evaluation.benchmark import run_policy_name

    cfg = TrainConfig(
        env=EnvConfig(scenario="tiny", mode=EnvMode.greedy_hybrid),
        agent=PPOConfig(n_steps=16, batch_size=32, net_arch=[16, 16], log_std_init=-1.0),
        vec_env=VecEnvKind.native,
        n_envs=4,
        total_timesteps=128,
        logger=dataclasses.replace(TrainConfig().logger, kind=LoggerKind.none),
        eval=dataclasses.replace(TrainConfig().eval, every_steps=64, episodes=2, gap_closed=False),
    )
    train(cfg, tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["env_id"] == hybridrl.GREEDY_HYBRID_ENV_ID
    assert run_policy_name(meta) == "hybrid_greedy_ppo"
    import pandas as pd

    assert pd.read_csv(tmp_path / "run" / "eval.csv")["step"].tolist()[0] == 0  # greedy itself, nearly
    policy = load_trained_policy(tmp_path / "run")
    assert policy.epoch_mode and policy.epoch_action == "greedy_parameters"
    frame = evaluate(policy, "tiny", [0, 1])
    env = DecisionEpochEnv("tiny", action="greedy_parameters")
    for seed, want in zip(
        [0, 1], frame["nav_change_usd"], strict=True
    ):  # the evaluator steps as the env does
        obs, info = env.reset(seed=seed)
        nav0, done = info["nav_usd"], False
        while not done:
            assert policy.normalizer is not None
            obs, _, terminated, truncated, info = env.step(
                policy._act(policy.normalizer(obs[None]), np.ones(1, bool))[0]
            )
            done = terminated or truncated
        assert info["nav_usd"] - nav0 == pytest.approx(want, rel=1e-9)
    with pytest.raises(ConfigError, match=r"imitation\.expert"):
        config_from_dict({"env": {"mode": "greedy_hybrid"}, "imitation": {"expert": "greedy"}})
    # the hybrid distilled into a pure network: a trained run is an expert to clone
    pure = dataclasses.replace(
        cfg,
        env=EnvConfig(scenario="tiny", mode=EnvMode.epoch),
        imitation=ImitationConfig(expert=str(tmp_path / "run"), episodes=4, epochs=5),
    )
    train(pure, tmp_path / "pure")
    record = json.loads((tmp_path / "pure" / "imitation.json").read_text())
    assert record["expert"] == str(tmp_path / "run") and record["samples"] > 0
    other_world = dataclasses.replace(pure, env=EnvConfig(scenario="default", mode=EnvMode.epoch))
    with pytest.raises(ConfigError, match="another world"):
        train(other_world, tmp_path / "refused")
    with pytest.raises(ValueError, match="only"):
        from hybridrl.export.onnx_export import export_policy

        export_policy(tmp_path / "run", tmp_path / "export")
