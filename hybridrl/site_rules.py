"""The site's feasibility rules, numpy only: the one source the plant and the scheduler share.

:meth:`hybridrl.sim.plant.Plant.step` applies these rules to every request before it acts, and
the production scheduler (:meth:`hybridrl.scheduler.Scheduler.project`) applies the same
functions, in the same order, to the state a site reports, so that a scheduler decision is one
the plant carries out unchanged. The order within a step:

1. at a decision epoch, after the deliveries due: ASIC sales (:func:`clip_sales`), retrofit
   blocks (:func:`clip_retrofit_blocks`), GPU node orders (:func:`fill_gpu_orders`), ASIC orders
   (:func:`fill_asic_orders`) -- capex within the budget of :func:`capex_budget_usd` plus the sale
   proceeds, each filled in turn -- then hosting offers (:func:`accept_offers`);
2. every step: ASIC run fractions (:func:`run_asics`), demand-response curtailment
   (:func:`curtail_asics`), GPU nodes offered for rent (:func:`offer_gpus`).

Every function is batched over B rows ((B,) or (B, n) arrays) and never changes its inputs.
The records the plant builds every epoch are named tuples (immutable, and cheap to make on a
step that takes tens of microseconds).
The constants come from :class:`SiteLimits`: the plant builds it from the scenario, the
scheduler from ``policy.json``'s ``site_limits``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

WHOLE_SLACK = 1e-9
"""Added before taking the floor of a whole number of blocks or nodes (so that 2.9999999999
blocks of room is 3) and allowed over capacity when an offer is accepted."""


@dataclass(frozen=True)
class SiteLimits:
    """The constants the rules read (units in the names)."""

    asic_mw_per_th: FloatArray
    """(G,) facility MW per TH/s of each ASIC generation (efficiency x mining PUE)"""
    gpu_node_mw: FloatArray
    """(Gg,) facility MW per 8-GPU node of each generation at full load"""
    max_asic_order_mw: float
    max_gpu_order_nodes: float
    max_retrofit_blocks: float
    retrofit_block_mw: float
    retrofit_capex_usd_per_block: float
    capex_budget_offset_usd: float
    """credit limit less the lender's minimum liquidity: what capex may spend beyond cash"""
    lease_mw_per_it_mw: float

    @classmethod
    def from_site_limits(cls, limits: Mapping[str, Any]) -> SiteLimits:
        """From ``policy.json``'s ``site_limits`` (:func:`hybridrl.export.spec.site_limits`)."""
        return cls(
            asic_mw_per_th=np.asarray(limits["asic_mw_per_th"], dtype=np.float64),
            gpu_node_mw=np.asarray(limits["gpu_node_mw"], dtype=np.float64),
            max_asic_order_mw=float(limits["max_asic_order_mw"]),
            max_gpu_order_nodes=float(limits["max_gpu_order_nodes"]),
            max_retrofit_blocks=float(limits["max_retrofit_blocks"]),
            retrofit_block_mw=float(limits["retrofit_block_mw"]),
            retrofit_capex_usd_per_block=float(limits["retrofit_capex_usd_per_block"]),
            capex_budget_offset_usd=float(limits["credit_limit_usd"]) - float(limits["min_liquidity_usd"]),
            lease_mw_per_it_mw=float(limits["lease_mw_per_it_mw"]),
        )


class EpochSite(NamedTuple):
    """What the epoch rules read of the site, (B,) or (B, n) each: the state after the
    deliveries due (the plant) or as the site reports it (the scheduler)."""

    cash_usd: FloatArray
    asic_th: FloatArray
    """(B, G) installed"""
    asic_on_order_th: FloatArray
    """(B, G) ordered, not delivered"""
    gpu_nodes: FloatArray
    """(B, Gg) installed"""
    gpu_on_order_nodes: FloatArray
    """(B, Gg) ordered, not delivered"""
    mining_ready_mw: FloatArray
    hpc_ready_mw: FloatArray


