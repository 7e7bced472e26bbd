from __future__ import annotations

import dataclasses
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hybridrl
from hybridrl.env import HybridMineEnv
from hybridrl.sim import list_scenarios, load_scenario, sample_paths


@pytest.mark.parametrize("scenario", list_scenarios())
def test_check_env_passes_without_warnings(scenario: str) -> None:
    env = gym.make(hybridrl.ENV_ID, scenario=scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_registered_and_made_by_id() -> None:
    env = gym.make("hybridrl/HybridMine-v1", scenario="tiny")
    assert isinstance(env.unwrapped, HybridMineEnv)
    assert len(env.unwrapped.observation_names) == env.observation_space.shape[0]
    assert len(env.unwrapped.action_names) == env.action_space.shape[0]


def _trajectory(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    env = gym.make(hybridrl.ENV_ID, scenario="default")
    env.action_space.seed(123)
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for _ in range(n):
        obs, reward, *_ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(reward)
    return np.array(observations), np.array(rewards)


def test_same_seed_same_trajectory_different_seed_differs() -> None:
    o1, r1 = _trajectory(3)
    o2, r2 = _trajectory(3)
    o3, _ = _trajectory(4)
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(r1, r2)
    assert not np.array_equal(o1, o3)


def test_reset_seed_gives_the_path_of_that_seed() -> None:
    env = HybridMineEnv("tiny")
    env.reset(seed=11)
    assert env.path is not None
    np.testing.assert_array_equal(env.path.btc_price_usd, sample_paths(env.params, [11]).btc_price_usd)


def test_unseeded_resets_are_reproducible_from_the_first_seed() -> None:
    def prices(env: HybridMineEnv) -> list[float]:
        env.reset(seed=5)
        out = []
        for _ in range(20):  # crosses a path batch boundary
            env.reset()
            assert env.path is not None
            out.append(float(env.path.btc_price_usd[0, -1]))
        return out

    a, b = prices(HybridMineEnv("tiny")), prices(HybridMineEnv("tiny"))
    assert a == b and len(set(a)) == 20


def test_reset_with_a_given_path_and_bad_options() -> None:
    env = HybridMineEnv("tiny")
    path = sample_paths(env.params, [9])
    env.reset(options={"path": path})
    assert env.path is path
    with pytest.raises(ValueError, match="one-row ExogenousPath"):
        env.reset(options={"path": sample_paths(env.params, [1, 2])})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"speed": 2})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_raises(bad: float) -> None:
    env = HybridMineEnv("tiny")
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape, dtype=np.float32)
    action[2] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        env.step(action)


def test_wrong_shape_and_step_before_reset() -> None:
    env = HybridMineEnv("tiny")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, dtype=np.float32))


def test_out_of_bounds_action_is_clipped_and_reported() -> None:
    a, b = HybridMineEnv("tiny"), HybridMineEnv("tiny")
    a.reset(seed=1)
    b.reset(seed=1)
    big = np.full(a.action_space.shape, 5.0, dtype=np.float32)
    big[-6:] = -5.0  # no orders
    obs_a, r_a, *_, info_a = a.step(big)
    obs_b, r_b, *_, info_b = b.step(np.clip(big, -1, 1))
    np.testing.assert_array_equal(obs_a, obs_b)
    assert r_a == r_b
    assert info_a["clipped"]["action"] == pytest.approx(float(np.abs(big - np.clip(big, -1, 1)).sum()))
    assert "action" not in info_b["clipped"]


def test_infeasible_order_is_clipped_and_reported() -> None:
    env = HybridMineEnv("tiny")
    env.reset(seed=0)
    plant = env.plant
    action = plant.idle_action(1)
    huge_order = np.zeros((1, plant.n_gpu))
    huge_order[0, 0] = 10_000  # far beyond HPC room, cash and the per-epoch cap
    action = type(action)(**{**vars(action), "gpu_order_nodes": huge_order})
    *_, info = env.step_native(action)
    assert info["clipped"]["gpu_order_nodes"] > 9_000
    assert info["reward_terms"]["gpu_capex_usd"] <= 0


def test_step_native_rejects_nan() -> None:
    env = HybridMineEnv("tiny")
    env.reset(seed=0)
    action = env.plant.idle_action(1)
    bad = type(action)(**{**vars(action), "curtail_mw": np.array([np.nan])})
    with pytest.raises(ValueError, match="curtail_mw"):
        env.step_native(bad)


def test_info_carries_reward_terms_and_nav() -> None:
    env = HybridMineEnv("tiny")
    _, info0 = env.reset(seed=0)
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert set(info["reward_terms"]) >= {"mining_revenue_usd", "power_ppa_usd", "asic_capex_usd"}
    assert reward == pytest.approx((info["nav_usd"] - info0["nav_usd"]) / 1e6, rel=1e-12)


def test_episode_ends_at_the_horizon() -> None:
    env = HybridMineEnv("tiny")
    env.reset(seed=0)
    steps, terminated = 0, False
    while not terminated:
        *_, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        assert not truncated
        steps += 1
    assert steps == load_scenario("tiny").time.n_steps
    with pytest.raises(RuntimeError, match="ended"):
        env.step(np.zeros(env.action_space.shape, dtype=np.float32))


def test_cached_observation_parts_match_a_fresh_encoder() -> None:
    from hybridrl.env.encoding import ObservationEncoder

    env = HybridMineEnv("default")
    env.action_space.seed(5)
    obs, _ = env.reset(seed=5)
    for _ in range(400):  # random actions accept leases and cross epochs
        obs, *_ = env.step(env.action_space.sample())
        fresh = ObservationEncoder(env.plant)(env.state, env.path, env._nav, env._nav0)[0]
        np.testing.assert_array_equal(obs, fresh)
    assert env.state is not None and env.state.lease_accepted.any()


def test_render_mode_ansi_and_a_bad_mode_is_refused() -> None:
    env = gym.make(hybridrl.ENV_ID, scenario="tiny", render_mode="ansi")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    text = env.render()
    assert isinstance(text, str) and "NAV" in text and "2026-01-02" in text
    plain = gym.make(hybridrl.ENV_ID, scenario="tiny")
    plain.reset(seed=0)
    assert plain.render() is None
    with pytest.raises(ValueError, match="render_mode"):
        HybridMineEnv("tiny", render_mode="human")


def test_finite_actions_out_of_range_are_clipped_and_nan_acceptance_refused() -> None:
    env = gym.make(hybridrl.ENV_ID, scenario="tiny")
    env.reset(seed=0)
    huge = np.full(env.action_space.shape, 1e308)
    _, _, _, _, info = env.step(huge)  # clipped to 1, reported
    assert info["clipped"]["action"] > 0
    with pytest.raises(ValueError, match="NaN or infinity"):
        env.step(np.full(env.action_space.shape, np.nan))
    plant = env.unwrapped.plant
    action = plant.idle_action(1)
    bad = dataclasses.replace(action, accept_offer=np.full((1, plant.n_offers), np.nan))
    with pytest.raises(ValueError, match="accept_offer must hold booleans"):
        env.unwrapped.step_native(bad)
