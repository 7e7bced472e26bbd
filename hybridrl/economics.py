"""The site's economics, numpy only: what a TH/s, a node and a MW earn, their best use, and
the cash-flow terms by kind.

The plant books its cash flows with these constants, the rule policies, the MPC and the MILP
oracle dispatch with :func:`asic_best_use` / :func:`curtail_idle_mw`, the observation encoder
and the exported feature spec show :func:`asic_margin_usd_per_th_day`, and the production
scheduler's fallback runs the generations whose margin is positive by the same function.

Cash flows (:data:`CASH_FLOWS`) are declared once with their kind; a new revenue stream is one
line here, and every report that sums a kind (operating revenue, operating cash, capex) picks
it up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

CashFlowKind = Literal["revenue", "operating_cost", "financing", "sale", "capex"]

CASH_FLOWS: tuple[tuple[str, CashFlowKind], ...] = (
    ("mining_revenue_usd", "revenue"),
    ("gpu_revenue_usd", "revenue"),
    ("lease_revenue_usd", "revenue"),
    ("lease_penalty_usd", "operating_cost"),
    ("lease_serving_usd", "operating_cost"),
    ("dr_credit_usd", "revenue"),
    ("power_ppa_usd", "operating_cost"),
    ("power_rt_usd", "operating_cost"),
    ("transmission_charge_usd", "operating_cost"),
    ("reserve_payment_usd", "revenue"),
    ("reserve_penalty_usd", "operating_cost"),
    ("opex_usd", "operating_cost"),
    ("gpu_opex_usd", "operating_cost"),
    ("interest_usd", "financing"),
    ("asic_sales_usd", "sale"),
    ("asic_capex_usd", "capex"),
    ("gpu_capex_usd", "capex"),
    ("retrofit_capex_usd", "capex"),
)
"""Every cash flow of a step with its kind, signed (+ in, - out), in USD; their sum is the
change in cash. ``power_rt_usd`` is the real-time settlement of PPA energy not drawn (positive
when the site sells more than it buys); ``transmission_charge_usd`` the charge set by the site's draw
at the grid's monthly coincident peak, booked at the month's last step; ``reserve_payment_usd`` and
``reserve_penalty_usd`` what reserve commitments earn and what a commitment not delivered costs."""

CASH_FLOW_TERMS: tuple[str, ...] = tuple(name for name, _ in CASH_FLOWS)


def terms_of_kind(*kinds: CashFlowKind) -> tuple[str, ...]:
    """The cash-flow terms of the given kinds, in :data:`CASH_FLOWS` order."""
    return tuple(name for name, kind in CASH_FLOWS if kind in kinds)


REVENUE_TERMS = terms_of_kind("revenue")
"""Operating revenue: what the site earns before power, opex, interest and capex."""
INVESTMENT_TERMS = terms_of_kind("capex", "sale")
"""Capex and hardware sales; every other term is operating cash (interest included)."""


@dataclass(frozen=True)
class SiteEconomics:
    """Per-step constants of the economics (units in the names)."""

    dt_days: float
    pool_fee: float
    asic_mw_per_th: FloatArray
    """(G,) facility MW per TH/s"""
    gpu_node_mw: FloatArray
    """(Gg,) facility MW per node at full load"""
    gpu_gpus_per_node: FloatArray
    gpu_idle_power_fraction: float
    gpu_opex_usd_per_node_step: FloatArray
    dr_credit_usd_per_mwh: float

    @property
    def hours_per_step(self) -> float:
        return 24.0 * self.dt_days

    @property
    def mining_usd_per_th_per_hashprice_step(self) -> float:
        """Pool payout of one TH/s over a step per USD/(PH/s)/day of hashprice."""
        return self.dt_days * (1.0 - self.pool_fee) / 1e3

    @property
    def gpu_hours_per_node_step(self) -> FloatArray:
        return self.gpu_gpus_per_node * self.hours_per_step


def asic_margin_usd_per_th_step(
    e: SiteEconomics, hashprice_usd_per_ph_day: FloatArray, rt_usd_per_mwh: FloatArray
) -> FloatArray:
    """(..., G) pool revenue minus energy at the real-time price (the opportunity cost of a MWh:
    PPA energy not drawn is sold at it), per TH/s over one step, for any leading shape."""
    revenue = hashprice_usd_per_ph_day[..., None] * e.mining_usd_per_th_per_hashprice_step
    return revenue - e.asic_mw_per_th * rt_usd_per_mwh[..., None] * e.hours_per_step


def asic_margin_usd_per_th_day(
    e: SiteEconomics, hashprice_usd_per_ph_day: FloatArray, rt_usd_per_mwh: FloatArray
) -> FloatArray:
    """(..., G) :func:`asic_margin_usd_per_th_step` per day."""
    return asic_margin_usd_per_th_step(e, hashprice_usd_per_ph_day, rt_usd_per_mwh) / e.dt_days


def asic_margin_coefficients(e: SiteEconomics) -> tuple[float, FloatArray]:
    """(USD/TH/day per USD/(PH/s)/day of hashprice, (G,) USD/TH/day per USD/MWh of power): the
    two slopes of :func:`asic_margin_usd_per_th_day`, for a linear feature or a site's own
    computation of it."""
    return (
        e.mining_usd_per_th_per_hashprice_step / e.dt_days,
        e.asic_mw_per_th * e.hours_per_step / e.dt_days,
    )


def margin_from_coefficients(
    coefficients: Mapping[str, Any], hashprice_usd_per_ph_day: float, rt_usd_per_mwh: float
) -> FloatArray:
    """(G,) USD/TH/day from :func:`asic_margin_coefficients` as ``policy.json`` carries them
    (``asic_margin_usd_per_th_day_per_hashprice``, ``asic_margin_usd_per_th_day_per_usd_mwh``)."""
    per_hashprice = float(coefficients["asic_margin_usd_per_th_day_per_hashprice"])
    per_power = np.asarray(coefficients["asic_margin_usd_per_th_day_per_usd_mwh"], dtype=np.float64)
    return hashprice_usd_per_ph_day * per_hashprice - per_power * rt_usd_per_mwh


def dr_value_usd_per_th_step(e: SiteEconomics, dr_call: BoolArray) -> FloatArray:
    """(..., G) DR credit one TH/s held off during a call earns over a step (0 outside calls)."""
    return dr_call[..., None] * e.asic_mw_per_th * e.hours_per_step * e.dr_credit_usd_per_mwh


def asic_best_use(
    e: SiteEconomics, hashprice_usd_per_ph_day: FloatArray, rt_usd_per_mwh: FloatArray, dr_call: BoolArray
) -> tuple[BoolArray, FloatArray]:
    """Best use of one TH/s of each generation over a step: run, hold off for a DR call, or idle,
    whichever earns most. Returns (runs (..., G), value USD per TH/s (..., G), before
    availability). The MILP oracle and the MPC dispatch with this rule."""
    margin = asic_margin_usd_per_th_step(e, hashprice_usd_per_ph_day, rt_usd_per_mwh)
    curtail = dr_value_usd_per_th_step(e, dr_call)
    return (margin > 0) & (margin >= curtail), np.maximum(np.maximum(margin, curtail), 0.0)


def curtail_idle_mw(
    e: SiteEconomics,
    run_fraction: FloatArray,
    asic_th: FloatArray,
    availability: FloatArray,
    dr_call: BoolArray,
) -> FloatArray:
    """The dispatch rule's curtailment: during a DR call that pays, offer every available ASIC
    MW not running. ``run_fraction`` and ``asic_th`` (..., G), the rest (...,)."""
    idle_mw = ((1.0 - run_fraction) * asic_th) @ e.asic_mw_per_th * availability
    return np.where(dr_call & (e.dr_credit_usd_per_mwh > 0), idle_mw, 0.0)


def gpu_margin_usd_per_node_step(
    e: SiteEconomics, spot_usd_per_gpu_hour: FloatArray, utilisation: FloatArray, rt_usd_per_mwh: FloatArray
) -> FloatArray:
    """(..., Gg) rental revenue minus energy for one offered node over a step."""
    load = e.gpu_idle_power_fraction + (1.0 - e.gpu_idle_power_fraction) * utilisation
    energy = e.gpu_node_mw * load * rt_usd_per_mwh[..., None] * e.hours_per_step
    return spot_usd_per_gpu_hour * utilisation * e.gpu_hours_per_node_step - energy


def best_asic_generation(available: BoolArray, efficiency_j_per_th: FloatArray) -> NDArray[np.intp]:
    """(B,) the most efficient ASIC generation on sale (the first if none is)."""
    return np.where(available, efficiency_j_per_th, np.inf).argmin(axis=1)


def newest_gpu_generation(available: BoolArray) -> NDArray[np.intp]:
    """(B,) the newest (last-listed) GPU generation on sale (the last if none is)."""
    return available.shape[1] - 1 - available[:, ::-1].argmax(axis=1)