class EpochMarket(NamedTuple):
    """Today's prices and what is on sale, (B, G) or (B, Gg)."""

    asic_resale_usd_per_th: FloatArray
    asic_price_usd_per_th: FloatArray
    asic_available: BoolArray
    gpu_node_capex_usd: FloatArray
    gpu_available: BoolArray


class EpochRequest(NamedTuple):
    """Investment requests in native units (negative values ask for nothing)."""

    asic_sale_th: FloatArray
    """(B, G)"""
    retrofit_blocks: FloatArray
    """(B,)"""
    gpu_order_nodes: FloatArray
    """(B, Gg)"""
    asic_order_th: FloatArray
    """(B, G)"""


class EpochOrders(NamedTuple):
    """What the rules grant of an :class:`EpochRequest`, the requests as read (non-negative,
    whole where whole), and the cash each costs (USD, signed: + in, - out)."""

    asic_sale_th: FloatArray
    retrofit_blocks: FloatArray
    gpu_order_nodes: FloatArray
    asic_order_th: FloatArray
    retrofit_mw: FloatArray
    """facility MW the granted blocks take out of mining"""
    requested: EpochRequest
    asic_sales_usd: FloatArray
    retrofit_capex_usd: FloatArray
    gpu_capex_usd: FloatArray
    asic_capex_usd: FloatArray
    budget_left_usd: FloatArray
    gpu_requested: bool
    """any GPU node asked for (else ``gpu_order_nodes`` is all zero)"""
    asic_requested: bool
    """any ASIC TH/s asked for (else ``asic_order_th`` is all zero)"""


def capex_budget_usd(cash_usd: FloatArray, limits: SiteLimits) -> FloatArray:
    """Cash capex may spend: cash + credit line - the lender's minimum liquidity."""
    return cash_usd + limits.capex_budget_offset_usd


def free_mining_mw(
    mining_ready_mw: FloatArray, asic_th: FloatArray, asic_on_order_th: FloatArray, limits: SiteLimits
) -> FloatArray:
    """Mining-ready MW not taken by installed or incoming ASICs (negative if overfull)."""
    return mining_ready_mw - (asic_th + asic_on_order_th) @ limits.asic_mw_per_th


def hpc_capacity_mw(
    hpc_ready_mw: FloatArray,
    retrofit_on_order_mw: FloatArray,
    gpu_nodes: FloatArray,
    gpu_on_order_nodes: FloatArray,
    limits: SiteLimits,
) -> FloatArray:
    """HPC MW built or under retrofit, not taken by GPU nodes installed or on order: the room
    accepted leases must fit in."""
    return hpc_ready_mw + retrofit_on_order_mw - (gpu_nodes + gpu_on_order_nodes) @ limits.gpu_node_mw


