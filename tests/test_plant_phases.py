"""Each phase of the plant's step, and each site rule, on a hand-built state with a result
computed by hand in the test."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray

from hybridrl.sim import Plant, load_scenario, sample_paths
from hybridrl.sim.exogenous import ExogenousPath
from hybridrl.sim.plant import NativeAction, PlantState
from hybridrl.site_rules import (
    EpochMarket,
    EpochRequest,
    EpochSite,
    SiteLimits,
    accept_offers,
    curtail_asics,
    epoch_orders,
    offer_gpus,
    run_asics,
)

LIMITS = SiteLimits(
    asic_mw_per_th=np.array([2e-5, 1e-5]),
    gpu_node_mw=np.array([0.01]),
    max_asic_order_mw=1.0,
    max_gpu_order_nodes=10.0,
    max_retrofit_blocks=2.0,
    retrofit_block_mw=1.0,
    retrofit_capex_usd_per_block=100.0,
    capex_budget_offset_usd=50.0,
    lease_mw_per_it_mw=1.2,
)


def test_epoch_orders_fill_in_the_plants_order_with_sale_proceeds_in_the_budget() -> None:
    site = EpochSite(
        cash_usd=np.array([200.0]),
        asic_th=np.array([[100_000.0, 0.0]]),  # 2.0 MW
        asic_on_order_th=np.array([[0.0, 50_000.0]]),  # 0.5 MW
        gpu_nodes=np.array([[2.0]]),
        gpu_on_order_nodes=np.array([[1.0]]),
        mining_ready_mw=np.array([3.6]),
        hpc_ready_mw=np.array([0.05]),
    )
    market = EpochMarket(
        asic_resale_usd_per_th=np.array([[0.001, 0.002]]),
        asic_price_usd_per_th=np.array([[0.003, 0.01]]),
        asic_available=np.array([[False, True]]),
        gpu_node_capex_usd=np.array([[30.0]]),
        gpu_available=np.array([[True]]),
    )
    request = EpochRequest(
        asic_sale_th=np.array([[50_000.0, 0.0]]),
        retrofit_blocks=np.array([5.0]),
        gpu_order_nodes=np.array([[10.0]]),
        asic_order_th=np.array([[1_000.0, 1e6]]),
    )
    got = epoch_orders(site, market, request, LIMITS)
    # sale: 50,000 TH/s at 0.001 = 50 USD; budget 200 + 50 (credit less covenant) + 50 = 300
    np.testing.assert_allclose(got.asic_sale_th, [[50_000.0, 0.0]])
    assert got.asic_sales_usd[0] == pytest.approx(50.0)
    # free mining after the sale: 3.6 - (1.0 + 0.5) = 2.1 MW; blocks: min(5, cap 2, 2, 300 // 100 = 3)
    assert got.retrofit_blocks[0] == 2.0 and got.retrofit_capex_usd[0] == pytest.approx(-200.0)
    assert got.requested.retrofit_blocks[0] == 5.0
    # GPU room: 0.05 - 3 x 0.01 = 0.02 MW = 2 nodes; budget 100 // 30 = 3
    assert got.gpu_order_nodes[0, 0] == 2.0 and got.gpu_capex_usd[0] == pytest.approx(-60.0)
    # ASICs: generation 0 is not on sale; generation 1 gets min(0.1 MW / 1e-5, 40 USD / 0.01) = 4,000 TH/s
    np.testing.assert_allclose(got.asic_order_th, [[0.0, 4_000.0]])
    assert got.asic_capex_usd[0] == pytest.approx(-40.0) and got.budget_left_usd[0] == pytest.approx(0.0)


def test_offers_are_accepted_in_slot_order_while_they_fit() -> None:
    ok = accept_offers(
        np.array([[True, True, True]]),
        np.array([[1.0, 0.5, 0.1]]),
        reserved_mw=np.array([0.2]),
        capacity_mw=np.array([1.3]),
    )
    # 0.2 + 1.0 fits 1.3; then 1.2 + 0.5 does not; 1.2 + 0.1 does
    np.testing.assert_array_equal(ok, [[True, False, True]])


def test_dispatch_rules() -> None:
    fraction, run_th = run_asics(np.array([[1.5, -0.2]]), np.array([[100.0, 50.0]]), np.array([0.5]))
    np.testing.assert_allclose(fraction, [[1.0, 0.0]])
    np.testing.assert_allclose(run_th, [[50.0, 0.0]])
    requested, held = curtail_asics(
        np.array([3.0, 3.0]), np.array([5.0, 5.0]), np.array([4.0, 1.0]), np.array([True, False])
    )
    np.testing.assert_allclose(requested, [3.0, 3.0])
    np.testing.assert_allclose(held, [1.0, 0.0])  # only idle MW, only during a call
    fraction, offered = offer_gpus(np.array([[0.5]]), np.array([[8.0]]), np.array([0.75]))
    np.testing.assert_allclose(offered, [[3.0]])


# --------------------------------------------------------------------------- the plant's phases


@pytest.fixture(scope="module")
def plant() -> Plant:
    return Plant(load_scenario("tiny"))


def _path(plant: Plant, **constant: float) -> ExogenousPath:
    """Tiny's path of seed 0 with the named series held at the given value on every step."""
    path = sample_paths(plant.params, [0])
    changes = {}
    for name, value in constant.items():
        old = getattr(path, name)
        changes[name] = np.full_like(old, value)
    return dataclasses.replace(path, **changes)


