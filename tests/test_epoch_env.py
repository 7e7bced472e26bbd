"""The decision-epoch mode: one agent step per investment epoch, dispatch by the economics
rule; its action encoding; the evaluator's adapter; behaviour cloning of a rule policy."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hybridrl
from hybridrl.agents.policy import NetworkPolicy
from hybridrl.baselines.rules import Greedy, rule_dispatch
from hybridrl.env.epoch_encoding import DEAD_ZONE, decode_epoch_action, encode_epoch_decision, epoch_layout
from hybridrl.env.epoch_env import DecisionEpochEnv
from hybridrl.evaluation import evaluate
from hybridrl.evaluation.rollout import rollout
from hybridrl.sim.exogenous import sample_paths
from hybridrl.sim.information import PathReveal
from hybridrl.sim.params import load_scenario
from hybridrl.sim.plant import Plant


class RuleDispatchOnly:
    name = "rule_dispatch"

    def act(self, plant, state, view):  # type: ignore[no-untyped-def]
        return rule_dispatch(plant, state, view)


def _episode(env: DecisionEpochEnv, seed: int, act) -> tuple[list[np.ndarray], float, dict, int]:  # type: ignore[no-untyped-def]
    obs, info = env.reset(seed=seed)
    nav0, total, steps, seen, done = info["nav_usd"], 0.0, 0, [obs], False
    while not done:
        obs, reward, terminated, truncated, info = env.step(act(obs))
        seen.append(obs)
        total += reward
        steps += 1
        done = terminated or truncated
    assert total == pytest.approx((info["nav_usd"] - nav0) / 1e6, rel=1e-9, abs=1e-9)  # rewards telescope
    return seen, total, info, steps


def test_registered_and_passes_gymnasiums_checks() -> None:
    env = gym.make(hybridrl.EPOCH_ENV_ID, scenario="tiny")
    assert isinstance(env.unwrapped, DecisionEpochEnv)
    check_env(env.unwrapped, skip_render_check=True)
    names = env.unwrapped.action_names
    assert env.action_space.shape == (len(names),)
    assert names[-4:] == ("asic_order", "gpu_order", "retrofit", "accept_offers")
    assert env.observation_space.shape == (len(env.unwrapped.observation_names),)


def test_one_agent_step_per_epoch_and_nothing_means_rule_dispatch_only() -> None:
    """Doing nothing at every epoch is the plant under the economics rule's dispatch alone: the
    same NAV change as a rollout of that rule, one agent step per investment epoch."""
    env = DecisionEpochEnv("default")
    plant = env.plant
    _, total, info, steps = _episode(env, 3, lambda obs: np.zeros(env.action_space.shape, np.float32))
    assert steps == -(-env.params.time.n_steps // plant.epoch_steps) == 209
    assert info["t"] == env.params.time.n_steps
    expected = rollout(plant, sample_paths(env.params, [3]), RuleDispatchOnly())
    assert total * 1e6 == pytest.approx(float(expected.nav_end_usd[0] - expected.nav_start_usd[0]), rel=1e-9)
    # a push inside the dead zone is still nothing
    _, inside, _, _ = _episode(env, 3, lambda obs: np.full(env.action_space.shape, DEAD_ZONE, np.float32))
    assert inside == pytest.approx(total, rel=1e-12)


def test_epoch_reward_terms_sum_the_steps_of_the_epoch() -> None:
    env = DecisionEpochEnv("default")
    env.reset(seed=1)
    cash0 = float(env.state.cash_usd[0])
    _, _, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
    assert info["steps"] == env.plant.epoch_steps
    assert sum(info["reward_terms"].values()) == pytest.approx(info["cash_usd"] - cash0, rel=1e-9, abs=1e-3)


def test_encoding_an_experts_decisions_decodes_back_to_them() -> None:
    """Greedy's investments at each epoch, encoded as epoch actions and decoded, give the same
    sales, orders and retrofits (acceptance becomes one flag for the open offers)."""
    params = load_scenario("default")
    plant, path = Plant(params), sample_paths(params, list(range(6)))
    reveal, state, expert, decisions = PathReveal(path), plant.initial_state(6), Greedy(), 0
    while state.t < path.n_steps:
        view = reveal.view(state.t)
        native = expert.act(plant, state, view)
        if plant.is_decision_epoch(state.t):
            u = encode_epoch_decision(plant, state, native)
            assert u.shape == (6, epoch_layout(plant).size)
            assert ((u == 0) | (u > DEAD_ZONE)).all()
            back = decode_epoch_action(plant, state, view, u)
            np.testing.assert_allclose(back.asic_sale_th, native.asic_sale_th, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(back.asic_order_th, native.asic_order_th, rtol=1e-9, atol=1e-9)
            np.testing.assert_array_equal(back.gpu_order_nodes, native.gpu_order_nodes)
            np.testing.assert_array_equal(back.retrofit_blocks, native.retrofit_blocks)
            np.testing.assert_array_equal(back.accept_offer.any(axis=1), native.accept_offer.any(axis=1))
            np.testing.assert_array_equal(back.asic_run_fraction, native.asic_run_fraction)
            decisions += int((u > 0).sum())
        state = plant.step(state, native, path).state
    assert decisions > 20  # the check saw real decisions, not only "nothing"


def test_the_evaluators_adapter_steps_as_the_environment_does() -> None:
    """A fixed network as a NetworkPolicy in epoch mode reaches the environment's NAV change on
    the same seeds, observing the same vectors at each epoch."""
    env = DecisionEpochEnv("default")
    rng = np.random.default_rng(0)
    weights = rng.normal(0, 0.3, (env.observation_space.shape[0], env.action_space.shape[0]))

    def act(obs: np.ndarray) -> np.ndarray:
        return np.tanh(obs @ weights + 0.4).astype(np.float32)

    seen: list[np.ndarray] = []

    def recording(obs: np.ndarray, starts: np.ndarray) -> np.ndarray:
        seen.append(obs)
        return act(obs)

    frame = evaluate(NetworkPolicy("fixed", recording, epoch_mode=True), "default", [4, 5])
    for row, seed in enumerate([4, 5]):
        observed, total, _, steps = _episode(env, seed, act)
        assert total * 1e6 == pytest.approx(frame["nav_change_usd"].iloc[row], rel=1e-6)
        adapter = np.stack([s[row] for s in seen[:steps]])
        np.testing.assert_allclose(adapter, np.stack(observed[:steps]), atol=1e-5)


def test_a_scenario_without_investments_is_refused() -> None:
    with pytest.raises(ValueError, match="no investment epochs"):
        DecisionEpochEnv("hourly_ops")


def test_bad_actions_are_refused_or_clipped() -> None:
    env = DecisionEpochEnv("tiny")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(env.action_space.shape, np.nan, np.float32))
    _, _, _, _, info = env.step(np.full(env.action_space.shape, 5.0, np.float32))
    assert info["clipped"]["action"] == pytest.approx(4.0 * env.action_space.shape[0])


def test_demonstrations_and_cloning(tmp_path: Path) -> None:
    """Recorded on training paths only; the cloned network takes most of the expert's decisions
    on them, and the run says what it cloned."""
    pytest.importorskip("stable_baselines3")
    from hybridrl.agents.config import EnvConfig, EnvMode, ImitationConfig, PPOConfig, TrainConfig, VecEnvKind
    from hybridrl.agents.policy import load_trained_policy
    from hybridrl.agents.seeds import HELD_OUT_LIMIT, imitation_seeds, training_seeds, validation_seeds
    from hybridrl.agents.training import train

    seeds = imitation_seeds(0, 8)
    assert min(seeds) > max(training_seeds(0, 8)) and min(seeds) > max(validation_seeds(64)) >= HELD_OUT_LIMIT
    assert max(seeds) < min(training_seeds(1, 1))
    cfg = TrainConfig(
        env=EnvConfig(scenario="default", mode=EnvMode.epoch),
        agent=PPOConfig(n_steps=64, batch_size=64, net_arch=[64, 64]),
        imitation=ImitationConfig(expert="greedy", episodes=8, epochs=30),
        vec_env=VecEnvKind.native,
        n_envs=2,
        total_timesteps=128,
        logger=dataclasses.replace(TrainConfig().logger, kind=hybridrl.agents.config.LoggerKind.none),
        eval=dataclasses.replace(TrainConfig().eval, every_steps=128, episodes=2, gap_closed=False),
    )
    train(cfg, tmp_path / "run")
    import json

    record = json.loads((tmp_path / "run" / "imitation.json").read_text())
    assert record["expert"] == "greedy" and record["seeds"] == [seeds[0], seeds[-1]]
    assert record["decisions"] > 10 and record["recall"] > 0.5 and record["false_alarm_rate"] < 0.05
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["env_id"] == hybridrl.EPOCH_ENV_ID
    import pandas as pd

    steps = pd.read_csv(tmp_path / "run" / "eval.csv")["step"].tolist()
    assert steps[0] == 0 and steps[-1] == 128  # the clone itself, then the fine-tuned network
    policy = load_trained_policy(tmp_path / "run")
    assert policy.epoch_mode
    frame = evaluate(policy, "default", [0])
    assert np.isfinite(frame["nav_change_usd"]).all()
    from hybridrl.export.onnx_export import export_policy

    with pytest.raises(ValueError, match="HybridMineEpoch-v1"):
        export_policy(tmp_path / "run", tmp_path / "export")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (
            {"env": {"mode": "epoch"}, "vec_env": "dummy", "imitation": {"expert": "oracle"}},
            "imitation.expert",
        ),
    ],
)
def test_mode_and_imitation_settings_are_checked(overrides: dict, key: str) -> None:
    pytest.importorskip("stable_baselines3")
    from hybridrl.agents.config import ConfigError
    from hybridrl.agents.training import config_from_dict

    with pytest.raises(ConfigError) as err:
        config_from_dict(overrides)
    assert key in [k for k, _ in err.value.problems]


def test_an_mpc_expert_records_the_same_demonstrations_in_parallel() -> None:
    """The MPC (no peeking: its forecaster sees only the path so far) can be cloned; its
    decisions are recorded, and two processes record what one batch does."""
    from hybridrl.agents.imitation import record_demonstrations
    from hybridrl.baselines import expert_policy

    params = load_scenario("tiny")
    expert = expert_policy("mpc_conditional_expectation")
    one = record_demonstrations(params, expert, [11, 12, 13], n_jobs=1)
    two = record_demonstrations(params, expert, [11, 12, 13], n_jobs=2)
    assert one.actions.shape[1] == 3 and (one.actions > DEAD_ZONE).any()
    for name in ("observations", "actions", "rewards", "alive"):
        np.testing.assert_allclose(getattr(one, name), getattr(two, name), rtol=1e-9)
    alone = record_demonstrations(params, expert, [12])
    np.testing.assert_allclose(alone.actions[:, 0], one.actions[:, 1], rtol=1e-9)


def test_expert_and_forecaster_names_are_the_policies_keys() -> None:
    from hybridrl.agents.config import EXPERT_NAMES, FORECASTER_NAMES, RULE_NAMES
    from hybridrl.baselines import RULE_POLICIES, expert_policy
    from hybridrl.baselines.mpc import FORECASTERS

    assert set(RULE_NAMES) == set(RULE_POLICIES) and set(FORECASTER_NAMES) == set(FORECASTERS)
    assert [expert_policy(name).name for name in EXPERT_NAMES] == list(EXPERT_NAMES)
    with pytest.raises(ValueError, match="unknown expert"):
        expert_policy("oracle")


def test_dispatch_is_encoded_as_the_step_action_that_decodes_to_it() -> None:
    """In an operations scenario the full environment's action can carry a rule's dispatch: run
    fractions, DR curtailment and reserve commitments decode back to what the rule decided."""
    from hybridrl.baselines.mpc import mpc_with
    from hybridrl.env.encoding import decode_action, encode_dispatch
    from hybridrl.sim import Plant, sample_paths
    from hybridrl.sim.information import PathReveal

    params = load_scenario("hourly_ops")
    plant = Plant(params)
    path = sample_paths(params, [3, 4])
    reveal = PathReveal(path)
    expert = mpc_with("persistence")
    state = plant.initial_state(2)
    commits = 0
    for _ in range(24 * 20):
        view = reveal.view(state.t)
        native = expert.act(plant, state, view)
        back = decode_action(plant, state, view, encode_dispatch(plant, state, view, native))
        np.testing.assert_allclose(back.asic_run_fraction, native.asic_run_fraction, atol=1e-12)
        np.testing.assert_allclose(back.reserve_commit_mw, native.reserve_commit_mw, rtol=1e-9, atol=1e-9)
        commits += int(np.count_nonzero(native.reserve_commit_mw))
        state = plant.step(state, back, path).state
    assert commits > 10


def test_dispatch_cloning_in_an_operations_scenario(tmp_path: Path) -> None:
    """imitation.expert in the full environment clones a rule's dispatch on hourly_ops; a
    scenario that invests is refused before anything is written."""
    pytest.importorskip("stable_baselines3")
    import json

    from hybridrl.agents.config import ConfigError, EnvConfig, ImitationConfig, PPOConfig, TrainConfig
    from hybridrl.agents.training import train

    cfg = TrainConfig(
        env=EnvConfig(scenario="hourly_ops"),
        agent=PPOConfig(n_steps=32, batch_size=64, net_arch=[32, 32]),
        imitation=ImitationConfig(expert="reserve_threshold", episodes=1, epochs=3),
        n_envs=2,
        total_timesteps=64,
        logger=dataclasses.replace(TrainConfig().logger, kind=hybridrl.agents.config.LoggerKind.none),
        eval=dataclasses.replace(TrainConfig().eval, every_steps=64, episodes=1, gap_closed=False),
    )
    train(cfg, tmp_path / "run")
    record = json.loads((tmp_path / "run" / "imitation.json").read_text())
    assert record["expert"] == "reserve_threshold" and record["samples"] == 8760
    assert record["action_mse"] < 0.2
    invests = dataclasses.replace(cfg, env=EnvConfig(scenario="tiny"))
    with pytest.raises(ConfigError, match="operations scenario"):
        train(invests, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_the_epoch_recipe_twice_with_one_seed_gives_the_same_network(tmp_path: Path) -> None:
    """Cloning then PPO on the native epoch vector env, one torch thread: the same command and
    seed give the same weights, bit for bit; another seed does not."""
    pytest.importorskip("stable_baselines3")
    import torch
    from stable_baselines3 import PPO

    from hybridrl.agents.config import EnvConfig, EnvMode, ImitationConfig, PPOConfig, TrainConfig, VecEnvKind
    from hybridrl.agents.training import train

    def weights(seed: int, name: str) -> dict[str, torch.Tensor]:
        cfg = TrainConfig(
            env=EnvConfig(scenario="tiny", mode=EnvMode.epoch),
            agent=PPOConfig(n_steps=16, batch_size=32, net_arch=[32, 32]),
            imitation=ImitationConfig(expert="greedy", episodes=4, epochs=5),
            vec_env=VecEnvKind.native,
            n_envs=4,
            seed=seed,
            total_timesteps=128,
            torch_threads=1,
            logger=dataclasses.replace(TrainConfig().logger, kind=hybridrl.agents.config.LoggerKind.none),
            eval=dataclasses.replace(TrainConfig().eval, every_steps=64, episodes=2, gap_closed=False),
        )
        train(cfg, tmp_path / name)
        return PPO.load(tmp_path / name / "model.zip", device="cpu").policy.state_dict()

    a, b, c = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
