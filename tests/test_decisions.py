"""The default world must make decisions matter: pivoting to AI hosting changes the outcome
against mining alone, on the same paths, by tens of millions on average (under v1's valuation a
hall and its lease count for the project's NPV, not its capex plus the lease's PV as in v0,
where this gain was over 100 M$ on every path)."""

from __future__ import annotations

import numpy as np

from hybridrl.baselines import AlwaysMine
from hybridrl.env.encoding import action_layout, decode_action
from hybridrl.evaluation import evaluate
from hybridrl.sim import NativeAction, Plant, PlantState, ScenarioParams, sample_paths
from hybridrl.sim.information import PathReveal, PathView


class PivotToHosting:
    """Run everything, sell the least efficient fleet, retrofit at full speed, accept every offer."""

    name = "pivot_to_hosting"

    def act(self, plant: Plant, state: PlantState, view: PathView) -> NativeAction:
        layout = action_layout(plant)
        a = np.full(layout.size, -1.0)
        a[layout.slice("run")] = 1.0
        a[layout.slice("sell").start] = 1.0  # sell the first (least efficient) generation
        a[layout.index("gpu_offer")] = 1.0
        a[layout.index("retrofit")] = 1.0
        a[layout.index("accept_offers")] = 1.0
        return decode_action(plant, state, view, np.tile(a, (state.n_paths, 1)))


def test_pivot_changes_nav_by_a_wide_margin(default_params: ScenarioParams) -> None:
    seeds = list(range(6))
    path = sample_paths(default_params, seeds)
    mine = evaluate(AlwaysMine(), default_params, seeds, path)
    pivot = evaluate(PivotToHosting(), default_params, seeds, path)
    gain = pivot["nav_change_usd"].to_numpy() - mine["nav_change_usd"].to_numpy()
    assert gain.mean() > 30e6, gain  # paired, per path
    assert (gain > 0).sum() >= 4, gain  # on most paths, not on average only
    assert pivot["ai_energy_share"].min() > 0.1 and mine["ai_energy_share"].max() == 0.0
    assert not pivot["bankrupt"].any()


def test_always_mine_switches_off_unprofitable_machines(default_params: ScenarioParams) -> None:
    plant = Plant(default_params)
    path = sample_paths(default_params, [0])
    policy = AlwaysMine()
    state = plant.initial_state(1)
    reveal = PathReveal(path)
    run = []
    for _ in range(default_params.time.n_steps):
        action = policy.act(plant, state, reveal.view(state.t))
        run.append(action.asic_run_fraction[0])
        state = plant.step(state, action, path).state
    run_share = np.array(run).mean(axis=0)
    eff = plant.asic_efficiency_j_per_th
    assert run_share[np.argmin(eff[:3])] >= run_share[np.argmax(eff[:3])]
    assert run_share[np.argmax(eff[:3])] < 1.0  # the least efficient generation is off some of the time
