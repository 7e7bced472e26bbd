"""The grid's coincident-peak (4CP) transmission charge: the realised monthly peak, the charge
by hand, booked only once the month is over, hidden from every decision-maker, written by the
oracle as the plant books it (bad grid parameters: tests/test_reserves.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hybridrl.baselines.forecast import ConditionalExpectationForecaster, PersistenceForecaster
from hybridrl.baselines.oracle import solve_oracle
from hybridrl.baselines.peaks import PeakRule
from hybridrl.baselines.rules import AlwaysMine, PeakAvoidance
from hybridrl.env.encoding import GRID_FEATURES
from hybridrl.evaluation.rollout import rollout
from hybridrl.sim import CASH_FLOW_TERMS, Plant, load_scenario, sample_paths
from hybridrl.sim.exogenous import ExogenousPath, calendar
from hybridrl.sim.information import PathReveal
from hybridrl.sim.params import ScenarioParams

CHARGE_USD_PER_MW_YEAR = 45_000.0  # envs/hourly_ops.yaml


@pytest.fixture(scope="module")
def hourly() -> ScenarioParams:
    return load_scenario("hourly_ops")


@pytest.fixture(scope="module")
def hourly_path(hourly: ScenarioParams) -> ExogenousPath:
    return sample_paths(hourly, [0, 1, 2])


def test_calendar_of_hourly_ops(hourly: ScenarioParams) -> None:
    cal = calendar(hourly, 50)
    assert cal["weekday"][0] == 3  # 2026-01-01 was a Thursday
    assert cal["hour"][:3].tolist() == [0.0, 1.0, 2.0]
    assert cal["day_index"][24] == 1 and cal["weekday"][24] == 4
    assert cal["month"][0] == 1


def test_the_peak_is_each_charged_months_highest_realised_load(
    hourly: ScenarioParams, hourly_path: ExogenousPath
) -> None:
    T = hourly_path.n_steps
    cal = calendar(hourly, T + 1)
    load = hourly_path.system_load_gw
    for m in np.unique(cal["month_index"][:T]):
        steps = np.flatnonzero(cal["month_index"][:T] == m)
        peaks = hourly_path.cp_peak[:, steps]
        if cal["month"][steps[0]] in (6, 7, 8, 9):
            np.testing.assert_array_equal(peaks.sum(axis=1), 1.0)
            np.testing.assert_array_equal(steps[peaks.argmax(axis=1)], steps[load[:, steps].argmax(axis=1)])
        else:
            assert not peaks.any()
    # a summer afternoon's load: ERCOT-like tens of GW, peaks on weekday afternoons
    assert 70.0 < load.max() < 95.0 and 40.0 < load.mean() < 60.0
    hours = cal["hour"][np.flatnonzero(hourly_path.cp_peak[0])]
    assert np.all((hours >= 13) & (hours <= 21))
    # the day-ahead forecast: the day's peak forecast is the highest hourly forecast of that day
    day = cal["day_index"] == 200
    highest = hourly_path.load_forecast_gw[:, day].max(axis=1)
    np.testing.assert_allclose(
        hourly_path.load_day_peak_forecast_gw[:, day], np.repeat(highest[:, None], 24, axis=1)
    )


def test_what_a_site_knows_of_the_grid(hourly: ScenarioParams, hourly_path: ExogenousPath) -> None:
    """The month's highest load so far is the highest realised load earlier in the month; the
    observation carries it, the forecasts and the calendar as grid features (and only with a grid)."""
    from hybridrl.env import HybridMineEnv

    cal = calendar(hourly, hourly_path.n_steps + 1)
    load = hourly_path.system_load_gw
    for t in (0, 1, 24 * 31, 24 * 31 + 5, 4000):
        start = int(np.searchsorted(cal["month_index"], cal["month_index"][t]))
        expected = load[:, start:t].max(axis=1) if t > start else np.zeros(3)
        np.testing.assert_array_equal(hourly_path.load_month_high_gw[:, t], expected)
    env = HybridMineEnv(hourly)
    obs, _ = env.reset(seed=0)
    names = list(env.observation_names)
    first = names.index(GRID_FEATURES[0])
    assert names[first : first + len(GRID_FEATURES)] == list(GRID_FEATURES)
    assert names[first - 1] == "gpu_" + hourly.gpu_market.generations[-1].name + "_capex_usd_div500k"
    assert obs[names.index("grid_hour_cos")] == pytest.approx(1.0)  # midnight
    path = env.path
    assert obs[names.index("grid_load_forecast_vs_mean")] == pytest.approx(
        path.load_forecast_gw[0, 0] / 50.0, rel=1e-6
    )
    assert not any(n.startswith("grid_") for n in HybridMineEnv("default").observation_names)


def test_without_a_grid_nothing_is_modelled_or_charged(default_params: ScenarioParams) -> None:
    path = sample_paths(default_params, [0, 1])
    assert default_params.grid is None and not path.cp_peak.any() and not path.system_load_gw.any()
    plant = Plant(default_params)
    assert plant.cp_charge_usd_per_mw == 0.0
    out = plant.step(plant.initial_state(2), plant.idle_action(2), path)
    assert not out.cash_flows_usd["transmission_charge_usd"].any() and not out.state.cp_draw_mw.any()


def _june_window(hourly: ScenarioParams, path: ExogenousPath) -> tuple[ExogenousPath, int, int]:
    """Row 0 from two steps before June's peak to three steps into July: (window, peak step,
    June's last step), in the window's steps."""
    cal = calendar(hourly, path.n_steps + 1)
    june = np.flatnonzero(cal["month"][: path.n_steps] == 6)
    peak = int(june[np.argmax(path.cp_peak[0, june])])
    window = path.rows(0).window(peak - 2, int(june[-1]) + 4)
    return window, 2, int(june[-1]) - (peak - 2)


def test_the_charge_by_hand(hourly: ScenarioParams, hourly_path: ExogenousPath) -> None:
    """Everything runs: the site draws its ASICs' MW at the peak step (availability there), owes
    nothing until June's last step, then pays 45,000 / 4 $ per MW drawn at the peak, once."""
    plant = Plant(hourly)
    window, peak, june_end = _june_window(hourly, hourly_path)
    th = np.array([hourly.site.initial_asic_th.get(g.name, 0.0) for g in hourly.asic_market.generations])
    mw_per_th = (
        np.array([g.efficiency_j_per_th for g in hourly.asic_market.generations])
        * hourly.site.pue_mining
        / 1e6
    )
    state = plant.initial_state(1)
    charges, accrued = [], []
    for t in range(window.n_steps):
        out = plant.step(state, plant.idle_action(1, run_fraction=1.0), window)
        charges.append(float(out.cash_flows_usd["transmission_charge_usd"][0]))
        accrued.append(float(out.state.cp_draw_mw[0]))
        if t == peak:
            kept = plant.asic_keep_per_step**t  # the fleet's failure decay since the start
            drawn_mw = float(th * kept @ mw_per_th) * window.availability[0, t]
            assert out.asic_power_mw[0] == pytest.approx(drawn_mw, rel=1e-12)
        state = out.state
    expected = -CHARGE_USD_PER_MW_YEAR / 4 * drawn_mw
    assert charges[june_end] == pytest.approx(expected, rel=1e-12)
    assert sum(charges) == pytest.approx(expected, rel=1e-12)  # nothing else, before or after
    assert accrued[:peak] == [0.0] * peak
    assert accrued[peak:june_end] == pytest.approx([drawn_mw] * (june_end - peak), rel=1e-12)
    assert accrued[june_end:] == [0.0] * (len(accrued) - june_end)


