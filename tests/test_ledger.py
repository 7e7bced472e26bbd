"""The books close: rewards telescope to the NAV change, cash moves by exactly its cash-flow
terms, nothing physical goes negative and the site never draws more power than it may."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import hybridrl
from hybridrl.env.encoding import action_layout, decode_action
from hybridrl.sim import CASH_FLOW_TERMS, Plant, ScenarioParams, sample_paths


def test_ledger_over_random_actions_on_eight_paths(default_params: ScenarioParams) -> None:
    plant = Plant(default_params)
    path = sample_paths(default_params, list(range(8)))
    rng = np.random.default_rng(0)
    state = plant.initial_state(8)
    nav0 = plant.nav_usd(state, path)
    nav = nav0
    reward_sum = np.zeros(8)
    n_actions = action_layout(plant).size
    epochs_with_orders = 0
    for _ in range(1000):
        action = decode_action(plant, state, path, rng.uniform(-1, 1, (8, n_actions)))
        out = plant.step(state, action, path)
        new_nav = plant.nav_usd(out.state, path)
        reward_sum += (new_nav - nav) / 1e6
        cash_terms = sum(out.cash_flows_usd[k] for k in CASH_FLOW_TERMS)
        np.testing.assert_allclose(out.state.cash_usd - state.cash_usd, cash_terms, rtol=0, atol=0.01)
        s = out.state
        for name in (
            "mining_ready_mw",
            "hpc_ready_mw",
            "retrofit_pipeline_mw",
            "retrofit_late_mw",
            "asic_th",
            "asic_pipeline_th",
            "gpu_nodes",
            "gpu_pipeline_nodes",
            "infrastructure_book_usd",
        ):
            assert np.all(getattr(s, name) >= -1e-9), name
        np.testing.assert_array_equal(s.gpu_nodes, np.round(s.gpu_nodes))
        np.testing.assert_allclose(s.asic_on_order_th, s.asic_pipeline_th.sum(axis=0), rtol=1e-12)
        np.testing.assert_array_equal(s.gpu_on_order_nodes, s.gpu_pipeline_nodes.sum(axis=0))
        retrofitting = s.retrofit_pipeline_mw.sum(axis=0) + s.retrofit_late_mw.sum(axis=0)
        np.testing.assert_allclose(s.retrofit_on_order_mw, retrofitting, rtol=1e-12)
        drawn = out.asic_power_mw + out.gpu_power_mw + out.lease_power_mw
        assert np.all(drawn <= out.power_limit_mw + 1e-9)
        assert np.all(s.asic_th @ plant.asic_mw_per_th <= s.mining_ready_mw + 1e-9)
        assert np.all(s.gpu_nodes @ plant.gpu_node_mw <= s.hpc_ready_mw + 1e-9)
        assert np.all(
            s.mining_ready_mw + s.hpc_ready_mw + retrofitting <= default_params.site.interconnection_mw + 1e-9
        )
        assert np.all(out.curtailed_mw >= 0)
        epochs_with_orders += bool((out.cash_flows_usd["asic_capex_usd"] < 0).any())
        state, nav = s, new_nav
    np.testing.assert_allclose(reward_sum, (nav - nav0) / 1e6, rtol=1e-9)
    assert epochs_with_orders > 10  # the random policy did invest: the checks above saw orders


def test_env_rewards_sum_to_nav_change_and_terms_to_cash_change() -> None:
    for seed in range(8):
        env = gym.make(hybridrl.ENV_ID, scenario="default")
        env.action_space.seed(seed)
        _, info = env.reset(seed=seed)
        nav0, cash = info["nav_usd"], env.unwrapped.params.finance.initial_cash_usd
        total = 0.0
        for _ in range(1000):
            _, reward, terminated, _, info = env.step(env.action_space.sample())
            total += reward
            assert abs(info["cash_usd"] - cash - sum(info["reward_terms"].values())) < 0.01
            cash = info["cash_usd"]
            if terminated:
                break
        assert abs(total - (info["nav_usd"] - nav0) / 1e6) <= 1e-9 * max(1.0, abs(total))


def test_bankruptcy_forfeits_the_lease_backlog(default_params: ScenarioParams) -> None:
    plant = Plant(default_params)
    path = sample_paths(default_params, [0])
    state = plant.initial_state(1)
    accepted = np.ones_like(state.lease_accepted)
    alive = type(state)(**{**vars(state), "lease_accepted": accepted})
    dead = type(state)(**{**vars(alive), "bankrupt": np.array([True])})
    backlog = plant.lease_backlog_usd(alive, path)
    assert backlog[0] > 0
    np.testing.assert_allclose(plant.nav_usd(alive, path) - plant.nav_usd(dead, path), backlog)


def test_backlog_table_equals_the_step_by_step_value(default_params: ScenarioParams, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import hybridrl.sim.plant as plant_module

    path = sample_paths(default_params, [0, 1])
    state = Plant(default_params).initial_state(2)
    state = type(state)(**{**vars(state), "lease_accepted": np.ones_like(state.lease_accepted)})
    tabled = Plant(default_params)
    assert tabled.lease_terms(path).backlog_table is not None  # built on first use
    monkeypatch.setattr(plant_module, "BACKLOG_TABLE_MAX", 0)
    computed = Plant(default_params)
    assert computed.lease_terms(path).backlog_table is None
    for t in (0, 100, 700, path.n_steps):
        at_t = type(state)(**{**vars(state), "t": t})
        np.testing.assert_allclose(
            tabled.lease_backlog_usd(at_t, path), computed.lease_backlog_usd(at_t, path), rtol=1e-12
        )


def test_cached_step_terms_equal_a_fresh_plant(default_params: ScenarioParams) -> None:
    """The plant keeps a few terms between steps (opex, lease service); a plant without any
    history must compute the very same step."""
    plant = Plant(default_params)
    path = sample_paths(default_params, list(range(4)))
    rng = np.random.default_rng(3)
    state = plant.initial_state(4)
    n_actions = action_layout(plant).size
    leases_served = 0
    for _ in range(900):
        action = decode_action(plant, state, path, rng.uniform(-1, 1, (4, n_actions)))
        out = plant.step(state, action, path)
        if state.t % 3 == 0:
            fresh = Plant(default_params).step(state, action, path)
            for k in CASH_FLOW_TERMS:
                np.testing.assert_array_equal(out.cash_flows_usd[k], fresh.cash_flows_usd[k], err_msg=k)
            np.testing.assert_array_equal(out.lease_power_mw, fresh.lease_power_mw)
            leases_served += int((out.lease_power_mw > 0).any())
        state = out.state
    assert leases_served > 10  # the comparison covered steps with leases in service
