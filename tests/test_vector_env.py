"""The native vector environment against Gymnasium's SyncVectorEnv of single environments."""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import hybridrl  # noqa: F401 - registers the environment
from hybridrl.env.vector import HybridMineVectorEnv
from hybridrl.sim import ScenarioParams, load_scenario

ENV_ID = "hybridrl/HybridMine-v1"


def _same(a: Any, b: Any, where: str = "info") -> None:
    """Equal infos: the same keys and masks; numbers equal to rounding (a batch's matrix
    products may add in another order than a single row's)."""
    if isinstance(a, dict):
        assert set(a) == set(b), (where, set(a) ^ set(b))
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, np.ndarray) and a.dtype == object:
        for x, y in zip(a, b, strict=True):
            if x is None or isinstance(x, (str, bool)):
                assert x == y, where
            elif isinstance(x, dict):
                _same(x, y, where)
            else:
                np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6, err_msg=where)
    elif np.asarray(a).dtype.kind == "f":
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9, err_msg=where)
    else:
        np.testing.assert_array_equal(a, b, err_msg=where)


def _compare(
    scenario: str | ScenarioParams, n_envs: int, steps: int, seed: int = 7, env_id: str = ENV_ID
) -> int:
    """Step both vector envs of ``env_id`` with the same random actions; returns the episode
    ends seen."""
    native = gym.make_vec(env_id, num_envs=n_envs, scenario=scenario)
    assert isinstance(native, HybridMineVectorEnv)
    reference = gym.vector.SyncVectorEnv(
        [lambda: gym.make(env_id, scenario=scenario) for _ in range(n_envs)],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    obs, info = native.reset(seed=seed)
    ref_obs, ref_info = reference.reset(seed=seed)
    np.testing.assert_allclose(obs, ref_obs, rtol=1e-6, atol=1e-6)
    _same(info, ref_info)
    rng = np.random.default_rng(seed)
    ends = 0
    for _ in range(steps):
        action = rng.uniform(-1.2, 1.2, native.action_space.shape).astype(np.float32)
        got, want = native.step(action), reference.step(action)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(got[2], want[2])
        np.testing.assert_array_equal(got[3], want[3])
        _same(got[4], want[4])
        assert native.observation_space.contains(got[0])
        ends += int(got[2].sum())
    return ends


def test_rows_equal_single_envs_over_400_steps_of_default() -> None:
    _compare("default", 4, 400)


def test_rows_equal_single_envs_across_episode_ends_on_tiny() -> None:
    assert _compare("tiny", 4, 70) >= 12  # three ends per row (21-step episodes)


def test_a_bankrupt_row_restarts_alone_and_the_others_go_on() -> None:
    tiny = load_scenario("tiny")
    fragile = dataclasses.replace(
        tiny,
        finance=dataclasses.replace(
            tiny.finance, initial_cash_usd=5e5, credit_limit_usd=1e6, min_liquidity_usd=0.0
        ),
    )
    env = HybridMineVectorEnv(6, scenario=fragile)
    env.reset(seed=3)
    rng = np.random.default_rng(1)
    bankrupt_alone = 0
    for _ in range(60):
        _, _, terminated, _, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        if terminated.any() and not terminated.all():
            bankrupt_alone += int(info["final_info"]["bankrupt"][terminated].all())
    assert bankrupt_alone >= 2 and len(env._groups) >= 2
    assert _compare(fragile, 6, 60, seed=3) > 6


def test_hourly_ops_steps_in_the_vector_env() -> None:
    _compare("hourly_ops", 2, 60)


def test_spaces_determinism_and_bad_input() -> None:
    env = gym.make_vec(ENV_ID, num_envs=3, scenario="tiny")
    single = gym.make(ENV_ID, scenario="tiny")
    assert env.single_action_space == single.action_space
    assert env.single_observation_space == single.observation_space
    assert env.action_space.shape == (3, *single.action_space.shape)
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    actions = np.random.default_rng(0).uniform(-1, 1, (30, *env.action_space.shape))
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=11)
        trace = [obs]
        for a in actions:
            trace.append(env.step(a)[0])
        runs.append(np.stack(trace))
    np.testing.assert_array_equal(runs[0], runs[1])
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((2, single.action_space.shape[0])))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(env.action_space.shape, np.nan))
    with pytest.raises(ValueError, match="num_envs"):
        HybridMineVectorEnv(0, scenario="tiny")
    with pytest.raises(RuntimeError, match="reset"):
        HybridMineVectorEnv(2, scenario="tiny").step(np.zeros(env.action_space.shape))


# --------------------------------------------------------------------------- the SB3 adapter