def test_a_charge_still_owed_at_the_episodes_end_is_booked_at_its_last_step(
    hourly: ScenarioParams, hourly_path: ExogenousPath
) -> None:
    plant = Plant(hourly)
    window, _, june_end = _june_window(hourly, hourly_path)
    short = window.window(0, june_end - 3)  # ends in June, after the peak
    state = plant.initial_state(1)
    charges = []
    for _ in range(short.n_steps):
        out = plant.step(state, plant.idle_action(1, run_fraction=1.0), short)
        charges.append(float(out.cash_flows_usd["transmission_charge_usd"][0]))
        state = out.state
    assert charges[-1] < 0.0 and not any(charges[:-1])
    assert state.cp_draw_mw[0] == 0.0


def test_ledger_closes_with_the_charges(hourly: ScenarioParams, hourly_path: ExogenousPath) -> None:
    plant = Plant(hourly)
    state = plant.initial_state(3)
    policy = AlwaysMine()
    reveal = PathReveal(hourly_path)
    drawn_at_peaks = np.zeros(3)
    charged = np.zeros(3)
    while state.t < hourly_path.n_steps:
        out = plant.step(state, policy.act(plant, state, reveal.view(state.t)), hourly_path)
        terms = sum(out.cash_flows_usd[k] for k in CASH_FLOW_TERMS)
        np.testing.assert_allclose(out.state.cash_usd - state.cash_usd, terms, rtol=0, atol=0.01)
        drawn_at_peaks += hourly_path.cp_peak[:, state.t] * (out.asic_power_mw + out.gpu_power_mw)
        charged += out.cash_flows_usd["transmission_charge_usd"]
        state = out.state
    assert drawn_at_peaks.min() > 0.0  # always_mine draws at some peaks: the test sees charges
    np.testing.assert_allclose(charged, -CHARGE_USD_PER_MW_YEAR / 4 * drawn_at_peaks, rtol=1e-12)