def _state(plant: Plant, **fields: object) -> PlantState:
    return dataclasses.replace(plant.initial_state(1), **fields)


def test_delivery_phase_moves_what_is_due_into_the_site(plant: Plant) -> None:
    G, Gg = plant.n_asic, plant.n_gpu
    asic_pipe = np.zeros((plant.asic_lead_epochs, 1, G))
    asic_pipe[0, 0, 1] = 1_000.0
    gpu_pipe = np.zeros((plant.gpu_lead_epochs, 1, Gg))
    gpu_pipe[0, 0, 0] = 4.0
    retro_pipe = np.zeros((plant.retrofit_lead_epochs, 1))
    retro_pipe[0, 0] = 5.0
    state = _state(
        plant,
        asic_pipeline_th=asic_pipe,
        gpu_pipeline_nodes=gpu_pipe,
        retrofit_pipeline_mw=retro_pipe,
        asic_on_order_th=asic_pipe.sum(axis=0),
        gpu_on_order_nodes=gpu_pipe.sum(axis=0),
        retrofit_on_order_mw=retro_pipe.sum(axis=0),
    )
    site = plant.delivery_phase(state, sample_paths(plant.params, [0]))  # t = 0: slot 0 is due
    assert site.asic_th[0, 1] == state.asic_th[0, 1] + 1_000.0
    assert site.gpu_nodes[0, 0] == state.gpu_nodes[0, 0] + 4.0
    assert site.hpc_ready_mw[0] == state.hpc_ready_mw[0] + 5.0
    assert (
        site.asic_on_order_th.sum() == site.gpu_on_order_nodes.sum() == site.retrofit_on_order_mw.sum() == 0.0
    )
    assert state.asic_pipeline_th[0, 0, 1] == 1_000.0  # the state is not changed


def test_order_phase_books_capex_and_fills_the_pipelines(plant: Plant) -> None:
    path = _path(plant, asic_price_usd_per_th=10.0, asic_resale_usd_per_th=2.0)
    state = plant.initial_state(1)
    G = plant.n_asic
    sale = np.zeros((1, G))
    g = int(np.argmax(state.asic_th[0]))
    sale[0, g] = 1_000.0
    action = dataclasses.replace(plant.idle_action(1), asic_sale_th=sale, retrofit_blocks=np.array([1.0]))
    site, orders = plant.order_phase(
        plant.delivery_phase(state, sample_paths(plant.params, [0])), state.cash_usd, action, path, 0
    )
    assert orders.asic_sales_usd[0] == pytest.approx(2_000.0)
    assert site.asic_th[0, g] == state.asic_th[0, g] - 1_000.0
    free = state.mining_ready_mw[0] - (state.asic_th[0] - sale[0]) @ plant.asic_mw_per_th
    assert orders.retrofit_blocks[0] == min(1.0, np.floor(free / plant.retrofit_block_mw + 1e-9))
    blocks = orders.retrofit_blocks[0]
    assert site.mining_ready_mw[0] == pytest.approx(
        state.mining_ready_mw[0] - blocks * plant.retrofit_block_mw
    )
    assert site.retrofit_on_order_mw[0] == pytest.approx(blocks * plant.retrofit_block_mw)
    assert site.infrastructure_book_usd[0] == pytest.approx(
        state.infrastructure_book_usd[0] + blocks * plant.retrofit_capex_usd_per_block
    )