def clip_sales(request_th: FloatArray, asic_th: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(requested, sold) TH/s: at most what is installed."""
    requested = np.maximum(request_th, 0.0)
    return requested, np.minimum(requested, asic_th)


def whole(request: FloatArray) -> FloatArray:
    """A request for whole units (blocks, nodes): floor of its positive part."""
    return np.floor(np.maximum(request, 0.0) + WHOLE_SLACK)


def clip_retrofit_blocks(
    request_blocks: FloatArray, free_mining: FloatArray, budget_usd: FloatArray, limits: SiteLimits
) -> tuple[FloatArray, FloatArray]:
    """(requested, granted) blocks: at most the per-epoch cap, the mining MW free of ASICs
    (installed or on order) and what the budget pays for."""
    requested = whole(request_blocks)
    blocks = np.minimum(requested, limits.max_retrofit_blocks)
    blocks = np.minimum(
        blocks, np.floor(np.maximum(free_mining, 0.0) / limits.retrofit_block_mw + WHOLE_SLACK)
    )
    room = np.floor(np.maximum(budget_usd, 0.0) / limits.retrofit_capex_usd_per_block + WHOLE_SLACK)
    return requested, np.minimum(blocks, room)


def fill_gpu_orders(
    request_nodes: FloatArray,
    available: BoolArray,
    room_mw: FloatArray,
    budget_usd: FloatArray,
    capex_usd: FloatArray,
    limits: SiteLimits,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, bool]:
    """(requested, ordered, budget left, capex paid (negative), whether anything was asked):
    whole nodes of generations on
    sale, in generation order, within the per-epoch cap, the built HPC MW not taken by GPUs
    (``room_mw``) and the budget. Racks filled with own GPUs are not available to tenants."""
    requested = whole(request_nodes)
    if not np.count_nonzero(requested):
        return requested, np.zeros(requested.shape), budget_usd, np.zeros(requested.shape[0]), False
    orders = np.zeros_like(requested)
    total: FloatArray | float = 0.0
    budget = budget_usd
    room = room_mw
    for j in range(requested.shape[1]):
        n = np.where(available[:, j], requested[:, j], 0.0)
        n = np.minimum(n, limits.max_gpu_order_nodes - total)
        n = np.minimum(n, np.floor(np.maximum(room, 0.0) / limits.gpu_node_mw[j] + WHOLE_SLACK))
        n = np.minimum(n, np.floor(np.maximum(budget, 0.0) / capex_usd[:, j] + WHOLE_SLACK))
        n = np.maximum(n, 0.0)
        orders[:, j] = n
        total = total + n
        room = room - n * limits.gpu_node_mw[j]
        budget = budget - n * capex_usd[:, j]
    return requested, orders, budget, -np.vecdot(orders, capex_usd), True


def fill_asic_orders(
    request_th: FloatArray,
    available: BoolArray,
    free_mining: FloatArray,
    budget_usd: FloatArray,
    price_usd_per_th: FloatArray,
    limits: SiteLimits,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, bool]:
    """(requested, ordered, budget left, capex paid (negative), whether anything was asked):
    TH/s of generations on sale, in generation order, within the free mining MW, the per-epoch
    MW cap and the budget."""
    requested = np.maximum(request_th, 0.0)
    if not np.count_nonzero(requested):
        return requested, np.zeros(requested.shape), budget_usd, np.zeros(requested.shape[0]), False
    orders = np.zeros_like(requested)
    mw_left = np.minimum(np.maximum(free_mining, 0.0), limits.max_asic_order_mw)
    budget = budget_usd
    for g in range(requested.shape[1]):
        th = np.where(available[:, g], requested[:, g], 0.0)
        th = np.minimum(th, mw_left / limits.asic_mw_per_th[g])
        th = np.minimum(th, np.maximum(budget, 0.0) / price_usd_per_th[:, g])
        orders[:, g] = th
        mw_left = mw_left - th * limits.asic_mw_per_th[g]
        budget = budget - th * price_usd_per_th[:, g]
    return requested, orders, budget, -np.vecdot(orders, price_usd_per_th), True


def epoch_orders(
    site: EpochSite, market: EpochMarket, request: EpochRequest, limits: SiteLimits
) -> EpochOrders:
    """Sales, retrofit, GPU orders and ASIC orders in the plant's order: sale proceeds join
    the budget first, then each order takes what is left of it; a sale frees mining MW for the
    retrofit and the ASIC orders, a retrofit takes MW from the ASIC orders."""
    budget = capex_budget_usd(site.cash_usd, limits)
    sale_req, sale = clip_sales(request.asic_sale_th, site.asic_th)
    asic_th = site.asic_th - sale
    asic_sales = np.vecdot(sale, market.asic_resale_usd_per_th)
    budget = budget + asic_sales
    free = free_mining_mw(site.mining_ready_mw, asic_th, site.asic_on_order_th, limits)
    blocks_req, blocks = clip_retrofit_blocks(request.retrofit_blocks, free, budget, limits)
    retrofit_capex = -blocks * limits.retrofit_capex_usd_per_block
    retrofit_mw = blocks * limits.retrofit_block_mw
    budget = budget + retrofit_capex
    free = free - retrofit_mw
    room = site.hpc_ready_mw - (site.gpu_nodes + site.gpu_on_order_nodes) @ limits.gpu_node_mw
    gpu_req, gpu, budget, gpu_capex, gpu_asked = fill_gpu_orders(
        request.gpu_order_nodes, market.gpu_available, room, budget, market.gpu_node_capex_usd, limits
    )
    asic_req, asic, budget, asic_capex, asic_asked = fill_asic_orders(
        request.asic_order_th, market.asic_available, free, budget, market.asic_price_usd_per_th, limits
    )
    return EpochOrders(
        asic_sale_th=sale,
        retrofit_blocks=blocks,
        gpu_order_nodes=gpu,
        asic_order_th=asic,
        retrofit_mw=retrofit_mw,
        requested=EpochRequest(sale_req, blocks_req, gpu_req, asic_req),
        asic_sales_usd=asic_sales,
        retrofit_capex_usd=retrofit_capex,
        gpu_capex_usd=gpu_capex,
        asic_capex_usd=asic_capex,
        budget_left_usd=budget,
        gpu_requested=gpu_asked,
        asic_requested=asic_asked,
    )


def accept_offers(
    wanted: BoolArray, facility_mw: FloatArray, reserved_mw: FloatArray, capacity_mw: FloatArray
) -> BoolArray:
    """(B, K) offers accepted among the open ones ``wanted``, in slot order, each when the MW
    already promised to leases plus its own fit the HPC capacity (:func:`hpc_capacity_mw`)."""
    accepted = np.zeros_like(wanted)
    reserved = reserved_mw
    for k in np.flatnonzero(wanted.any(axis=0)):
        need = facility_mw[:, k]
        ok = wanted[:, k] & (reserved + need <= capacity_mw + WHOLE_SLACK)
        accepted[:, k] = ok
        reserved = reserved + ok * need
    return accepted


def run_asics(
    run_request: FloatArray, asic_th: FloatArray, availability: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(run fraction in [0, 1], TH/s running) of each generation, (B, G) each."""
    fraction = np.minimum(np.maximum(run_request, 0.0), 1.0)
    return fraction, fraction * asic_th * availability[:, None]


def curtail_asics(
    curtail_request_mw: FloatArray,
    available_asic_mw: FloatArray,
    asic_power_mw: FloatArray,
    dr_call: BoolArray,
) -> tuple[FloatArray, FloatArray]:
    """(requested, held off) MW for a demand-response call: only during a call, and only ASIC MW
    available and not running."""
    requested = np.maximum(curtail_request_mw, 0.0)
    headroom = np.maximum(available_asic_mw - asic_power_mw, 0.0)
    return requested, np.where(dr_call, np.minimum(requested, headroom), 0.0)


def commit_reserve(request_mw: FloatArray, asic_installed_mw: FloatArray) -> FloatArray:
    """(B,) reserve MW granted for the next block: within [0, the installed ASIC MW] (only
    ASICs can be curtailed on a deployment)."""
    return np.minimum(np.maximum(request_mw, 0.0), asic_installed_mw)


def reserve_delivery(
    committed_mw: FloatArray, available_asic_mw: FloatArray, asic_power_mw: FloatArray, deployed: BoolArray
) -> tuple[FloatArray, FloatArray]:
    """(MW held off for a deployment, MW of the commitment not delivered), (B,) each. A committed
    MW must be running to be curtailable: outside a deployment the shortfall is the committed MW
    not running; during one, the committed MW not switched off (available and idle)."""
    idle_mw = np.maximum(available_asic_mw - asic_power_mw, 0.0)
    held_off = np.where(deployed, np.minimum(committed_mw, idle_mw), 0.0)
    missing = np.where(deployed, committed_mw - held_off, np.maximum(committed_mw - asic_power_mw, 0.0))
    return held_off, missing


def offer_gpus(
    offer_request: FloatArray, gpu_nodes: FloatArray, availability: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(offer fraction in [0, 1], nodes offered for rent) of each generation, (B, Gg) each."""
    fraction = np.minimum(np.maximum(offer_request, 0.0), 1.0)
    return fraction, fraction * gpu_nodes * availability[:, None]
