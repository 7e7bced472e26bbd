"""Rule-based policies acting in native units on a batch of paths.

Every policy sees the plant (the scenario's model and constants), the plant state and a
:class:`~hybridrl.sim.information.PathView`: the exogenous path up to today, never after.

- ``always_mine``: run the ASIC generations with a positive margin today; never invest, never
  accept offers.
- ``static_split``: keep ``ai_share`` of the interconnection as HPC (retrofitting mining MW) and
  fill it with the company's own GPU nodes; no hosting offers.
- ``hashprice_threshold``: mine above breakeven; accept offers priced above a hurdle; buy GPUs or
  ASICs when their simple payback is under ``payback_months``.
- ``greedy``: merit-order dispatch of every MW to its best use today; accept an offer when its
  discounted net value beats the retrofit capex plus the mining margin it displaces; retrofit
  for GPUs when a GPU MW beats a mining MW by enough to pay the retrofit back; GPUs and ASICs by
  payback.
- ``peak_avoidance``: always mine, but switch off in the hours likely to be the month's
  coincident peak (a scenario with a grid's 4CP charge), judged from the day-ahead load forecast.
- ``reserve_threshold``: always mine, and commit as reserve the ASIC MW still profitable at a
  price threshold whenever the real-time price is below it (a scenario with reserves).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from hybridrl import economics, site_rules
from hybridrl.baselines.peaks import PeakRule
from hybridrl.sim.information import PathView
from hybridrl.sim.params import DAYS_PER_MONTH
from hybridrl.sim.plant import NativeAction, Plant, PlantState

FloatArray = NDArray[np.float64]


class Policy(Protocol):
    """A decision rule: the native action for every row of the batch at the state's step."""

    @property
    def name(self) -> str: ...

    def act(self, plant: Plant, state: PlantState, view: PathView) -> NativeAction: ...


# --------------------------------------------------------------------------- shared pieces


def asic_margin_usd_per_th_day(plant: Plant, view: PathView) -> FloatArray:
    """(B, G) pool revenue minus energy at today's real-time price, per TH/s and day."""
    return economics.asic_margin_usd_per_th_day(
        plant.economics, view.now("hashprice_usd_per_ph_day"), view.now("power_rt_usd_per_mwh")
    )


def gpu_margin_usd_per_node_day(
    plant: Plant, view: PathView, surcharge_usd_per_mwh: FloatArray | float = 0.0
) -> FloatArray:
    """(B, Gg) rental revenue minus energy for one offered node over a day, at today's prices
    (plus ``surcharge_usd_per_mwh`` on the energy, e.g. an expected peak charge)."""
    margin = economics.gpu_margin_usd_per_node_step(
        plant.economics,
        view.now("gpu_spot_usd_per_gpu_hour"),
        view.now("gpu_utilisation"),
        view.now("power_rt_usd_per_mwh") + surcharge_usd_per_mwh,
    )
    return margin / plant.dt_days


def gpu_net_margin_usd_per_node_day(plant: Plant, view: PathView) -> FloatArray:
    """(B, Gg) what an installed node earns per day at today's prices, net of its fixed opex
    (paid whether it is rented or not): the margin an investment in it is judged on."""
    return gpu_margin_usd_per_node_day(plant, view) - plant.gpu_opex_usd_per_node_step / plant.dt_days


def gpu_payback_days(view: PathView, net_margin_usd_per_node_day: FloatArray) -> FloatArray:
    """(B, Gg) days for a node to pay back its all-in capex at the given net margin."""
    return view.now("gpu_node_capex_usd") / np.maximum(net_margin_usd_per_node_day, 1e-9)


def mining_dispatch(
    plant: Plant, state: PlantState, view: PathView, surcharge_usd_per_mwh: FloatArray | float = 0.0
) -> tuple[FloatArray, FloatArray]:
    """Run fractions (B, G) by the economics' best use of a TH/s (:func:`economics.asic_best_use`:
    run where the margin is positive and beats a DR call's credit, the rule the oracle's MILP
    dispatches by), and DR curtailment (B,) offering the idle ASIC MW during a call.
    ``surcharge_usd_per_mwh`` is added to the energy price (an expected peak charge)."""
    runs, _ = economics.asic_best_use(
        plant.economics,
        view.now("hashprice_usd_per_ph_day"),
        view.now("power_rt_usd_per_mwh") + surcharge_usd_per_mwh,
        view.now("dr_call"),
    )
    run = runs.astype(np.float64)
    curtail = economics.curtail_idle_mw(
        plant.economics, run, state.asic_th, view.now("availability"), view.now("dr_call")
    )
    return run, curtail


