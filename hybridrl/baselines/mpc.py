"""Rolling-horizon MPC: at each re-planning epoch, forecast the next ``horizon_days`` from what is
known today, solve the oracle's MILP on that forecast from today's plant state (terminal value:
NAV at the horizon's end), and carry out the investment decisions of the plan until the next
re-plan. Dispatch is decided each step from today's observed prices by
:func:`~hybridrl.baselines.rules.rule_dispatch`, the closed-form rule the MILP uses (run,
curtail for DR or idle, whichever earns most; rent GPUs with a positive margin), with energy
priced at the coincident-peak charge it is expected to set where the scenario has a grid.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from hybridrl.baselines.forecast import (
    ConditionalExpectationForecaster,
    Forecaster,
    PersistenceForecaster,
)
from hybridrl.baselines.oracle import OracleModel
from hybridrl.baselines.peaks import PeakRule
from hybridrl.baselines.rules import peak_surcharge_usd_per_mwh, rule_dispatch, with_reserve
from hybridrl.sim.information import PathView
from hybridrl.sim.plant import NativeAction, Plant, PlantState

INVESTMENT_FIELDS = ("asic_order_th", "gpu_order_nodes", "retrofit_blocks", "asic_sale_th", "accept_offer")


@dataclass
class MPC:
    """:param forecaster: where the MPC's view of the future comes from.
    :param horizon_days: planning horizon (default 90 days).
    :param replan_every_days: re-planning interval, a multiple of the decision epoch (default 7).
    :param time_limit_s: time limit of each MILP solve.
    :param mip_rel_gap: relative MIP gap of each solve.
    :param peak_rule: the expected coincident-peak charge its dispatch prices energy with (a
        scenario with a grid; :class:`~hybridrl.baselines.peaks.PeakRule`).
    :param reserve_thresholds: its reserve commitments, as ``reserve_threshold`` makes them with
        these (real-time price threshold in $/MWh, lowest reserve price in $/MW-h).
    """

    forecaster: Forecaster
    horizon_days: float = 90.0
    replan_every_days: float = 7.0
    time_limit_s: float = 10.0
    mip_rel_gap: float = 1e-3
    solve_seconds: list[float] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    peak_rule: PeakRule = field(default_factory=PeakRule)
    reserve_thresholds: tuple[float, float] = (80.0, 10.0)
    _plans: dict[int, tuple[int, list[NativeAction]]] = field(default_factory=dict)
    plans_each_path_alone = True
    """each path's plan depends on that path only: the benchmark may roll paths out in
    separate processes (``n_jobs``)"""

    def __post_init__(self) -> None:
        if self.horizon_days <= 0 or self.replan_every_days <= 0:
            raise ValueError("horizon_days and replan_every_days must be positive")

    @property
    def name(self) -> str:
        return f"mpc_{self.forecaster.name}"

    def act(self, plant: Plant, state: PlantState, view: PathView) -> NativeAction:
        t = state.t
        B = state.n_paths
        surcharge = peak_surcharge_usd_per_mwh(plant, view, self.peak_rule)
        action = rule_dispatch(plant, state, view, surcharge)
        peak_day = self.peak_rule.likely_day(plant.params, view)
        action = with_reserve(plant, state, view, action, *self.reserve_thresholds, surcharge, peak_day)
        if not plant.is_decision_epoch(t):
            return action
        replan_steps = max(plant.epoch_steps, round(self.replan_every_days / plant.dt_days))
        replan_steps -= replan_steps % plant.epoch_steps
        horizon = max(1, round(self.horizon_days / plant.dt_days))
        investments = {name: np.array(getattr(action, name), copy=True) for name in INVESTMENT_FIELDS}
        for b in range(B):
            if t % replan_steps == 0 or b not in self._plans:
                self._replan(plant, state.row(b), view, b, horizon)
            t_plan, plan = self._plans[b]
            k = t - t_plan
            if k < len(plan):
                for name in INVESTMENT_FIELDS:
                    investments[name][b] = getattr(plan[k], name)[0]
        return dataclasses.replace(action, **investments)

    def _replan(self, plant: Plant, state: PlantState, view: PathView, b: int, horizon: int) -> None:
        one = _row_view(view, b)
        steps = min(horizon, view.n_steps - view.t)
        forecast = self.forecaster.forecast(plant.params, one, steps)
        start = time.perf_counter()
        result = OracleModel(plant, forecast, start=state).solve(self.time_limit_s, self.mip_rel_gap)
        self.solve_seconds.append(time.perf_counter() - start)
        self.statuses.append(result.status)
        # without a plan (no solution in time) the MPC invests in nothing until the next re-plan
        self._plans[b] = (view.t, result.plan or [])


FORECASTERS: dict[str, type[Forecaster]] = {
    "conditional_expectation": ConditionalExpectationForecaster,
    "persistence": PersistenceForecaster,
}
"""The MPC's forecasters by name (the benchmark's ``mpc`` list, ``imitation.expert=mpc_<name>``)."""


def mpc_with(forecaster: str) -> MPC:
    """A fresh MPC (default horizon and re-planning) on the forecaster named ``forecaster``."""
    if forecaster not in FORECASTERS:
        raise ValueError(f"unknown forecaster {forecaster!r}; known: {list(FORECASTERS)}")
    return MPC(FORECASTERS[forecaster]())


def _row_view(view: PathView, b: int) -> PathView:
    arrays = {name: value[b : b + 1] for name, value in view.__dict__["_arrays"].items()}
    return PathView(view.t, view.n_steps, view.dt_days, arrays)