def compare_sb3_adapter(mode: Any, steps: int) -> int:
    """Step the SB3 adapter of the native vector env of ``mode`` and a ``DummyVecEnv`` of
    monitored single envs with the same random actions on ``tiny``; returns the episode ends."""
    from hybridrl.agents.config import VecEnvKind
    from hybridrl.agents.factory import make_vec_env

    params = load_scenario("tiny")
    native, dummy = (make_vec_env(params, 3, kind, mode) for kind in (VecEnvKind.native, VecEnvKind.dummy))
    for venv in (native, dummy):
        venv.seed(5)
    np.testing.assert_allclose(native.reset(), dummy.reset(), rtol=1e-6, atol=1e-6)
    rng = np.random.default_rng(2)
    ends = 0
    for _ in range(steps):
        action = rng.uniform(-1, 1, (3, native.action_space.shape[0])).astype(np.float32)
        (o1, r1, d1, i1), (o2, r2, d2, i2) = native.step(action), dummy.step(action)
        np.testing.assert_allclose(o1, o2, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(r1, r2, rtol=1e-6)
        np.testing.assert_array_equal(d1, d2)
        for a, b in zip(i1, i2, strict=True):
            if "episode" in b:
                assert a["episode"]["l"] == b["episode"]["l"]
                assert a["episode"]["r"] == pytest.approx(b["episode"]["r"], rel=1e-9)
                a, b = dict(a), dict(b)
                a.pop("episode"), b.pop("episode")
            if "terminal_observation" in b:
                np.testing.assert_allclose(
                    a.pop("terminal_observation"), b.pop("terminal_observation"), rtol=1e-6, atol=1e-6
                )
            _same(a, b)
        ends += int(d1.sum())
    return ends


def test_sb3_adapter_equals_dummy_vec_env_of_monitored_envs() -> None:
    pytest.importorskip("stable_baselines3")
    from hybridrl.agents.config import EnvMode

    assert compare_sb3_adapter(EnvMode.step, 50) >= 6


@pytest.mark.parametrize("kind", ["dummy", "native"])
def test_training_paths_come_from_the_training_seeds(kind: str) -> None:
    """Both vector envs start on the training seeds' paths and then draw their children: never a
    held-out or validation path."""
    pytest.importorskip("stable_baselines3")
    from hybridrl.agents.config import VecEnvKind
    from hybridrl.agents.factory import make_vec_env, seed_paths
    from hybridrl.agents.seeds import training_seeds
    from hybridrl.sim.exogenous import sample_paths

    params = load_scenario("tiny")
    venv = make_vec_env(params, 2, VecEnvKind(kind))
    seeds = training_seeds(0, 2)
    seed_paths(venv, seeds)
    venv.reset()

    def path(i: int) -> Any:
        if kind == "native":
            return venv.venv.row_path(i)  # type: ignore[attr-defined]
        return venv.get_attr("path", indices=[i])[0]

    for i, seed in enumerate(seeds):
        np.testing.assert_array_equal(path(i).btc_price_usd, sample_paths(params, [seed]).btc_price_usd)
    for _ in range(params.time.n_steps):  # one episode: every row restarts on a child of its seed
        venv.step(np.zeros((2, venv.action_space.shape[0]), dtype=np.float32))
    for i, seed in enumerate(seeds):
        child = np.random.SeedSequence(np.random.SeedSequence(seed).entropy, spawn_key=(1,))
        np.testing.assert_array_equal(path(i).btc_price_usd, sample_paths(params, [child]).btc_price_usd)


def test_ppo_trains_on_the_native_vector_env(tmp_path: Any) -> None:
    pytest.importorskip("stable_baselines3")
    from hybridrl.agents.config import (
        AGENT_CONFIGS,
        Algo,
        EvalConfig,
        LoggerConfig,
        LoggerKind,
        TrainConfig,
        VecEnvKind,
    )
    from hybridrl.agents.training import train

    agent = AGENT_CONFIGS[Algo.ppo](net_arch=[16])
    agent.n_steps = 32  # type: ignore[attr-defined]
    agent.batch_size = 32  # type: ignore[attr-defined]
    cfg = TrainConfig(
        agent=agent,
        logger=LoggerConfig(kind=LoggerKind.none),
        eval=EvalConfig(every_steps=128, episodes=2, gap_closed=False),
        total_timesteps=256,
        n_envs=4,
        checkpoint_every_steps=10**6,
        progress_bar=False,
        vec_env=VecEnvKind.native,
    )
    cfg.checkpoint_every_steps = 128
    cfg.env.scenario = "tiny"
    result = train(cfg, tmp_path / "run")
    assert result.num_timesteps >= 256 and (tmp_path / "run" / "best" / "model.zip").is_file()
    # resume (VecNormalize and the model restored onto the native env) and export
    from hybridrl.agents.training import resume
    from hybridrl.export.onnx_export import export_policy
    from hybridrl.scheduler import Scheduler

    resumed = resume(tmp_path / "run", total_timesteps=384)
    assert resumed.num_timesteps >= 384
    export_policy(tmp_path / "run", tmp_path / "policy", which="best")
    Scheduler.load(tmp_path / "policy")
