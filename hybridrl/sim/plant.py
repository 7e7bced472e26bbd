"""The plant: the site's controllable state and its deterministic step, batched over B paths.

Given an exogenous path, the plant evolves deterministically and linearly in the decisions
(docs/model.md). Requests outside the feasible set (no cash, no room, not a decision epoch)
are clipped to it here, and the amount clipped is reported; a feasible plan, such as the MILP
oracle's, passes through unchanged. The MILP reads the constants of :class:`Plant`, so the two
never disagree.

Order of events within step t (time index t to t+1):
1. at a decision epoch: deliveries due this epoch arrive; ASIC sales; retrofit orders; GPU node
   orders (into built HPC MW not taken by GPUs); ASIC orders (into mining MW not taken by
   ASICs); capex is paid at order, within cash + credit line - minimum liquidity;
2. at a decision epoch: offer acceptance, within HPC capacity built or under retrofit net of
   GPUs (installed or on order) and of leases already accepted; the accepted lease's hall is
   booked at the retrofit capex per MW (``lease_hall_book_usd``), which its valuation replaces;
3. dispatch: ASIC run fractions, DR curtailment, GPU offer fractions, lease delivery;
4. cash flows; with a grid (:class:`~hybridrl.sim.params.GridParams`), the draw at the month's
   coincident peak accrues and the month's transmission charge is booked at its last step;
   ASIC failures; infrastructure depreciation.

Leases: IT MW x pue_hpc of HPC-ready facility capacity each. Delivery is limited by the HPC room
left by installed GPUs; when short, the leases worth most per MW (price + penalty, i.e. the
highest ``priority``) are served first, the rest pay the late-delivery penalty. Power used by leases is
passed through; serving a lease costs ``serving_cost_usd_per_kw_month`` per IT kW-month served.

Valuation (:meth:`Plant.nav_breakdown_usd`): every asset counted once, so that an investment
moves NAV by its net present value at the scenario's discount rate.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from hybridrl.economics import CASH_FLOW_TERMS as CASH_FLOW_TERMS
from hybridrl.economics import SiteEconomics
from hybridrl.sim.exogenous import ExogenousPath, retrofit_delay_limit_epochs
from hybridrl.sim.information import PathView
from hybridrl.sim.params import DAYS_PER_MONTH, DAYS_PER_YEAR, ScenarioParams
from hybridrl.site_rules import (
    EpochMarket,
    EpochOrders,
    EpochRequest,
    EpochSite,
    SiteLimits,
    accept_offers,
    commit_reserve,
    curtail_asics,
    epoch_orders,
    hpc_capacity_mw,
    offer_gpus,
    reserve_delivery,
    run_asics,
)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
# np.count_nonzero(x) stands for x.any() on a step's small arrays: the same answer (NaN counts),
# three times faster (a step makes a dozen such tests).

LEASE_TERMS_KEPT = 8
"""Paths whose lease terms the plant keeps (the oldest goes first)."""

BACKLOG_TABLE_MAX = 1_000_000
"""Keep a per-step table of lease backlog values when it has at most this many entries."""

NAV_COMPONENTS = (
    "cash_usd",
    "asic_resale_usd",
    "gpu_resale_usd",
    "infrastructure_book_usd",
    "lease_margin_pv_usd",
    "leased_hall_usd",
)
"""The parts of NAV (:meth:`Plant.nav_breakdown_usd`), in the order :func:`nav_from_parts` adds them."""


def nav_from_parts(parts: dict[str, FloatArray]) -> FloatArray:
    """NAV from its parts, added in ``NAV_COMPONENTS`` order (so the result is the same bit for bit)."""
    total = parts[NAV_COMPONENTS[0]]
    for name in NAV_COMPONENTS[1:]:
        total = total + parts[name]
    return total


@dataclass(frozen=True)
class NativeAction:
    """A decision in physical units, batched: leading dimension B.

    :param asic_run_fraction: (B, G) share of each generation's TH/s to run, in [0, 1].
    :param gpu_offer_fraction: (B, Gg) share of each generation's nodes offered for rent, in [0, 1].
    :param asic_order_th: (B, G) TH/s to order (decision epochs only).
    :param gpu_order_nodes: (B, Gg) 8-GPU nodes to order, whole numbers (decision epochs only).
    :param retrofit_blocks: (B,) mining-to-HPC retrofit blocks to start, whole (decision epochs only).
    :param asic_sale_th: (B, G) TH/s to sell at the resale price (decision epochs only).
    :param accept_offer: (B, K) accept hosting offer k (if open and it fits).
    :param curtail_mw: (B,) ASIC facility MW held off for a demand-response call.
    :param reserve_commit_mw: (B,) ASIC facility MW offered as reserve for the next block of
        hours (read at the start of a block, scenarios with reserves only).
    """

    asic_run_fraction: FloatArray
    gpu_offer_fraction: FloatArray
    asic_order_th: FloatArray
    gpu_order_nodes: FloatArray
    retrofit_blocks: FloatArray
    asic_sale_th: FloatArray
    accept_offer: BoolArray
    curtail_mw: FloatArray
    reserve_commit_mw: FloatArray

    def check_finite(self) -> None:
        """Raise ``ValueError`` naming every field that holds NaN or infinity."""
        bad = [
            f.name
            for f in dataclasses.fields(self)
            if f.name != "accept_offer" and not np.all(np.isfinite(getattr(self, f.name)))
        ]
        if bad:
            raise ValueError(f"action has NaN or infinite values in: {', '.join(bad)}")


@dataclass(frozen=True)
class PlantState:
    """Site state at time index ``t`` for B paths. Arrays are never modified in place."""

    t: int
    cash_usd: FloatArray
    asic_th: FloatArray
    """(B, G) TH/s installed per generation"""
    asic_pipeline_th: FloatArray
    """(La, B, G) TH/s ordered, by delivery slot (ring buffer over decision epochs)"""
    gpu_nodes: FloatArray
    """(B, Gg) nodes installed per generation"""
    gpu_pipeline_nodes: FloatArray
    """(Lg, B, Gg) nodes ordered, by delivery slot"""
    mining_ready_mw: FloatArray
    hpc_ready_mw: FloatArray
    retrofit_pipeline_mw: FloatArray
    """(Lr, B) facility MW under retrofit, by due slot"""
    retrofit_late_mw: FloatArray
    """(Ld, B) facility MW of retrofits past their due date, by the slot of the epoch they arrive
    at (``path.retrofit_delay_epochs`` at the due date sets it)"""
    asic_on_order_th: FloatArray
    """(B, G) ``asic_pipeline_th`` summed over slots (kept beside it: read every step, changed at epochs)"""
    gpu_on_order_nodes: FloatArray
    """(B, Gg) ``gpu_pipeline_nodes`` summed over slots"""
    retrofit_on_order_mw: FloatArray
    """(B,) ``retrofit_pipeline_mw`` and ``retrofit_late_mw`` summed over slots"""
    lease_accepted: BoolArray
    """(B, K)"""
    infrastructure_book_usd: FloatArray
    """(B,) every hall, mining and HPC, at depreciated book (leased halls included: see
    :meth:`Plant.nav_breakdown_usd` for how a lease replaces its hall's book)"""
    lease_hall_book_usd: FloatArray
    """(B, K) book of the hall each accepted lease occupies: its facility MW at the retrofit
    capex per MW when accepted, depreciating with the infrastructure since (0 if not accepted)"""
    bankrupt: BoolArray
    """(B,) cash has fallen below minus the credit limit at some step (sticky)"""
    reserve_mw: FloatArray
    """(B,) ASIC facility MW committed as reserve for the current block of hours (0 without reserves)"""
    reserve_next_mw: FloatArray
    """(B,) MW committed for the next block"""
    cp_draw_mw: FloatArray
    """(B,) facility MW the site drew in this month's coincident-peak step so far (weighted by
    ``path.cp_peak``), not yet charged: the charge is booked at the month's last step
    (:meth:`Plant.peak_phase`); zero without a grid"""

    @property
    def n_paths(self) -> int:
        return int(self.cash_usd.shape[0])

    def row(self, b: int) -> PlantState:
        """The state of path b alone (a batch of one)."""
        return self.rows(slice(b, b + 1))

    def rows(self, sel: slice | NDArray[np.int64]) -> PlantState:
        """The state of the rows ``sel`` (a slice or an index array)."""
        changes = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in (
                "asic_pipeline_th",
                "gpu_pipeline_nodes",
                "retrofit_pipeline_mw",
                "retrofit_late_mw",
            ):
                changes[f.name] = value[:, sel]  # slot-major
            elif isinstance(value, np.ndarray):
                changes[f.name] = value[sel]
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class StepOutcome:
    """What one step did: next state, cash flows, physical dispatch and clipping."""

    state: PlantState
    cash_flows_usd: dict[str, FloatArray]
    btc_mined: FloatArray
    asic_power_mw: FloatArray
    gpu_power_mw: FloatArray
    lease_power_mw: FloatArray
    curtailed_mw: FloatArray
    power_limit_mw: FloatArray
    """facility MW the site could draw this step (interconnection x availability)"""
    site_share_of_network: FloatArray
    """site hashrate / network hashrate (a price-taker stays well under 1 %)"""
    clipped: dict[str, FloatArray]
    """requested minus applied, per action field (sums over generations)"""


@dataclass
class _LeaseCache:
    """Which MW the accepted leases are served, valid from ``since`` to ``until`` for these
    arrays (identity), and the flat-price amounts once computed."""

    path: ExogenousPath
    accepted: BoolArray
    hpc_ready_mw: FloatArray
    gpu_nodes: FloatArray
    since: int
    until: int
    served_mw: FloatArray
    unserved_mw: FloatArray
    flat_result: tuple[FloatArray, FloatArray, FloatArray] | None = None


@dataclass(frozen=True)
class _LeaseTerms:
    """Per-offer quantities of one path that do not change over the episode."""

    facility_mw: FloatArray
    """(B, K) HPC facility MW each lease occupies"""
    revenue_per_mw_step: FloatArray
    """(B, K) USD per served facility MW per step"""
    penalty_per_mw_step: FloatArray
    ready_step: FloatArray
    valuation: dict[str, FloatArray]
    """(B, K) per-offer constants of the lease valuation (:meth:`Plant._valuation_constants`)"""
    end_step: FloatArray
    """(B, K) step at which each lease's term ends"""
    stop_step: FloatArray
    """(B, K) step from which each lease is out of service on this path: the end of its term, or
    its tenant's default if earlier (known to the plant and the oracle, not to policies)"""
    backlog_table: FloatArray | None
    """(T+1, B, K) backlog value of each offer at every step, kept when small enough (a few
    paths); None for large batches, which compute it step by step with the same function"""
    hall_table: FloatArray | None
    """(T+1, B, K) :meth:`Plant.leased_hall_factor` at every step, kept like ``backlog_table``"""
    priority: NDArray[np.int64]
    """(B, K) slots by value per MW (price + penalty), highest first: the order leases are served"""
    priority_rows: NDArray[np.int64]
    """(B, 1) row index, so that ``x[priority_rows, priority]`` reorders (B, K) arrays"""
    facility_mw_by_priority: FloatArray
    revenue_by_priority: FloatArray
    penalty_by_priority: FloatArray
    ready_by_priority: FloatArray


class Plant:
    """Deterministic site dynamics and valuation for one scenario; constants derived once here."""

    def __init__(self, params: ScenarioParams) -> None:
        p = params
        self.params = p
        tp, site, am, gm = p.time, p.site, p.asic_market, p.gpu_market
        self.n_asic = p.n_asic
        self.n_gpu = p.n_gpu
        self.n_offers = p.offers.max_offers
        self.dt_days = tp.dt_days
        self.dt_years = tp.dt_days / DAYS_PER_YEAR
        self.hours_per_step = 24.0 * tp.dt_days
        self.epoch_steps = tp.epoch_steps
        self.investments_enabled = tp.investments_enabled
        self.asic_lead_epochs = tp.lead_epochs(am.lead_time_days)
        self.gpu_lead_epochs = tp.lead_epochs(gm.lead_time_days)
        self.retrofit_lead_epochs = tp.lead_epochs(site.retrofit_lead_time_days)
        self.retrofit_late_slots = retrofit_delay_limit_epochs(p) + 1
        """length of the ring buffer of late retrofits (the longest delay + 1 epochs)"""
        self.asic_efficiency_j_per_th = np.array([g.efficiency_j_per_th for g in am.generations])
        self.asic_mw_per_th = self.asic_efficiency_j_per_th * site.pue_mining / 1e6
        self.asic_keep_per_step = float(np.exp(-am.failure_rate_per_year * self.dt_years))
        self.max_asic_order_mw = am.max_order_mw_per_epoch
        self.gpu_node_mw = np.array([g.node_kw for g in gm.generations]) * site.pue_hpc / 1e3
        self.gpu_idle_power_fraction = gm.idle_power_fraction
        self.gpu_opex_usd_per_node_step = (
            np.array([g.node_opex_usd_per_year for g in gm.generations]) * self.dt_years
        )
        self.max_gpu_order_nodes = gm.max_order_nodes_per_epoch
        self.retrofit_block_mw = site.retrofit_block_mw
        self.retrofit_capex_usd_per_block = site.retrofit_capex_usd_per_mw * site.retrofit_block_mw
        self.max_retrofit_blocks = site.max_retrofit_blocks_per_epoch
        self.lease_mw_per_it_mw = site.pue_hpc
        self.kw_month_per_it_mw_step = 1e3 * tp.dt_days / DAYS_PER_MONTH
        self.lease_serving_cost_usd_per_kw_month = p.offers.serving_cost_usd_per_kw_month
        self.lease_serving_usd_per_mw_step = (
            self.lease_serving_cost_usd_per_kw_month * self.kw_month_per_it_mw_step / site.pue_hpc
        )
        self.hall_opex_usd_per_it_kw_month = (
            site.opex_hpc_usd_per_mw_year * site.pue_hpc / 1e3 / (DAYS_PER_YEAR / DAYS_PER_MONTH)
        )
        self.discount_rate_per_step = p.finance.discount_rate_per_year * self.dt_years
        self.tenant_hazard_per_step = p.offers.tenant_default_hazard_per_year * self.dt_years
        self.lease_escalation_per_step = math.log1p(p.offers.escalator_per_year) * self.dt_years
        """continuous growth per step of a lease's price and penalty from its ready-by step"""
        steps_per_month = DAYS_PER_MONTH / tp.dt_days
        self.lease_ramp: tuple[tuple[int, int, float], ...] = tuple(
            (round(a * steps_per_month), round(b * steps_per_month), share)
            for a, b, share in p.offers.ramp_up_tranches_months()
            if round(a * steps_per_month) < round(b * steps_per_month)
        )
        """ramp-up tranches (first step, step after the last, share of the contracted MW taken),
        in steps from a lease's ready-by step (:meth:`lease_share`); empty without a ramp-up"""
        self.infrastructure_depreciation_per_step = site.infrastructure_depreciation_per_year * self.dt_years
        self.infrastructure_keep_per_step = float(np.exp(-self.infrastructure_depreciation_per_step))
        self.retrofit_capex_usd_per_mw = site.retrofit_capex_usd_per_mw
        self.opex_mining_usd_per_mw_step = site.opex_mining_usd_per_mw_year * self.dt_years
        self.opex_hpc_usd_per_mw_step = site.opex_hpc_usd_per_mw_year * self.dt_years
        self.interest_per_step = p.finance.interest_rate_per_year * self.dt_years
        self.credit_limit_usd = p.finance.credit_limit_usd
        self.capex_budget_offset_usd = p.finance.credit_limit_usd - p.finance.min_liquidity_usd
        self.pool_fee = p.finance.pool_fee
        self.ppa_mw = p.power.ppa_mw
        self.ppa_usd_per_mwh = p.power.ppa_usd_per_mwh
        self.interconnection_mw = site.interconnection_mw
        self.dr_credit_usd_per_mwh = p.power.dr_credit_usd_per_mwh
        grid = p.grid
        self.cp_charge_usd_per_mw = (
            0.0 if grid is None else grid.cp_charge_usd_per_mw_year / len(grid.cp_months)
        )
        """transmission charge per facility MW drawn in one month's coincident peak (0: no grid)"""
        self._settlement: tuple[ExogenousPath | None, BoolArray] = (None, np.zeros(0, dtype=bool))
        self.reserve_block_steps = p.reserve_block_steps
        """steps a reserve commitment covers (0: no reserves modelled)"""
        self.reserve_penalty_usd_per_mwh = 0.0 if p.reserves is None else p.reserves.penalty_usd_per_mwh
        self.limits = SiteLimits(
            asic_mw_per_th=self.asic_mw_per_th,
            gpu_node_mw=self.gpu_node_mw,
            max_asic_order_mw=self.max_asic_order_mw,
            max_gpu_order_nodes=self.max_gpu_order_nodes,
            max_retrofit_blocks=self.max_retrofit_blocks,
            retrofit_block_mw=self.retrofit_block_mw,
            retrofit_capex_usd_per_block=self.retrofit_capex_usd_per_block,
            capex_budget_offset_usd=self.capex_budget_offset_usd,
            lease_mw_per_it_mw=self.lease_mw_per_it_mw,
        )
        """the constants of the site rules (:mod:`hybridrl.site_rules`)"""
        self._ones_asic = np.ones(self.n_asic)
        self.economics = SiteEconomics(
            dt_days=self.dt_days,
            pool_fee=self.pool_fee,
            asic_mw_per_th=self.asic_mw_per_th,
            gpu_node_mw=self.gpu_node_mw,
            gpu_gpus_per_node=np.array([float(g.gpus_per_node) for g in gm.generations]),
            gpu_idle_power_fraction=self.gpu_idle_power_fraction,
            gpu_opex_usd_per_node_step=self.gpu_opex_usd_per_node_step,
            dr_credit_usd_per_mwh=self.dr_credit_usd_per_mwh,
        )
        """the constants of the economics (:mod:`hybridrl.economics`)"""
        self.gpu_hours_per_node_step = self.economics.gpu_hours_per_node_step
        self._mining_usd_per_th_hashprice = self.economics.mining_usd_per_th_per_hashprice_step
        self._ppa_usd_per_step = -self.ppa_mw * self.ppa_usd_per_mwh * self.hours_per_step
        self._constant_cache: dict[int, tuple[FloatArray, FloatArray]] = {}
        self._last_constant_rows: tuple[int, tuple[FloatArray, FloatArray]] = (-1, (np.zeros(0), np.zeros(0)))
        self._no_orders_cache: dict[int, tuple[FloatArray, FloatArray, FloatArray, FloatArray]] = {}
        self._no_accept_cache: dict[int, BoolArray] = {}
        self._opex_key: tuple[FloatArray, FloatArray, FloatArray] | None = None
        self._lease_key: _LeaseCache | None = None
        self._lease_path: ExogenousPath | None = None
        self._lease_terms: _LeaseTerms | None = None
        self._lease_terms_kept: dict[int, tuple[ExogenousPath, _LeaseTerms]] = {}
        """the lease terms of the last few paths (a vector env steps several in turn)"""

    # ------------------------------------------------------------------ construction

    def initial_state(self, n_paths: int) -> PlantState:
        p = self.params
        B = n_paths
        asic0 = np.array([p.site.initial_asic_th.get(g.name, 0.0) for g in p.asic_market.generations])
        gpu0 = np.array([float(p.site.initial_gpu_nodes.get(g.name, 0)) for g in p.gpu_market.generations])
        return PlantState(
            t=0,
            cash_usd=np.full(B, p.finance.initial_cash_usd),
            asic_th=np.tile(asic0, (B, 1)),
            asic_pipeline_th=np.zeros((self.asic_lead_epochs, B, self.n_asic)),
            gpu_nodes=np.tile(gpu0, (B, 1)),
            gpu_pipeline_nodes=np.zeros((self.gpu_lead_epochs, B, self.n_gpu)),
            mining_ready_mw=np.full(B, p.site.mining_ready_mw),
            hpc_ready_mw=np.full(B, p.site.hpc_ready_mw),
            retrofit_pipeline_mw=np.zeros((self.retrofit_lead_epochs, B)),
            retrofit_late_mw=np.zeros((self.retrofit_late_slots, B)),
            asic_on_order_th=np.zeros((B, self.n_asic)),
            gpu_on_order_nodes=np.zeros((B, self.n_gpu)),
            retrofit_on_order_mw=np.zeros(B),
            lease_accepted=np.zeros((B, self.n_offers), dtype=bool),
            infrastructure_book_usd=np.full(B, p.site.infrastructure_book_usd),
            lease_hall_book_usd=np.zeros((B, self.n_offers)),
            bankrupt=np.zeros(B, dtype=bool),
            reserve_mw=np.zeros(B),
            reserve_next_mw=np.zeros(B),
            cp_draw_mw=np.zeros(B),
        )

    def idle_action(self, n_paths: int, run_fraction: float = 1.0) -> NativeAction:
        """Run everything at ``run_fraction``, offer every GPU, order and accept nothing."""
        B = n_paths
        return NativeAction(
            asic_run_fraction=np.full((B, self.n_asic), run_fraction),
            gpu_offer_fraction=np.ones((B, self.n_gpu)),
            asic_order_th=np.zeros((B, self.n_asic)),
            gpu_order_nodes=np.zeros((B, self.n_gpu)),
            retrofit_blocks=np.zeros(B),
            asic_sale_th=np.zeros((B, self.n_asic)),
            accept_offer=np.zeros((B, self.n_offers), dtype=bool),
            curtail_mw=np.zeros(B),
            reserve_commit_mw=np.zeros(B),
        )

    # ------------------------------------------------------------------ helpers

    def no_orders(self, n_paths: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Read-only zero (sales, ASIC orders, GPU orders, retrofit blocks), shared between calls."""
        rows = self._no_orders_cache.get(n_paths)
        if rows is None:
            rows = (
                np.zeros((n_paths, self.n_asic)),
                np.zeros((n_paths, self.n_asic)),
                np.zeros((n_paths, self.n_gpu)),
                np.zeros(n_paths),
            )
            for a in rows:
                a.flags.writeable = False
            self._no_orders_cache[n_paths] = rows
        return rows

    def _lease_service(
        self,
        path: ExogenousPath,
        t: int,
        accepted: BoolArray,
        hpc_ready_mw: FloatArray,
        gpu_nodes: FloatArray,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(revenue at full availability, penalty, MW served) of the accepted leases at step t.

        Leases worth most per MW (price + penalty, escalated: :meth:`lease_growth`) are
        served first from the HPC MW that installed GPUs leave; the rest pay the late-delivery
        penalty. Which MW are served changes only when a lease starts or ends, an offer is
        accepted, or HPC MW or GPU nodes change, so it is kept until then; with an escalator the
        USD amounts grow every step."""
        cache = self._lease_mw(path, t, accepted, hpc_ready_mw, gpu_nodes)
        served, unserved = cache.served_mw, cache.unserved_mw
        lt = self.lease_terms(path)
        if self.lease_escalation_per_step == 0.0:  # flat prices: the amounts are kept too
            if cache.flat_result is None:
                cache.flat_result = (
                    np.vecdot(served, lt.revenue_by_priority),
                    -np.vecdot(unserved, lt.penalty_by_priority),
                    served.sum(axis=1),
                )
            return cache.flat_result
        growth = self.lease_growth(t, lt.ready_by_priority)
        return (
            np.vecdot(served, lt.revenue_by_priority * growth),
            -np.vecdot(unserved, lt.penalty_by_priority * growth),
            served.sum(axis=1),
        )

    def _lease_mw(
        self,
        path: ExogenousPath,
        t: int,
        accepted: BoolArray,
        hpc_ready_mw: FloatArray,
        gpu_nodes: FloatArray,
    ) -> _LeaseCache:
        """(B, K) facility MW served and short, in priority order, of the accepted leases at t
        (kept until a lease starts or ends or the capacities change)."""
        key = self._lease_key
        if (
            key is not None
            and key.path is path
            and key.accepted is accepted
            and key.hpc_ready_mw is hpc_ready_mw
            and key.gpu_nodes is gpu_nodes
            and key.since <= t < key.until
        ):
            return key
        lt = self.lease_terms(path)
        active = accepted & (path.offer_ready_step <= t) & (t < lt.stop_step)
        demand = active[lt.priority_rows, lt.priority] * lt.facility_mw_by_priority
        if self.lease_ramp:
            demand = demand * self.lease_share(t, lt.ready_by_priority)
        room_hpc = np.maximum(hpc_ready_mw - gpu_nodes @ self.gpu_node_mw, 0.0)
        served = np.minimum(np.maximum(room_hpc[:, None] - (np.cumsum(demand, axis=1) - demand), 0.0), demand)
        # valid until the next step at which an accepted lease starts, ends (term or default) or
        # moves to its next ramp-up tranche
        ready = path.offer_ready_step[accepted].astype(np.float64)
        changes = np.concatenate(
            [ready, np.ceil(lt.stop_step[accepted])] + [ready + stop for _, stop, _ in self.lease_ramp]
        )
        later = changes[changes > t]
        until = int(later.min()) if later.size else path.n_steps + 1
        self._lease_key = _LeaseCache(
            path, accepted, hpc_ready_mw, gpu_nodes, t, until, served, demand - served
        )
        return self._lease_key

    def _opex_usd(self, mining_ready_mw: FloatArray, hpc_ready_mw: FloatArray) -> FloatArray:
        """Fixed opex of a step (USD, negative); the capacities change only at epochs, so the
        value is kept while the same arrays come back."""
        key = self._opex_key
        if key is None or key[0] is not mining_ready_mw or key[1] is not hpc_ready_mw:
            value = -(
                mining_ready_mw * self.opex_mining_usd_per_mw_step
                + hpc_ready_mw * self.opex_hpc_usd_per_mw_step
            )
            value.flags.writeable = False
            self._opex_key = (mining_ready_mw, hpc_ready_mw, value)
            return value
        return key[2]

    def no_acceptance(self, n_paths: int) -> BoolArray:
        """Read-only all-False (B, K) acceptance, shared between calls."""
        rows = self._no_accept_cache.get(n_paths)
        if rows is None:
            rows = np.zeros((n_paths, self.n_offers), dtype=bool)
            rows.flags.writeable = False
            self._no_accept_cache[n_paths] = rows
        return rows

    def _constant_rows(self, n_paths: int) -> tuple[FloatArray, FloatArray]:
        """Read-only (B,) zeros and PPA cash flow, shared between steps (they never change)."""
        if n_paths == self._last_constant_rows[0]:
            return self._last_constant_rows[1]
        rows = self._constant_cache.get(n_paths)
        if rows is None:
            zeros, ppa = np.zeros(n_paths), np.full(n_paths, self._ppa_usd_per_step)
            zeros.flags.writeable = False
            ppa.flags.writeable = False
            rows = self._constant_cache[n_paths] = (zeros, ppa)
        self._last_constant_rows = (n_paths, rows)
        return rows

    def is_decision_epoch(self, t: int) -> bool:
        return self.investments_enabled and t % self.epoch_steps == 0

    def asic_installed_mw(self, state: PlantState) -> FloatArray:
        """Facility MW of the installed ASIC fleet at full run."""
        return state.asic_th @ self.asic_mw_per_th

    def gpu_installed_mw(self, state: PlantState) -> FloatArray:
        """Facility MW of the installed GPU nodes at full load."""
        return state.gpu_nodes @ self.gpu_node_mw

    def lease_margin_usd_per_kw_month(self, price_usd_per_kw_month: FloatArray) -> FloatArray:
        """What a lease earns per IT kW-month net of the cost of serving it: the tenant's price
        less the serving cost and the fixed opex of the HPC hall it occupies (which the site pays
        as ``opex_usd`` while it holds the hall). Negative when the deal loses money."""
        return (
            price_usd_per_kw_month
            - self.lease_serving_cost_usd_per_kw_month
            - self.hall_opex_usd_per_it_kw_month
        )

    def lease_terms(self, path: ExogenousPath) -> _LeaseTerms:
        """Per-offer constants of ``path`` (computed once per path object)."""
        if self._lease_path is not path or self._lease_terms is None:
            kept = self._lease_terms_kept.get(id(path))
            if kept is not None and kept[0] is path:
                self._lease_path, self._lease_terms = path, kept[1]
                return kept[1]
            net = self.lease_margin_usd_per_kw_month(path.offer_price_usd_per_kw_month)
            kw_month_per_mw = self.kw_month_per_it_mw_step / self.lease_mw_per_it_mw
            facility_mw = path.offer_it_mw * self.lease_mw_per_it_mw
            revenue = path.offer_price_usd_per_kw_month * kw_month_per_mw
            penalty = path.offer_penalty_usd_per_kw_month * kw_month_per_mw
            # value per MW at step t: (price + penalty) x exp(g (t - ready)); its order over leases
            # is the same at every t, the order of (price + penalty) x exp(-g ready)
            ready = np.asarray(path.offer_ready_step, dtype=np.float64)
            worth = (revenue + penalty) * np.exp(-self.lease_escalation_per_step * ready)
            priority = np.argsort(-worth, axis=1, kind="stable")
            if isinstance(path, ExogenousPath):
                defaulted = path.tenant_defaulted
                default_step = np.where(defaulted.any(axis=1), defaulted.argmax(axis=1), np.inf)
            else:  # a view knows no default to come
                default_step = np.full(path.offer_it_mw.shape, np.inf)
            end_step = np.asarray(path.offer_end_step, dtype=np.float64)
            ready_step = np.asarray(path.offer_ready_step, dtype=np.float64)
            self._lease_terms = _LeaseTerms(
                facility_mw=facility_mw,
                revenue_per_mw_step=revenue,
                penalty_per_mw_step=penalty,
                backlog_table=None,
                hall_table=None,
                end_step=end_step,
                stop_step=np.minimum(end_step, default_step),
                ready_step=ready_step,
                valuation=self._valuation_constants(
                    path.offer_it_mw * self.kw_month_per_it_mw_step * path.offer_price_usd_per_kw_month,
                    path.offer_it_mw
                    * self.kw_month_per_it_mw_step
                    * (path.offer_price_usd_per_kw_month - net),
                    ready_step,
                    end_step,
                    path.offer_it_mw
                    * self.kw_month_per_it_mw_step
                    * self.lease_serving_cost_usd_per_kw_month,
                ),
                priority=priority,
                priority_rows=np.arange(priority.shape[0])[:, None],
                facility_mw_by_priority=np.take_along_axis(facility_mw, priority, axis=1),
                revenue_by_priority=np.take_along_axis(revenue, priority, axis=1),
                penalty_by_priority=np.take_along_axis(penalty, priority, axis=1),
                ready_by_priority=np.take_along_axis(ready, priority, axis=1),
            )
            if path.n_paths * path.offer_it_mw.shape[1] * (path.n_steps + 1) <= BACKLOG_TABLE_MAX:
                steps = np.arange(path.n_steps + 1)
                self._lease_terms = dataclasses.replace(
                    self._lease_terms,
                    backlog_table=self._offer_pv(self._lease_terms, steps),
                    hall_table=self._hall_factor(self._lease_terms, steps),
                )
            self._lease_path = path
            if len(self._lease_terms_kept) >= LEASE_TERMS_KEPT:
                self._lease_terms_kept.pop(next(iter(self._lease_terms_kept)))
            self._lease_terms_kept[id(path)] = (path, self._lease_terms)
        return self._lease_terms

    def leased_hall_factor(self, path: ExogenousPath, t: int) -> FloatArray:
        """(B, K) what a leased hall's book is worth at step t in place of that book, minus one.

        While lease k runs, its hall counts for the expected discounted book it returns with, at
        the end of the term or at the tenant's default if earlier (a constant hazard lambda from
        the ready-by step a), instead of its book today. Per step, with rho the discount rate and
        delta the infrastructure depreciation, W = max(a - t, 0), L = end - max(t, a), s = rho +
        delta, R = s + lambda:

            factor = exp(-s W) (lambda/R (1 - exp(-R L)) + exp(-R L)) - 1,

        which is exp(-s (end - t)) - 1 without default risk. After the term or a default the hall
        is an unleased hall again (factor 0).
        """
        return self._hall_factor_now(self.lease_terms(path), t) * ~self.tenant_defaulted_now(path, t)

    def _hall_factor_now(self, lt: _LeaseTerms, t: int) -> FloatArray:
        """(B, K) :meth:`_hall_factor` at step t, from the table when one is kept."""
        return lt.hall_table[t] if lt.hall_table is not None else self._hall_factor(lt, t)

    def _hall_factor(self, lt: _LeaseTerms, t: int | NDArray[np.int64]) -> FloatArray:
        """(B, K) leased-hall factor at step t (or (len(t), B, K) for steps t), default ignored:
        before the ready-by step, K exp(-s (a - t)) - 1 with K = lambda/R (1 - exp(-R (end - a)))
        + exp(-R (end - a)); while running, (lambda/R - 1)(1 - exp(-R (end - t)))."""
        tt = np.asarray(t, dtype=np.float64)[..., None, None]
        s = self.infrastructure_depreciation_per_step + self.discount_rate_per_step
        rate = s + self.tenant_hazard_per_step
        c = lt.valuation
        return np.where(
            tt < lt.ready_step,
            c["hall_before"] * np.exp(s * tt) - 1.0,
            np.where(tt < lt.end_step, c["hall_running"] * (1.0 - c["hall_decay"] * np.exp(rate * tt)), 0.0),
        )

    def _valuation_constants(
        self,
        price_per_step: FloatArray,
        cost_per_step: FloatArray,
        ready_step: FloatArray,
        end_step: FloatArray,
        serving_per_step: FloatArray,
    ) -> dict[str, FloatArray]:
        """Per-offer constants of :meth:`_offer_pv` and :meth:`_hall_factor`, so that a step
        needs only exp(rate t) of scalars. ``price_per_step`` (USD per step at the ready-by
        date) grows at the escalator g; ``cost_per_step`` (serving and hall opex) is flat;
        ``serving_per_step`` (its serving part) scales with the MW taken during a ramp-up."""
        rho = self.discount_rate_per_step
        lam = self.tenant_hazard_per_step
        g = self.lease_escalation_per_step
        r_pv = rho + lam
        s = self.infrastructure_depreciation_per_step + rho
        r_hall = s + lam
        term = np.maximum(end_step - ready_step, 0.0)
        p_over_r = price_per_step * np.exp(-g * ready_step) / (r_pv - g)  # the price at step 0 terms
        c_over_r = cost_per_step / r_pv
        k = lam / r_hall * -np.expm1(-r_hall * term) + np.exp(-r_hall * term)
        at_ready = price_per_step / (r_pv - g) * -np.expm1(-(r_pv - g) * term) - c_over_r * -np.expm1(
            -r_pv * term
        )
        return {
            "pv_before": at_ready * np.exp(-rho * ready_step),
            "pv_growing": p_over_r,
            "pv_flat": -c_over_r,
            "pv_decay": p_over_r * np.exp(-(r_pv - g) * end_step) - c_over_r * np.exp(-r_pv * end_step),
            "hall_before": k * np.exp(-s * ready_step),
            "hall_running": np.full_like(end_step, lam / r_hall - 1.0),
            "hall_decay": np.exp(-r_hall * end_step),
            "ramp_price": price_per_step,
            "ramp_serving": serving_per_step,
            "ramp_before": self._ramp_unpaid_pv(
                ready_step, ready_step, end_step, price_per_step, serving_per_step
            )
            * np.exp(-rho * ready_step),
            "ramp_end": np.minimum(
                ready_step + max((stop for _, stop, _ in self.lease_ramp), default=0), end_step
            ),
        }

    @staticmethod
    def tenant_defaulted_now(path: ExogenousPath | PathView, t: int) -> BoolArray:
        """(B, K) tenants that have defaulted by step t, from a path or a view at t."""
        if isinstance(path, ExogenousPath):
            return path.tenant_defaulted[:, t]
        return path.now("tenant_defaulted")

    def lease_reserved_mw(self, state: PlantState, path: ExogenousPath | PathView) -> FloatArray:
        """Facility MW promised to accepted leases that have not ended (started or not; a lease
        whose tenant has defaulted has ended)."""
        defaulted = self.tenant_defaulted_now(path, state.t)
        live = state.lease_accepted & (state.t < path.offer_end_step) & ~defaulted
        return np.vecdot(live, path.offer_it_mw) * self.lease_mw_per_it_mw

    def open_offers(self, state: PlantState, path: ExogenousPath | PathView) -> BoolArray:
        """(B, K) offers that can be accepted at this step."""
        t = state.t
        return (path.offer_arrival_step <= t) & (t < path.offer_expiry_step) & ~state.lease_accepted

    def lease_backlog_usd(self, state: PlantState, path: ExogenousPath) -> FloatArray:
        """Expected lease margin still to come (:meth:`lease_margin_usd_per_kw_month`),
        discounted at the scenario's rate, of the accepted leases (:meth:`offer_backlog_usd`)."""
        if not np.count_nonzero(state.lease_accepted):
            return np.zeros(state.n_paths)
        return np.vecdot(self.offer_backlog_usd(path, state.t), state.lease_accepted)

    def offer_backlog_usd(self, path: ExogenousPath, t: int) -> FloatArray:
        """(B, K) value at step t of each offer's margin still to come, were it accepted; 0 once
        its term has ended or its tenant has defaulted."""
        return self._offer_pv_now(self.lease_terms(path), t) * ~self.tenant_defaulted_now(path, t)

    def _offer_pv_now(self, lt: _LeaseTerms, t: int) -> FloatArray:
        """(B, K) :meth:`_offer_pv` at step t, from the table when one is kept."""
        return lt.backlog_table[t] if lt.backlog_table is not None else self._offer_pv(lt, t)

    def _offer_pv(self, lt: _LeaseTerms, t: int | NDArray[np.int64]) -> FloatArray:
        """(B, K) expected PV at step t of each offer's margin (or (len(t), B, K) for steps t),
        default ignored: from the ready-by step a to the end of the term, the price P exp(g (s -
        a)) (escalator g) less the flat costs C, at risk of default (hazard lambda) from a on.
        With R = rho + lambda, while running (a <= t < end):

            PV = P exp(g (t - a)) (1 - exp(-(R - g)(end - t))) / (R - g) - C (1 - exp(-R (end - t))) / R,

        and before a, exp(-rho (a - t)) times its value at a; 0 after the term. Evaluated from
        per-offer constants (:meth:`_valuation_constants`) with three scalar exponentials."""
        tt = np.asarray(t, dtype=np.float64)[..., None, None]
        rho = self.discount_rate_per_step
        rate = rho + self.tenant_hazard_per_step
        c = lt.valuation
        running = c["pv_growing"] * np.exp(self.lease_escalation_per_step * tt) + c["pv_flat"]
        full = np.where(
            tt < lt.ready_step,
            c["pv_before"] * np.exp(rho * tt),
            np.where(tt < lt.end_step, running - c["pv_decay"] * np.exp(rate * tt), 0.0),
        )
        return full - self._ramp_shortfall_pv(lt, tt) if self.lease_ramp else full

    def _ramp_shortfall_pv(self, lt: _LeaseTerms, tt: FloatArray) -> FloatArray:
        """What the ramp-up takes off :meth:`_offer_pv` at steps ``tt`` (shaped (..., 1, 1)):
        before the ready-by step a, a per-offer constant discounted at rho; during the ramp,
        :meth:`_ramp_unpaid_pv` of the offers still ramping only (few at any step); 0 after."""
        c = lt.valuation
        a = lt.ready_step
        out = np.where(tt < a, c["ramp_before"] * np.exp(self.discount_rate_per_step * tt), 0.0)
        ramping = np.broadcast_to((tt >= a) & (tt < c["ramp_end"]), out.shape)
        if np.count_nonzero(ramping):
            at = np.nonzero(ramping)
            t_at = np.broadcast_to(tt, out.shape)[at]
            a_at, end_at = (np.broadcast_to(x, out.shape)[at] for x in (a, lt.end_step))
            price_at, serving_at = (
                np.broadcast_to(c[k], out.shape)[at] for k in ("ramp_price", "ramp_serving")
            )
            out[at] = self._ramp_unpaid_pv(t_at, a_at, end_at, price_at, serving_at)
        return out

    def _ramp_unpaid_pv(
        self, base: FloatArray, a: FloatArray, end: FloatArray, price: FloatArray, serving: FloatArray
    ) -> FloatArray:
        """Expected PV at step ``base`` (>= the ready-by step a) of what the ramp-up's tranches
        still to come leave unpaid: in tranche j, from a + first_j to a + stop_j (cut at the
        term's end ``end``), the tenant leaves (1 - share_j) of its MW, so the price ``price``
        exp(g (s - a)) (``price`` per step at a) and the serving cost ``serving`` per step of
        that share are missing. With x0, x1 the tranche's bounds clipped to [base, end] and
        R = rho + lambda:

            (1 - share_j) [P exp(g (base - a)) (E(R - g, x0) - E(R - g, x1)) / (R - g)
                           - S (E(R, x0) - E(R, x1)) / R],   E(r, x) = exp(-r (x - base))."""
        r_pv = self.discount_rate_per_step + self.tenant_hazard_per_step
        g = self.lease_escalation_per_step
        price_now = price * np.exp(g * (base - a))
        total = np.zeros(np.broadcast(base, a, end).shape)
        for first, stop, share in self.lease_ramp:
            x1 = np.maximum(base, np.minimum(a + stop, end))
            x0 = np.minimum(np.maximum(base, a + first), x1)
            earned = (
                price_now
                * (np.exp(-(r_pv - g) * (x0 - base)) - np.exp(-(r_pv - g) * (x1 - base)))
                / (r_pv - g)
            )
            spent = serving * (np.exp(-r_pv * (x0 - base)) - np.exp(-r_pv * (x1 - base))) / r_pv
            total = total + (1.0 - share) * (earned - spent)
        return total

    def lease_share(self, t: int | NDArray[np.int64], ready_step: NDArray[Any]) -> FloatArray:
        """Share of its contracted MW a lease's tenant takes (and pays for) at step ``t``: the
        ramp-up tranche's share from the ready-by step until the ramp ends (:attr:`lease_ramp`),
        1 otherwise (before the ready-by step no lease is served anyway); broadcast."""
        offset = np.asarray(t) - np.asarray(ready_step)
        share = np.ones(np.broadcast(offset, ready_step).shape)
        for first, stop, tranche_share in self.lease_ramp:
            share = np.where((offset >= first) & (offset < stop), tranche_share, share)
        return share

    def lease_growth(self, t: int | NDArray[np.int64], ready_step: NDArray[Any]) -> FloatArray:
        """Factor by which a lease's price and late penalty have grown by step ``t`` since its
        ready-by step: exp(g (t - ready)), the escalator compounding from the date the tenant
        takes the hall (below 1 before it, when no lease pays); broadcast over the arguments."""
        return np.exp(self.lease_escalation_per_step * (np.asarray(t) - ready_step))

    NAV_COMPONENTS = NAV_COMPONENTS

    def nav_breakdown_usd(self, state: PlantState, path: ExogenousPath) -> dict[str, FloatArray]:
        """NAV in parts (each (B,) USD); added in ``NAV_COMPONENTS`` order they give :meth:`nav_usd`.

        Every asset is counted once, so that an investment moves NAV by its net present value:

        - ``cash_usd``: cash, negative when drawing on the credit line;
        - ``asic_resale_usd``, ``gpu_resale_usd``: hardware installed or on order, at resale;
        - ``infrastructure_book_usd``: every hall at depreciated book;
        - ``lease_margin_pv_usd``: the accepted leases' margin still to come, discounted;
        - ``leased_hall_usd``: for each lease still running, its hall's discounted residual book
          after the term *in place of* its book today (:meth:`leased_hall_factor`; negative).

        A leased hall thus counts for the PV of its lease margin plus its discounted residual
        book, never for its book as well. On bankruptcy the leases fall away (their two parts
        are 0) and the halls count at book.
        """
        t = state.t
        zeros = np.zeros(state.n_paths)
        parts = {
            "cash_usd": state.cash_usd,
            "asic_resale_usd": np.vecdot(
                state.asic_th + state.asic_on_order_th, path.asic_resale_usd_per_th[:, t]
            ),
            "gpu_resale_usd": np.vecdot(
                state.gpu_nodes + state.gpu_on_order_nodes, path.gpu_node_resale_usd[:, t]
            ),
            "infrastructure_book_usd": state.infrastructure_book_usd,
            "lease_margin_pv_usd": zeros,
            "leased_hall_usd": zeros,
        }
        if np.count_nonzero(state.lease_accepted):
            # the leases that still count: accepted, tenant not defaulted, site not bankrupt
            counted = state.lease_accepted & ~self.tenant_defaulted_now(path, t)
            if np.count_nonzero(state.bankrupt):
                counted = counted & ~state.bankrupt[:, None]
            lt = self.lease_terms(path)
            parts["lease_margin_pv_usd"] = np.vecdot(self._offer_pv_now(lt, t), counted)
            hall_book = state.lease_hall_book_usd * counted
            parts["leased_hall_usd"] = np.vecdot(self._hall_factor_now(lt, t), hall_book)
        return parts

    def nav_usd(self, state: PlantState, path: ExogenousPath) -> FloatArray:
        """Mark-to-market net asset value, USD (B,): the sum of :meth:`nav_breakdown_usd`."""
        return nav_from_parts(self.nav_breakdown_usd(state, path))

    # ------------------------------------------------------------------ the step

    def step(self, state: PlantState, action: NativeAction, path: ExogenousPath) -> StepOutcome:
        """Advance every path by one step under ``action`` (clipped to the feasible set), in the
        phases of the module docstring: deliveries, orders, offers, dispatch, cash flows, books."""
        t = state.t
        if t >= path.n_steps:
            raise ValueError(f"the episode has ended (t={t}, n_steps={path.n_steps})")
        clipped: dict[str, FloatArray] = {}
        site: _Site | PlantState
        orders: EpochOrders | None
        if self.is_decision_epoch(t):
            site, orders = self.order_phase(self.delivery_phase(state, path), state.cash_usd, action, path, t)
            clipped.update(orders_clipped(orders, self._constant_rows(state.n_paths)[0]))
        else:
            site, orders = state, None  # nothing is delivered or ordered: the state's own arrays
            clipped.update(self._between_epochs_clipped(action, state.n_paths))
        accepted, hall_book, clipped["accept_offer"] = self.offer_phase(state, site, action, path)
        reserve = (state.reserve_mw, state.reserve_next_mw)
        if self.reserve_block_steps:
            reserve, clipped["reserve_commit_mw"] = self.reserve_phase(state, action)
        dispatch = self.dispatch_phase(site, accepted, action, path, t, reserve[0])
        clipped.update(dispatch.clipped)
        flows = self.cash_flow_phase(state.cash_usd, site, orders, dispatch, path, t)
        if self.reserve_block_steps:
            flows["reserve_payment_usd"], flows["reserve_penalty_usd"] = self.reserve_flows(
                reserve[0], dispatch, path, t
            )
        cp_draw = state.cp_draw_mw
        if self.cp_charge_usd_per_mw:
            cp_draw, flows["transmission_charge_usd"] = self.peak_phase(cp_draw, dispatch, path, t)
        new_state = self.books_phase(state, site, accepted, hall_book, flows, cp_draw, reserve)
        return StepOutcome(
            state=new_state,
            cash_flows_usd=flows,
            btc_mined=flows["mining_revenue_usd"] / path.btc_price_usd[:, t],
            asic_power_mw=dispatch.asic_power_mw,
            gpu_power_mw=dispatch.gpu_power_mw,
            lease_power_mw=dispatch.lease_power_mw,
            curtailed_mw=dispatch.curtailed_mw,
            power_limit_mw=self.interconnection_mw * path.availability[:, t],
            site_share_of_network=dispatch.run_total_th / path.network_hashrate_th_s[:, t],
            clipped=clipped,
        )

    # ------------------------------------------------------------------ the phases of a step

    def delivery_phase(self, state: PlantState, path: ExogenousPath | PathView) -> _Site:
        """Phase 1 (decision epochs): the deliveries ordered one lead time ago arrive; their
        pipeline slots are emptied for today's orders. A retrofit batch due today that is late
        (``path.retrofit_delay_epochs``) waits in the late buffer for its epoch instead."""
        epoch = state.t // self.epoch_steps
        sa, sg, sr = (
            epoch % n for n in (self.asic_lead_epochs, self.gpu_lead_epochs, self.retrofit_lead_epochs)
        )
        asic_pipe = state.asic_pipeline_th.copy()
        gpu_pipe = state.gpu_pipeline_nodes.copy()
        retro_pipe = state.retrofit_pipeline_mw.copy()
        asic_th = state.asic_th + asic_pipe[sa]
        gpu_nodes = state.gpu_nodes + gpu_pipe[sg]
        late = state.retrofit_late_mw.copy()
        arrive = (epoch + path.retrofit_delay_epochs[:, state.t]) % self.retrofit_late_slots
        late[arrive, np.arange(late.shape[1])] += retro_pipe[sr]
        now = epoch % self.retrofit_late_slots
        hpc_ready = state.hpc_ready_mw + late[now]
        asic_pipe[sa] = 0.0
        gpu_pipe[sg] = 0.0
        retro_pipe[sr] = 0.0
        late[now] = 0.0
        return _Site(
            asic_th=asic_th,
            gpu_nodes=gpu_nodes,
            mining_ready_mw=state.mining_ready_mw,
            hpc_ready_mw=hpc_ready,
            asic_pipeline_th=asic_pipe,
            gpu_pipeline_nodes=gpu_pipe,
            retrofit_pipeline_mw=retro_pipe,
            retrofit_late_mw=late,
            asic_on_order_th=asic_pipe.sum(axis=0),
            gpu_on_order_nodes=gpu_pipe.sum(axis=0),
            retrofit_on_order_mw=retro_pipe.sum(axis=0) + late.sum(axis=0),
            infrastructure_book_usd=state.infrastructure_book_usd,
            slots=(sa, sg, sr),
        )

    def epoch_market(self, path: ExogenousPath | PathView, t: int) -> EpochMarket:
        """Today's hardware prices and what is on sale, as the site rules read them."""
        return EpochMarket(
            asic_resale_usd_per_th=path.asic_resale_usd_per_th[:, t],
            asic_price_usd_per_th=path.asic_price_usd_per_th[:, t],
            asic_available=path.asic_available[:, t],
            gpu_node_capex_usd=path.gpu_node_capex_usd[:, t],
            gpu_available=path.gpu_available[:, t],
        )

    def order_phase(
        self,
        site: _Site,
        cash_usd: FloatArray,
        action: NativeAction,
        path: ExogenousPath,
        t: int,
    ) -> tuple[_Site, EpochOrders]:
        """Phase 2 (decision epochs): sales, retrofits, GPU and ASIC orders granted by
        :func:`hybridrl.site_rules.epoch_orders` and written into the pipelines."""
        orders = epoch_orders(
            EpochSite(
                cash_usd=cash_usd,
                asic_th=site.asic_th,
                asic_on_order_th=site.asic_on_order_th,
                gpu_nodes=site.gpu_nodes,
                gpu_on_order_nodes=site.gpu_on_order_nodes,
                mining_ready_mw=site.mining_ready_mw,
                hpc_ready_mw=site.hpc_ready_mw,
            ),
            self.epoch_market(path, t),
            EpochRequest(
                action.asic_sale_th, action.retrofit_blocks, action.gpu_order_nodes, action.asic_order_th
            ),
            self.limits,
        )
        sa, sg, sr = site.slots
        asic_on_order, gpu_on_order = site.asic_on_order_th, site.gpu_on_order_nodes
        if orders.asic_requested:  # the slots were emptied on delivery
            site.asic_pipeline_th[sa] = orders.asic_order_th
            asic_on_order = asic_on_order + orders.asic_order_th
        if orders.gpu_requested:
            site.gpu_pipeline_nodes[sg] = orders.gpu_order_nodes
            gpu_on_order = gpu_on_order + orders.gpu_order_nodes
        site.retrofit_pipeline_mw[sr] = orders.retrofit_mw
        after = _Site(
            asic_th=site.asic_th - orders.asic_sale_th,
            gpu_nodes=site.gpu_nodes,
            mining_ready_mw=site.mining_ready_mw - orders.retrofit_mw,
            hpc_ready_mw=site.hpc_ready_mw,
            asic_pipeline_th=site.asic_pipeline_th,
            gpu_pipeline_nodes=site.gpu_pipeline_nodes,
            retrofit_pipeline_mw=site.retrofit_pipeline_mw,
            retrofit_late_mw=site.retrofit_late_mw,
            asic_on_order_th=asic_on_order,
            gpu_on_order_nodes=gpu_on_order,
            retrofit_on_order_mw=site.retrofit_pipeline_mw.sum(axis=0) + site.retrofit_late_mw.sum(axis=0),
            infrastructure_book_usd=site.infrastructure_book_usd - orders.retrofit_capex_usd,
            slots=site.slots,
        )
        return after, orders

    def _between_epochs_clipped(self, action: NativeAction, n_paths: int) -> dict[str, FloatArray]:
        """Investment requests between decision epochs: all clipped (the shared "no orders"
        arrays need no check)."""
        zeros, _ = self._constant_rows(n_paths)
        no = self.no_orders(n_paths)
        out = {}
        for name, value, none in (
            ("asic_sale_th", action.asic_sale_th, no[0]),
            ("retrofit_blocks", action.retrofit_blocks, no[3]),
            ("gpu_order_nodes", action.gpu_order_nodes, no[2]),
            ("asic_order_th", action.asic_order_th, no[1]),
        ):
            ordered = value is not none and np.count_nonzero(value)
            out[name] = np.maximum(value, 0.0).reshape(n_paths, -1).sum(axis=1) if ordered else zeros
        return out

    def offer_phase(
        self, state: PlantState, site: _Site | PlantState, action: NativeAction, path: ExogenousPath
    ) -> tuple[BoolArray, FloatArray, FloatArray]:
        """Phase 3: offer acceptance at decision epochs (:func:`hybridrl.site_rules.accept_offers`,
        within the HPC capacity after today's orders). Returns (accepted, lease hall books, offers
        refused per row)."""
        zeros, _ = self._constant_rows(state.n_paths)
        accepted, hall_book = state.lease_accepted, state.lease_hall_book_usd
        want = action.accept_offer
        if want is self.no_acceptance(state.n_paths) or not np.count_nonzero(want):
            return accepted, hall_book, zeros
        if not self.is_decision_epoch(state.t):
            return accepted, hall_book, want.sum(axis=1).astype(np.float64)
        open_now = self.open_offers(state, path) & want
        refused = (want & ~open_now).sum(axis=1).astype(np.float64)
        if not np.count_nonzero(open_now):
            return accepted, hall_book, refused
        facility_mw = self.lease_terms(path).facility_mw
        capacity = hpc_capacity_mw(
            site.hpc_ready_mw, site.retrofit_on_order_mw, site.gpu_nodes, site.gpu_on_order_nodes, self.limits
        )
        new = accept_offers(open_now, facility_mw, self.lease_reserved_mw(state, path), capacity)
        hall_book = hall_book + new * facility_mw * self.retrofit_capex_usd_per_mw
        return accepted | new, hall_book, refused + (open_now & ~new).sum(axis=1)

    def dispatch_phase(
        self,
        site: _Site | PlantState,
        accepted: BoolArray,
        action: NativeAction,
        path: ExogenousPath,
        t: int,
        reserve_mw: FloatArray | None = None,
    ) -> _Dispatch:
        """Phase 4: ASICs run, reserve delivered, DR curtailment, GPUs offered, leases served
        (the site rules' :func:`run_asics`, :func:`reserve_delivery`, :func:`curtail_asics`,
        :func:`offer_gpus`). ``reserve_mw``: the current block's commitment (reserves only)."""
        zeros, _ = self._constant_rows(site.asic_th.shape[0])
        clipped: dict[str, FloatArray] = {}
        avail = path.availability[:, t]
        frac, run_th = run_asics(action.asic_run_fraction, site.asic_th, avail)
        clipped["asic_run_fraction"] = np.abs(action.asic_run_fraction - frac) @ self._ones_asic
        asic_power = run_th @ self.asic_mw_per_th
        held_off, missing = zeros, zeros
        if reserve_mw is not None and self.reserve_block_steps and np.count_nonzero(reserve_mw):
            held_off, missing = reserve_delivery(
                reserve_mw,
                site.asic_th @ self.asic_mw_per_th * avail,
                asic_power,
                path.reserve_deployed[:, t],
            )
        dr_call = path.dr_call[:, t]
        if np.count_nonzero(dr_call):
            curtail_req, curtail = curtail_asics(
                action.curtail_mw, site.asic_th @ self.asic_mw_per_th * avail - held_off, asic_power, dr_call
            )
            clipped["curtail_mw"] = curtail_req - curtail
        else:
            curtail = zeros
            clipped["curtail_mw"] = np.maximum(action.curtail_mw, 0.0)
        gpu_revenue, gpu_power, clipped["gpu_offer_fraction"] = self._gpu_dispatch(site, action, path, t)
        lease = (zeros, zeros, zeros)
        if np.count_nonzero(accepted):
            lease = self._lease_service(path, t, accepted, site.hpc_ready_mw, site.gpu_nodes)
        return _Dispatch(
            run_total_th=run_th @ self._ones_asic,
            asic_power_mw=asic_power,
            curtailed_mw=curtail,
            gpu_revenue_usd=gpu_revenue,
            gpu_power_mw=gpu_power,
            lease_revenue_usd=lease[0] * avail if lease[0] is not zeros else zeros,
            lease_penalty_usd=lease[1],
            lease_power_mw=lease[2] * avail if lease[2] is not zeros else zeros,
            reserve_missing_mw=missing,
            clipped=clipped,
        )

    def _gpu_dispatch(
        self, site: _Site | PlantState, action: NativeAction, path: ExogenousPath, t: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(rental revenue, power, offer fraction clipped) of the GPU nodes offered for rent."""
        zeros, _ = self._constant_rows(site.gpu_nodes.shape[0])
        if not np.count_nonzero(site.gpu_nodes):
            return zeros, zeros, zeros
        frac, offered = offer_gpus(action.gpu_offer_fraction, site.gpu_nodes, path.availability[:, t])
        util = path.gpu_utilisation[:, t]
        revenue = np.vecdot(
            offered * self.gpu_hours_per_node_step, path.gpu_spot_usd_per_gpu_hour[:, t] * util
        )
        load = self.gpu_idle_power_fraction + (1.0 - self.gpu_idle_power_fraction) * util
        power = np.vecdot(offered * self.gpu_node_mw, load)
        return revenue, power, np.abs(action.gpu_offer_fraction - frac).sum(axis=1)

    def cash_flow_phase(
        self,
        cash_usd: FloatArray,
        site: _Site | PlantState,
        orders: EpochOrders | None,
        dispatch: _Dispatch,
        path: ExogenousPath,
        t: int,
    ) -> dict[str, FloatArray]:
        """Phase 5: every cash flow of the step (``CASH_FLOW_TERMS``, signed USD)."""
        zeros, ppa_flow = self._constant_rows(cash_usd.shape[0])
        hours = self.hours_per_step
        d = dispatch
        return {
            "mining_revenue_usd": path.hashprice_usd_per_ph_day[:, t]
            * d.run_total_th
            * self._mining_usd_per_th_hashprice,
            "gpu_revenue_usd": d.gpu_revenue_usd,
            "lease_revenue_usd": d.lease_revenue_usd,
            "lease_penalty_usd": d.lease_penalty_usd,
            "lease_serving_usd": zeros
            if d.lease_power_mw is zeros
            else d.lease_power_mw * -self.lease_serving_usd_per_mw_step,
            "dr_credit_usd": zeros
            if d.curtailed_mw is zeros
            else d.curtailed_mw * (hours * self.dr_credit_usd_per_mwh),
            "power_ppa_usd": ppa_flow,
            "power_rt_usd": (self.ppa_mw - d.asic_power_mw - d.gpu_power_mw)
            * path.power_rt_usd_per_mwh[:, t]
            * hours,
            "transmission_charge_usd": zeros,
            "reserve_payment_usd": zeros,
            "reserve_penalty_usd": zeros,
            "opex_usd": self._opex_usd(site.mining_ready_mw, site.hpc_ready_mw),
            "gpu_opex_usd": -(site.gpu_nodes @ self.gpu_opex_usd_per_node_step)
            if np.count_nonzero(site.gpu_nodes)
            else zeros,
            "interest_usd": np.minimum(cash_usd, 0.0) * self.interest_per_step,
            "asic_sales_usd": zeros if orders is None else orders.asic_sales_usd,
            "asic_capex_usd": zeros if orders is None else orders.asic_capex_usd,
            "gpu_capex_usd": zeros if orders is None else orders.gpu_capex_usd,
            "retrofit_capex_usd": zeros if orders is None else orders.retrofit_capex_usd,
        }

    def reserve_phase(
        self, state: PlantState, action: NativeAction
    ) -> tuple[tuple[FloatArray, FloatArray], FloatArray]:
        """Phase 2b (reserves modelled): at the start of a block of hours the commitment made a
        block ago takes effect and the site commits for the next block, within its installed ASIC
        MW (:func:`commit_reserve`); between block starts a request is clipped. Returns ((MW
        committed now, MW committed for the next block), MW of the request clipped)."""
        request = action.reserve_commit_mw
        if not self.is_reserve_block_start(state.t):
            return (state.reserve_mw, state.reserve_next_mw), np.maximum(request, 0.0)
        granted = commit_reserve(request, state.asic_th @ self.asic_mw_per_th)
        return (state.reserve_next_mw, granted), np.maximum(request, 0.0) - granted

    def is_reserve_block_start(self, t: int) -> bool:
        """Step ``t`` starts a block of reserve commitments (never without reserves)."""
        return bool(self.reserve_block_steps) and t % self.reserve_block_steps == 0

    def reserve_in_force(self, state: PlantState) -> FloatArray:
        """(B,) MW of reserve committed for the step the state is at: at a block's start the
        commitment made a block ago, else the current block's (what the site must deliver)."""
        return state.reserve_next_mw if self.is_reserve_block_start(state.t) else state.reserve_mw

    def reserve_flows(
        self, reserve_mw: FloatArray, dispatch: _Dispatch, path: ExogenousPath, t: int
    ) -> tuple[FloatArray, FloatArray]:
        """(reserve payment, penalty) of the step, USD: the committed MW x the reserve price x
        hours, and minus the MW not delivered x the penalty x hours."""
        hours = self.hours_per_step
        payment = reserve_mw * path.reserve_price_usd_per_mw_h[:, t] * hours
        return payment, dispatch.reserve_missing_mw * (-self.reserve_penalty_usd_per_mwh * hours)

    def settlement_steps(self, path: ExogenousPath) -> BoolArray:
        """(T,) steps at which the month's transmission charge is booked: the last step of each
        calendar month, and the path's last step (kept for the last path asked)."""
        if self._settlement[0] is not path:
            months = path.dates.astype("datetime64[M]")
            settle = months[1:] != months[:-1]
            settle[-1] = True
            self._settlement = (path, settle)
        return self._settlement[1]

    def peak_phase(
        self, cp_draw_mw: FloatArray, dispatch: _Dispatch, path: ExogenousPath, t: int
    ) -> tuple[FloatArray, FloatArray]:
        """Phase 5b (grid modelled): the site's draw (ASICs and GPUs; lease power is passed
        through) at a coincident peak accrues; at the month's last step the month's charge,
        ``cp_charge_usd_per_mw`` x accrued MW, is booked. Returns (MW accrued after the step,
        charge in USD, negative)."""
        peak = path.cp_peak[:, t]
        if np.count_nonzero(peak):
            cp_draw_mw = cp_draw_mw + peak * (dispatch.asic_power_mw + dispatch.gpu_power_mw)
        if not self.settlement_steps(path)[t]:
            return cp_draw_mw, self._constant_rows(cp_draw_mw.shape[0])[0]
        return np.zeros_like(cp_draw_mw), cp_draw_mw * -self.cp_charge_usd_per_mw

    def books_phase(
        self,
        state: PlantState,
        site: _Site | PlantState,
        accepted: BoolArray,
        hall_book: FloatArray,
        flows: dict[str, FloatArray],
        cp_draw_mw: FloatArray | None = None,
        reserve: tuple[FloatArray, FloatArray] | None = None,
    ) -> PlantState:
        """Phase 6: cash moves by the flows; ASIC failures; depreciation; bankruptcy; the
        coincident-peak draw not yet charged (``cp_draw_mw``, the state's own by default)."""
        zeros, _ = self._constant_rows(state.n_paths)
        new_cash = state.cash_usd
        for flow in flows.values():
            if flow is not zeros:  # between epochs most capex terms are the shared zeros
                new_cash = new_cash + flow
        keep = self.infrastructure_keep_per_step
        return PlantState(
            t=state.t + 1,
            cash_usd=new_cash,
            asic_th=site.asic_th * self.asic_keep_per_step,
            asic_pipeline_th=site.asic_pipeline_th,
            gpu_nodes=site.gpu_nodes,
            gpu_pipeline_nodes=site.gpu_pipeline_nodes,
            mining_ready_mw=site.mining_ready_mw,
            hpc_ready_mw=site.hpc_ready_mw,
            retrofit_pipeline_mw=site.retrofit_pipeline_mw,
            retrofit_late_mw=site.retrofit_late_mw,
            asic_on_order_th=site.asic_on_order_th,
            gpu_on_order_nodes=site.gpu_on_order_nodes,
            retrofit_on_order_mw=site.retrofit_on_order_mw,
            lease_accepted=accepted,
            infrastructure_book_usd=site.infrastructure_book_usd * keep,
            lease_hall_book_usd=hall_book * keep if np.count_nonzero(accepted) else hall_book,
            bankrupt=state.bankrupt | (new_cash < -self.credit_limit_usd),
            reserve_mw=state.reserve_mw if reserve is None else reserve[0],
            reserve_next_mw=state.reserve_next_mw if reserve is None else reserve[1],
            cp_draw_mw=state.cp_draw_mw if cp_draw_mw is None else cp_draw_mw,
        )


def orders_clipped(orders: EpochOrders, zeros: FloatArray) -> dict[str, FloatArray]:
    """Requested minus granted, per investment field (summed over generations); ``zeros`` (B,)
    stands for an order nobody asked for."""
    req = orders.requested
    gpu = (req.gpu_order_nodes - orders.gpu_order_nodes).sum(axis=1) if orders.gpu_requested else zeros
    asic = (req.asic_order_th - orders.asic_order_th).sum(axis=1) if orders.asic_requested else zeros
    return {
        "asic_sale_th": (req.asic_sale_th - orders.asic_sale_th).sum(axis=1),
        "retrofit_blocks": req.retrofit_blocks - orders.retrofit_blocks,
        "gpu_order_nodes": gpu,
        "asic_order_th": asic,
    }


class _Site(NamedTuple):
    """The site's fleets, capacities and pipelines within a decision-epoch step, after the
    phases so far (between epochs the phases read the state itself, so that per-array caches
    keep hitting)."""

    asic_th: FloatArray
    gpu_nodes: FloatArray
    mining_ready_mw: FloatArray
    hpc_ready_mw: FloatArray
    asic_pipeline_th: FloatArray
    gpu_pipeline_nodes: FloatArray
    retrofit_pipeline_mw: FloatArray
    retrofit_late_mw: FloatArray
    asic_on_order_th: FloatArray
    gpu_on_order_nodes: FloatArray
    retrofit_on_order_mw: FloatArray
    infrastructure_book_usd: FloatArray
    slots: tuple[int, int, int]
    """pipeline slots (ASIC, GPU, retrofit) delivered and refilled at this epoch"""


class _Dispatch(NamedTuple):
    """What phase 4 dispatched, (B,) each."""

    run_total_th: FloatArray
    asic_power_mw: FloatArray
    curtailed_mw: FloatArray
    gpu_revenue_usd: FloatArray
    gpu_power_mw: FloatArray
    lease_revenue_usd: FloatArray
    lease_penalty_usd: FloatArray
    lease_power_mw: FloatArray
    reserve_missing_mw: FloatArray
    """committed reserve MW not delivered (not running, or not switched off in a deployment)"""
    clipped: dict[str, FloatArray]
