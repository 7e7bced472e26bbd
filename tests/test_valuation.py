"""NAV counts every asset once: building a hall and signing a lease moves NAV by the project's
net present value, computed here from the offer's terms without the plant's valuation code."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from hybridrl.sim import Plant, ScenarioParams, sample_paths
from hybridrl.sim.exogenous import ExogenousPath
from hybridrl.sim.plant import PlantState

BLOCKS = 3
TERM_MONTHS = 150.0
READY_MONTHS = 10.0


@pytest.fixture(scope="module")
def params(default_params: ScenarioParams) -> ScenarioParams:
    """The default world with an empty mining hall (no ASICs), no HPC hall yet and no mining
    opex, so that the project is the only thing that differs between the two plans compared."""
    site = dataclasses.replace(
        default_params.site,
        initial_asic_th={},
        hpc_ready_mw=0.0,
        opex_mining_usd_per_mw_year=0.0,
    )
    return dataclasses.replace(default_params, site=site)


def _path_with_one_offer(params: ScenarioParams, plant: Plant, t0: int, price: float) -> ExogenousPath:
    """Path of seed 0 whose only offer opens at step t0 and fills the retrofitted blocks exactly."""
    path = sample_paths(params, [0])
    T = path.n_steps
    K = plant.n_offers
    steps_per_month = 365.25 / 12.0 / params.time.dt_days
    ready = t0 + round(READY_MONTHS * steps_per_month)
    never = np.full((1, K), T + 1, dtype=np.int64)
    it_mw = BLOCKS * params.site.retrofit_block_mw / params.site.pue_hpc

    def first(value: float, rest: float, dtype: type = np.float64) -> np.ndarray:
        out = np.full((1, K), rest, dtype=dtype)
        out[0, 0] = value
        return out

    return dataclasses.replace(
        path,
        offer_arrival_step=first(t0, T + 1, np.int64),
        offer_expiry_step=first(t0 + 30, T + 1, np.int64),
        offer_ready_step=first(ready, T + 1, np.int64) if K else never,
        offer_end_step=first(ready + TERM_MONTHS * steps_per_month, T + 1.0),
        offer_it_mw=first(it_mw, 0.0),
        offer_price_usd_per_kw_month=first(price, 0.0),
        offer_penalty_usd_per_kw_month=first(0.5 * price, 0.0),
        offer_term_months=first(TERM_MONTHS, 0.0),
    )


def _project_npv_usd(params: ScenarioParams, t0: int, price: float) -> float:
    """Expected NPV, as of the step after signing (t0 + 1), of retrofitting BLOCKS blocks at t0
    and leasing them: - capex + the discounted margin while the tenant pays + the discounted book
    of the hall when it comes back (at the end of the term, or at the tenant's default, a
    constant hazard from the ready-by date). Integrated numerically over a fine grid of years.
    The margin is the price (escalated from the ready-by date) less the serving cost and the
    hall's fixed opex, per IT kW-month."""
    site, fin, dt = params.site, params.finance, params.time.dt_days
    year = 365.25
    capex = BLOCKS * site.retrofit_block_mw * site.retrofit_capex_usd_per_mw
    it_kw = BLOCKS * site.retrofit_block_mw / site.pue_hpc * 1e3
    hall_opex_per_it_kw_month = site.opex_hpc_usd_per_mw_year * site.pue_hpc / 1e3 / 12.0
    serving_per_year = 12.0 * it_kw * params.offers.serving_cost_usd_per_kw_month
    hall_opex_per_year = 12.0 * it_kw * hall_opex_per_it_kw_month
    signed = t0 * dt / year
    now = (t0 + 1) * dt / year
    ready = (t0 + round(READY_MONTHS * year / 12.0 / dt)) * dt / year
    end = ready + TERM_MONTHS / 12.0
    r, delta = fin.discount_rate_per_year, site.infrastructure_depreciation_per_year
    hazard = -np.log1p(-params.offers.tenant_default_per_year)
    s = np.linspace(ready, end, 400_001)  # years
    survival = np.exp(-hazard * (s - ready))
    discount = np.exp(-r * (s - now))
    # the price escalates from the ready-by date, compounding annually at the escalator; during a
    # ramp-up the tenant pays (and is served) a share of the hall: integrated piece by piece
    pv_margin = 0.0
    for lo, hi in itertools.pairwise(
        np.unique(np.clip(ready + _ramp_bounds_days(params) / year, ready, end))
    ):
        x = np.linspace(lo, hi, 100_001)
        share = _ramp_share(params, np.full(1, ((lo + hi) / 2 - ready) * year))[0]
        margin_per_year = (
            share
            * (
                12.0 * it_kw * price * (1.0 + params.offers.escalator_per_year) ** (x - ready)
                - serving_per_year
            )
            - hall_opex_per_year
        )
        pv_margin += np.trapezoid(margin_per_year * np.exp(-hazard * (x - ready) - r * (x - now)), x)
    book = capex * np.exp(-delta * (s - signed))
    back_early = np.trapezoid(hazard * survival * discount * book, s)  # the tenant defaults at s
    back_at_end = survival[-1] * discount[-1] * book[-1]
    return float(-capex + pv_margin + back_early + back_at_end)