def test_offer_phase_accepts_what_fits_at_an_epoch_only(plant: Plant) -> None:
    path = sample_paths(plant.params, [0])
    K = plant.n_offers
    hpc = float(plant.initial_state(1).hpc_ready_mw[0])
    it_mw = np.full((1, K), 0.6 * hpc / plant.lease_mw_per_it_mw)  # each needs 60 % of the HPC hall
    path = dataclasses.replace(
        path,
        offer_arrival_step=np.zeros((1, K), dtype=path.offer_arrival_step.dtype),
        offer_expiry_step=np.full((1, K), 10, dtype=path.offer_expiry_step.dtype),
        offer_it_mw=it_mw,
    )
    state = plant.initial_state(1)
    site = plant.delivery_phase(state, sample_paths(plant.params, [0]))
    want = np.ones((1, K), dtype=bool)
    action = dataclasses.replace(plant.idle_action(1), accept_offer=want)
    accepted, hall_book, refused = plant.offer_phase(state, site, action, path)
    assert accepted.sum() == 1 and refused[0] == K - 1  # the second one no longer fits
    facility = it_mw[0, 0] * plant.lease_mw_per_it_mw
    assert hall_book[0, 0] == pytest.approx(facility * plant.retrofit_capex_usd_per_mw)
    later = dataclasses.replace(state, t=1)
    accepted, _, refused = plant.offer_phase(later, site, action, path)
    assert not accepted.any() and refused[0] == K  # not a decision epoch


def test_dispatch_and_cash_flow_phases(plant: Plant) -> None:
    hashprice, power, avail = 50.0, 40.0, 0.8
    path = _path(plant, hashprice_usd_per_ph_day=hashprice, power_rt_usd_per_mwh=power, availability=avail)
    state = plant.initial_state(1)
    run = np.zeros((1, plant.n_asic))
    g = int(np.argmax(state.asic_th[0]))
    run[0, g] = 0.5
    action = NativeAction(**{**dataclasses.asdict(plant.idle_action(1)), "asic_run_fraction": run})
    site = plant.delivery_phase(state, sample_paths(plant.params, [0]))
    dispatch = plant.dispatch_phase(site, state.lease_accepted, action, path, 0)
    th = 0.5 * state.asic_th[0, g] * avail
    assert dispatch.run_total_th[0] == pytest.approx(th)
    assert dispatch.asic_power_mw[0] == pytest.approx(th * plant.asic_mw_per_th[g])
    flows = plant.cash_flow_phase(state.cash_usd, site, None, dispatch, path, 0)
    days = plant.dt_days
    assert flows["mining_revenue_usd"][0] == pytest.approx(hashprice * th / 1e3 * days * (1 - plant.pool_fee))
    rt = (plant.ppa_mw - dispatch.asic_power_mw[0] - dispatch.gpu_power_mw[0]) * power * 24 * days
    assert flows["power_rt_usd"][0] == pytest.approx(rt)
    assert flows["asic_capex_usd"][0] == 0.0


def test_books_phase_depreciates_and_flags_bankruptcy(plant: Plant) -> None:
    state = _state(plant, cash_usd=np.array([0.0]))
    site = plant.delivery_phase(state, sample_paths(plant.params, [0]))
    zero = np.zeros(1)
    flows = {"a": np.array([-plant.credit_limit_usd - 1.0]), "b": zero}
    new = plant.books_phase(state, site, state.lease_accepted, state.lease_hall_book_usd, flows)
    assert new.t == 1 and new.cash_usd[0] == -plant.credit_limit_usd - 1.0 and new.bankrupt[0]
    assert new.asic_th[0] @ np.ones(plant.n_asic) == pytest.approx(
        state.asic_th.sum() * plant.asic_keep_per_step
    )
    keep = np.exp(-plant.params.site.infrastructure_depreciation_per_year * plant.dt_days / 365.25)
    assert new.infrastructure_book_usd[0] == pytest.approx(state.infrastructure_book_usd[0] * keep)


