"""Reserve (ancillary-service) commitments: a block ahead, paid per MW-hour held available,
delivered only by running ASICs that switch off on a deployment, penalised when not delivered;
written by the oracle as the plant books them, kept by the rule policy, decoded from the action
and projected by the scheduler; DR calls with notice; bad grid, reserve and DR parameters
refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from hybridrl.baselines.oracle import solve_oracle
from hybridrl.baselines.rules import AlwaysMine, ReserveThreshold
from hybridrl.env.encoding import action_layout, decode_action
from hybridrl.evaluation.rollout import rollout
from hybridrl.sim import CASH_FLOW_TERMS, Plant, ScenarioError, load_scenario, sample_paths
from hybridrl.sim.exogenous import ExogenousPath
from hybridrl.sim.information import PathReveal
from hybridrl.sim.params import ScenarioParams
from hybridrl.sim.plant import NativeAction, PlantState


@pytest.fixture(scope="module")
def hourly() -> ScenarioParams:
    return load_scenario("hourly_ops")


@pytest.fixture(scope="module")
def day(hourly: ScenarioParams) -> ExogenousPath:
    """Row 0's first 24 hours (outside the charged months), with a flat reserve price of 12
    $/MW-h, full availability, no DR call and one deployment, at hour 9."""
    path = sample_paths(hourly, [3]).window(0, 24)
    deployed = np.zeros_like(path.reserve_deployed)
    deployed[0, 9] = True
    return dataclasses.replace(
        path,
        reserve_price_usd_per_mw_h=np.full_like(path.reserve_price_usd_per_mw_h, 12.0),
        reserve_deployed=deployed,
        availability=np.ones_like(path.availability),
        dr_call=np.zeros_like(path.dr_call),
    )


def _act(plant: Plant, run: float, commit_mw: float) -> NativeAction:
    return dataclasses.replace(
        plant.idle_action(1, run_fraction=run), reserve_commit_mw=np.array([commit_mw])
    )


def test_a_commitment_by_hand(hourly: ScenarioParams, day: ExogenousPath) -> None:
    """20 MW committed at hour 0 hold for hours 4-7 (paid 20 x 12 $ an hour, delivered by running
    ASICs); 30 MW committed at hour 4 hold for hours 8-11: at hour 9 the grid deploys, and the
    site keeps running: it pays 1,000 $ per MWh not switched off; at hour 10 it runs nothing: the
    30 MW are not delivered (not running)."""
    plant = Plant(hourly)
    assert plant.reserve_block_steps == 4 and plant.reserve_penalty_usd_per_mwh == 1000.0
    state = plant.initial_state(1)
    plan = {0: (1.0, 20.0), 4: (1.0, 30.0), 10: (0.0, 0.0)}
    run, commit = 1.0, 0.0
    pay, pen, held = [], [], []
    for t in range(day.n_steps):
        run, commit = plan.get(t, (run, 0.0))
        out = plant.step(state, _act(plant, run, commit), day)
        pay.append(float(out.cash_flows_usd["reserve_payment_usd"][0]))
        pen.append(float(out.cash_flows_usd["reserve_penalty_usd"][0]))
        held.append((float(out.state.reserve_mw[0]), float(out.state.reserve_next_mw[0])))
        state = out.state
    assert pay[:4] == [0.0] * 4
    assert pay[4:8] == pytest.approx([20 * 12.0] * 4, rel=1e-12)
    assert pay[8:12] == pytest.approx([30 * 12.0] * 4, rel=1e-12)
    assert pay[12:] == [0.0] * 12
    assert held[0] == (0.0, 20.0) and held[4] == (20.0, 30.0) and held[8] == (30.0, 0.0)
    assert pen[9] == pytest.approx(-30 * 1000.0, rel=1e-12)  # deployed, still running
    assert pen[10] == pytest.approx(-30 * 1000.0, rel=1e-12)  # not deployed, not running
    assert pen[:9] == [0.0] * 9 and pen[11] == pytest.approx(-30 * 1000.0) and pen[12:] == [0.0] * 12


def test_commitments_are_clipped_to_the_installed_asic_mw_and_to_block_starts(
    hourly: ScenarioParams, day: ExogenousPath
) -> None:
    plant = Plant(hourly)
    state = plant.initial_state(1)
    installed = float(plant.asic_installed_mw(state)[0])
    out = plant.step(state, _act(plant, 1.0, 1e6), day)
    assert out.state.reserve_next_mw[0] == pytest.approx(installed)
    assert out.clipped["reserve_commit_mw"][0] == pytest.approx(1e6 - installed)
    out = plant.step(out.state, _act(plant, 1.0, 5.0), day)  # hour 1: no block starts
    assert out.state.reserve_next_mw[0] == pytest.approx(installed)
    assert out.clipped["reserve_commit_mw"][0] == 5.0


def test_the_ledger_closes_and_the_rule_keeps_its_commitments(hourly: ScenarioParams) -> None:
    """reserve_threshold commits, switches the committed MW off in deployments and keeps them
    running otherwise; cash moves by exactly its terms; outside outages and expensive hours it
    pays no penalty."""
    plant = Plant(hourly)
    path = sample_paths(hourly, [5, 6])
    policy = ReserveThreshold()
    reveal = PathReveal(path)
    state = plant.initial_state(2)
    committed_steps = deployed_steps = 0
    while state.t < 24 * 60:  # two months
        action = policy.act(plant, state, reveal.view(state.t))
        out = plant.step(state, action, path)
        terms = sum(out.cash_flows_usd[k] for k in CASH_FLOW_TERMS)
        np.testing.assert_allclose(out.state.cash_usd - state.cash_usd, terms, rtol=0, atol=0.01)
        c = out.state.reserve_mw
        committed_steps += int(np.count_nonzero(c))
        t = state.t
        dep = path.reserve_deployed[:, t]
        deployed_steps += int(np.count_nonzero(dep & (c > 0)))
        calm = (path.availability[:, t] == 1.0) & (path.power_rt_usd_per_mwh[:, t] < 500.0)
        assert np.all(out.cash_flows_usd["reserve_penalty_usd"][calm] > -1e-6)
        available = plant.asic_installed_mw(state) * path.availability[:, t]
        idle = available - out.asic_power_mw
        assert np.all(idle[dep & calm] >= c[dep & calm] - 1e-6)
        state = out.state
    assert committed_steps > 100 and deployed_steps > 0


def test_the_oracle_writes_reserves_as_the_plant_books_them(hourly: ScenarioParams) -> None:
    """A whole year of hourly_ops: the plan commits reserves, replays to its objective, and is
    at least 5 % above always_mine and above reserve_threshold."""
    plant = Plant(hourly)
    path = sample_paths(hourly, [7])
    result = solve_oracle(plant, path, time_limit_s=120.0)
    assert result.status == "optimal" and result.plan is not None
    assert sum(float(a.reserve_commit_mw[0]) for a in result.plan) > 0.0
    state: PlantState = plant.initial_state(1)
    nav0 = plant.nav_usd(state, path)[0]
    paid = 0.0
    for action in result.plan:
        out = plant.step(state, action, path)
        paid += float(out.cash_flows_usd["reserve_payment_usd"][0])
        state = out.state
    assert plant.nav_usd(state, path)[0] - nav0 == pytest.approx(result.objective_usd, rel=1e-6)
    assert paid > 0.0
    always = rollout(plant, path, AlwaysMine()).nav_change_usd[0]
    rule = rollout(plant, path, ReserveThreshold()).nav_change_usd[0]
    assert result.objective_usd >= 1.05 * always and result.objective_usd >= rule


def test_the_action_and_the_scheduler_carry_the_commitment(
    hourly: ScenarioParams, day: ExogenousPath
) -> None:
    plant = Plant(hourly)
    layout = action_layout(plant)
    assert (
        layout.names[-1] == "reserve" and "reserve" not in action_layout(Plant(load_scenario("tiny"))).names
    )
    state = plant.initial_state(1)
    a = np.zeros((1, layout.size))
    a[0, layout.index("reserve")] = 0.5
    installed = plant.asic_installed_mw(state)
    np.testing.assert_allclose(decode_action(plant, state, day, a).reserve_commit_mw, 0.5 * installed)
    later = dataclasses.replace(state, t=1)
    assert decode_action(plant, later, day, a).reserve_commit_mw[0] == 0.0
    fields = {f["name"]: f for f in layout.decision_fields()}
    assert fields["reserve_commit_fraction"]["kind"] == "positive"

    from hybridrl.export.spec import physical_state, site_metadata
    from hybridrl.scheduler.runtime import Scheduler

    scheduler = Scheduler(site_metadata(plant))
    nav = plant.nav_usd(state, day)
    fields_now = {k: float(v[0]) for k, v in physical_state(plant, state, day, nav, nav).items()}
    assert fields_now["reserve_block_start"] == 1.0
    raw = np.zeros(len(layout.decision_fields()))
    raw[fields["reserve_commit_fraction"]["index"]] = 2.0  # more than the fleet
    decision = scheduler.project(raw, fields_now)
    assert decision.reserve_commit_mw == pytest.approx(float(installed[0]))


def _write(tmp_path: Path, body: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "operations.yaml"
    path.write_text(yaml.safe_dump({"extends": "hourly_ops", **body}))
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"grid": {"cp_months": [6, 13]}}, r"grid\.cp_months\[1\]: got 13; allowed: >= 1 and <= 12"),
        ({"grid": {"cp_months": [6, 6]}}, r"grid: cp_months repeats a month"),
        ({"grid": {"cp_charge_usd_per_mw_year": -1.0}}, r"grid\.cp_charge_usd_per_mw_year: got -1\.0"),
        ({"grid": {"load_seasonal_amplitude": 1.5}}, r"grid\.load_seasonal_amplitude: got 1\.5; allowed"),
        ({"grid": {"load_peak_hour": 24.0}}, r"grid\.load_peak_hour: got 24\.0"),
        ({"grid": {"load_mean_gw": "big"}}, r"grid\.load_mean_gw: expected a number"),
        ({"grid": {"cp_month": [6]}}, r"grid\.cp_month: unknown key; allowed keys: .*cp_months"),
        (
            {"reserves": {"block_hours": 1.5}},
            r"reserves\.block_hours \(1\.5\) must be a whole number of steps",
        ),
        ({"reserves": {"block_hours": -4.0}}, r"reserves\.block_hours: got -4\.0; allowed: > 0\.0"),
        ({"reserves": {"penalty_usd_per_mwh": -1.0}}, r"reserves\.penalty_usd_per_mwh: got -1\.0"),
        ({"reserves": {"price_seasonal_amplitude": 1.0}}, r"reserves\.price_seasonal_amplitude: got 1\.0"),
        ({"time": {"investments_enabled": True}}, r"reserves are modelled for operations scenarios"),
        ({"reserves": {"blocks": 4}}, r"reserves\.blocks: unknown key; allowed keys: .*block_hours"),
        ({"power": {"dr_notice_hours": -1.0}}, r"power\.dr_notice_hours: got -1\.0; allowed: >= 0\.0"),
    ],
)
def test_bad_operations_parameters_are_refused_with_file_key_and_range(
    tmp_path: Path,
    body: dict,  # type: ignore[type-arg]
    message: str,
) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ScenarioError, match=message) as info:
        load_scenario(path)
    assert str(path) in str(info.value)


def test_random_dr_calls_come_with_notice_and_price_calls_without(hourly: ScenarioParams) -> None:
    """hourly_ops announces its random DR calls two hours ahead (``dr_notice``, in the
    observation); a call set off by the real-time price is not announced; no notice elsewhere."""
    path = sample_paths(hourly, [0, 1, 2, 3])
    assert hourly.power.dr_notice_hours == 2.0
    scheduled = path.dr_call & (path.power_rt_usd_per_mwh <= hourly.power.dr_trigger_usd_per_mwh)
    rows, steps = np.nonzero(scheduled)
    assert rows.size > 5
    for b, t in zip(rows, steps, strict=True):
        assert path.dr_notice[b, max(t - 2, 0) : t].all()
    announced = np.zeros_like(path.dr_notice)
    announced[:, :-1] |= scheduled[:, 1:]
    announced[:, :-2] |= scheduled[:, 2:]
    np.testing.assert_array_equal(path.dr_notice, announced)
    from hybridrl.env import HybridMineEnv

    assert "dr_notice" in HybridMineEnv(hourly).observation_names
    default = load_scenario("default")
    assert not sample_paths(default, [0]).dr_notice.any()
    assert "dr_notice" not in HybridMineEnv(default).observation_names
