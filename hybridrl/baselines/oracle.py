"""Perfect-foresight MILP oracle: the best plan on one exogenous path, written as the very plant.

Every coefficient comes from :class:`~hybridrl.sim.plant.Plant` and the path; nothing is copied.
One function per constraint family, each with its equation (units in brackets). Indices: t a step,
e a decision epoch at step t_e = e E, g an ASIC generation, j a GPU generation, k a hosting offer;
e(t) is the epoch governing step t. Decision variables (all >= 0):

- s[j,k] facility MW served to lease k in segment j (a run of steps within one epoch in which no
  lease starts or ends); d[t] M$ drawn on credit (interest base); cash[t] M$ (>= -credit line);
- at epochs: sell[e,g], buy[e,g] TH/s; gbuy[e,j] nodes (integer); rb[e] retrofit blocks
  (integer); y[k,e] offer k accepted at an epoch <= e (binary, nondecreasing in e; the
  acceptance at e is x[k,e] = y[k,e] - y[k,e-1]);
- epoch states: F[e,g] TH/s after deliveries and sales; N[e,j] nodes; M[e] mining-ready MW;
  H[e] HPC-ready MW.

Dispatch needs no variables: at each step every unit of installed ASIC capacity runs, is held
off for a demand-response call, or idles, whichever earns most, and every GPU node is rented if
its margin is positive. That choice only ever adds cash at that step, so it is optimal whatever
the investments and financing; the MILP carries its value per unit of installed capacity
(:meth:`OracleModel.dispatch_values`). Reserve commitments couple the hours: with reserves the
ASICs' dispatch is variables (:mod:`hybridrl.baselines.reserve_dispatch`).

The objective is NAV at the end minus NAV at the start (USD), the sum of the environment's
rewards. Replaying :attr:`OracleResult.plan` through the plant reproduces it (tests check 1e-6).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hybridrl.baselines.milp import Expr, LinearModel, SolveResult, concatenated_ranges
from hybridrl.baselines.reserve_dispatch import ReserveDispatch
from hybridrl.baselines.rules import Policy
from hybridrl.economics import asic_best_use, curtail_idle_mw, gpu_margin_usd_per_node_step
from hybridrl.sim.exogenous import ExogenousPath
from hybridrl.sim.information import PathReveal
from hybridrl.sim.plant import NativeAction, Plant, PlantState

FloatArray = NDArray[np.float64]
TH_PER_UNIT = 1e3
"""ASIC variables (r, sell, buy, F) are in PH/s."""
USD_PER_UNIT = 1e6
"""Money rows and the cash and debt variables are in millions of USD, to keep the MILP well scaled."""
CAPACITY_MARGIN_MW = 1e-6
"""Capacity rows keep this slack so that a solution at tolerance never loses a whole node on replay."""
CAPACITY_MARGIN_SHARE = 1e-4
"""The same slack for the fleet rows, as a share of the MW the fleet uses: it vanishes with the
fleet, so that a site with no HPC MW and none arriving within the horizon (a 2020 site) is not
made infeasible by a margin its empty hall cannot give (1e-4 of one 11 kW node is 1.1e-6 MW,
above HiGHS's feasibility tolerance)."""
BUDGET_MARGIN_USD = 1.0
GPU_RELAXED_SHARE = 0.92
"""Share of the time left after the policy runs given to the MILP with GPU node counts relaxed
(the rest is a margin for HiGHS's overrun and the LP that completes its rounded plan: 0.5 s and
0.4-0.6 s on ``default``), unless that leaves more than ``COMPLETION_MARGIN_S``; see
:meth:`OracleModel.solve`."""
POLICY_COMPLETION_LIMIT_S = 120.0
"""Time allowed to the LP that completes the best warm-start policy's integers, the guarantee
that the oracle is never below that policy, whatever the time limit (seconds)."""
COMPLETION_MARGIN_S = 3.0
"""The margin's cap in seconds, so that long time limits go to the search (at 600 s a share
alone would leave 46 s unused)."""


class OracleError(RuntimeError):
    """The oracle has no plan to give (infeasible, unbounded, or no solution within the time limit)."""


@dataclass(frozen=True)
class OracleResult:
    """A perfect-foresight plan and how it was found.

    :param plan: native action for each step (batch of one), or None when there is no solution.
    :param objective_usd: NAV change of the plan according to the model.
    :param status: "optimal", "time_limit" (the plan is the best found; see ``mip_gap``), ...
    """

    plan: list[NativeAction] | None
    objective_usd: float
    status: str
    seconds: float
    mip_gap: float
    dual_bound_usd: float
    n_variables: int
    n_constraints: int


class OracleModel:
    """The MILP of one path; build once, then :meth:`solve`."""

    def __init__(
        self, plant: Plant, path: ExogenousPath, row: int = 0, start: PlantState | None = None
    ) -> None:
        """:param path: the path to plan on; index 0 is the start's time (a whole episode's path
            for the oracle, a forecast window for the MPC).
        :param start: the plant state to plan from (one row; its ``t`` must be a decision epoch
            when investments are on); the scenario's initial state by default."""
        self.plant = plant
        self.path = path.rows(row) if path.n_paths > 1 else path
        start = plant.initial_state(1) if start is None else start
        if start.n_paths != 1:
            raise ValueError("start must hold a single path")
        if plant.investments_enabled and start.t % plant.epoch_steps:
            raise ValueError(f"start.t={start.t} is not a decision epoch (every {plant.epoch_steps} steps)")
        self.start = start
        self.e0 = start.t // plant.epoch_steps
        self.lp = LinearModel(maximize=True)
        self._build()

    # ------------------------------------------------------------------ indices

    def _build(self) -> None:
        p, path, lp = self.plant, self.path, self.lp
        T = path.n_steps
        G, Gg, K = p.n_asic, p.n_gpu, p.n_offers
        self.T = T
        steps = np.arange(T)
        self.invest = p.investments_enabled
        E = p.epoch_steps
        n_e = (T - 1) // E + 1 if self.invest else 1
        self.n_e = n_e
        self.t_e = np.arange(n_e) * E
        self.e_of_t = np.minimum(steps // E, n_e - 1) if self.invest else np.zeros(T, dtype=np.int64)
        # steps since the governing epoch: the fleet decays by keep each step after the epoch
        self.age = steps - self.t_e[self.e_of_t] if self.invest else steps
        init = self.start
        self.A0 = init.asic_th[0] / TH_PER_UNIT
        self.mw_per_unit = self.plant.asic_mw_per_th * TH_PER_UNIT
        self.N0 = init.gpu_nodes[0]
        self.avail = path.availability[0, :T]
        # orders placed before the start, by the relative epoch they arrive at (ring-buffer slots)
        self.pre_asic = self._pre_orders(init.asic_pipeline_th[:, 0] / TH_PER_UNIT)
        self.pre_gpu = self._pre_orders(init.gpu_pipeline_nodes[:, 0])
        self.pre_retrofit = self._pre_orders(init.retrofit_pipeline_mw[:, 0][:, None] / p.retrofit_block_mw)
        self.retrofit_arrival, self.pre_retrofit_arrival = self._retrofit_arrivals()
        self.accepted0 = init.lease_accepted[0]

        self.asic_value, self.asic_runs, self.gpu_value = self.dispatch_values()
        # reserve commitments couple the hours: the ASICs' dispatch becomes variables
        self.reserve = ReserveDispatch(self) if p.reserve_block_steps else None
        cash0 = init.cash_usd[0] / USD_PER_UNIT
        self.cash = lp.add_vars(
            T + 1,
            lower=np.r_[cash0, np.full(T, -p.credit_limit_usd / USD_PER_UNIT)],
            upper=np.r_[cash0, np.full(T, np.inf)],
        )
        self.d = lp.add_vars(T)

        # investment variables and epoch states
        if self.invest:
            asic_on_sale = path.asic_available[0, self.t_e]
            gpu_on_sale = path.gpu_available[0, self.t_e]
            self.sell = lp.add_vars((n_e, G))
            self.buy = lp.add_vars((n_e, G), upper=np.where(asic_on_sale, np.inf, 0.0))
            self.gbuy = lp.add_vars(
                (n_e, Gg), upper=np.where(gpu_on_sale, p.max_gpu_order_nodes, 0.0), integer=True
            )
            self.rb = lp.add_vars(n_e, upper=p.max_retrofit_blocks, integer=True)
            self.F = lp.add_vars((n_e, G))
            self.N = lp.add_vars((n_e, Gg))
            self.M = lp.add_vars(n_e)
            self.H = lp.add_vars(n_e)
            # acceptance candidates: (offer, epoch) pairs inside the offer's window
            arrival, expiry = path.offer_arrival_step[0], path.offer_expiry_step[0]
            pairs = [
                (k, e)
                for k in range(K)
                for e in range(n_e)
                if arrival[k] <= self.t_e[e] < expiry[k] and not self.accepted0[k]
            ]
        else:
            pairs = []
        self.pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        # y[i] = 1 once offer pairs[i, 0] has been accepted at an epoch <= pairs[i, 1]; cumulative,
        # so that "accepted by step t" is one variable and branching is not split across a window
        self.y = lp.add_vars(len(pairs), upper=1.0, integer=True)
        n_pairs = len(pairs)
        same_offer = np.r_[False, self.pairs[1:, 0] == self.pairs[:-1, 0]] if n_pairs else np.zeros(0, bool)
        self.prev_pair = np.where(same_offer, np.arange(n_pairs) - 1, -1)
        self._pair_key = self.pairs[:, 0] * (n_e + 1) + self.pairs[:, 1]
        self.invest_flag: NDArray[np.int64] | None = None  # capex switches, with a covenant only

        # leases: served MW per (segment, offer). A segment is a run of steps within one epoch in
        # which no lease starts or ends, so room and the set of leases in service are constant.
        first_accept = np.where(self.accepted0, 0, T + 1)
        for k, e in pairs:
            first_accept[k] = min(first_accept[k], self.t_e[e])
        ready = path.offer_ready_step[0]
        # first step out of service: the end of the term or the tenant's default (perfect foresight)
        stop = np.ceil(np.minimum(p.lease_terms(path).stop_step[0], T + 1)).astype(np.int64)
        live = first_accept <= T
        ramp = [ready[live] + stop_offset for _, stop_offset, _ in p.lease_ramp]  # tranche changes
        changes = np.concatenate([self.t_e, ready[live], stop[live], [T], *ramp])
        bounds = np.unique(np.clip(changes, 0, T))
        self.seg_start, self.seg_stop = bounds[:-1], bounds[1:]
        sk = [
            (j, k)
            for k in np.flatnonzero(live)
            for j in range(self.seg_start.size)
            if max(ready[k], first_accept[k]) <= self.seg_start[j] and self.seg_stop[j] <= stop[k]
        ]
        self.served_pairs = np.array(sk, dtype=np.int64).reshape(-1, 2)
        self.s = lp.add_vars(len(sk))

        self._fleet_balance()
        self._lease_served_cap()
        self._lease_room()
        self._debt()
        if self.invest:
            self._mining_space()
            self._order_caps()
            self._gpu_hpc_space()
            self._lease_capacity_at_acceptance()
            self._acceptance_monotone()
            self._capex_budget()
        self._cash_balance()
        self._objective()

    def dispatch_values(self) -> tuple[FloatArray, NDArray[np.bool_], FloatArray]:
        """Best dispatch per unit of capacity, each step (USD per step):
        ASIC (T, G) per TH/s installed: availability x max(pool revenue - energy at the RT price,
        DR credit for the MW held off during a call, 0), and whether running is the best use;
        GPU (T, Gg) per node held: availability x max(rent - energy, 0). The energy of a
        coincident-peak step is priced with its transmission charge (:meth:`_peak_surcharge_usd_per_mwh`)."""
        p, path, T = self.plant, self.path, self.T
        rt = path.power_rt_usd_per_mwh[0, :T] + self._peak_surcharge_usd_per_mwh()
        runs, value = asic_best_use(
            p.economics, path.hashprice_usd_per_ph_day[0, :T], rt, path.dr_call[0, :T]
        )
        asic = self.avail[:, None] * value
        gpu_margin = gpu_margin_usd_per_node_step(
            p.economics, path.gpu_spot_usd_per_gpu_hour[0, :T], path.gpu_utilisation[0, :T], rt
        )
        return asic, runs, self.avail[:, None] * np.maximum(gpu_margin, 0.0)

    def _peak_surcharge_usd_per_mwh(self) -> FloatArray:
        """(T,) the transmission charge of a MW drawn at each step, per MWh of that step: the
        charge per peak MW where ``path.cp_peak`` marks the month's coincident peak (its weight,
        for a forecast), else 0."""
        p, T = self.plant, self.T
        return self.path.cp_peak[0, :T] * (p.cp_charge_usd_per_mw / p.hours_per_step)

    def peak_settlements(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """(steps of a coincident peak, the step each is charged at, every settlement step),
        within the horizon, as :meth:`Plant.peak_phase` books them."""
        T = self.T
        peaks = np.flatnonzero(self.path.cp_peak[0, :T])
        settle = np.flatnonzero(self.plant.settlement_steps(self.path)[:T])
        return peaks, settle[np.searchsorted(settle, peaks)], settle

    def _peak_charge_moves(self) -> Expr:
        """grid-peak_charge: the charge of each peak step t, w_t x charge per MW x (MW drawn by
        the ASICs that run and the GPUs offered at t), moved from step t (where the dispatch
        values counted it) to the month's settlement step, as the plant books it; plus the draw
        the start state had accrued, charged at the first settlement  [USD]."""
        p, T = self.plant, self.T
        flows = Expr.zeros(T)
        peaks, at, settle = self.peak_settlements()
        if p.cp_charge_usd_per_mw == 0.0 or (not peaks.size and not self.start.cp_draw_mw[0]):
            return flows
        per_mw = self.path.cp_peak[0, peaks] * p.cp_charge_usd_per_mw * self.avail[peaks]
        asic = per_mw[:, None] * self.asic_runs[peaks] * self.mw_per_unit  # USD per PH/s installed
        util = self.path.gpu_utilisation[0, peaks]
        load = p.gpu_idle_power_fraction + (1.0 - p.gpu_idle_power_fraction) * util
        gpu = per_mw[:, None] * (self.gpu_value[peaks] > 0) * p.gpu_node_mw * load  # USD per node held
        G, Gg = p.n_asic, p.n_gpu
        th, nodes = self._asic_th(peaks), self._nodes(peaks)
        for rows, sign in ((peaks, 1.0), (at, -1.0)):
            if self.reserve is None:  # else the ASICs' charge is the reserve dispatch's
                flows = flows + (th * (sign * asic).ravel()).group_sum(np.repeat(rows, G), T)
            flows = flows + (nodes * (sign * gpu).ravel()).group_sum(np.repeat(rows, Gg), T)
        start_charge = np.zeros(T)
        start_charge[settle[0]] = -self.start.cp_draw_mw[0] * p.cp_charge_usd_per_mw
        return flows + start_charge

    # ------------------------------------------------------------------ helpers

    def _asic_th(self, t: NDArray[np.int64]) -> Expr:
        """Expr rows (len(t) x G): TH/s installed at steps t = keep^(t - t_e) F[e(t)]."""
        p = self.plant
        keep = p.asic_keep_per_step ** self.age[t] if self.invest else p.asic_keep_per_step**t
        if not self.invest:
            return Expr.const_(np.outer(keep, self.A0))
        return Expr.var(self.F[self.e_of_t[t]], np.repeat(keep[:, None], p.n_asic, axis=1))

    def _nodes(self, t: NDArray[np.int64]) -> Expr:
        if not self.invest:
            return Expr.const_(np.tile(self.N0, (len(t), 1)))
        return Expr.var(self.N[self.e_of_t[t]])

    def _pre_orders(self, slots: FloatArray) -> FloatArray:
        """Ring-buffer slots (L, width) of orders placed before the start -> (L, width) by the
        relative epoch they arrive at: slot (e0 + i) mod L arrives at relative epoch i."""
        L = slots.shape[0]
        return slots.reshape(L, -1)[(self.e0 + np.arange(L)) % L]

    def _retrofit_arrivals(self) -> tuple[NDArray[np.int64], FloatArray]:
        """(epoch each retrofit order arrives at (n_e or later: not within the window), blocks
        ordered before the start arriving at each epoch): due one lead time after the order,
        late by the path's ``retrofit_delay_epochs`` of the due date."""
        p, n_e = self.plant, self.n_e
        delay = self.path.retrofit_delay_epochs[0, self.t_e] if self.invest else np.zeros(n_e, dtype=np.int64)

        def arrival(due: NDArray[np.int64]) -> NDArray[np.int64]:
            inside = due < n_e
            return np.where(inside, due + delay[np.minimum(due, n_e - 1)], n_e + due)

        orders = arrival(np.arange(n_e) + p.retrofit_lead_epochs)
        pre = np.zeros(n_e)
        pipeline = self.pre_retrofit[:, 0]
        at = arrival(np.arange(pipeline.size))
        np.add.at(pre, at[at < n_e], pipeline[at < n_e])
        late = self.start.retrofit_late_mw[:, 0] / p.retrofit_block_mw
        L = late.size
        by_epoch = late[(self.e0 + np.arange(L)) % L]  # slot (e0 + j) mod L arrives at epoch j
        n = min(L, n_e)
        pre[:n] += by_epoch[:n]
        self._pre_retrofit_total = float(pipeline.sum() + late.sum())
        return orders, pre

    def _retrofit_delivered(self) -> Expr:
        """Per epoch e: retrofit blocks arriving at e (ordered in the window or before it)."""
        arrival = self.retrofit_arrival
        orders = np.flatnonzero(arrival < self.n_e)
        return Expr(
            self.n_e, arrival[orders], self.rb[orders], np.ones(orders.size), self.pre_retrofit_arrival
        )

    def _retrofit_on_order(self, epochs: NDArray[np.int64]) -> Expr:
        """Per epoch e in ``epochs``: retrofit blocks ordered by e that have not arrived after it."""
        rows, cols = [], []
        for i, e in enumerate(epochs):
            o = np.flatnonzero((np.arange(self.n_e) <= e) & (self.retrofit_arrival > e))
            rows.append(np.full(o.size, i))
            cols.append(self.rb[o])
        arrived_pre = np.cumsum(self.pre_retrofit_arrival)
        const = self._pre_retrofit_total - arrived_pre[np.asarray(epochs)]
        r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        return Expr(len(epochs), r, c, np.ones(r.size), const)

    def _pre_at(self, pre: FloatArray) -> FloatArray:
        """(n_e * width,) pre-existing deliveries at each relative epoch."""
        out = np.zeros((self.n_e, pre.shape[1]))
        n = min(pre.shape[0], self.n_e)
        out[:n] = pre[:n]
        return out.ravel()

    def _pre_after(self, pre: FloatArray, epochs: NDArray[np.int64]) -> FloatArray:
        """(len(epochs) * width,) pre-existing orders still on order after each epoch."""
        later = np.vstack([np.cumsum(pre[::-1], axis=0)[::-1], np.zeros((1, pre.shape[1]))])
        return later[np.minimum(epochs + 1, pre.shape[0])].ravel()

    def _ready(self, t: NDArray[np.int64], which: str) -> Expr:
        """Mining-ready (``M``) or HPC-ready (``H``) MW at steps t."""
        if not self.invest:
            init = self.start
            value = init.mining_ready_mw[0] if which == "M" else init.hpc_ready_mw[0]
            return Expr.const_(np.full(len(t), value))
        return Expr.var(getattr(self, which)[self.e_of_t[t]])

    def _accepted_by(self, k: NDArray[np.int64], t: NDArray[np.int64]) -> Expr:
        """X_k(t): 1 if offer k was accepted before the start or at an epoch t_e <= t (one row per
        (k, t) pair): the cumulative acceptance y of k's last candidate epoch at or before t."""
        k = np.asarray(k, dtype=np.int64)
        t = np.asarray(t, dtype=np.int64)
        const = self.accepted0[k].astype(np.float64)
        if self.y.size == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Expr(k.size, empty, empty, np.zeros(0), const)
        e = np.minimum(t // self.plant.epoch_steps, self.n_e - 1)
        idx = np.searchsorted(self._pair_key, k * (self.n_e + 1) + e, side="right") - 1
        ok = idx >= 0
        ok[ok] = self.pairs[idx[ok], 0] == k[ok]
        rows = np.flatnonzero(ok)
        return Expr(k.size, rows, self.y[idx[ok]], np.ones(rows.size), const)

    def _accepted_at(self) -> Expr:
        """x[k,e] = y[k,e] - y[k,e-1]: offer k accepted at exactly epoch e (one row per candidate)."""
        n = self.y.size
        first = self.prev_pair < 0
        rows = np.r_[np.arange(n), np.flatnonzero(~first)]
        cols = np.r_[self.y, self.y[self.prev_pair[~first]]]
        vals = np.r_[np.ones(n), -np.ones(int((~first).sum()))]
        return Expr(n, rows, cols, vals, np.zeros(n))

    def _window_sum(
        self, var: NDArray[np.int64], lead: int, upto: NDArray[np.int64], pre: FloatArray | None = None
    ) -> Expr:
        """Orders placed at epochs e' in (e - lead, e] for each e in ``upto`` (still on order after
        e), plus orders placed before the start that are still on order (``pre``)."""
        rows, cols = [], []
        width = var.shape[1] if var.ndim == 2 else 1
        v = var.reshape(self.n_e, width)
        for i, e in enumerate(upto):
            lo = max(e - lead + 1, 0)
            block = v[lo : e + 1]
            rows.append(np.repeat(np.arange(width)[None, :] + i * width, block.shape[0], axis=0).ravel())
            cols.append(block.ravel())
        r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        const = np.zeros(len(upto) * width) if pre is None else self._pre_after(pre, np.asarray(upto))
        return Expr(len(upto) * width, r, c, np.ones(r.size), const)

    def _delivered(self, var: NDArray[np.int64], lead: int, pre: FloatArray) -> Expr:
        """Per epoch e: what was ordered at e - lead, or before the start (``pre``) for e < lead."""
        width = var.shape[1] if var.ndim == 2 else 1
        v = var.reshape(self.n_e, width)
        src = np.arange(self.n_e) - lead
        ok = np.repeat(src >= 0, width)
        idx = v[np.maximum(src, 0)].ravel()
        return Expr(self.n_e * width, np.flatnonzero(ok), idx[ok], np.ones(int(ok.sum())), self._pre_at(pre))

    # ------------------------------------------------------------------ constraint families

    def _lagged(self, var: NDArray[np.int64], initial: FloatArray | float) -> Expr:
        """Per epoch e (and column): var[e-1], or the start's value ``initial`` at e = 0."""
        width = var.shape[1] if var.ndim == 2 else 1
        m = self.n_e * width
        start = np.zeros(m)
        start[:width] = initial
        return Expr(m, np.arange(width, m), var[:-1].ravel(), np.ones(m - width), start)

    def _fleet_balance(self) -> None:
        """asic-fleet_balance: F[e,g] = keep^E F[e-1,g] + buy[e-La,g] - sell[e,g]  [TH/s];
        gpu-fleet_balance: N[e,j] = N[e-1,j] + gbuy[e-Lg,j]  [nodes];
        site-mining_ready: M[e] = M[e-1] - block rb[e];
        site-hpc_ready: H[e] = H[e-1] + block rb[e-Lr]  [MW]."""
        if not self.invest:
            return
        p, lp, init = self.plant, self.lp, self.start
        keep_E = p.asic_keep_per_step ** np.diff(np.r_[0, self.t_e])  # decay since the previous epoch
        kept = self._lagged(self.F, self.A0) * np.repeat(keep_E, p.n_asic)
        arrived = self._delivered(self.buy, p.asic_lead_epochs, self.pre_asic)
        lp.add_constraints(
            "asic-fleet_balance", Expr.var(self.F) - kept - arrived + Expr.var(self.sell), 0.0, 0.0
        )
        arrived = self._delivered(self.gbuy, p.gpu_lead_epochs, self.pre_gpu)
        lp.add_constraints(
            "gpu-fleet_balance", Expr.var(self.N) - self._lagged(self.N, self.N0) - arrived, 0.0, 0.0
        )
        block = p.retrofit_block_mw
        lagged_M = self._lagged(self.M, init.mining_ready_mw[0])
        lp.add_constraints(
            "site-mining_ready", Expr.var(self.M) - lagged_M + Expr.var(self.rb, block), 0.0, 0.0
        )
        arrived = self._retrofit_delivered() * block
        lagged_H = self._lagged(self.H, init.hpc_ready_mw[0])
        lp.add_constraints("site-hpc_ready", Expr.var(self.H) - lagged_H - arrived, 0.0, 0.0)

    def _lease_served_cap(self) -> None:
        """lease-served_cap: s[j,k] <= facility_mw_k share_k(t_j) X_k(t_j)  [MW] for each segment
        j (share: the ramp-up's, Plant.lease_share)."""
        if self.s.size == 0:
            return
        k = self.served_pairs[:, 1]
        t = self.seg_start[self.served_pairs[:, 0]]
        share = self.plant.lease_share(t, self.path.offer_ready_step[0, k])
        facility = self.plant.lease_terms(self.path).facility_mw[0, k] * share
        self.lp.add_constraints(
            "lease-served_cap", Expr.var(self.s) - self._accepted_by(k, t) * facility, upper=0.0
        )

    def _lease_room(self) -> None:
        """lease-room: sum_k s[j,k] <= H[e(j)] - sum_i node_mw_i N[e(j),i]  [MW] for each segment j."""
        if self.s.size == 0:
            return
        p = self.plant
        seg_used = np.unique(self.served_pairs[:, 0])
        pos = np.searchsorted(seg_used, self.served_pairs[:, 0])
        served = Expr.var(self.s).group_sum(pos, seg_used.size)
        t_used = self.seg_start[seg_used]
        gpu_mw = self._nodes(t_used) * np.tile(p.gpu_node_mw, t_used.size)
        gpu_mw = gpu_mw.group_sum(np.repeat(np.arange(t_used.size), p.n_gpu), t_used.size)
        self.lp.add_constraints(
            "lease-room", served + gpu_mw - self._ready(t_used, "H"), upper=0.0, labels=seg_used
        )

    def _debt(self) -> None:
        """finance-debt: d[t] >= -cash[t]  [M$] (interest is paid on d)."""
        self.lp.add_constraints("finance-debt", Expr.var(self.d) + Expr.var(self.cash[:-1]), lower=0.0)

    def _mining_space(self) -> None:
        """asic-mining_space: sum_g mw_g (F[e,g] + on order after e) <= M[e]  [MW]."""
        p = self.plant
        G, n_e = p.n_asic, self.n_e
        epochs = np.arange(n_e)
        held = Expr.var(self.F) + self._window_sum(self.buy, p.asic_lead_epochs, epochs, self.pre_asic)
        used = (held * np.tile(self.mw_per_unit, n_e)).group_sum(np.repeat(epochs, G), n_e)
        self.lp.add_constraints(
            "asic-mining_space", used * (1.0 + CAPACITY_MARGIN_SHARE) - Expr.var(self.M), upper=0.0
        )

    def _order_caps(self) -> None:
        """asic-order_cap: sum_g mw_g buy[e,g] <= max MW per epoch;
        gpu-order_cap: sum_j gbuy[e,j] <= max nodes per epoch."""
        p, n_e = self.plant, self.n_e
        grp_a = np.repeat(np.arange(n_e), p.n_asic)
        self.lp.add_constraints(
            "asic-order_cap",
            Expr.var(self.buy, self.mw_per_unit).group_sum(grp_a, n_e),
            upper=p.max_asic_order_mw,
        )
        grp_g = np.repeat(np.arange(n_e), p.n_gpu)
        self.lp.add_constraints(
            "gpu-order_cap", Expr.var(self.gbuy).group_sum(grp_g, n_e), upper=p.max_gpu_order_nodes
        )

    def _gpu_on_order_mw(self, epochs: NDArray[np.int64]) -> Expr:
        p = self.plant
        nodes = Expr.var(self.N[epochs]) + self._window_sum(
            self.gbuy, p.gpu_lead_epochs, epochs, self.pre_gpu
        )
        return (nodes * np.tile(p.gpu_node_mw, epochs.size)).group_sum(
            np.repeat(np.arange(epochs.size), p.n_gpu), epochs.size
        )

    def _gpu_hpc_space(self) -> None:
        """gpu-hpc_space: sum_j node_mw_j (N[e,j] + on order after e) <= H[e]  [MW]."""
        epochs = np.arange(self.n_e)
        used = self._gpu_on_order_mw(epochs) * (1.0 + CAPACITY_MARGIN_SHARE)
        self.lp.add_constraints("gpu-hpc_space", used - Expr.var(self.H), upper=0.0)

    def _lease_capacity_at_acceptance(self) -> None:
        """lease-capacity: for each candidate (k, e), if x[k,e] = 1:
        sum_k' facility_k' X_k'(t_e) [live at t_e]
            <= H[e] + retrofit on order - GPU MW (held + on order)  [MW].
        Written with a big-M that switches the row off when x[k,e] = 0."""
        if self.y.size == 0:
            return
        p, path = self.plant, self.path
        facility = p.lease_terms(path).facility_mw[0]
        end = p.lease_terms(path).stop_step[0]  # a defaulted lease no longer reserves its hall
        # reserved <= H + retrofit on order always holds (lease-capacity_total), so GPU MW, at most
        # the interconnection, bounds how far the row can be off when x[k,e] = 0
        big_m = float(p.interconnection_mw)
        rows, totals = [], []
        for _, e in self.pairs:
            te = self.t_e[e]
            live = np.flatnonzero(te < end)
            reserved = (self._accepted_by(live, np.full(live.size, te)) * facility[live]).sum()
            cap = (
                Expr.var(self.H[e : e + 1])
                + self._retrofit_on_order(np.array([e])) * p.retrofit_block_mw
                - self._gpu_on_order_mw(np.array([e]))
            )
            rows.append(reserved - cap)
        self.lp.add_constraints(
            "lease-capacity",
            _stack(rows) + self._accepted_at() * big_m - big_m,
            upper=-CAPACITY_MARGIN_MW,
            labels=[f"{k},{e}" for k, e in self.pairs],
        )
        # valid for every epoch from the first acceptance on: capacity built or under retrofit never
        # shrinks and reserved MW only grow by accepted offers, each checked when accepted
        for e in range(int(self.pairs[:, 1].min()), self.n_e):
            te = self.t_e[e]
            live = np.flatnonzero((te < end) & (path.offer_arrival_step[0] <= te))
            reserved = (self._accepted_by(live, np.full(live.size, te)) * facility[live]).sum()
            cap = Expr.var(self.H[e : e + 1]) + self._retrofit_on_order(np.array([e])) * p.retrofit_block_mw
            totals.append(reserved - cap)
        self.lp.add_constraints("lease-capacity_total", _stack(totals), upper=0.0)

    def _acceptance_monotone(self) -> None:
        """lease-accepted_monotone: y[k,e] - y[k,e-1] >= 0: an offer is accepted at most once and
        stays accepted."""
        later = np.flatnonzero(self.prev_pair >= 0)
        if later.size:
            self.lp.add_constraints(
                "lease-accepted_monotone", self._accepted_at().take(later), lower=0.0, labels=later
            )

    def _epoch_cash_flows(self, include_sales: bool = True) -> Expr:
        """Per epoch: asic sales - asic capex - gpu capex - retrofit capex  [USD]."""
        p, path, n_e = self.plant, self.path, self.n_e
        te = self.t_e
        resale = path.asic_resale_usd_per_th[0, te]
        price = path.asic_price_usd_per_th[0, te]
        capex = path.gpu_node_capex_usd[0, te]
        grp_a = np.repeat(np.arange(n_e), p.n_asic)
        grp_g = np.repeat(np.arange(n_e), p.n_gpu)
        sales = Expr.var(self.sell, resale * TH_PER_UNIT).group_sum(grp_a, n_e) * float(include_sales)
        return (
            sales
            - Expr.var(self.buy, price * TH_PER_UNIT).group_sum(grp_a, n_e)
            - Expr.var(self.gbuy, capex).group_sum(grp_g, n_e)
            - Expr.var(self.rb, p.retrofit_capex_usd_per_block)
        )

    def _capex_budget(self) -> None:
        """finance-capex_budget: if anything is bought at epoch e (z[e] = 1),
        cash[t_e] + credit - covenant + sales - capex >= 0  [M$];
        finance-capex_switch: capex[e] <= CAPEX_CAP z[e]  [M$].
        The plant lets cash sit between the covenant and the credit limit as long as nothing is
        bought, so with a covenant the budget row is switched off by z[e] = 0; its big-M is the
        covenant itself (cash >= -credit always holds), which keeps the relaxation tight."""
        p = self.plant
        flows = self._epoch_cash_flows()
        expr = Expr.var(self.cash[self.t_e], USD_PER_UNIT) + flows + p.capex_budget_offset_usd
        covenant = p.credit_limit_usd - p.capex_budget_offset_usd
        if covenant <= 0:
            self.lp.add_constraints(
                "finance-capex_budget", expr * (1 / USD_PER_UNIT), lower=BUDGET_MARGIN_USD / USD_PER_UNIT
            )
            return
        z = self.lp.add_vars(self.n_e, upper=1.0, integer=True)
        self.invest_flag = z
        relaxed = expr * (1 / USD_PER_UNIT) - Expr.var(z, covenant / USD_PER_UNIT)
        self.lp.add_constraints(
            "finance-capex_budget", relaxed, lower=(BUDGET_MARGIN_USD - covenant) / USD_PER_UNIT
        )
        # capex = purchases (the negative part of the epoch flows without sales)
        purchases = self._epoch_cash_flows(include_sales=False) * (-1 / USD_PER_UNIT)
        self.lp.add_constraints(
            "finance-capex_switch", purchases - Expr.var(z, self._max_capex_usd() / USD_PER_UNIT), upper=0.0
        )

    def _max_capex_usd(self) -> FloatArray:
        """(n_e,) the most an epoch can spend: the order caps at that epoch's prices (a tight big-M)."""
        p, path, te = self.plant, self.path, self.t_e
        asic_usd_per_mw = np.where(path.asic_available[0, te], path.asic_price_usd_per_th[0, te], 0.0) / (
            p.asic_mw_per_th
        )
        gpu = np.where(path.gpu_available[0, te], path.gpu_node_capex_usd[0, te], 0.0)
        return (
            asic_usd_per_mw.max(axis=1) * p.max_asic_order_mw
            + gpu.max(axis=1) * p.max_gpu_order_nodes
            + p.retrofit_capex_usd_per_block * p.max_retrofit_blocks
            + 1.0
        )

    def _step_cash_flows(self) -> Expr:
        """Every cash flow of each step t, as in Plant.step  [USD]."""
        p, path, T = self.plant, self.path, self.T
        G, Gg = p.n_asic, p.n_gpu
        steps = np.arange(T)
        hours = p.hours_per_step
        rt = path.power_rt_usd_per_mwh[0, :T]
        grp_a = np.repeat(steps, G)
        grp_g = np.repeat(steps, Gg)
        if self.reserve is None:
            flows = (self._asic_th(steps) * (self.asic_value * TH_PER_UNIT).ravel()).group_sum(grp_a, T)
        else:
            flows = self.reserve.cash_flows()
        per_node = self.gpu_value - p.gpu_opex_usd_per_node_step  # rent margin less fixed node opex
        flows = flows + (self._nodes(steps) * per_node.ravel()).group_sum(grp_g, T)
        flows = flows + (p._ppa_usd_per_step + p.ppa_mw * rt * hours)
        flows = flows - self._ready(steps, "M") * p.opex_mining_usd_per_mw_step
        flows = flows - self._ready(steps, "H") * p.opex_hpc_usd_per_mw_step
        flows = flows - Expr.var(self.d, p.interest_per_step * USD_PER_UNIT)
        flows = flows + self._peak_charge_moves()
        if self.s.size:
            lt = p.lease_terms(path)
            j, k = self.served_pairs[:, 0], self.served_pairs[:, 1]
            length = self.seg_stop[j] - self.seg_start[j]
            pair = np.repeat(np.arange(j.size), length)  # one entry per (step, served pair)
            t = concatenated_ranges(self.seg_start[j], length)
            k = k[pair]
            growth = p.lease_growth(t, path.offer_ready_step[0, k])
            rev = (lt.revenue_per_mw_step[0, k] * growth - p.lease_serving_usd_per_mw_step) * self.avail[t]
            pen = lt.penalty_per_mw_step[0, k] * growth
            demand = lt.facility_mw[0, k] * p.lease_share(t, path.offer_ready_step[0, k])
            lease = Expr.var(self.s[pair], rev + pen) - self._accepted_by(k, t) * (demand * pen)
            flows = flows + lease.group_sum(t, T)
        if self.invest:
            epoch = self._epoch_cash_flows()
            flows = flows + Expr(
                T,
                self.t_e[epoch.rows],
                epoch.cols,
                epoch.vals,
                np.bincount(self.t_e, weights=epoch.const, minlength=T).astype(np.float64),
            )
        return flows

    def _cash_balance(self) -> None:
        """finance-cash_balance: cash[t+1] = cash[t] + cash flows of step t  [M$]."""
        flows = self._step_cash_flows() * (1 / USD_PER_UNIT)
        self.lp.add_constraints(
            "finance-cash_balance", Expr.var(self.cash[1:]) - Expr.var(self.cash[:-1]) - flows, 0.0, 0.0
        )

    def _objective(self) -> None:
        """NAV(T) - NAV(0): cash + hardware at resale + book value + lease backlog at the end  [USD]."""
        p, path, T = self.plant, self.path, self.T
        nav = Expr.var(self.cash[T : T + 1], USD_PER_UNIT)
        resale = path.asic_resale_usd_per_th[0, T]
        gresale = path.gpu_node_resale_usd[0, T]
        init = self.start
        book0 = init.infrastructure_book_usd[0] * p.infrastructure_keep_per_step**T
        if self.invest:
            last = self.n_e - 1
            keep_T = p.asic_keep_per_step ** (T - self.t_e[last])
            nav = nav + Expr.var(self.F[last], resale * keep_T * TH_PER_UNIT).sum()
            nav = nav + Expr.var(self.N[last], gresale).sum()
            undelivered = np.flatnonzero(np.arange(self.n_e) + p.asic_lead_epochs >= self.n_e)
            nav = nav + Expr.var(self.buy[undelivered], resale * TH_PER_UNIT).sum()
            undelivered = np.flatnonzero(np.arange(self.n_e) + p.gpu_lead_epochs >= self.n_e)
            nav = nav + Expr.var(self.gbuy[undelivered], gresale).sum()
            # orders placed before the start and still not delivered at the end
            nav = nav + float(self.pre_asic[self.n_e :].sum(axis=0) @ resale) * TH_PER_UNIT
            nav = nav + float(self.pre_gpu[self.n_e :].sum(axis=0) @ gresale)
            book_keep = p.infrastructure_keep_per_step ** (T - self.t_e)
            nav = nav + Expr.var(self.rb, p.retrofit_capex_usd_per_block * book_keep).sum()
        else:
            nav = nav + float(self.A0 @ resale * TH_PER_UNIT * p.asic_keep_per_step**T + self.N0 @ gresale)
        nav = nav + book0
        if self.y.size or self.accepted0.any():
            nav = nav + self._lease_value_at_end()
        nav0 = p.nav_usd(dataclasses.replace(init, t=0), path)[0]
        self.lp.add_objective((nav - nav0) * (1 / USD_PER_UNIT))

    def _lease_value_at_end(self) -> Expr:
        """What the accepted leases add to NAV(T), as in Plant.nav_breakdown_usd  [USD]: the
        margin still to come, plus the leased-hall term hall_book_k(T) x factor_k(T), where a
        lease accepted at epoch e carries hall book facility_k x retrofit capex per MW x
        keep^(T - t_e) (one coefficient per acceptance candidate, on x[k,e])."""
        p, path, T = self.plant, self.path, self.T
        ks = np.arange(p.n_offers)
        margin = (self._accepted_by(ks, np.full(p.n_offers, T)) * p.offer_backlog_usd(path, T)[0]).sum()
        factor = p.leased_hall_factor(path, T)[0]
        hall0 = self.start.lease_hall_book_usd[0] * p.infrastructure_keep_per_step**T
        value = margin + float(hall0 @ factor)
        if self.y.size:
            k, te = self.pairs[:, 0], self.t_e[self.pairs[:, 1]]
            facility = p.lease_terms(path).facility_mw[0, k]
            hall = facility * p.retrofit_capex_usd_per_mw * p.infrastructure_keep_per_step ** (T - te)
            value = value + (self._accepted_at() * (hall * factor[k])).sum()
        return value

    # ------------------------------------------------------------------ solve and plan

    def integer_start(self, policy: Policy) -> tuple[NDArray[np.int64], FloatArray]:
        """The integer decisions ``policy`` takes on this path (GPU orders, retrofit blocks, offer
        acceptances), as a partial MILP solution: HiGHS completes it into an incumbent at least as
        good as the policy (same integers, best continuous decisions)."""
        return self._policy_run(policy)[1]

    def _best_run(self, policies: Sequence[Policy]) -> tuple[float, tuple[NDArray[np.int64], FloatArray]]:
        """(NAV change in USD, integer decisions) of whichever policy ends with the highest NAV on
        this path (bankrupt runs are skipped: their decisions cannot be completed into a plan)."""
        runs = [self._policy_run(policy) for policy in policies]
        solvent = [run for run in runs if not run[2]] or runs
        best = max(solvent, key=lambda run: run[0])
        return best[0], best[1]

    def _policy_run(self, policy: Policy) -> tuple[float, tuple[NDArray[np.int64], FloatArray], bool]:
        """(NAV change, integer decisions, went bankrupt) of ``policy`` on this path."""
        p, path = self.plant, self.path
        if self.start.t != 0:
            raise ValueError("a policy warm start needs a model that starts at the episode's start")
        state = self.start
        nav0 = p.nav_usd(state, path)[0]
        reveal = PathReveal(path)
        gbuy = np.zeros((self.n_e, p.n_gpu))
        rb = np.zeros(self.n_e)
        bought = np.zeros(self.n_e, dtype=bool)
        accepted_at = np.full(p.n_offers, -1)
        for t in range(self.T):
            nxt = p.step(state, policy.act(p, state, reveal.view(t)), path).state
            if self.invest and p.is_decision_epoch(t):
                e = t // p.epoch_steps
                gbuy[e] = nxt.gpu_pipeline_nodes[e % p.gpu_lead_epochs, 0]
                rb[e] = nxt.retrofit_pipeline_mw[e % p.retrofit_lead_epochs, 0] / p.retrofit_block_mw
                asic_bought = nxt.asic_pipeline_th[e % p.asic_lead_epochs, 0].sum() > 0
                bought[e] = asic_bought or gbuy[e].sum() > 0 or rb[e] > 0
                new = np.flatnonzero(nxt.lease_accepted[0] & ~state.lease_accepted[0])
                accepted_at[new] = e
            state = nxt
            if state.bankrupt[0]:
                break
        nav = float(p.nav_usd(state, path)[0] - nav0)
        cols = [self.gbuy.ravel(), self.rb] if self.invest else []
        vals = [np.round(gbuy).ravel(), np.round(rb)] if self.invest else []
        if self.y.size:
            cols.append(self.y)
            when = accepted_at[self.pairs[:, 0]]
            vals.append(((when >= 0) & (when <= self.pairs[:, 1])).astype(np.float64))
        if self.invest and self.invest_flag is not None:
            # the capex switches too, so that the start fixes every integer and HiGHS completes
            # it with an LP instead of a sub-MIP
            cols.append(self.invest_flag)
            vals.append(bought.astype(np.float64))
        if not cols:
            return nav, (np.zeros(0, dtype=np.int64), np.zeros(0)), bool(state.bankrupt[0])
        return nav, (np.concatenate(cols), np.concatenate(vals)), bool(state.bankrupt[0])

    def solve(
        self,
        time_limit_s: float = 60.0,
        mip_rel_gap: float = 1e-4,
        start_from: Policy | Sequence[Policy] | None = None,
    ) -> OracleResult:
        """Solve within ``time_limit_s`` (wall clock, the policy runs of ``start_from`` included);
        ``start_from`` seeds the search with a policy's integer decisions (or with the best, on
        this path, of several policies).

        With GPU orders to decide: (1) the MILP with GPU node counts relaxed to continuous, for
        most of the time. It is a relaxation, so its dual bound bounds the oracle, and without
        hundreds of general integers HiGHS's root cuts take seconds instead of minutes (on
        ``default`` the full MILP's first cut round alone outlasts a 30 s limit). (2) Its plan
        with node counts rounded down, every integer then fixed, is completed by one LP: fewer
        nodes never need more room, capex or lease capacity, and the LP re-checks cash. (3) If
        stage 1 finished in time but the plan is not within ``mip_rel_gap`` of its bound, or the
        rounded plan cannot be completed, the full MILP goes on for the time left. The plan is
        never worse than the best ``start_from`` policy: if it would be, that policy's decisions
        are completed instead."""
        began = time.perf_counter()
        deadline = began + time_limit_s
        policy_nav, policy_start = None, None
        if start_from is not None:
            policies = list(start_from) if isinstance(start_from, Sequence) else [start_from]
            policy_nav, policy_start = self._best_run(policies)
        gpu = self.gbuy.ravel() if self.invest else np.zeros(0, dtype=np.int64)
        if gpu.size == 0:
            res = self.lp.solve_highs(time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, start=policy_start)
            return self._result(res, res.dual_bound, began, proven=res.status == "optimal")
        left = deadline - time.perf_counter()
        relaxed = self.lp.solve_highs(
            time_limit_s=max(left - min((1.0 - GPU_RELAXED_SHARE) * left, COMPLETION_MARGIN_S), 0.0),
            mip_rel_gap=mip_rel_gap,
            start=_drop_columns(policy_start, gpu),
            relax=gpu,
        )
        if relaxed.status in ("infeasible", "unbounded"):
            return self._result(relaxed, relaxed.dual_bound, began, proven=False)
        bound = relaxed.dual_bound
        res, proven = dataclasses.replace(relaxed, x=None), False  # a relaxed solution is no plan
        start = policy_start
        if relaxed.x is not None:
            ints = np.flatnonzero(np.concatenate(self.lp.integer))
            vals = np.round(relaxed.x[ints])
            is_gpu = np.isin(ints, gpu)
            vals[is_gpu] = np.floor(relaxed.x[ints[is_gpu]] + 1e-6)
            completed = self.lp.solve_highs(time_limit_s=time_limit_s, fix=(ints, vals))
            if completed.x is not None:
                res, start = completed, (ints, vals)
        # the full MILP goes on when the relaxed one was solved in time (a proof may be near) or
        # when there is no plan yet; after a time-limited stage 1 the time left is the LP's margin
        unproven = relaxed.status == "optimal" and _gap(bound, res.objective) > mip_rel_gap
        if (res.x is None or unproven) and time.perf_counter() < deadline:
            full = self.lp.solve_highs(
                time_limit_s=deadline - time.perf_counter(), mip_rel_gap=mip_rel_gap, start=start
            )
            if full.status in ("infeasible", "unbounded"):
                return self._result(full, full.dual_bound, began, proven=False)
            bound = min(bound, full.dual_bound)
            res = _better(res, full)  # never worse than full's plan: full's proof covers it too
            proven = full.status == "optimal"
        if policy_start is not None and policy_nav is not None:
            policy_musd = policy_nav / USD_PER_UNIT
            if res.x is None or res.objective < policy_musd - 1e-9 * max(abs(policy_musd), 1.0):
                # completing the policy's integers is one LP: worth its seconds past the deadline
                # (not bounded by a short limit: on a busy machine that LP alone can outlast 1 s)
                limit = max(time_limit_s, POLICY_COMPLETION_LIMIT_S)
                res = _better(res, self.lp.solve_highs(time_limit_s=limit, fix=policy_start))
        proven = proven or (res.x is not None and _gap(bound, res.objective) <= mip_rel_gap)
        return self._result(res, bound, began, proven)

    def _result(self, res: SolveResult, bound: float, began: float, proven: bool) -> OracleResult:
        """The plan of ``res`` with the search's statistics: ``bound`` its dual bound (M$),
        ``proven`` whether the plan is optimal within the gap, the seconds since ``began``. The
        status is the search's, not that of the solve (perhaps an LP) that gave the plan."""
        status, gap = res.status, res.mip_gap
        if res.x is not None:
            status = "optimal" if proven else "time_limit"
            gap = _gap(bound, res.objective) if np.isfinite(bound) else gap
        return OracleResult(
            plan=self.plan(res.x) if res.x is not None else None,
            objective_usd=res.objective * USD_PER_UNIT,
            status=status,
            seconds=time.perf_counter() - began,
            mip_gap=gap,
            dual_bound_usd=bound * USD_PER_UNIT,
            n_variables=self.lp.n,
            n_constraints=self.lp.m,
        )

    def plan(self, x: FloatArray) -> list[NativeAction]:
        """Native actions (batch of one) of a solution vector."""
        p, T = self.plant, self.T
        G, Gg, K = p.n_asic, p.n_gpu, p.n_offers
        steps = np.arange(T)
        asic_th_avail = (self._asic_th(steps).value(x).reshape(T, G) * TH_PER_UNIT) * self.avail[:, None]
        run = self.asic_runs.astype(np.float64)
        dr = self.path.dr_call[0, :T]
        curtail = curtail_idle_mw(p.economics, run, asic_th_avail, np.ones(T), dr)  # availability in th
        commit = np.zeros(T)
        if self.reserve is not None:
            run, curtail, commit = self.reserve.plan_values(x)
        offer = (self.gpu_value > 0).astype(np.float64)
        sale = np.zeros((T, G))
        buy = np.zeros((T, G))
        gbuy = np.zeros((T, Gg))
        rb = np.zeros(T)
        accept = np.zeros((T, K), dtype=bool)
        if self.invest:
            sale[self.t_e] = np.maximum(x[self.sell], 0.0) * TH_PER_UNIT
            buy[self.t_e] = np.maximum(x[self.buy], 0.0) * TH_PER_UNIT
            gbuy[self.t_e] = np.round(x[self.gbuy])
            rb[self.t_e] = np.round(x[self.rb])
            at = self._accepted_at().value(x) > 0.5
            accept[self.t_e[self.pairs[at, 1]], self.pairs[at, 0]] = True
        return [
            NativeAction(
                asic_run_fraction=run[t][None],
                gpu_offer_fraction=offer[t][None],
                asic_order_th=buy[t][None],
                gpu_order_nodes=gbuy[t][None],
                retrofit_blocks=rb[t : t + 1],
                asic_sale_th=sale[t][None],
                accept_offer=accept[t][None],
                curtail_mw=curtail[t : t + 1],
                reserve_commit_mw=commit[t : t + 1],
            )
            for t in range(T)
        ]


def _gap(bound: float, objective: float) -> float:
    """Relative MIP gap of ``objective`` below the dual ``bound`` (maximisation), as HiGHS reports it."""
    return max(bound - objective, 0.0) / max(abs(objective), 1e-9)


def _better(a: SolveResult, b: SolveResult) -> SolveResult:
    """The solve with the better plan (maximisation); ``a`` when neither has one."""
    if b.x is not None and (a.x is None or b.objective > a.objective):
        return b
    return a


def _drop_columns(
    start: tuple[NDArray[np.int64], FloatArray] | None, columns: NDArray[np.int64]
) -> tuple[NDArray[np.int64], FloatArray] | None:
    """A partial solution without ``columns`` (relaxed ones: HiGHS completes only integers)."""
    if start is None:
        return None
    keep = ~np.isin(start[0], columns)
    return start[0][keep], start[1][keep]


def _stack(parts: list[Expr]) -> Expr:
    """Rows of several expressions, one after the other."""
    offsets = np.cumsum([0] + [p.m for p in parts])
    return Expr(
        int(offsets[-1]),
        np.concatenate([p.rows + o for p, o in zip(parts, offsets, strict=False)]),
        np.concatenate([p.cols for p in parts]),
        np.concatenate([p.vals for p in parts]),
        np.concatenate([p.const for p in parts]),
    )


def solve_oracle(
    plant: Plant, path: ExogenousPath, row: int = 0, time_limit_s: float = 60.0, mip_rel_gap: float = 1e-4
) -> OracleResult:
    """Build and solve the perfect-foresight MILP of ``path`` row ``row``."""
    return OracleModel(plant, path, row).solve(time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)


def replay(
    plant: Plant, path: ExogenousPath, plan: list[NativeAction], row: int = 0, start: PlantState | None = None
) -> float:
    """NAV change (USD) of ``plan`` stepped through the plant on ``path`` row ``row``, from
    ``start`` (the initial state by default; plan[i] is played at step start.t + i)."""
    one = path.rows(row) if path.n_paths > 1 else path
    state = plant.initial_state(1) if start is None else start
    nav0 = plant.nav_usd(state, one)[0]
    for action in plan:
        state = plant.step(state, action, one).state
    return float(plant.nav_usd(state, one)[0] - nav0)
