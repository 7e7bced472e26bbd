"""The decision-epoch mode's native vector env against a SyncVectorEnv of single epoch envs,
and its SB3 adapter against a DummyVecEnv of them."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import hybridrl
from hybridrl.env.epoch_vector import HybridMineEpochVectorEnv
from hybridrl.sim import load_scenario
from tests.test_vector_env import _compare, compare_sb3_adapter


def test_rows_equal_single_epoch_envs_on_default() -> None:
    _compare("default", 3, 60, env_id=hybridrl.EPOCH_ENV_ID)  # 60 epochs: 420 plant steps


def test_rows_equal_single_epoch_envs_across_episode_ends_on_tiny() -> None:
    assert _compare("tiny", 4, 20, env_id=hybridrl.EPOCH_ENV_ID) >= 12


def test_a_row_bankrupt_inside_an_epoch_ends_there_and_the_others_go_on() -> None:
    tiny = load_scenario("tiny")  # mining at a loss, cash for a few weeks of the PPA and opex
    fragile = dataclasses.replace(
        tiny,
        btc_price=dataclasses.replace(tiny.btc_price, initial_usd=30_000.0),
        finance=dataclasses.replace(
            tiny.finance, initial_cash_usd=3e6, credit_limit_usd=0.0, min_liquidity_usd=0.0
        ),
    )
    env = HybridMineEpochVectorEnv(6, scenario=fragile)
    env.reset(seed=3)
    rng = np.random.default_rng(1)
    inside = 0
    for _ in range(30):
        _, _, terminated, _, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        if terminated.any() and not terminated.all():
            final = info["final_info"]
            ended = terminated & final["bankrupt"]
            inside += int((final["steps"][ended] < env.plant.epoch_steps).sum())
    assert inside >= 1
    assert _compare(fragile, 6, 30, seed=3, env_id=hybridrl.EPOCH_ENV_ID) > 6


def test_spaces_and_refusals() -> None:
    env = gym.make_vec(hybridrl.EPOCH_ENV_ID, num_envs=2, scenario="tiny")
    single = gym.make(hybridrl.EPOCH_ENV_ID, scenario="tiny")
    assert env.single_action_space == single.action_space
    assert env.single_observation_space == single.observation_space
    assert isinstance(env, HybridMineEpochVectorEnv)
    with pytest.raises(ValueError, match="investment epochs"):
        HybridMineEpochVectorEnv(2, scenario="hourly_ops")


def test_sb3_adapter_equals_dummy_vec_env_of_epoch_envs() -> None:
    pytest.importorskip("stable_baselines3")
    from hybridrl.agents.config import EnvMode

    assert compare_sb3_adapter(EnvMode.epoch, 12) >= 6
