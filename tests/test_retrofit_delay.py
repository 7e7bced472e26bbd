"""Retrofit delays: drawn on the due date, applied by the plant, known to the oracle only."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from hybridrl.baselines.oracle import replay, solve_oracle
from hybridrl.sim import Plant, load_scenario, sample_paths
from hybridrl.sim.exogenous import retrofit_delay_limit_epochs
from hybridrl.sim.information import PathReveal
from hybridrl.sim.params import ScenarioError


def test_delays_fall_on_epochs_at_the_stated_rate() -> None:
    params = load_scenario("default")
    path = sample_paths(params, list(range(64)))
    delay = path.retrofit_delay_epochs
    steps = np.arange(path.n_steps + 1)
    assert (delay[:, steps % params.time.epoch_steps != 0] == 0).all()
    at_epochs = delay[:, steps % params.time.epoch_steps == 0]
    assert abs((at_epochs > 0).mean() - params.site.retrofit_delay_probability) < 0.02
    late = at_epochs[at_epochs > 0] * params.time.epoch_steps * params.time.dt_days
    # exponential mean 90 days, rounded up to whole weeks and capped at a year
    assert 85 < late.mean() < 105 and late.max() <= params.site.retrofit_delay_max_days + 7
    assert at_epochs.max() <= retrofit_delay_limit_epochs(params)


def test_delay_parameters_change_no_other_series() -> None:
    base = load_scenario("default")
    on_time = dataclasses.replace(base, site=dataclasses.replace(base.site, retrofit_delay_probability=0.0))
    a, b = sample_paths(base, [5]), sample_paths(on_time, [5])
    assert (b.retrofit_delay_epochs == 0).all() and a.retrofit_delay_epochs.any()
    for f in dataclasses.fields(a):
        if f.name != "retrofit_delay_epochs" and isinstance(getattr(a, f.name), np.ndarray):
            np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name), err_msg=f.name)


def test_a_late_batch_arrives_its_delay_later() -> None:
    params = load_scenario("default")
    plant = Plant(params)
    path = sample_paths(params, [0])
    E = plant.epoch_steps
    delays = np.zeros_like(path.retrofit_delay_epochs)
    due = plant.retrofit_lead_epochs * E  # the batch ordered at step 0 is due here
    delays[0, due] = 3
    path = dataclasses.replace(path, retrofit_delay_epochs=delays)
    state = plant.initial_state(1)
    hpc0 = state.hpc_ready_mw[0]
    order = dataclasses.replace(plant.idle_action(1), retrofit_blocks=np.array([1.0]))
    ready_at = None
    for t in range(due + 5 * E):
        action = order if t == 0 else plant.idle_action(1)
        state = plant.step(state, action, path).state
        if ready_at is None and state.hpc_ready_mw[0] > hpc0:
            ready_at = t
        if t < due + 3 * E:
            # on order until it arrives: retrofit MW count as on order, in the pipeline or late
            assert state.retrofit_on_order_mw[0] == pytest.approx(plant.retrofit_block_mw)
    assert ready_at == due + 3 * E
    assert state.retrofit_on_order_mw[0] == 0.0


def test_a_policy_learns_a_delay_on_the_due_date_only() -> None:
    params = load_scenario("default")
    path = sample_paths(params, [1])
    t = int(np.flatnonzero(path.retrofit_delay_epochs[0])[0])
    reveal = PathReveal(path)
    assert reveal.view(t).now("retrofit_delay_epochs")[0] > 0
    assert (reveal.view(t - 1).retrofit_delay_epochs[0] == 0).all()


def test_the_oracle_plans_with_the_delays_and_its_plan_replays_exactly() -> None:
    params = load_scenario("default")
    plant = Plant(params)
    path = sample_paths(params, [0]).window(0, 400)
    delays = np.zeros_like(path.retrofit_delay_epochs)
    delays[0, :: plant.epoch_steps] = 2  # every batch two weeks late
    late = dataclasses.replace(path, retrofit_delay_epochs=delays)
    on_time = solve_oracle(plant, path, time_limit_s=60.0, mip_rel_gap=1e-3)
    result = solve_oracle(plant, late, time_limit_s=60.0, mip_rel_gap=1e-3)
    assert result.plan is not None and on_time.plan is not None
    value = replay(plant, late, result.plan)
    assert value == pytest.approx(result.objective_usd, rel=1e-6)
    assert sum(float(a.retrofit_blocks[0]) for a in result.plan) > 0  # the plan does retrofit
    # the on-time plan played on the late path is worth no more than the plan made for it
    assert replay(plant, late, on_time.plan) <= value + 1e-6 * abs(value) + result.mip_gap * abs(value)


def test_bad_delay_parameters_are_refused_with_file_key_and_range(tmp_path: Path) -> None:
    for key, value in (("retrofit_delay_probability", 1.5), ("retrofit_delay_mean_days", -1.0)):
        mine = tmp_path / "mine.yaml"
        mine.write_text(f"extends: default\nsite:\n  {key}: {value}\n")
        with pytest.raises(ScenarioError, match=rf"mine.yaml: site.{key}: got {value}; allowed"):
            load_scenario(mine)