def peak_surcharge_usd_per_mwh(plant: Plant, view: PathView, rule: PeakRule) -> FloatArray:
    """(B,) the transmission charge a MWh drawn now is expected to set: the share of the month's
    coincident-peak charge ``rule`` expects from now, per MWh of the step (0 without a grid)."""
    if not plant.cp_charge_usd_per_mw:
        return np.zeros(view.n_paths)
    return rule.share(plant.params, view) * (plant.cp_charge_usd_per_mw / plant.hours_per_step)


def free_mining_mw(plant: Plant, state: PlantState) -> FloatArray:
    """Mining-ready MW not taken by installed or incoming ASICs (:func:`site_rules.free_mining_mw`)."""
    return site_rules.free_mining_mw(
        state.mining_ready_mw, state.asic_th, state.asic_on_order_th, plant.limits
    )


def hpc_capacity_for_leases_mw(plant: Plant, state: PlantState, view: PathView) -> FloatArray:
    """HPC MW built or under retrofit, not taken by GPUs or by accepted leases (acceptance room:
    :func:`site_rules.hpc_capacity_mw` less the leases' MW)."""
    capacity = site_rules.hpc_capacity_mw(
        state.hpc_ready_mw,
        state.retrofit_on_order_mw,
        state.gpu_nodes,
        state.gpu_on_order_nodes,
        plant.limits,
    )
    return capacity - plant.lease_reserved_mw(state, view)


def sales_to_free(plant: Plant, state: PlantState, mw_needed: FloatArray) -> FloatArray:
    """(B, G) TH/s to sell, least efficient generations first, to free ``mw_needed`` mining MW."""
    sale = np.zeros_like(state.asic_th)
    left = np.maximum(mw_needed, 0.0)
    for g in np.argsort(-plant.asic_efficiency_j_per_th):
        th = np.minimum(state.asic_th[:, g], left / plant.asic_mw_per_th[g])
        sale[:, g] = th
        left = left - th * plant.asic_mw_per_th[g]
    return sale


def capex_budget_usd(plant: Plant, state: PlantState, reserve_usd: float | FloatArray) -> FloatArray:
    """Cash the plant lets capex use (:func:`site_rules.capex_budget_usd`), less a policy's own
    reserve."""
    return np.maximum(site_rules.capex_budget_usd(state.cash_usd, plant.limits) - reserve_usd, 0.0)


def rule_dispatch(
    plant: Plant, state: PlantState, view: PathView, surcharge_usd_per_mwh: FloatArray | float = 0.0
) -> NativeAction:
    """The economics rule's dispatch and nothing else: ASIC generations with a positive margin
    run, GPU nodes with a positive margin are offered, idle ASIC MW are curtailed in a DR call;
    no order, sale, retrofit or acceptance. Every rule policy dispatches this way, and so does
    the decision-epoch environment between (and at) its agent's decisions; the MPC and
    ``peak_avoidance`` add an expected peak charge to the energy price."""
    run, curtail = mining_dispatch(plant, state, view, surcharge_usd_per_mwh)
    idle = plant.idle_action(state.n_paths)
    offer = (gpu_margin_usd_per_node_day(plant, view, surcharge_usd_per_mwh) > 0).astype(np.float64)
    return dataclasses.replace(idle, asic_run_fraction=run, gpu_offer_fraction=offer, curtail_mw=curtail)


def _newest_gpu(view: PathView) -> NDArray[np.intp]:
    return economics.newest_gpu_generation(view.now("gpu_available"))


def _best_asic(plant: Plant, view: PathView) -> NDArray[np.intp]:
    return economics.best_asic_generation(view.now("asic_available"), plant.asic_efficiency_j_per_th)