def _ramp_bounds_days(params: ScenarioParams) -> np.ndarray:
    """Days from the ready-by date at which the tenant's share changes, with 0 and the term's
    end (so that consecutive values bound the pieces of constant share)."""
    o, dt = params.offers, params.time.dt_days
    steps_per_month = 365.25 / 12.0 / dt
    n = o.ramp_up_tranches
    inner = [round(j * o.ramp_up_months / n * steps_per_month) * dt for j in range(n + 1)]
    return (
        np.array([0.0, *inner, TERM_MONTHS * 365.25 / 12.0])
        if o.ramp_up_months
        else np.array([0.0, TERM_MONTHS * 365.25 / 12.0])
    )


def _ramp_share(params: ScenarioParams, days_since_ready: np.ndarray) -> np.ndarray:
    """Share of the hall the tenant pays for: n equal tranches over the ramp-up, rising from the
    initial share by (1 - initial) / n each, their bounds rounded to whole steps (the
    documented rule), the whole hall after."""
    o, dt = params.offers, params.time.dt_days
    share = np.ones_like(days_since_ready)
    if o.ramp_up_months == 0.0:
        return share
    steps_per_month = 365.25 / 12.0 / dt
    n = o.ramp_up_tranches
    for j in range(n):
        lo = round(j * o.ramp_up_months / n * steps_per_month) * dt
        hi = round((j + 1) * o.ramp_up_months / n * steps_per_month) * dt
        inside = (days_since_ready >= lo) & (days_since_ready < hi)
        share = np.where(inside, o.ramp_up_initial_share + (1.0 - o.ramp_up_initial_share) * j / n, share)
    return share


def _nav_change_of_project(params: ScenarioParams, t0: int, price: float) -> float:
    """NAV after step t0 with the project (retrofit + acceptance) minus NAV without it."""
    plant = Plant(params)
    path = _path_with_one_offer(params, plant, t0, price)
    state = dataclasses.replace(plant.initial_state(1), t=t0)
    idle = plant.idle_action(1)
    accept = np.zeros((1, plant.n_offers), dtype=bool)
    accept[0, 0] = True
    project = dataclasses.replace(idle, retrofit_blocks=np.array([float(BLOCKS)]), accept_offer=accept)
    with_it = plant.step(state, project, path)
    without = plant.step(state, idle, path)
    assert with_it.state.lease_accepted[0, 0], "the lease must be accepted"
    assert with_it.state.retrofit_on_order_mw[0] == BLOCKS * params.site.retrofit_block_mw
    return float(plant.nav_usd(with_it.state, path)[0] - plant.nav_usd(without.state, path)[0])


def _last_epoch_in_last_month(params: ScenarioParams) -> int:
    T, E = params.time.n_steps, params.time.epoch_steps
    t0 = (T - 1) // E * E
    assert T - t0 <= 31
    return t0


