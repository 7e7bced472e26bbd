"""The MILP oracle is the plant written as constraints: replaying its plan reproduces its
objective, it is an upper bound on the policies, and small cases are checked by hand and by an
independent solver."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
import yaml

from hybridrl.baselines import RULE_POLICIES
from hybridrl.baselines.milp import Expr, LinearModel
from hybridrl.baselines.oracle import OracleModel, replay, solve_oracle
from hybridrl.evaluation import evaluate
from hybridrl.sim import ExogenousPath, Plant, load_scenario, sample_paths
from hybridrl.sim.exogenous import MWH_PER_TH_DAY_PER_J_PER_TH


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_replay_reproduces_the_objective_on_tiny(seed: int) -> None:
    params = load_scenario("tiny")
    plant = Plant(params)
    path = sample_paths(params, [seed])
    result = solve_oracle(plant, path)
    assert result.status == "optimal" and result.plan is not None
    assert replay(plant, path, result.plan) == pytest.approx(result.objective_usd, rel=1e-6)


def test_replay_reproduces_the_objective_when_tenants_default() -> None:
    """The oracle knows when each tenant defaults (perfect foresight): its leases stop there and
    their value leaves NAV, exactly as in the plant."""
    params = load_scenario("tiny")
    plant = Plant(params)
    path = sample_paths(params, [0])
    steps = np.arange(path.n_steps + 1)[None, :, None]
    defaulted = steps >= (path.offer_ready_step + 2)[:, None, :]
    path = dataclasses.replace(path, tenant_defaulted=defaulted)
    assert defaulted[:, -1].any()
    result = solve_oracle(plant, path)
    assert result.status == "optimal" and result.plan is not None
    assert replay(plant, path, result.plan) == pytest.approx(result.objective_usd, rel=1e-6)
    # with every tenant defaulting two days after its start, the oracle earns no less by not leasing
    no_leases = [dataclasses.replace(a, accept_offer=np.zeros_like(a.accept_offer)) for a in result.plan]
    assert result.objective_usd >= replay(plant, path, no_leases) - 1e-6 * abs(result.objective_usd)


@pytest.mark.parametrize("seed", [0, 1])
def test_replay_reproduces_the_objective_when_tenants_ramp_up(seed: int) -> None:
    """A ramp-up of 9 days in 3 tranches from 20 %: the tranches change inside tiny's 3 weeks,
    and the oracle's served MW, penalties and terminal value follow them as the plant does."""
    params = load_scenario("tiny")
    offers = dataclasses.replace(
        params.offers, ramp_up_months=9 / (365.25 / 12), ramp_up_initial_share=0.2, ramp_up_tranches=3
    )
    plant = Plant(dataclasses.replace(params, offers=offers))
    assert [stop for _, stop, _ in plant.lease_ramp] == [3, 6, 9]
    path = sample_paths(plant.params, [seed])
    result = solve_oracle(plant, path)
    assert result.status == "optimal" and result.plan is not None
    assert any(a.accept_offer.any() for a in result.plan), "the test needs a lease to ramp up"
    assert replay(plant, path, result.plan) == pytest.approx(result.objective_usd, rel=1e-6)
    flat = Plant(dataclasses.replace(params, offers=dataclasses.replace(offers, ramp_up_months=0.0)))
    assert replay(flat, path, result.plan) > replay(plant, path, result.plan)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_replay_reproduces_the_objective_on_default(seed: int) -> None:
    # the full horizon under a time limit: whatever incumbent HiGHS holds, the plant must agree
    params = load_scenario("default")
    plant = Plant(params)
    path = sample_paths(params, [seed])
    result = OracleModel(plant, path).solve(time_limit_s=15, start_from=RULE_POLICIES["greedy"])
    assert result.plan is not None, result.status
    assert replay(plant, path, result.plan) == pytest.approx(result.objective_usd, rel=1e-6)
    if result.status != "optimal":
        assert result.dual_bound_usd >= result.objective_usd and result.mip_gap > 0


@pytest.mark.parametrize("seed", [0, 3])
def test_oracle_is_an_upper_bound_on_every_rule_policy(seed: int) -> None:
    params = load_scenario("tiny")
    plant = Plant(params)
    path = sample_paths(params, [seed])
    result = solve_oracle(plant, path, mip_rel_gap=1e-9)
    assert result.status == "optimal"
    for policy in RULE_POLICIES.values():
        nav = evaluate(policy, params, [seed], path)["nav_change_usd"].iloc[0]
        assert result.objective_usd >= nav - 1e-6 * abs(nav), policy.name