def _gpu_orders(
    plant: Plant, state: PlantState, view: PathView, wanted: NDArray[np.bool_], budget: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Newest-generation nodes filling free built HPC MW where ``wanted``; returns (orders, budget left)."""
    B = state.n_paths
    rows = np.arange(B)
    j = _newest_gpu(view)
    room = state.hpc_ready_mw - (state.gpu_nodes + state.gpu_on_order_nodes) @ plant.gpu_node_mw
    capex = view.now("gpu_node_capex_usd")[rows, j]
    n = np.floor(np.maximum(room, 0.0) / plant.gpu_node_mw[j] + 1e-9)
    n = np.minimum(n, np.floor(budget / capex))
    n = np.minimum(n, plant.max_gpu_order_nodes) * wanted * view.now("gpu_available")[rows, j]
    orders = np.zeros((B, plant.n_gpu))
    orders[rows, j] = n
    return orders, budget - n * capex


# --------------------------------------------------------------------------- policies


class AlwaysMine:
    """Run each ASIC generation whose margin today is positive; never invest or accept offers.

    A generation runs when hashprice x (1 - pool fee) exceeds its energy cost at today's
    real-time price (the opportunity cost of a MWh: unused PPA energy is sold at that price).
    During a demand-response call the idle ASIC capacity is offered as curtailment.
    """

    name = "always_mine"

    def act(self, plant: Plant, state: PlantState, view: PathView) -> NativeAction:
        run, curtail = mining_dispatch(plant, state, view)
        return dataclasses.replace(
            plant.idle_action(state.n_paths, run_fraction=0.0), asic_run_fraction=run, curtail_mw=curtail
        )


def reserve_commitment_mw(
    plant: Plant,
    state: PlantState,
    view: PathView,
    price_threshold_usd_per_mwh: float,
    min_reserve_price_usd_per_mw_h: float = 0.0,
) -> FloatArray:
    """(B,) MW to commit as reserve for the next block, at a block's start (0 otherwise): when
    the real-time price now is below ``price_threshold_usd_per_mwh``, the MW available now of the
    ASIC generations that would still earn a margin at that price (a committed MW must run)."""
    B = state.n_paths
    if not plant.is_reserve_block_start(state.t):
        return np.zeros(B)
    threshold = np.full(B, price_threshold_usd_per_mwh)
    earns = (
        economics.asic_margin_usd_per_th_day(plant.economics, view.now("hashprice_usd_per_ph_day"), threshold)
        > 0
    )
    cheap = view.now("power_rt_usd_per_mwh") < price_threshold_usd_per_mwh
    cheap &= view.now("reserve_price_usd_per_mw_h") >= min_reserve_price_usd_per_mw_h
    return ((state.asic_th * earns) @ plant.asic_mw_per_th) * view.now("availability") * cheap


def honour_reserve(
    plant: Plant,
    state: PlantState,
    view: PathView,
    run: FloatArray,
    surcharge_usd_per_mwh: FloatArray | float = 0.0,
) -> FloatArray:
    """(B, G) run fractions that keep the block's reserve commitment: outside a deployment at
    least the committed MW run (the most efficient generations first), unless running a
    generation loses more per MWh (its energy, plus ``surcharge_usd_per_mwh`` such as an
    expected peak charge, and the DR credit it forgoes) than the penalty of not delivering;
    during a deployment the committed MW are switched off (the least efficient first)."""
    committed = plant.reserve_in_force(state)
    if not plant.reserve_block_steps or not np.count_nonzero(committed):
        return run
    avail = view.now("availability")
    e = plant.economics
    margin = economics.asic_margin_usd_per_th_step(
        e, view.now("hashprice_usd_per_ph_day"), view.now("power_rt_usd_per_mwh") + surcharge_usd_per_mwh
    )
    forgone = economics.dr_value_usd_per_th_step(e, view.now("dr_call"))
    loss_per_mwh = (forgone - margin) / (plant.asic_mw_per_th * plant.hours_per_step)
    worth = loss_per_mwh < plant.reserve_penalty_usd_per_mwh  # (B, G) keep running for the reserve
    cap = state.asic_th * plant.asic_mw_per_th * avail[:, None]  # (B, G) MW
    order = np.argsort(plant.asic_efficiency_j_per_th)  # most efficient first
    deployed = view.now("reserve_deployed")
    running = (run * cap)[:, order]
    cap_o = cap[:, order]
    # outside deployments: fill up to the commitment in merit order
    before = np.cumsum(cap_o, axis=1) - cap_o
    at_least = np.clip(committed[:, None] - before, 0.0, cap_o) * worth[:, order]
    # during deployments: run at most capacity - committed, dropping the least efficient first
    keep = np.clip(cap_o.sum(axis=1, keepdims=True) - committed[:, None] - before, 0.0, cap_o)
    running = np.where(deployed[:, None], np.minimum(running, keep), np.maximum(running, at_least))
    out = np.zeros_like(run)
    out[:, order] = np.divide(running, cap_o, out=np.zeros_like(running), where=cap_o > 0)
    return out


@dataclasses.dataclass(frozen=True)
class ReserveThreshold:
    """Always mine, and offer reserves: at each block's start commit, for the next block, the
    available ASIC MW that would still earn a margin at ``price_threshold_usd_per_mwh`` when the
    real-time price is below it and the reserve price is at least
    ``min_reserve_price_usd_per_mw_h``; keep the commitment (run the committed MW, switch them off
    on a deployment). A scenario without reserves makes it ``always_mine``. Defaults (80, 10)
    chosen on hourly_ops validation seeds 2000-2007 among 60 / 80 / 100 $/MWh and 0-30 $/MW-h."""

    price_threshold_usd_per_mwh: float = 80.0
    min_reserve_price_usd_per_mw_h: float = 10.0
    name: str = "reserve_threshold"

    def act(self, plant: Plant, state: PlantState, view: PathView) -> NativeAction:
        action = rule_dispatch(plant, state, view)
        return with_reserve(
            plant, state, view, action, self.price_threshold_usd_per_mwh, self.min_reserve_price_usd_per_mw_h
        )


def with_reserve(
    plant: Plant,
    state: PlantState,
    view: PathView,
    action: NativeAction,
    threshold: float,
    min_reserve_price: float = 0.0,
    surcharge_usd_per_mwh: FloatArray | float = 0.0,
    hold_back: NDArray[np.bool_] | None = None,
) -> NativeAction:
    """``action`` with the reserve commitment and the run fractions that keep it (reserves only).
    ``surcharge_usd_per_mwh``: an expected peak charge on energy now, which running for the
    reserve counts; ``hold_back`` (B,): rows that commit nothing now (e.g. a likely peak day)."""
    if not plant.reserve_block_steps:
        return action
    run = honour_reserve(plant, state, view, action.asic_run_fraction, surcharge_usd_per_mwh)
    curtail = economics.curtail_idle_mw(
        plant.economics, run, state.asic_th, view.now("availability"), view.now("dr_call")
    )
    return dataclasses.replace(
        action,
        asic_run_fraction=run,
        curtail_mw=curtail,
        reserve_commit_mw=reserve_commitment_mw(plant, state, view, threshold, min_reserve_price)
        * (1.0 if hold_back is None else ~hold_back),
    )


@dataclasses.dataclass(frozen=True)
class PeakAvoidance:
    """Always mine, but price each MWh with the coincident-peak charge it is expected to set
    (:class:`~hybridrl.baselines.peaks.PeakRule`: the hours near today's forecast peak, on days
    whose forecast peak comes close to the month's highest load so far), so that the ASICs and
    GPUs switch off in likely peak hours of the charged months; never invest or accept offers.
    Without a grid it is ``always_mine`` with GPUs offered by margin."""

    rule: PeakRule = dataclasses.field(default_factory=PeakRule)
    name: str = "peak_avoidance"

    def act(self, plant: Plant, state: PlantState, view: PathView) -> NativeAction:
        return rule_dispatch(plant, state, view, peak_surcharge_usd_per_mwh(plant, view, self.rule))


@dataclasses.dataclass(frozen=True)
class StaticSplit:
    """Keep ``ai_share`` of the interconnection for AI: retrofit mining MW (selling the least
    efficient ASICs to free it) until HPC MW built or under way reach the share, and fill built
    HPC MW with the newest GPU nodes as cash allows. Hosting offers are declined.

    :param ai_share: share of interconnection MW for AI; 0.2-0.4 is what listed miners report.
    :param reserve_usd: cash kept out of capex beyond the lender's covenant.
    """

    ai_share: float = 0.3
    reserve_usd: float = 20e6
    name: str = "static_split"

    def __post_init__(self) -> None:
        if not 0.0 <= self.ai_share <= 1.0:
            raise ValueError(f"ai_share must lie in [0, 1], got {self.ai_share}")

    def act(self, plant: Plant, state: PlantState, view: PathView) -> NativeAction:
        action = rule_dispatch(plant, state, view)
        if not plant.is_decision_epoch(state.t):
            return action
        budget = capex_budget_usd(plant, state, self.reserve_usd)
        target_mw = self.ai_share * plant.interconnection_mw
        gap = target_mw - state.hpc_ready_mw - state.retrofit_on_order_mw
        blocks = np.clip(np.floor(gap / plant.retrofit_block_mw + 1e-9), 0, plant.max_retrofit_blocks)
        blocks = np.minimum(blocks, np.floor(budget / plant.retrofit_capex_usd_per_block))
        sale = sales_to_free(plant, state, blocks * plant.retrofit_block_mw - free_mining_mw(plant, state))
        budget = budget - blocks * plant.retrofit_capex_usd_per_block
        gpu, _ = _gpu_orders(plant, state, view, np.ones(state.n_paths, dtype=bool), budget)
        return dataclasses.replace(action, retrofit_blocks=blocks, asic_sale_th=sale, gpu_order_nodes=gpu)


@dataclasses.dataclass(frozen=True)
class HashpriceThreshold:
    """Mine above breakeven; accept hosting offers priced at or above a hurdle (retrofitting the
    MW they need, selling the least efficient ASICs to free them); buy GPU nodes or ASICs when
    their simple payback at today's prices is under ``payback_months``.

    :param hurdle_usd_per_kw_month: the lowest colocation price accepted.
    :param payback_months: the longest simple payback accepted for an investment.
    :param reserve_usd: cash kept out of capex beyond the lender's covenant.
    """

    hurdle_usd_per_kw_month: float = 120.0
    payback_months: float = 24.0
    reserve_usd: float = 20e6
    name: str = "hashprice_threshold"

    def act(self, plant: Plant, state: PlantState, view: PathView) -> NativeAction:
        action = rule_dispatch(plant, state, view)
        if not plant.is_decision_epoch(state.t):
            return action
        budget = capex_budget_usd(plant, state, self.reserve_usd)
        blocks, sale, accept, budget = _pursue_offers(
            plant, state, view, view.offer_price_usd_per_kw_month >= self.hurdle_usd_per_kw_month, budget
        )
        payback_days = self.payback_months * DAYS_PER_MONTH
        rows = np.arange(state.n_paths)
        j = _newest_gpu(view)
        gpu_payback = gpu_payback_days(view, gpu_net_margin_usd_per_node_day(plant, view))[rows, j]
        gpu, budget = _gpu_orders(plant, state, view, gpu_payback < payback_days, budget)
        asic = _asic_orders(plant, state, view, payback_days, budget, sale)
        return dataclasses.replace(
            action,
            retrofit_blocks=blocks,
            asic_sale_th=sale,
            accept_offer=accept,
            gpu_order_nodes=gpu,
            asic_order_th=asic,
        )


@dataclasses.dataclass(frozen=True)
class Greedy:
    """Merit-order dispatch of every MW to its best use today, and value-based investment.

    Dispatch: each ASIC generation runs when its margin is positive; GPUs are rented when their
    margin is positive. Offers: accepted when the lease's discounted net revenue exceeds the
    retrofit capex of its MW plus the mining margin those MW earn today over the lease term
    (capped at ``mining_horizon_months``). GPUs and ASICs: bought when payback < ``payback_months``;
    spare mining MW are retrofitted when a GPU node's margin per MW pays the retrofit back
    within ``payback_months`` better than mining does.

    :param payback_months: the longest simple payback accepted for an investment. Paybacks are
        computed at today's hashprice and rents, which the next halving and difficulty growth
        erode: a short hurdle guards against that.
    :param mining_horizon_months: how long today's mining margin is assumed to last when it is
        weighed against a lease that displaces it.
    :param reserve_usd: cash kept out of capex beyond the lender's covenant.
    :param offer_hurdle: an offer is taken when its value exceeds this multiple of its cost.

    Each parameter may also be a (B,) array, one value per path (the greedy-hybrid mode's
    network sets them per path and epoch: :mod:`hybridrl.env.greedy_hybrid`).

    Defaults chosen under model v1 (with retrofit delays, lease escalators and ramp-ups) by
    ``python experiments/tune_greedy.py`` on the 32 validation paths (seeds 2**32 + i, disjoint
    from every held-out seed) of ``default``, ``bear_market`` and ``ai_boom``: (12, 6, 20e6),
    the same point as before the ramp-up, with mean NAV change 214.8 / 169.4 / 281.5 M$; no
    bankrupt path. Without the 20 M$ reserve the same rule makes 227.2 M$ on ``default`` but goes
    bankrupt on one path of ``bear_market`` and one of ``ai_boom``.
    """

    payback_months: float | FloatArray = 12.0
    mining_horizon_months: float | FloatArray = 6.0
    reserve_usd: float | FloatArray = 20e6
    offer_hurdle: float | FloatArray = 1.0
    name: str = "greedy"

    def act(self, plant: Plant, state: PlantState, view: PathView) -> NativeAction:
        action = rule_dispatch(plant, state, view)
        if not plant.is_decision_epoch(state.t):
            return action
        budget = capex_budget_usd(plant, state, self.reserve_usd)
        rows = np.arange(state.n_paths)
        best_mining_per_mw_day = best_mining_usd_per_mw_day(plant, view)
        lease_value_per_mw, cost_per_mw = offer_value_and_cost_per_mw(
            plant, view, best_mining_per_mw_day, self.mining_horizon_months
        )
        hurdle = _per_row(self.offer_hurdle)
        blocks, sale, accept, budget = _pursue_offers(
            plant, state, view, lease_value_per_mw > hurdle * cost_per_mw, budget
        )
        j = _newest_gpu(view)
        net_margin = gpu_net_margin_usd_per_node_day(plant, view)
        gpu_margin = net_margin[rows, j]
        payback_days = self.payback_months * DAYS_PER_MONTH
        gpu_payback = gpu_payback_days(view, net_margin)[rows, j]
        gpu_worth = gpu_payback < payback_days
        gpu, budget = _gpu_orders(plant, state, view, gpu_worth, budget)
        # retrofit spare MW for GPUs when a MW of GPUs beats a MW of mining by enough to pay the retrofit
        gpu_gain_per_mw_day = gpu_gain_over_mining_usd_per_mw_day(
            plant, gpu_margin, j, best_mining_per_mw_day
        )
        retrofit_cost_per_mw = plant.retrofit_capex_usd_per_block / plant.retrofit_block_mw
        more = gpu_worth & (gpu_gain_per_mw_day * payback_days > retrofit_cost_per_mw) & (blocks == 0)
        extra = np.where(
            more,
            np.minimum(plant.max_retrofit_blocks, np.floor(budget / plant.retrofit_capex_usd_per_block)),
            0,
        )
        sale = sale + sales_to_free(
            plant, state, extra * plant.retrofit_block_mw - free_mining_mw(plant, state)
        )
        blocks = blocks + extra
        budget = budget - extra * plant.retrofit_capex_usd_per_block
        asic = _asic_orders(plant, state, view, payback_days, budget, sale)
        return dataclasses.replace(
            action,
            retrofit_blocks=blocks,
            asic_sale_th=np.minimum(sale, state.asic_th),
            accept_offer=accept,
            gpu_order_nodes=gpu,
            asic_order_th=asic,
        )


def best_mining_usd_per_mw_day(plant: Plant, view: PathView) -> FloatArray:
    """(B,) what the best ASIC generation earns per MW and day today (0 when none has a margin)."""
    margin = asic_margin_usd_per_th_day(plant, view)
    return np.maximum(margin / plant.asic_mw_per_th, 0.0).max(axis=1)


def _per_row(value: float | FloatArray) -> float | FloatArray:
    """A parameter against (B, K) offer arrays: a scalar as is, a (B,) array as a column."""
    return value[:, None] if isinstance(value, np.ndarray) else value


def offer_value_and_cost_per_mw(
    plant: Plant,
    view: PathView,
    best_mining_per_mw_day: FloatArray,
    mining_horizon_months: float | FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """(B, K) each offer's discounted margin per facility MW, and what taking it costs per MW:
    the retrofit capex plus the mining margin the MW earn today (``best_mining_per_mw_day``,
    :func:`best_mining_usd_per_mw_day`) over the lease term (capped at ``mining_horizon_months``).
    Greedy accepts an offer whose value exceeds its cost."""
    months = np.minimum(view.offer_term_months, _per_row(mining_horizon_months))
    cost_per_mw = (
        plant.retrofit_capex_usd_per_block / plant.retrofit_block_mw
        + best_mining_per_mw_day[:, None] * months * DAYS_PER_MONTH
    )
    return _lease_value_per_mw(plant, view), cost_per_mw


def gpu_gain_over_mining_usd_per_mw_day(
    plant: Plant,
    node_margin_usd_per_day: FloatArray,
    generation: NDArray[np.intp],
    best_mining_per_mw_day: FloatArray,
) -> FloatArray:
    """(B,) what a MW of GPU nodes of ``generation`` earns per day (net margin per node over its
    MW) beyond a MW of the best mining: greedy retrofits for GPUs when this pays the retrofit back."""
    return node_margin_usd_per_day / plant.gpu_node_mw[generation] - best_mining_per_mw_day


DECISION_FEATURE_NAMES = (
    "asic_payback_years",
    "gpu_payback_years",
    "best_offer_value_vs_cost",
    "best_offer_blocks_short_vs_max",
    "retrofit_for_gpu_gain_per_year",
    "free_mining_mw_share",
    "capex_budget_vs_nav0",
)
"""What greedy decides on, as observation features of the decision-epoch mode."""
PAYBACK_CAP_YEARS = 10.0
"""A payback beyond this (or no margin at all) reads as this many years."""


def decision_features(plant: Plant, state: PlantState, view: PathView, nav0_usd: FloatArray) -> FloatArray:
    """(B, 7) the quantities greedy's investment rule weighs today (:data:`DECISION_FEATURE_NAMES`):
    simple paybacks of the best ASIC and newest GPU on sale (years, capped), the best open
    offer's value over its cost (0 when none is open) and the retrofit blocks it lacks (share of
    an epoch's maximum), a GPU MW's gain over a mining MW per year against the retrofit capex per
    MW, the free mining MW (share of interconnection) and the capex budget (share of initial NAV).
    Known today from the path so far: no peeking."""
    rows = np.arange(state.n_paths)
    g = _best_asic(plant, view)
    asic_margin = asic_margin_usd_per_th_day(plant, view)[rows, g]
    asic_payback = view.now("asic_price_usd_per_th")[rows, g] / np.maximum(asic_margin, 1e-12) / 365.0
    j = _newest_gpu(view)
    net_margin = gpu_net_margin_usd_per_node_day(plant, view)
    gpu_payback = gpu_payback_days(view, net_margin)[rows, j] / 365.0
    mining_per_mw_day = best_mining_usd_per_mw_day(plant, view)
    value, cost = offer_value_and_cost_per_mw(plant, view, mining_per_mw_day, Greedy.mining_horizon_months)
    open_now = plant.open_offers(state, view)
    ratio = np.where(open_now, value / np.maximum(cost, 1e-9), 0.0)
    k = ratio.argmax(axis=1)
    need = view.offer_it_mw[rows, k] * plant.lease_mw_per_it_mw * open_now[rows, k]
    short = np.maximum(need - hpc_capacity_for_leases_mw(plant, state, view), 0.0) / plant.retrofit_block_mw
    gain_per_mw_year = (
        gpu_gain_over_mining_usd_per_mw_day(plant, net_margin[rows, j], j, mining_per_mw_day) * 365
    )
    retrofit_cost_per_mw = plant.retrofit_capex_usd_per_block / plant.retrofit_block_mw
    budget = site_rules.capex_budget_usd(state.cash_usd, plant.limits)
    return np.stack(
        [
            np.minimum(asic_payback, PAYBACK_CAP_YEARS),
            np.minimum(gpu_payback, PAYBACK_CAP_YEARS),
            ratio[rows, k],
            short / max(plant.max_retrofit_blocks, 1),
            gain_per_mw_year / retrofit_cost_per_mw,
            free_mining_mw(plant, state) / plant.interconnection_mw,
            budget / nav0_usd,
        ],
        axis=1,
    )


def _annuity_months(rate_per_month: float, months: FloatArray) -> FloatArray:
    """PV of 1 USD a month for ``months`` at a continuous rate per month."""
    if abs(rate_per_month) < 1e-12:
        return months
    return -np.expm1(-rate_per_month * months) / rate_per_month


def _lease_value_per_mw(plant: Plant, view: PathView) -> FloatArray:
    """(B, K) discounted margin of each offer over its term per facility MW (default risk and
    the wait to the ready-by date ignored): the escalating price less the flat costs, less what
    the ramp-up's tranches leave unpaid (Plant.lease_ramp)."""
    per_month = DAYS_PER_MONTH / plant.dt_days
    rho = plant.discount_rate_per_step * per_month
    growth = plant.lease_escalation_per_step * per_month
    price = view.offer_price_usd_per_kw_month
    costs = price - plant.lease_margin_usd_per_kw_month(price)
    term = view.offer_term_months
    per_it_kw = price * _annuity_months(rho - growth, term) - costs * _annuity_months(rho, term)
    months_per_step = plant.dt_days / DAYS_PER_MONTH
    serving = plant.lease_serving_cost_usd_per_kw_month
    for first, stop, share in plant.lease_ramp:  # the share of the hall the tenant leaves unpaid
        start, end = (np.minimum(x * months_per_step, term) for x in (first, stop))
        unpaid = price * (_annuity_months(rho - growth, end) - _annuity_months(rho - growth, start))
        unpaid = unpaid - serving * (_annuity_months(rho, end) - _annuity_months(rho, start))
        per_it_kw = per_it_kw - (1.0 - share) * unpaid
    return per_it_kw * 1e3 / plant.lease_mw_per_it_mw


def _pursue_offers(
    plant: Plant, state: PlantState, view: PathView, worth: NDArray[np.bool_], budget: FloatArray
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_], FloatArray]:
    """For the best open offer that is ``worth`` it: retrofit what it lacks (selling ASICs to free
    mining MW), accept it once the capacity is there. Returns (blocks, sales, accept, budget)."""
    B = state.n_paths
    rows = np.arange(B)
    candidates = plant.open_offers(state, view) & worth
    score = np.where(candidates, view.offer_price_usd_per_kw_month, -np.inf)
    k = score.argmax(axis=1)
    has = candidates[rows, k]
    need = view.offer_it_mw[rows, k] * plant.lease_mw_per_it_mw * has
    shortfall = need - hpc_capacity_for_leases_mw(plant, state, view)
    blocks = np.clip(np.ceil(shortfall / plant.retrofit_block_mw - 1e-9), 0, plant.max_retrofit_blocks) * has
    blocks = np.minimum(blocks, np.floor(budget / plant.retrofit_capex_usd_per_block))
    sale = sales_to_free(plant, state, blocks * plant.retrofit_block_mw - free_mining_mw(plant, state))
    budget = budget - blocks * plant.retrofit_capex_usd_per_block
    fits = has & (shortfall <= blocks * plant.retrofit_block_mw + 1e-9)
    accept = np.zeros((B, plant.n_offers), dtype=bool)
    accept[rows, k] = fits
    return blocks, sale, accept, budget


def _asic_orders(
    plant: Plant,
    state: PlantState,
    view: PathView,
    payback_days: float | FloatArray,
    budget: FloatArray,
    sale: FloatArray,
) -> FloatArray:
    """Most efficient ASICs into free mining MW when their payback at today's margin is short enough."""
    B = state.n_paths
    rows = np.arange(B)
    g = _best_asic(plant, view)
    price = view.now("asic_price_usd_per_th")[rows, g]
    margin = asic_margin_usd_per_th_day(plant, view)[rows, g]
    worth = price / np.maximum(margin, 1e-12) < payback_days
    free = np.maximum(free_mining_mw(plant, state) + sale @ plant.asic_mw_per_th, 0.0)
    mw = np.minimum(free, plant.max_asic_order_mw) * worth * (sale.sum(axis=1) == 0)
    th = np.minimum(mw / plant.asic_mw_per_th[g], budget / price)
    orders = np.zeros((B, plant.n_asic))
    orders[rows, g] = th
    return orders


RULE_POLICIES = {
    p.name: p
    for p in (
        AlwaysMine(),
        StaticSplit(),
        HashpriceThreshold(),
        Greedy(),
        PeakAvoidance(),
        ReserveThreshold(),
    )
}
"""Each rule-based policy with its default parameters, by name."""