@pytest.mark.parametrize("escalator", [0.0, 0.03])
@pytest.mark.parametrize("when", ["first_epoch", "last_month"])
@pytest.mark.parametrize("price", [80.0, 130.0, 160.0])
def test_a_hall_and_its_lease_move_nav_by_the_project_npv(
    params: ScenarioParams, when: str, price: float, escalator: float
) -> None:
    params = dataclasses.replace(
        params, offers=dataclasses.replace(params.offers, escalator_per_year=escalator)
    )
    t0 = 0 if when == "first_epoch" else _last_epoch_in_last_month(params)
    npv = _project_npv_usd(params, t0, price)
    assert _nav_change_of_project(params, t0, price) == pytest.approx(npv, rel=1e-6)


@pytest.mark.parametrize(("months", "initial", "tranches"), [(6.0, 0.5, 2), (12.0, 0.25, 4), (3.0, 0.0, 1)])
@pytest.mark.parametrize("when", ["first_epoch", "last_month"])
def test_a_lease_with_a_ramp_up_moves_nav_by_its_npv(
    params: ScenarioParams, when: str, months: float, initial: float, tranches: int
) -> None:
    offers = dataclasses.replace(
        params.offers,
        escalator_per_year=0.025,
        ramp_up_months=months,
        ramp_up_initial_share=initial,
        ramp_up_tranches=tranches,
    )
    params = dataclasses.replace(params, offers=offers)
    t0 = 0 if when == "first_epoch" else _last_epoch_in_last_month(params)
    npv = _project_npv_usd(params, t0, 130.0)
    assert _nav_change_of_project(params, t0, 130.0) == pytest.approx(npv, rel=1e-6)
    # the ramp-up is worth less than taking the whole hall at once
    flat = dataclasses.replace(params, offers=dataclasses.replace(offers, ramp_up_months=0.0))
    assert npv < _project_npv_usd(flat, t0, 130.0)


def test_a_zero_npv_project_leaves_nav_unchanged_and_a_negative_one_lowers_it(params: ScenarioParams) -> None:
    # NPV is affine in the price: find the break-even price from two points
    low, high = _project_npv_usd(params, 0, 50.0), _project_npv_usd(params, 0, 150.0)
    breakeven = 50.0 - low * (150.0 - 50.0) / (high - low)
    capex = BLOCKS * params.site.retrofit_block_mw * params.site.retrofit_capex_usd_per_mw
    assert abs(_nav_change_of_project(params, 0, breakeven)) < 1e-6 * capex
    assert _nav_change_of_project(params, 0, breakeven - 20.0) < -1e-3 * capex


def test_a_late_lease_counts_for_its_npv_not_its_gross_pv(params: ScenarioParams) -> None:
    t0 = _last_epoch_in_last_month(params)
    plant = Plant(params)
    path = _path_with_one_offer(params, plant, t0, 130.0)
    gross_pv = plant.lease_terms(path).backlog_table
    assert gross_pv is not None
    change = _nav_change_of_project(params, t0, 130.0)
    assert change == pytest.approx(_project_npv_usd(params, t0, 130.0), rel=1e-6)
    assert change < 0.5 * gross_pv[t0 + 1, 0, 0]  # far below the lease's PV alone


def _random_states(params: ScenarioParams, n_steps: int) -> list[tuple[Plant, PlantState, ExogenousPath]]:
    from hybridrl.env.encoding import action_layout, decode_action

    plant = Plant(params)
    path = sample_paths(params, list(range(4)))
    rng = np.random.default_rng(5)
    state = plant.initial_state(4)
    out = []
    for _ in range(n_steps):
        action = decode_action(plant, state, path, rng.uniform(-1, 1, (4, action_layout(plant).size)))
        state = plant.step(state, action, path).state
        out.append((plant, state, path))
    return out


def test_nav_breakdown_sums_to_nav_exactly(default_params: ScenarioParams) -> None:
    leases = 0
    for plant, state, path in _random_states(default_params, 900)[::7]:
        parts = plant.nav_breakdown_usd(state, path)
        assert tuple(parts) == Plant.NAV_COMPONENTS
        total = parts["cash_usd"]
        for name in Plant.NAV_COMPONENTS[1:]:
            total = total + parts[name]
        np.testing.assert_array_equal(total, plant.nav_usd(state, path))
        leases += int(state.lease_accepted.any())
        assert np.all(parts["leased_hall_usd"] <= 0.0)
        assert np.all(
            parts["leased_hall_usd"]
            >= -parts["infrastructure_book_usd"] - state.lease_hall_book_usd.sum(axis=1)
        )
    assert leases > 10  # the check saw states with leases