def test_no_decision_maker_can_read_the_peak(hourly: ScenarioParams, hourly_path: ExogenousPath) -> None:
    """Views never hold ``cp_peak``; forecasts foresee none; and what the peak rule and the
    policy decide at a step depends on nothing after it (the realised peak included)."""
    reveal = PathReveal(hourly_path)
    view = reveal.view(4000)
    with pytest.raises(AttributeError, match="cp_peak"):
        _ = view.cp_peak
    for forecaster in (PersistenceForecaster(), ConditionalExpectationForecaster(n_samples=2)):
        one = PathReveal(hourly_path.rows(0)).view(4000)
        assert not forecaster.forecast(hourly, one, 48).cp_peak.any()
    # a path whose future (after step t) differs: another peak, another load
    t = 4000
    changed = dataclasses.replace(
        hourly_path,
        system_load_gw=np.where(np.arange(hourly_path.n_steps + 1) > t, 99.0, hourly_path.system_load_gw),
        cp_peak=np.roll(hourly_path.cp_peak, 5, axis=1),
    )
    plant = Plant(hourly)
    state = plant.initial_state(3)
    rule = PeakRule()
    for s in range(t - 48, t + 1):
        a, b = PathReveal(hourly_path).view(s), PathReveal(changed).view(s)
        np.testing.assert_array_equal(rule.share(hourly, a), rule.share(hourly, b))
        policy = PeakAvoidance()
        np.testing.assert_array_equal(
            policy.act(plant, dataclasses.replace(state, t=s), a).asic_run_fraction,
            policy.act(plant, dataclasses.replace(state, t=s), b).asic_run_fraction,
        )


def test_the_oracle_writes_the_charge_as_the_plant_books_it(
    hourly: ScenarioParams, hourly_path: ExogenousPath
) -> None:
    """On a whole hourly_ops year: the oracle's plan replays to its objective, and it beats
    peak_avoidance, which beats always_mine (the charge is worth avoiding)."""
    plant = Plant(hourly)
    result = solve_oracle(plant, hourly_path, row=0, time_limit_s=120.0)
    assert result.status == "optimal"
    state = plant.initial_state(1)
    one = hourly_path.rows(0)
    nav0 = plant.nav_usd(state, one)[0]
    charged = 0.0
    for action in result.plan or []:
        out = plant.step(state, action, one)
        charged += float(out.cash_flows_usd["transmission_charge_usd"][0])
        state = out.state
    replayed = plant.nav_usd(state, one)[0] - nav0
    assert replayed == pytest.approx(result.objective_usd, rel=1e-6)
    always = rollout(plant, one, AlwaysMine()).nav_change_usd[0]
    avoiding = rollout(plant, one, PeakAvoidance()).nav_change_usd[0]
    assert result.objective_usd >= avoiding - 1.0 and avoiding > always
    assert charged > rollout(plant, one, AlwaysMine()).cash_flows_usd["transmission_charge_usd"][0]
