"""Rule-based policies acting in native units on a batch of paths."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from hybridrl.sim.exogenous import MWH_PER_TH_DAY_PER_J_PER_TH, ExogenousPath
from hybridrl.sim.plant import NativeAction, Plant, PlantState


class Policy(Protocol):
    """A decision rule: native action for every row of the batch at the state's time.

    A policy may read the path only at indices <= ``state.t`` (the present and the past).
    """

    name: str

    def act(self, plant: Plant, state: PlantState, path: ExogenousPath) -> NativeAction: ...


class AlwaysMine:
    """Run each ASIC generation whose margin today is positive; never invest or accept offers.

    A generation runs when hashprice x (1 - pool fee) exceeds its energy cost at today's
    real-time price (the opportunity cost of a MWh: unused PPA energy is sold at that price).
    During a demand-response call the idle ASIC capacity is offered as curtailment.
    """

    name = "always_mine"

    def act(self, plant: Plant, state: PlantState, path: ExogenousPath) -> NativeAction:
        t = state.t
        B = state.n_paths
        revenue_usd_per_th_day = path.hashprice_usd_per_ph_day[:, t] * (1.0 - plant.pool_fee) / 1e3
        cost_usd_per_th_day = (
            plant.asic_mw_per_th * 1e6 * MWH_PER_TH_DAY_PER_J_PER_TH * path.power_rt_usd_per_mwh[:, t, None]
        )
        run = (revenue_usd_per_th_day[:, None] > cost_usd_per_th_day).astype(np.float64)
        action = plant.idle_action(B, run_fraction=0.0)
        idle_mw = ((1.0 - run) * state.asic_th) @ plant.asic_mw_per_th * path.availability[:, t]
        return NativeAction(
            asic_run_fraction=run,
            gpu_offer_fraction=action.gpu_offer_fraction,
            asic_order_th=action.asic_order_th,
            gpu_order_nodes=action.gpu_order_nodes,
            retrofit_blocks=action.retrofit_blocks,
            asic_sale_th=action.asic_sale_th,
            accept_offer=action.accept_offer,
            curtail_mw=np.where(path.dr_call[:, t], idle_mw, 0.0),
        )