def _one_lease(plant: Plant, ready: int) -> tuple[ExogenousPath, NDArray[np.bool_], PlantState]:
    """Seed 0's path with one accepted 5 IT MW lease from step ``ready`` (no end, no default,
    full availability), and a state that holds it."""
    path = sample_paths(plant.params, [0])
    K = plant.n_offers
    path = dataclasses.replace(
        path,
        offer_ready_step=np.full((1, K), ready, dtype=path.offer_ready_step.dtype),
        offer_end_step=np.full((1, K), 1e6),
        offer_it_mw=np.r_[[5.0], np.zeros(K - 1)][None, :],
        tenant_defaulted=np.zeros_like(path.tenant_defaulted),
        availability=np.ones_like(path.availability),
    )
    accepted = np.zeros((1, K), dtype=bool)
    accepted[0, 0] = True
    return path, accepted, _state(plant, lease_accepted=accepted)


def test_lease_revenue_escalates_from_the_ready_by_date() -> None:
    params = load_scenario("default")
    params = dataclasses.replace(params, offers=dataclasses.replace(params.offers, ramp_up_months=0.0))
    plant = Plant(params)
    ready = 100
    path, accepted, state = _one_lease(plant, ready)
    idle = plant.idle_action(1)
    first = plant.dispatch_phase(state, accepted, idle, path, ready).lease_revenue_usd[0]
    later = plant.dispatch_phase(state, accepted, idle, path, ready + 730).lease_revenue_usd[0]
    price = path.offer_price_usd_per_kw_month[0, 0]
    assert first == pytest.approx(5.0 * 1e3 * price * plant.dt_days / (365.25 / 12))
    assert later / first == pytest.approx(1.025 ** (730 / 365.25), rel=1e-12)


def test_a_tenant_takes_its_hall_in_the_ramp_ups_tranches() -> None:
    """6 months in 2 tranches from 50 %: the tenant takes (and pays for, and is served) 50 % of
    its MW for 91 days, 75 % for the next 92, then the whole hall; a hall too small for the
    whole lease pays the late penalty on the share asked for only."""
    params = load_scenario("default")
    offers = dataclasses.replace(
        params.offers,
        escalator_per_year=0.0,
        ramp_up_months=6.0,
        ramp_up_initial_share=0.5,
        ramp_up_tranches=2,
    )
    plant = Plant(dataclasses.replace(params, offers=offers))
    assert plant.lease_ramp == ((0, 91, 0.5), (91, 183, 0.75))
    ready = 100
    path, accepted, state = _one_lease(plant, ready)
    idle = plant.idle_action(1)
    full = 5.0 * 1e3 * path.offer_price_usd_per_kw_month[0, 0] * plant.dt_days / (365.25 / 12)
    # steps visited out of order, so that a kept result from another tranche would show
    for offset, share in [(200, 1.0), (0, 0.5), (90, 0.5), (183, 1.0), (91, 0.75), (182, 0.75)]:
        d = plant.dispatch_phase(state, accepted, idle, path, ready + offset)
        assert d.lease_revenue_usd[0] == pytest.approx(share * full, rel=1e-12), offset
        assert d.lease_power_mw[0] == pytest.approx(share * 5.0 * plant.lease_mw_per_it_mw, rel=1e-12)
    # a hall of 3 facility MW: short of 75 % of 5 IT MW x PUE, the penalty is on what is missing
    small = _state(plant, lease_accepted=accepted, hpc_ready_mw=np.array([3.0]))
    d = plant.dispatch_phase(small, accepted, idle, path, ready + 100)
    asked = 0.75 * 5.0 * plant.lease_mw_per_it_mw
    penalty_per_mw = (
        path.offer_penalty_usd_per_kw_month[0, 0] * plant.kw_month_per_it_mw_step / plant.lease_mw_per_it_mw
    )
    assert d.lease_penalty_usd[0] == pytest.approx(-(asked - 3.0) * penalty_per_mw, rel=1e-12)