@pytest.mark.parametrize("time_limit_s", [1.0, 10.0])
def test_warm_started_oracle_beats_the_policy_it_starts_from(time_limit_s: float) -> None:
    # 1 s leaves the GPU-relaxed stage no time to improve on the start: the guarantee must hold anyway
    params = load_scenario("default")
    plant = Plant(params)
    path = sample_paths(params, [5])
    policy = RULE_POLICIES["hashprice_threshold"]
    nav = evaluate(policy, params, [5], path)["nav_change_usd"].iloc[0]
    result = OracleModel(plant, path).solve(time_limit_s=time_limit_s, start_from=policy)
    assert result.plan is not None
    assert result.objective_usd >= nav - 1e-6 * abs(nav)
    assert replay(plant, path, result.plan) == pytest.approx(result.objective_usd, rel=1e-6)


def test_reported_bound_is_valid_and_at_most_the_lp_relaxation() -> None:
    """The dual bound comes from the GPU-relaxed MILP: above the plan, below the LP relaxation,
    and the gap is computed from the two."""
    params = load_scenario("default")
    plant = Plant(params)
    model = OracleModel(plant, sample_paths(params, [0]))
    lp = model.lp.solve_highs(relax=np.flatnonzero(model.lp._columns()[3]))
    assert lp.status == "optimal"
    result = model.solve(time_limit_s=10, start_from=RULE_POLICIES["greedy"])
    assert result.plan is not None
    assert result.objective_usd <= result.dual_bound_usd <= lp.objective * 1e6 * (1 + 1e-9)
    gap = (result.dual_bound_usd - result.objective_usd) / result.objective_usd
    assert result.mip_gap == pytest.approx(gap, rel=1e-9)
    assert result.status == ("optimal" if gap <= 1e-4 else "time_limit")


def test_constraint_families_are_named() -> None:
    params = load_scenario("tiny")
    model = OracleModel(Plant(params), sample_paths(params, [0]))
    assert {
        "asic-fleet_balance",
        "asic-mining_space",
        "gpu-hpc_space",
        "finance-cash_balance",
        "finance-capex_budget",
        "lease-room",
    } <= set(model.lp.families)
    assert model.lp.row_names[model.lp.families["finance-cash_balance"][2]] == "finance-cash_balance[2]"