def test_leased_hall_factor_table_equals_the_step_by_step_value(
    default_params: ScenarioParams, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import hybridrl.sim.plant as plant_module

    path = sample_paths(default_params, [0, 1])
    tabled = Plant(default_params)
    assert tabled.lease_terms(path).hall_table is not None
    monkeypatch.setattr(plant_module, "BACKLOG_TABLE_MAX", 0)
    computed = Plant(default_params)
    for t in (0, 100, 700, path.n_steps):
        np.testing.assert_allclose(
            tabled.leased_hall_factor(path, t), computed.leased_hall_factor(path, t), rtol=1e-12
        )


def test_tenant_defaults_are_a_monotone_time_series_after_the_ready_date(
    default_params: ScenarioParams,
) -> None:
    offers = dataclasses.replace(default_params.offers, tenant_default_per_year=0.5)
    params = dataclasses.replace(default_params, offers=offers)
    path = sample_paths(params, list(range(64)))
    d = path.tenant_defaulted
    assert d.shape == (64, path.n_steps + 1, params.offers.max_offers)
    assert np.all(np.diff(d.astype(np.int8), axis=1) >= 0)  # once defaulted, always
    steps = np.arange(path.n_steps + 1)[None, :, None]
    assert not np.any(d & (steps < path.offer_ready_step[:, None, :]))
    # the share defaulted by the end matches the hazard over the time each offer has run
    exposed_years = np.clip(path.n_steps - path.offer_ready_step, 0, None) / 365.25
    expected = 1.0 - np.exp(np.log1p(-0.5) * exposed_years)
    started = path.offer_ready_step < path.n_steps
    assert d[:, -1][started].mean() == pytest.approx(expected[started].mean(), abs=0.05)
    # a path without the risk never defaults, and the other streams are unchanged by it
    riskless = dataclasses.replace(params, offers=dataclasses.replace(offers, tenant_default_per_year=0.0))
    safe = sample_paths(riskless, [0])
    assert not safe.tenant_defaulted.any()
    np.testing.assert_array_equal(safe.btc_price_usd, path.btc_price_usd[:1])
    np.testing.assert_array_equal(safe.offer_price_usd_per_kw_month, path.offer_price_usd_per_kw_month[:1])


def test_a_default_ends_the_lease_frees_its_hall_and_drops_its_value(params: ScenarioParams) -> None:
    plant = Plant(params)
    path = _path_with_one_offer(params, plant, 0, 130.0)
    default_at = int(path.offer_ready_step[0, 0]) + 60
    defaulted = path.tenant_defaulted.copy()
    defaulted[0, default_at:, 0] = True
    path = dataclasses.replace(path, tenant_defaulted=defaulted)
    plant = Plant(params)
    accept = np.zeros((1, plant.n_offers), dtype=bool)
    accept[0, 0] = True
    idle = plant.idle_action(1)
    state = plant.initial_state(1)
    state = plant.step(
        state, dataclasses.replace(idle, retrofit_blocks=np.array([float(BLOCKS)]), accept_offer=accept), path
    ).state
    served, parts = {}, {}  # by step t
    while state.t <= default_at + 1:
        parts[state.t] = plant.nav_breakdown_usd(state, path)
        out = plant.step(state, idle, path)
        served[state.t] = float(out.lease_power_mw[0])
        state = out.state
    before, after = default_at - 1, default_at
    assert served[before] > 0 and served[after] == 0.0  # served until the default, not from it on
    assert parts[before]["lease_margin_pv_usd"][0] > 0 and parts[before]["leased_hall_usd"][0] < 0
    assert parts[after]["lease_margin_pv_usd"][0] == 0 and parts[after]["leased_hall_usd"][0] == 0
    assert plant.lease_reserved_mw(state, path)[0] == 0.0  # the hall can take another lease
