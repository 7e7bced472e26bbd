"""MPC and forecasters: the MPC matches the oracle with perfect foresight, and forecasters see
only the past."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hybridrl.baselines.forecast import (
    ConditionalExpectationForecaster,
    PerfectForecaster,
    PersistenceForecaster,
)
from hybridrl.baselines.mpc import MPC
from hybridrl.evaluation import evaluate, evaluate_oracle
from hybridrl.sim import ExogenousPath, load_scenario, sample_paths
from hybridrl.sim.information import PathReveal, PathView


@pytest.mark.parametrize("seed", [0, 2])
def test_mpc_with_perfect_forecasts_and_full_horizon_equals_the_oracle(seed: int) -> None:
    params = load_scenario("tiny")
    path = sample_paths(params, [seed])
    oracle = evaluate_oracle(params, [seed], path, mip_rel_gap=0.0)["nav_change_usd"].iloc[0]
    mpc = MPC(
        PerfectForecaster(path), horizon_days=params.time.n_steps * params.time.dt_days, mip_rel_gap=0.0
    )
    nav = evaluate(mpc, params, [seed], path)["nav_change_usd"].iloc[0]
    assert nav == pytest.approx(oracle, rel=1e-6)
    assert set(mpc.statuses) == {"optimal"}


def test_mpc_solves_every_window_of_a_default_episode() -> None:
    # on seed 0 some windows' GPU-relaxed solutions sit at HiGHS's integrality tolerance, so that
    # rounding them cannot be completed: the full MILP must take over, never report "infeasible"
    params = load_scenario("default")
    path = sample_paths(params, [0])
    mpc = MPC(PersistenceForecaster())
    evaluate(mpc, params, [0], path)
    assert set(mpc.statuses) == {"optimal"}


def _with_future_changed(path: ExogenousPath, t: int) -> ExogenousPath:
    """The same past up to t, a different future (prices tripled, hashrate halved, offers moved)."""
    changes = {}
    for f in dataclasses.fields(path):
        value = getattr(path, f.name)
        if not isinstance(value, np.ndarray) or f.name == "start_date" or f.name.startswith("offer_"):
            continue
        if value.dtype.kind == "f":
            new = value.copy()
            new[:, t + 1 :] *= 3.0
            changes[f.name] = new
    arrival = path.offer_arrival_step.copy()
    arrival[arrival > t] = t + 1  # future offers arrive tomorrow instead
    changes["offer_arrival_step"] = arrival
    return dataclasses.replace(path, **changes)


@pytest.mark.parametrize(
    "forecaster", [PersistenceForecaster(), ConditionalExpectationForecaster(n_samples=8)]
)
def test_forecasts_depend_only_on_the_past(forecaster) -> None:  # type: ignore[no-untyped-def]
    params = load_scenario("default")
    path = sample_paths(params, [1])
    t = 350
    other = _with_future_changed(path, t)
    a = forecaster.forecast(params, PathReveal(path).view(t), 60)
    b = forecaster.forecast(params, PathReveal(other).view(t), 60)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=f.name)
    assert not np.array_equal(path.btc_price_usd[:, t + 1 :], other.btc_price_usd[:, t + 1 :])


def test_a_view_cannot_reach_the_future() -> None:
    params = load_scenario("default")
    path = sample_paths(params, [1])
    reveal = PathReveal(path)
    view: PathView = reveal.view(100)
    with pytest.raises(IndexError):
        _ = view.hashprice_usd_per_ph_day[:, 101]
    # not even through the array's memory: what lies beyond today has not been written yet
    assert np.isnan(view.hashprice_usd_per_ph_day.base[:, 101:]).all()
    with pytest.raises(ValueError, match="read-only"):
        view.btc_price_usd[:, 0] = 1.0
    future = path.offer_arrival_step[0] > 100
    assert future.any()
    assert (view.offer_it_mw[0, future] == 0).all() and (
        view.offer_arrival_step[0, future] > path.n_steps
    ).all()
    with pytest.raises(AttributeError):
        _ = view.path  # there is no way back to the full path


class Peeking:
    """A forecaster that tries to read tomorrow."""

    name = "peeking"

    def forecast(self, params, view, horizon_steps):  # type: ignore[no-untyped-def]
        return view.btc_price_usd[:, view.t + 1]


def test_a_peeking_forecaster_fails_inside_the_mpc() -> None:
    params = load_scenario("tiny")
    with pytest.raises(IndexError):
        evaluate(MPC(Peeking()), params, [0])


@pytest.mark.parametrize(
    "forecaster", [PersistenceForecaster(), ConditionalExpectationForecaster(n_samples=8)]
)
def test_mpc_runs_and_stays_below_the_oracle(forecaster) -> None:  # type: ignore[no-untyped-def]
    params = load_scenario("tiny")
    path = sample_paths(params, [1])
    oracle = evaluate_oracle(params, [1], path, mip_rel_gap=0.0)["nav_change_usd"].iloc[0]
    mpc = MPC(forecaster)
    frame = evaluate(mpc, params, [1], path)
    assert frame["nav_change_usd"].iloc[0] <= oracle + 1e-6 * abs(oracle)
    assert not frame["bankrupt"].iloc[0] and mpc.statuses