def test_infeasible_world_reports_status_and_gives_no_plan(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # no credit, little cash and an opex no dispatch can cover: bankruptcy cannot be avoided
    path_file = tmp_path / "broke.yaml"
    path_file.write_text(
        yaml.safe_dump(
            {
                "extends": "tiny",
                "finance": {"initial_cash_usd": 1.0e5, "credit_limit_usd": 0.0, "min_liquidity_usd": 0.0},
                "site": {"opex_mining_usd_per_mw_year": 5.0e7},
            }
        )
    )
    params = load_scenario(path_file)
    result = solve_oracle(Plant(params), sample_paths(params, [0]))
    assert result.status == "infeasible" and result.plan is None


def test_time_limit_is_reported_not_hidden() -> None:
    params = load_scenario("default")
    result = OracleModel(Plant(params), sample_paths(params, [0])).solve(time_limit_s=0.5)
    assert result.status != "optimal"
    if result.plan is not None:
        assert result.mip_gap > 0


# --------------------------------------------------------------------------- solved by hand


def _END_FACTOR(n: int) -> np.ndarray:
    return np.r_[0.3, 0.5, np.ones(n - 2)]


def _three_step_world() -> tuple[Plant, ExogenousPath]:
    """Three daily steps, a decision epoch every step, one-day lead times; no offers, no DR, no
    outages. Hashprice 60, 5, 60 $/PH/day at a flat 40 $/MWh; ASIC new prices far above resale."""
    base = load_scenario("tiny")
    params = dataclasses.replace(
        base,
        time=dataclasses.replace(
            base.time, end=base.time.start + dt.timedelta(days=2), decision_every_days=1.0
        ),
        asic_market=dataclasses.replace(base.asic_market, lead_time_days=1.0),
        gpu_market=dataclasses.replace(base.gpu_market, lead_time_days=1.0),
        site=dataclasses.replace(base.site, retrofit_lead_time_days=1.0),
        offers=dataclasses.replace(base.offers, rate_per_year=0.0, window_days=1.0),
    )
    plant = Plant(params)
    path = sample_paths(params, [0])
    T = path.n_steps
    assert T == 3
    G, Gg = plant.n_asic, plant.n_gpu
    ones = np.ones((1, T + 1))
    hand = dataclasses.replace(
        path,
        hashprice_usd_per_ph_day=np.array([[60.0, 5.0, 60.0, 60.0]]),
        power_rt_usd_per_mwh=40.0 * ones,
        dr_call=np.zeros((1, T + 1), dtype=bool),
        availability=ones.copy(),
        asic_price_usd_per_th=np.full((1, T + 1, G), 50.0),
        # resale falls by the end for the two least efficient generations: selling them now pays
        asic_resale_usd_per_th=np.concatenate(
            [
                np.tile(np.linspace(4.0, 12.0, G), (1, T, 1)),
                (np.linspace(4.0, 12.0, G) * _END_FACTOR(G))[None, None],
            ],
            axis=1,
        ),
        gpu_spot_usd_per_gpu_hour=np.full((1, T + 1, Gg), 2.0),
        gpu_utilisation=np.full((1, T + 1, Gg), 0.5),
        gpu_node_capex_usd=np.full((1, T + 1, Gg), 3.0e5),
        gpu_node_resale_usd=np.full((1, T + 1, Gg), 1.0e5),
    )
    return plant, hand


def test_three_step_optimum_by_hand_and_by_scipy() -> None:
    plant, path = _three_step_world()
    model = OracleModel(plant, path)
    result = model.solve(mip_rel_gap=0.0)
    assert result.status == "optimal"

    # by hand: each generation runs while its margin is positive and is then either sold at an
    # epoch s (before that step's dispatch) at that day's resale price, or held and valued at the
    # end. Nothing is bought (new 50 $/TH against resale <= 12; a GPU node loses 200 k$ of value
    # for 3 days of rent). Fixed flows (PPA, opex, depreciation) are the same whatever is chosen.
    p = plant
    th0 = p.initial_state(1).asic_th[0]
    hp = path.hashprice_usd_per_ph_day[0, :3]
    margin = hp[:, None] * (1 - p.pool_fee) / 1e3 - p.asic_efficiency_j_per_th * p.params.site.pue_mining * (
        MWH_PER_TH_DAY_PER_J_PER_TH * 40.0
    )
    keep = p.asic_keep_per_step ** np.arange(3)
    resale = path.asic_resale_usd_per_th[0, 0]
    resale_end = path.asic_resale_usd_per_th[0, 3]
    earned = np.vstack([np.zeros(len(resale)), np.cumsum(np.maximum(margin, 0.0) * keep[:, None], axis=0)])
    hold = earned[3] + resale_end * p.asic_keep_per_step**3
    sell_at = [earned[s] + resale * p.asic_keep_per_step**s for s in range(3)]
    sell = np.max(sell_at, axis=0)
    best_per_th = np.maximum(hold, sell)
    hours = p.hours_per_step
    fixed = 3 * (p._ppa_usd_per_step + p.ppa_mw * 40.0 * hours) - 3 * (
        p.params.site.mining_ready_mw * p.opex_mining_usd_per_mw_step
        + p.params.site.hpc_ready_mw * p.opex_hpc_usd_per_mw_step
    )
    book = p.params.site.infrastructure_book_usd * (p.infrastructure_keep_per_step**3 - 1.0)
    expected = float(th0 @ best_per_th) + fixed + book - float(th0 @ resale)
    assert result.objective_usd == pytest.approx(expected, rel=1e-9)
    assert np.any(hold < sell) and np.any(hold > sell)  # the case exercises both choices
    assert replay(plant, path, result.plan) == pytest.approx(expected, rel=1e-9)

    independent = model.lp.solve_scipy()
    assert independent.status == "optimal"
    assert independent.objective * 1e6 == pytest.approx(expected, rel=1e-9)


def test_relaxed_and_fixed_solves_of_a_two_item_knapsack() -> None:
    # max 5a + 4b, 6a + 4b <= 9, a, b in {0, 1}: the MILP takes a alone (5); relaxing a gives
    # b = 1, a = 5/6 (8.1667); relaxing b gives a = 1, b = 3/4 (8); fixing a = 0 leaves b (4)
    lp = LinearModel(maximize=True)
    a, b = lp.add_vars(1, upper=1.0, integer=True), lp.add_vars(1, upper=1.0, integer=True)
    lp.add_objective(Expr.var(a, 5.0) + Expr.var(b, 4.0))
    lp.add_constraints("capacity", Expr.var(a, 6.0) + Expr.var(b, 4.0), upper=9.0)
    assert lp.solve_highs(mip_rel_gap=0.0).objective == pytest.approx(5.0)
    assert lp.solve_highs(relax=a).objective == pytest.approx(4.0 + 25.0 / 6.0)
    assert lp.solve_highs(relax=b).objective == pytest.approx(8.0)
    fixed = lp.solve_highs(fix=(a, np.zeros(1)))
    assert fixed.objective == pytest.approx(4.0) and fixed.x is not None and fixed.x[a[0]] == 0.0
    assert lp.solve_highs(mip_rel_gap=0.0).objective == pytest.approx(5.0)  # nothing stays relaxed


def test_scipy_agrees_on_a_tiny_path() -> None:
    params = load_scenario("tiny")
    model = OracleModel(Plant(params), sample_paths(params, [1]))
    ours = model.lp.solve_highs(mip_rel_gap=0.0)
    theirs = model.lp.solve_scipy()
    assert ours.status == theirs.status == "optimal"
    assert ours.objective == pytest.approx(theirs.objective, rel=1e-7)


def test_evaluate_oracle_rows_match_the_solver() -> None:
    from hybridrl.evaluation import evaluate_oracle

    frame = evaluate_oracle("tiny", [0, 1])
    assert list(frame["oracle_status"]) == ["optimal", "optimal"]
    np.testing.assert_allclose(frame["nav_change_usd"], frame["oracle_objective_usd"], rtol=1e-6)
    assert {"cash_profit_usd", "btc_mined", "ai_energy_share", "bankrupt"} <= set(frame.columns)


@pytest.mark.parametrize("scenario", ["tiny", "default"])
def test_model_from_a_mid_episode_state_replays_exactly(scenario: str) -> None:
    # what the MPC needs: plan from today's state (orders in the pipelines, leases accepted)
    params = load_scenario(scenario)
    plant = Plant(params)
    path = sample_paths(params, [4])
    # a policy that has orders in flight at t0 on this path
    policy = RULE_POLICIES["static_split" if scenario == "tiny" else "hashprice_threshold"]
    from hybridrl.sim.information import PathReveal

    reveal = PathReveal(path)
    state = plant.initial_state(1)
    t0 = plant.epoch_steps * (1 if scenario == "tiny" else 30)
    for _ in range(t0):
        state = plant.step(state, policy.act(plant, state, reveal.view(state.t)), path).state
    assert state.gpu_on_order_nodes.sum() > 0  # the start carries orders in flight
    if scenario == "default":
        assert state.retrofit_on_order_mw.sum() > 0 and state.lease_accepted.any()
    end = min(path.n_steps, t0 + 90)
    model = OracleModel(plant, path.window(t0, end), start=state)
    result = model.solve(time_limit_s=20)
    assert result.plan is not None, result.status
    one = state
    for action in result.plan:
        one = plant.step(one, action, path).state
    window_end = path.window(t0, end)
    nav_start = plant.nav_usd(dataclasses.replace(state, t=0), window_end)[0]
    nav_end = plant.nav_usd(one, path)[0]
    assert nav_end - nav_start == pytest.approx(result.objective_usd, rel=1e-6)


def test_policy_warm_start_fixes_every_integer_variable() -> None:
    """A start that fixes every integer lets HiGHS complete it with one LP (a partial start costs
    a sub-MIP: ~20 s of a 30 s budget on `default` before this test existed)."""
    params = load_scenario("default")
    plant = Plant(params)
    model = OracleModel(plant, sample_paths(params, [0]), row=0)
    cols, vals = model.integer_start(RULE_POLICIES["hashprice_threshold"])
    integer = model.lp._columns()[3]
    assert sorted(cols.tolist()) == np.flatnonzero(integer).tolist()
    assert np.all(vals == np.round(vals))


def test_a_site_without_hpc_halls_is_feasible_for_the_oracle() -> None:
    """history_2020 starts with no HPC MW, and none can arrive within half a year (the retrofit
    lead time is 280 days): the capacity rows' slack must vanish with the fleet, or the empty
    hall made every such window infeasible."""
    params = load_scenario("history_2020")
    params = dataclasses.replace(params, time=dataclasses.replace(params.time, end=dt.date(2020, 7, 1)))
    plant = Plant(params)
    path = sample_paths(params, [0])
    result = solve_oracle(plant, path)
    assert result.status == "optimal" and result.plan is not None
    assert replay(plant, path, result.plan) == pytest.approx(result.objective_usd, rel=1e-6)
