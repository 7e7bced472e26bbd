"""One set of site rules: the scheduler decides only what the plant will do.

Parity: on thousands of simulated states, the scheduler's projection of any network output
(adversarial or the published policy's own) is carried out by the plant unchanged. The site
rules and the economics import nothing but numpy.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hybridrl.baselines.rules import RULE_POLICIES
from hybridrl.env import HybridMineEnv
from hybridrl.export import native_action, scheduler_state
from hybridrl.export.spec import site_metadata
from hybridrl.scheduler.features import compute_features
from hybridrl.scheduler.runtime import Decision, Scheduler
from hybridrl.sim.information import PathReveal
from hybridrl.sim.plant import StepOutcome

PUBLISHED = Path(__file__).resolve().parents[1] / "experiments" / "results" / "default" / "policy"


def test_site_rules_and_economics_import_only_numpy() -> None:
    code = (
        "import sys, hybridrl.site_rules, hybridrl.economics, hybridrl.action_layout; "
        "print(sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
        "('torch', 'gymnasium', 'yaml', 'pandas', 'scipy', 'highspy', 'stable_baselines3')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _adversarial(rng: np.random.Generator, scales: np.ndarray, i: int) -> np.ndarray:
    n = scales.size
    kind = i % 6
    if kind == 0:
        return rng.uniform(-1.0, 2.0, n) * scales  # in and beyond each field's range
    if kind == 1:
        return rng.choice(np.array([1e308, -1e308, np.nan, np.inf, -np.inf, 0.0, 1.0, 1e9]), n)
    if kind == 2:
        return np.exp(rng.normal(0.0, 6.0, n)) * rng.choice(np.array([-1.0, 1.0]), n)
    if kind == 3:
        return scales * 10.0  # ask for everything
    if kind == 4:
        return np.where(rng.random(n) < 0.5, scales, 0.0)
    return -rng.exponential(1e3, n)


def _states(scenario: str, n: int, seed: int) -> Iterator[HybridMineEnv]:
    """``env`` at ``n`` successive states, driven by random actions and the rule policies in
    turn (a new episode, and driver, at each end)."""
    env = HybridMineEnv(scenario)
    rng = np.random.default_rng(seed)
    drivers = [None, *RULE_POLICIES.values()]
    episode = 0
    env.reset(seed=seed)
    assert env.path is not None
    reveal = PathReveal(env.path)
    for _ in range(n):
        yield env
        assert env.state is not None
        policy = drivers[episode % len(drivers)]
        if policy is None:
            out = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        else:
            out = env.step_native(policy.act(env.plant, env.state, reveal.view(env.state.t)))
        if out[2] or out[3]:
            episode += 1
            env.reset(seed=seed + episode)
            reveal = PathReveal(env.path)


def _assert_carried_out(env: HybridMineEnv, decision: Decision) -> StepOutcome:
    """Step the plant with what ``decision`` means and check it clipped nothing and did it."""
    assert env.state is not None and env.path is not None
    action = native_action(env, decision)
    out = env.plant.step(env.state, action, env.path)
    size = {
        "asic_run_fraction": 1.0,
        "gpu_offer_fraction": 1.0,
        "curtail_mw": max(1.0, decision.curtail_mw),
        "asic_sale_th": max(1.0, sum(decision.asic_sale_th.values())),
        "asic_order_th": max(1.0, decision.asic_order_th),
        "gpu_order_nodes": 1.0,
        "retrofit_blocks": 1.0,
        "accept_offer": 1.0,
        "reserve_commit_mw": max(1.0, decision.reserve_commit_mw),
    }
    clipped = {k: float(v[0]) for k, v in out.clipped.items() if abs(float(v[0])) > 1e-9 * size[k]}
    assert not clipped, (clipped, decision)
    assert out.asic_power_mw[0] == pytest.approx(decision.mining_mw, rel=1e-9, abs=1e-9)
    assert out.curtailed_mw[0] == pytest.approx(decision.curtail_mw, rel=1e-9, abs=1e-9)
    idle = env.plant.gpu_idle_power_fraction
    assert idle * decision.own_gpu_mw * (1 - 1e-9) - 1e-9 <= out.gpu_power_mw[0]
    assert out.gpu_power_mw[0] <= decision.own_gpu_mw * (1 + 1e-9) + 1e-9
    flows = out.cash_flows_usd
    for term, usd in (
        ("asic_capex_usd", decision.asic_order_usd),
        ("gpu_capex_usd", decision.gpu_order_usd),
        ("retrofit_capex_usd", decision.retrofit_usd),
    ):
        assert -flows[term][0] == pytest.approx(usd, rel=1e-9, abs=1e-6)
    accepted = int(out.state.lease_accepted.sum() - env.state.lease_accepted.sum())
    assert accepted == int(decision.accept_offer)
    if env.plant.reserve_block_steps and env.state.t % env.plant.reserve_block_steps == 0:
        assert out.state.reserve_next_mw[0] == pytest.approx(decision.reserve_commit_mw, rel=1e-9, abs=1e-9)
    return out


@pytest.mark.parametrize(
    ("scenario", "n_states"), [("default", 2_000), ("ai_boom", 1_600), ("hourly_ops", 1_400)]
)
def test_the_plant_carries_out_every_scheduler_decision(scenario: str, n_states: int) -> None:
    """5,000 states in all, each with an adversarial network output and, where the published
    policy reads this scenario's observations, that policy's own output."""
    env = HybridMineEnv(scenario)
    scheduler = Scheduler(site_metadata(env.plant))
    scales = np.array([max(f["scale"], 1.0) for f in scheduler.decision_fields])
    published = None
    if (PUBLISHED / "policy.onnx").is_file():
        loaded = Scheduler.load(PUBLISHED)
        if [f["name"] for f in loaded.features] == [f["name"] for f in scheduler.features]:
            published = loaded
    rng = np.random.default_rng(7)
    seen = {"epochs": 0, "sales": 0, "orders": 0, "retrofits": 0, "accepted": 0, "curtailed": 0}
    for i, env in enumerate(_states(scenario, n_states, seed=11)):
        state = scheduler_state(env)
        outputs = [_adversarial(rng, scales, i)]
        if published is not None:
            x = {k: np.array([v]) for k, v in state.items()}
            assert published.session is not None
            _, raw = published.session.run(None, {"observation": compute_features(scheduler.features, x)})
            outputs.append(raw[0].astype(np.float64))
        for raw in outputs:
            decision = scheduler.project(raw, state)
            _assert_carried_out(env, decision)
            seen["epochs"] += state["decision_epoch"] > 0.5
            seen["sales"] += sum(decision.asic_sale_th.values()) > 0
            seen["orders"] += decision.asic_order_th > 0 or decision.gpu_order_nodes > 0
            seen["retrofits"] += decision.retrofit_blocks > 0
            seen["accepted"] += decision.accept_offer
            seen["curtailed"] += decision.curtail_mw > 0
    if scenario != "hourly_ops":  # investments are disabled there
        assert min(seen.values()) > 0, seen
    else:
        assert seen["curtailed"] > 0, seen


def test_selling_the_whole_fleet_leaves_nothing_running() -> None:
    """The published policy's old failure: it sold its fleet and still 'mined' on it."""
    env = HybridMineEnv("default")
    env.reset(seed=0)
    scheduler = Scheduler(site_metadata(env.plant))
    raw = np.zeros(len(scheduler.decision_fields))
    for j, f in enumerate(scheduler.decision_fields):
        if f["name"].endswith("_run_fraction") or f["name"].endswith("_sell_fraction"):
            raw[j] = 1.0
    decision = scheduler.project(raw, scheduler_state(env))
    assert sum(decision.asic_sale_th.values()) > 0
    assert decision.mining_mw == pytest.approx(0.0, abs=1e-9)
    _assert_carried_out(env, decision)


def test_a_retrofit_takes_only_mining_mw_free_of_asics() -> None:
    """The scheduler used to approve 4 blocks where the running fleet left room for 1."""
    env = HybridMineEnv("default")
    env.reset(seed=0)
    scheduler = Scheduler(site_metadata(env.plant))
    raw = np.zeros(len(scheduler.decision_fields))
    raw[[f["name"] for f in scheduler.decision_fields].index("retrofit_blocks")] = 1e9
    state = scheduler_state(env)
    decision = scheduler.project(raw, state)
    plant = env.plant
    installed = sum(
        state[f"asic_{g}_th"] * mw for g, mw in zip(scheduler.asic_gens, plant.asic_mw_per_th, strict=True)
    )
    free = state["mining_ready_mw"] - installed
    assert decision.retrofit_blocks == min(int(free // plant.retrofit_block_mw), plant.max_retrofit_blocks)
    assert any("retrofit blocks" in a for a in decision.adjusted)
    _assert_carried_out(env, decision)
