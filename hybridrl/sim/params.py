"""Scenario parameters: frozen dataclasses loaded, strictly validated, from ``envs/*.yaml``.

A scenario file is a nested mapping whose sections match the dataclasses below. A file may
start with ``extends: <other scenario>`` to override only what differs from another file.
Loading fails with :class:`ScenarioError` naming the file, the dotted key and what is allowed:
unknown keys, wrong types, out-of-range values and inconsistent dates are all refused, and
nothing half-built is returned.

Units are in the field names (``_usd``, ``_mw``, ``_per_year`` ...). Every simulator, optimiser
and policy reads these objects; no constant is copied elsewhere.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12.0
SITE_SHARE_LIMIT = 0.01
"""A price-taking site stays under 1 % of network hashrate (docs/model.md)."""


MAX_SCENARIO_BYTES = 1 << 20
"""A scenario file larger than this (1 MiB) is refused before it is parsed."""
MAX_YAML_DEPTH = 32
"""Deepest nesting of mappings and lists a scenario file may have."""
MAX_MESSAGE_CHARS = 600
"""Error messages are cut to this length (a bad value is quoted, never dumped whole)."""


class ScenarioError(ValueError):
    """A scenario file (or mapping) that cannot be turned into valid parameters."""

    def __init__(self, message: str) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            half = MAX_MESSAGE_CHARS // 2
            message = f"{message[:half]} [... {len(message) - 2 * half} characters cut ...] {message[-half:]}"
        super().__init__(message)


class _ScenarioYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases (whose expansion can take a 1 KB file to
    gigabytes) and with a nesting limit (deep nesting exhausts the recursion limit)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.YAMLError(
                f"YAML anchors and aliases are not allowed in scenario files {event.start_mark}"
            )
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise yaml.YAMLError(f"nesting deeper than {MAX_YAML_DEPTH} levels {event.start_mark}")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def read_scenario_yaml(path: Path) -> Any:
    """Parse one scenario file safely: bounded size, UTF-8, no aliases, bounded depth; every
    problem a :class:`ScenarioError` naming the file."""
    try:
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ScenarioError(
                f"{path}: {size:,} bytes; a scenario file may hold at most {MAX_SCENARIO_BYTES:,}"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{path}: not UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 1]!r})"
        ) from None
    try:
        return yaml.load(text, Loader=_ScenarioYamlLoader)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ScenarioError(f"{path}: unreadable value: {exc}") from None


def _spec(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    doc: str = "",
) -> Any:
    """A dataclass field with range constraints checked on load (each element for tuples)."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "doc": doc}
    if default is dataclasses.MISSING:
        return field(metadata=meta)
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


def _prob(default: Any = dataclasses.MISSING, doc: str = "") -> Any:
    return _spec(default, ge=0.0, le=1.0, doc=doc)


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True, kw_only=True)
class TimeParams:
    """Calendar of an episode. ``end`` is inclusive: 2026-01-01..2029-12-31 at 1 day is 1,461 steps."""

    start: dt.date
    end: dt.date
    dt_days: float = _spec(1.0, gt=0.0, le=7.0, doc="step length in days (1/24 for hourly)")
    decision_every_days: float = _spec(7.0, gt=0.0, doc="investment decision epoch in days")
    investments_enabled: bool = True

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start}); dates must be in order")
        if self.decision_every_days < self.dt_days:
            raise ValueError("decision_every_days must be at least dt_days")

    @property
    def n_steps(self) -> int:
        """Number of steps in an episode."""
        return max(1, round(((self.end - self.start).days + 1) / self.dt_days))

    @property
    def epoch_steps(self) -> int:
        """Steps between two investment decision epochs."""
        return max(1, round(self.decision_every_days / self.dt_days))

    def lead_epochs(self, lead_time_days: float) -> int:
        """A lead time rounded to whole decision epochs (at least one), so deliveries land on epochs."""
        return max(1, round(lead_time_days / (self.epoch_steps * self.dt_days)))


@dataclass(frozen=True, kw_only=True)
class RegimeParams:
    """Markov chain of BTC market regimes (bull, calm, bear...) with per-regime drift and volatility."""

    names: tuple[str, ...]
    drift_per_year: tuple[float, ...] = _spec(ge=-10.0, le=10.0, doc="log-price drift per regime")
    volatility_per_year: tuple[float, ...] = _spec(ge=0.0, le=10.0, doc="annualised volatility per regime")
    mean_duration_days: tuple[float, ...] = _spec(gt=0.0, doc="expected stay in each regime")
    switch_probabilities: tuple[tuple[float, ...], ...] = _spec(
        ge=0.0, le=1.0, doc="row i: where regime i goes when it ends (zero diagonal, rows sum to 1)"
    )
    initial_probabilities: tuple[float, ...] = _spec(ge=0.0, le=1.0)

    def __post_init__(self) -> None:
        n = len(self.names)
        if n < 1:
            raise ValueError("at least one regime is needed")
        for name in ("drift_per_year", "volatility_per_year", "mean_duration_days", "initial_probabilities"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} must have one entry per regime ({n})")
        if len(self.switch_probabilities) != n or any(len(r) != n for r in self.switch_probabilities):
            raise ValueError(f"switch_probabilities must be {n}x{n}")
        for i, row in enumerate(self.switch_probabilities):
            if n > 1 and (row[i] != 0.0 or not math.isclose(sum(row), 1.0, abs_tol=1e-9)):
                raise ValueError(f"switch_probabilities row {i} must have a zero diagonal and sum to 1")
        if not math.isclose(sum(self.initial_probabilities), 1.0, abs_tol=1e-9):
            raise ValueError("initial_probabilities must sum to 1")


@dataclass(frozen=True, kw_only=True)
class BtcPriceParams:
    """Regime-switching jump diffusion of the log BTC price."""

    initial_usd: float = _spec(gt=0.0, le=1e8, doc="USD per BTC")
    regimes: RegimeParams = _spec()
    jump_rate_per_year: float = _spec(0.0, ge=0.0, le=365.0)
    jump_mean_log: float = _spec(0.0, ge=-2.0, le=2.0)
    jump_std_log: float = _spec(0.0, ge=0.0, le=2.0)


@dataclass(frozen=True, kw_only=True)
class FeeParams:
    """Fees per block: log-AR(1) toward a long-run level, times a multiplier during spike episodes."""

    initial_btc_per_block: float = _spec(gt=0.0, le=100.0)
    long_run_btc_per_block: float = _spec(gt=0.0, le=100.0)
    reversion_per_day: float = _spec(ge=0.0, le=1.0)
    volatility_per_sqrt_day: float = _spec(ge=0.0, le=2.0)
    spike_rate_per_year: float = _spec(0.0, ge=0.0)
    spike_mean_days: float = _spec(5.0, gt=0.0)
    spike_multiplier: float = _spec(1.0, ge=1.0)
    level_reversion_per_year: float = _spec(
        0.0,
        ge=0.0,
        le=365.0,
        doc="the fee level moves from initial_btc_per_block toward long_run_btc_per_block at this "
        "pace (daily fees revert to that level at reversion_per_day); 0: no slow level, the daily "
        "process starts at the initial level and reverts to the long-run one at reversion_per_day",
    )


@dataclass(frozen=True, kw_only=True)
class NetworkParams:
    """Network hashrate: log H reverts toward the level where hashprice covers the marginal fleet's cost."""

    initial_hashrate_eh_s: float = _spec(gt=0.0, le=1e6)
    initial_height: int = _spec(ge=0, le=10_000_000)
    initial_difficulty: float = _spec(gt=0.0, le=1e20)
    reversion_per_year: float = _spec(ge=0.0, doc="speed of log H toward equilibrium")
    floor_share_of_peak: float = _spec(
        0.5, gt=0.0, le=1.0, doc="hashrate never falls below this share of its running peak (sunk fleets)"
    )
    equilibrium_gap_at_start: float = _spec(
        1.0, gt=0.0, doc="equilibrium hashrate / initial hashrate at t=0; fixes the cost markup"
    )
    marginal_efficiency_ratio: float = _spec(
        1.5, ge=1.0, doc="J/TH of the network's marginal machine relative to the frontier generation"
    )
    fleet_turnover_years: float = _spec(
        2.0, gt=0.0, doc="the network's fleet follows the frontier efficiency with this time constant"
    )
    marginal_power_usd_per_mwh: float = _spec(45.0, gt=0.0, le=1e4)
    volatility_per_sqrt_day: float = _spec(0.0, ge=0.0, le=1.0)
    cost_decline_per_year: float = _spec(
        0.0,
        ge=-1.0,
        le=1.0,
        doc="log decline per year of the network's all-in cost per TH/s beyond fleet efficiency "
        "(cheaper power and hosting, financing): raises the equilibrium hashrate at this rate",
    )
    target_smoothing_days: float = _spec(
        0.0,
        ge=0.0,
        le=3650.0,
        doc="the equilibrium follows an exponential mean of the break-even level over this many days "
        "(capacity is built on expected, not daily, economics); 0: no smoothing",
    )


@dataclass(frozen=True, kw_only=True)
class PowerParams:
    """A firm PPA block plus a real-time price with spikes, and demand-response calls."""

    ppa_mw: float = _spec(ge=0.0, le=1e5)
    ppa_usd_per_mwh: float = _spec(ge=0.0, le=1e4)
    rt_mean_usd_per_mwh: float = _spec(gt=0.0, le=1e4)
    rt_reversion_per_day: float = _spec(gt=0.0, le=24.0)
    rt_volatility_per_sqrt_day: float = _spec(ge=0.0, le=10.0)
    rt_seasonal_amplitude: float = _spec(0.0, ge=0.0, lt=1.0, doc="summer peak (late July)")
    rt_intraday_amplitude: float = _spec(0.0, ge=0.0, lt=1.0, doc="evening peak (17:00); hourly steps only")
    spike_rate_per_year: float = _spec(0.0, ge=0.0)
    spike_mean_usd_per_mwh: float = _spec(0.0, ge=0.0, le=1e5)
    spike_half_life_days: float = _spec(1.0, gt=0.0)
    price_cap_usd_per_mwh: float = _spec(5000.0, gt=0.0, le=1e5, doc="ERCOT system-wide offer cap")
    price_floor_usd_per_mwh: float = _spec(-50.0, ge=-1e4, le=1e4)
    dr_call_probability_per_step: float = _prob(0.0)
    dr_trigger_usd_per_mwh: float = _spec(1000.0, ge=0.0, doc="an RT price above this also calls DR")
    dr_credit_usd_per_mwh: float = _spec(0.0, ge=0.0)
    dr_notice_hours: float | None = _spec(
        None,
        ge=0.0,
        le=24.0 * 7,
        doc="random DR calls are announced this many hours ahead (``dr_notice``); price-triggered "
        "calls come without notice; unset: no notice",
    )


@dataclass(frozen=True, kw_only=True)
class AsicGeneration:
    name: str
    efficiency_j_per_th: float = _spec(gt=0.0, le=1e4)
    release: dt.date = dt.date(2020, 1, 1)
    release_jitter_days: float = _spec(0.0, ge=0.0)


@dataclass(frozen=True, kw_only=True)
class AsicMarketParams:
    """Catalogue of ASIC generations; prices follow each generation's expected margin."""

    generations: tuple[AsicGeneration, ...]
    new_value_days: float = _spec(gt=0.0, doc="new $/TH = this many days of expected margin")
    used_value_days: float = _spec(gt=0.0, doc="resale $/TH = this many days of expected margin")
    scrap_usd_per_th: float = _spec(0.5, ge=0.0)
    reference_power_usd_per_mwh: float = _spec(45.0, gt=0.0)
    hashprice_smoothing_days: float = _spec(30.0, gt=0.0)
    lead_time_days: float = _spec(56.0, ge=0.0)
    failure_rate_per_year: float = _prob(0.05)
    max_order_mw_per_epoch: float = _spec(20.0, ge=0.0)

    def __post_init__(self) -> None:
        if not self.generations:
            raise ValueError("at least one ASIC generation is needed")
        names = [g.name for g in self.generations]
        if len(set(names)) != len(names):
            raise ValueError(f"generation names must be unique, got {names}")


@dataclass(frozen=True, kw_only=True)
class GpuGeneration:
    name: str
    node_kw: float = _spec(gt=0.0, le=1e3, doc="IT power of one node at full load")
    spot_usd_per_gpu_hour: float = _spec(gt=0.0, le=1e3, doc="spot price at the later of start and release")
    node_capex_usd: float = _spec(gt=0.0, le=1e8)
    gpus_per_node: int = _spec(8, ge=1)
    node_opex_usd_per_year: float = _spec(
        0.0, ge=0.0, doc="fixed cost of an installed node (support contracts, spares, staff), rented or not"
    )
    spot_trend_per_year: float = -0.15
    capex_trend_per_year: float = -0.10
    release: dt.date = dt.date(2020, 1, 1)
    release_jitter_days: float = _spec(0.0, ge=0.0)


@dataclass(frozen=True, kw_only=True)
class GpuMarketParams:
    generations: tuple[GpuGeneration, ...]
    spot_volatility_per_sqrt_day: float = _spec(0.02, ge=0.0)
    spot_reversion_per_day: float = _spec(0.02, ge=0.0, le=1.0)
    release_step_down: float = _prob(0.15, doc="drop of older generations' prices at a release")
    utilisation_mean: float = _prob(0.7)
    utilisation_persistence: float = _spec(0.95, ge=0.0, lt=1.0)
    utilisation_volatility: float = _spec(0.1, ge=0.0)
    idle_power_fraction: float = _prob(0.3)
    resale_fraction: float = _prob(0.6, doc="used node value / current new-node (server) price")
    node_overhead_capex_share: float = _spec(
        0.0,
        ge=0.0,
        le=5.0,
        doc="networking fabric and storage bought with each node, as a share of the server's price: "
        "the site pays (1 + this) x node_capex_usd per node; resale recovers the server only",
    )
    lead_time_days: float = _spec(84.0, ge=0.0)
    max_order_nodes_per_epoch: int = _spec(100, ge=0)

    def __post_init__(self) -> None:
        if not self.generations:
            raise ValueError("at least one GPU generation is needed")
        names = [g.name for g in self.generations]
        if len(set(names)) != len(names):
            raise ValueError(f"generation names must be unique, got {names}")


@dataclass(frozen=True, kw_only=True)
class OfferParams:
    """Hosting (colocation) offers: Poisson arrivals with uniform terms."""

    rate_per_year: float = _spec(ge=0.0)
    max_offers: int = _spec(12, ge=0)
    window_days: float = _spec(30.0, gt=0.0)
    it_mw_min: float = _spec(gt=0.0, le=1e4)
    it_mw_max: float = _spec(gt=0.0, le=1e4)
    price_min_usd_per_kw_month: float = _spec(ge=0.0, le=1e4)
    price_max_usd_per_kw_month: float = _spec(ge=0.0, le=1e4)
    term_min_months: float = _spec(gt=0.0, le=1200.0)
    term_max_months: float = _spec(gt=0.0, le=1200.0)
    ready_min_months: float = _spec(ge=0.0)
    ready_max_months: float = _spec(ge=0.0)
    late_penalty_fraction: float = _spec(0.5, ge=0.0, doc="penalty per late kW-month / price")
    first_arrival: dt.date | None = _spec(
        None,
        doc="date before which no offer arrives (the arrivals' Poisson clock starts there); "
        "unset: from the episode's start",
    )
    escalator_per_year: float = _spec(
        0.0,
        ge=0.0,
        le=0.2,
        doc="annual escalator of a lease's price and late penalty, compounding from its ready-by "
        "date (below the discount rate)",
    )
    serving_cost_usd_per_kw_month: float = _spec(0.0, ge=0.0)
    ramp_up_months: float = _spec(
        0.0,
        ge=0.0,
        le=60.0,
        doc="months from a lease's ready-by date until its tenant takes (and pays for) the whole "
        "hall; 0: the whole hall from the ready-by date",
    )
    ramp_up_initial_share: float = _prob(
        0.5, doc="share of the contracted MW the tenant takes in the ramp-up's first tranche"
    )
    ramp_up_tranches: int = _spec(
        1,
        ge=1,
        le=12,
        doc="equal steps of the ramp-up: the share rises from ramp_up_initial_share toward 1 in "
        "this many tranches of ramp_up_months / tranches each",
    )
    tenant_default_per_year: float = _spec(
        0.0,
        ge=0.0,
        lt=1.0,
        doc="annual probability that a tenant defaults once its lease has started (a constant "
        "hazard): the lease ends, its hall is free again, the margin still to come is lost",
    )

    def ramp_up_tranches_months(self) -> tuple[tuple[float, float, float], ...]:
        """(start, stop, share) of each ramp-up tranche, in months from the ready-by date: the
        tenant takes ``share`` of its contracted MW from ``start`` to ``stop`` and the whole
        hall after the last; empty without a ramp-up."""
        if self.ramp_up_months == 0.0:
            return ()
        n = self.ramp_up_tranches
        width = self.ramp_up_months / n
        s0 = self.ramp_up_initial_share
        return tuple((j * width, (j + 1) * width, s0 + (1.0 - s0) * j / n) for j in range(n))

    @property
    def tenant_default_hazard_per_year(self) -> float:
        """The constant hazard rate (per year) of ``tenant_default_per_year``."""
        return -math.log1p(-self.tenant_default_per_year)

    def __post_init__(self) -> None:
        for lo, hi in (
            ("it_mw_min", "it_mw_max"),
            ("price_min_usd_per_kw_month", "price_max_usd_per_kw_month"),
            ("term_min_months", "term_max_months"),
            ("ready_min_months", "ready_max_months"),
        ):
            if getattr(self, lo) > getattr(self, hi):
                raise ValueError(f"{lo} must not exceed {hi}")


@dataclass(frozen=True, kw_only=True)
class GridParams:
    """The grid the site sits on: system load with a daily, weekly and seasonal shape, weather
    that persists for days and a day-ahead forecast; and a transmission charge set by the site's
    draw in the interval of the system's monthly peak load (ERCOT's four coincident peaks, 4CP).

    System load (GW) at step t: mean x (1 + seasonal cos, peak ``load_seasonal_peak_day``) x (1 +
    intraday cos, peak ``load_peak_hour``) x (1 - weekend drop on Saturdays and Sundays) x
    exp(weather + hourly noise); weather is an Ornstein-Uhlenbeck process in days. The day-ahead
    forecast of each hour of a day is the load without its hourly noise, times exp(the day's
    forecast error). The transmission charge of a month in ``cp_months`` is
    ``cp_charge_usd_per_mw_year / len(cp_months)`` per MW the site drew (ASICs and GPUs; lease
    power is passed through) in the step of that month's highest realised system load, booked at
    the month's last step (or the episode's, if earlier): nobody knows which step was the peak
    before the month is over.
    """

    load_mean_gw: float = _spec(
        50.0, gt=0.0, le=1e4, doc="mean system load (ERCOT 2024: 445 TWh / 8,784 h = 50.7 GW)"
    )
    load_seasonal_amplitude: float = _spec(0.2, ge=0.0, lt=1.0, doc="summer over annual mean load")
    load_seasonal_peak_day: float = _spec(220.0, ge=0.0, le=366.0, doc="day of the year of the seasonal peak")
    load_intraday_amplitude: float = _spec(0.18, ge=0.0, lt=1.0, doc="afternoon over daily mean load")
    load_peak_hour: float = _spec(17.0, ge=0.0, lt=24.0, doc="hour of the daily peak (local time)")
    load_weekend_drop: float = _prob(0.06, doc="share of load lower on Saturdays and Sundays")
    weather_reversion_per_day: float = _spec(0.35, gt=0.0, le=24.0)
    weather_volatility_per_sqrt_day: float = _spec(0.04, ge=0.0, le=1.0)
    hourly_noise: float = _spec(0.01, ge=0.0, le=1.0, doc="sd of the log load's hourly noise (not forecast)")
    forecast_error: float = _spec(
        0.025,
        ge=0.0,
        le=1.0,
        doc="sd of the day-ahead forecast's log error, one draw a day (ERCOT MAPE 2-3 %)",
    )
    cp_months: tuple[int, ...] = _spec((6, 7, 8, 9), ge=1, le=12, doc="months whose peak sets a charge")
    cp_charge_usd_per_mw_year: float = _spec(
        0.0, ge=0.0, le=1e7, doc="transmission charge per MW of the site's mean draw over the peaks"
    )

    def __post_init__(self) -> None:
        if len(set(self.cp_months)) != len(self.cp_months):
            raise ValueError(f"cp_months repeats a month: {list(self.cp_months)}")


@dataclass(frozen=True, kw_only=True)
class ReserveParams:
    """Ancillary-service (reserve) commitments: curtailable MW offered for a block of hours one
    block ahead, paid per MW-hour of availability at the reserve price; a committed MW must be
    running (to be curtailable) and, when the grid deploys reserves, be switched off; what the
    site fails to deliver pays ``penalty_usd_per_mwh``.

    Reserve price (USD per MW-hour) at step t: mean x (1 + seasonal cos, summer peak) x (1 +
    intraday cos, peak ``price_peak_hour``) x exp(an Ornstein-Uhlenbeck process, unit mean).
    Deployments: Poisson events with exponential durations, and every step whose real-time
    price exceeds ``deployment_trigger_usd_per_mwh`` (reserves are deployed in scarcity).
    """

    block_hours: float = _spec(
        4.0, gt=0.0, le=24.0 * 7, doc="hours a commitment covers (a whole number of steps)"
    )
    price_mean_usd_per_mw_h: float = _spec(10.0, ge=0.0, le=1e4, doc="ERCOT ECRS 2024: 9.62 $/MW-h")
    price_seasonal_amplitude: float = _spec(0.5, ge=0.0, lt=1.0, doc="summer over annual mean")
    price_intraday_amplitude: float = _spec(0.5, ge=0.0, lt=1.0, doc="evening over daily mean")
    price_peak_hour: float = _spec(19.0, ge=0.0, lt=24.0)
    price_reversion_per_day: float = _spec(1.0, gt=0.0, le=24.0)
    price_volatility_per_sqrt_day: float = _spec(0.8, ge=0.0, le=10.0)
    deployment_rate_per_year: float = _spec(15.0, ge=0.0, le=8760.0)
    deployment_mean_hours: float = _spec(1.5, gt=0.0, le=240.0, doc="mean length of a deployment")
    deployment_trigger_usd_per_mwh: float = _spec(
        1000.0, ge=0.0, doc="a real-time price above this also deploys reserves (scarcity)"
    )
    penalty_usd_per_mwh: float = _spec(1000.0, ge=0.0, le=1e5, doc="per committed MWh not delivered")


@dataclass(frozen=True, kw_only=True)
class OutageParams:
    rate_per_year: float = _spec(0.0, ge=0.0)
    mean_days: float = _spec(2.0, gt=0.0)
    depth_min: float = _prob(0.2, doc="share of capacity lost")
    depth_max: float = _prob(0.8)

    def __post_init__(self) -> None:
        if self.depth_min > self.depth_max:
            raise ValueError("depth_min must not exceed depth_max")


@dataclass(frozen=True, kw_only=True)
class SiteParams:
    """Physical site. All MW are facility (grid-side) MW; a lease's IT MW occupies IT MW x pue_hpc."""

    interconnection_mw: float = _spec(gt=0.0, le=1e5)
    mining_ready_mw: float = _spec(ge=0.0, le=1e5)
    hpc_ready_mw: float = _spec(ge=0.0, le=1e5)
    pue_mining: float = _spec(1.07, ge=1.0)
    pue_hpc: float = _spec(1.3, ge=1.0)
    initial_asic_th: dict[str, float] = _spec({}, ge=0.0, doc="TH/s held per generation name")
    initial_gpu_nodes: dict[str, int] = _spec({}, ge=0)
    retrofit_block_mw: float = _spec(5.0, gt=0.0)
    retrofit_capex_usd_per_mw: float = _spec(9.0e6, ge=0.0, le=1e10)
    retrofit_lead_time_days: float = _spec(280.0, ge=0.0, le=3650.0)
    retrofit_delay_probability: float = _prob(
        0.0, doc="share of retrofit batches that are late when due (revealed on the due date)"
    )
    retrofit_delay_mean_days: float = _spec(
        90.0, ge=0.0, le=3650.0, doc="mean delay of a late batch (exponential, in whole epochs)"
    )
    retrofit_delay_max_days: float = _spec(365.0, ge=0.0, le=3650.0, doc="longest delay")
    max_retrofit_blocks_per_epoch: int = _spec(4, ge=0)
    opex_mining_usd_per_mw_year: float = _spec(0.0, ge=0.0)
    opex_hpc_usd_per_mw_year: float = _spec(0.0, ge=0.0)
    infrastructure_book_usd: float = _spec(0.0, ge=0.0, le=1e13)
    infrastructure_depreciation_per_year: float = _prob(0.05)

    def __post_init__(self) -> None:
        if self.mining_ready_mw + self.hpc_ready_mw > self.interconnection_mw + 1e-9:
            raise ValueError("mining_ready_mw + hpc_ready_mw exceed interconnection_mw")


@dataclass(frozen=True, kw_only=True)
class FinanceParams:
    initial_cash_usd: float = _spec(ge=-1e13, le=1e13)
    credit_limit_usd: float = _spec(0.0, ge=0.0, le=1e13)
    interest_rate_per_year: float = _spec(0.1, ge=0.0, le=10.0)
    min_liquidity_usd: float = _spec(
        0.0, ge=0.0, doc="capex may not bring cash below -credit_limit + this (a lender's liquidity covenant)"
    )
    pool_fee: float = _prob(0.02)
    discount_rate_per_year: float = _spec(0.1, gt=0.0, doc="discounts the lease backlog in NAV")

    def __post_init__(self) -> None:
        if self.initial_cash_usd < -self.credit_limit_usd:
            raise ValueError("initial_cash_usd is below the credit limit: the site starts bankrupt")


WORDS = ("name", "description", "sources")
"""The fields of a scenario that describe it rather than define it (left out of its hash)."""


@dataclass(frozen=True, kw_only=True)
class ScenarioParams:
    """A whole world: calendar, markets, site and finance."""

    name: str
    description: str
    time: TimeParams
    btc_price: BtcPriceParams
    fees: FeeParams
    network: NetworkParams
    power: PowerParams
    asic_market: AsicMarketParams
    gpu_market: GpuMarketParams
    offers: OfferParams
    outages: OutageParams
    site: SiteParams
    finance: FinanceParams
    grid: GridParams | None = _spec(
        None, doc="system load and its monthly-peak transmission charge; unset: neither is modelled"
    )
    reserves: ReserveParams | None = _spec(
        None, doc="ancillary-service commitments (operations scenarios only); unset: not modelled"
    )
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        asic_names = {g.name for g in self.asic_market.generations}
        gpu_names = {g.name for g in self.gpu_market.generations}
        for key, names, held in (
            ("site.initial_asic_th", asic_names, self.site.initial_asic_th),
            ("site.initial_gpu_nodes", gpu_names, self.site.initial_gpu_nodes),
        ):
            unknown = sorted(set(held) - names)
            if unknown:
                raise ValueError(f"{key}: unknown generation(s) {unknown}; allowed: {sorted(names)}")
        asic_mw = sum(
            th * g.efficiency_j_per_th * self.site.pue_mining / 1e6
            for g in self.asic_market.generations
            for name, th in self.site.initial_asic_th.items()
            if name == g.name
        )
        if asic_mw > self.site.mining_ready_mw + 1e-9:
            raise ValueError(
                f"site.initial_asic_th draws {asic_mw:.2f} MW, more than mining_ready_mw "
                f"{self.site.mining_ready_mw}"
            )
        gpu_mw = sum(
            n * g.node_kw * self.site.pue_hpc / 1e3
            for g in self.gpu_market.generations
            for name, n in self.site.initial_gpu_nodes.items()
            if name == g.name
        )
        if gpu_mw > self.site.hpc_ready_mw + 1e-9:
            raise ValueError(f"site.initial_gpu_nodes draw {gpu_mw:.2f} MW, more than hpc_ready_mw")

        if 0.0 < self.offers.escalator_per_year >= self.finance.discount_rate_per_year:
            raise ValueError(
                f"offers.escalator_per_year ({self.offers.escalator_per_year}) must be below "
                f"finance.discount_rate_per_year ({self.finance.discount_rate_per_year})"
            )
        if self.reserves is not None:
            self._check_reserves(self.reserves)
        if self.offers.rate_per_year > 0 and self.offers.window_days < self.time.decision_every_days:
            raise ValueError(
                "offers.window_days must be at least time.decision_every_days: offers are accepted at "
                "decision epochs, so a shorter window could pass without one"
            )

    def _check_reserves(self, r: ReserveParams) -> None:
        if self.time.investments_enabled:
            raise ValueError(
                "reserves are modelled for operations scenarios: set time.investments_enabled: false"
            )
        steps = r.block_hours / 24.0 / self.time.dt_days
        if round(steps) < 1 or abs(steps - round(steps)) > 1e-9:
            raise ValueError(
                f"reserves.block_hours ({r.block_hours}) must be a whole number of steps of "
                f"{self.time.dt_days * 24.0:g} hours"
            )

    @property
    def reserve_block_steps(self) -> int:
        """Steps a reserve commitment covers (0 without reserves)."""
        if self.reserves is None:
            return 0
        return round(self.reserves.block_hours / 24.0 / self.time.dt_days)

    @property
    def n_asic(self) -> int:
        return len(self.asic_market.generations)

    @property
    def n_gpu(self) -> int:
        return len(self.gpu_market.generations)

    @property
    def scenario_hash(self) -> str:
        """sha256 of the canonical values of the world (every parameter but ``name``,
        ``description`` and ``sources``): two equal hashes mean the same world, whatever the
        words around it. An optional parameter left unset (None) is left out, so that adding
        one keeps the hash of every world that does not use it."""
        world = {k: v for k, v in dataclasses.asdict(self).items() if k not in WORDS}
        blob = json.dumps(_without_none(world), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def _without_none(value: Any) -> Any:
    """``value`` with every None-valued mapping entry dropped, at any depth."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


# --------------------------------------------------------------------------- loading


def envs_dir() -> Path:
    """The scenario catalogue (:func:`hybridrl.resources.envs_dir`)."""
    from hybridrl.resources import envs_dir as catalogue

    return catalogue()


def list_scenarios() -> list[str]:
    """Names of the scenarios in the catalogue."""
    return sorted(p.stem for p in envs_dir().glob("*.yaml"))


def load_scenario(name_or_path: str | os.PathLike[str]) -> ScenarioParams:
    """Load a scenario by catalogue name (``"default"``) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = envs_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ScenarioError(f"unknown scenario {str(name_or_path)!r}; catalogue: {list_scenarios()}")
    raw = _read_with_extends(path, seen=())
    return scenario_from_mapping(raw, source=str(path))


def scenario_from_mapping(data: Mapping[str, Any], source: str = "<mapping>") -> ScenarioParams:
    """Build validated parameters from a nested mapping; errors name ``source`` and the key."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}: a scenario must be a mapping, got {type(data).__name__}")
    params = typing.cast(ScenarioParams, _build(ScenarioParams, data, "", source))
    try:
        check_price_taker(params)
    except ValueError as exc:
        raise _fail(source, "site", str(exc)) from None
    check_simulates(params, source)
    return params


class _NoAliasDumper(yaml.SafeDumper):
    """Writes every value in full: the scenario loader refuses aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def scenario_to_mapping(params: ScenarioParams) -> dict[str, Any]:
    """The nested mapping :func:`scenario_from_mapping` builds ``params`` back from (tuples as
    lists, dates as dates): the same world, the same :attr:`ScenarioParams.scenario_hash`."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    out: dict[str, Any] = plain(dataclasses.asdict(params))
    return out


def save_scenario(params: ScenarioParams, path: str | os.PathLike[str]) -> Path:
    """Write ``params`` as a self-contained scenario file (no ``extends``) that
    :func:`load_scenario` reads back to the same hash; refuses if it would not."""
    path = Path(path)
    text = yaml.dump(scenario_to_mapping(params), Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True)
    back = scenario_from_mapping(yaml.load(text, Loader=_ScenarioYamlLoader), source=str(path))
    if back.scenario_hash != params.scenario_hash:
        raise ScenarioError(f"{path}: the scenario does not survive a round trip through YAML")
    path.write_text(text, encoding="utf-8")
    return path


FINITE_CHECK_STEPS = 60
"""Steps of one path simulated at load to catch magnitudes whose simulation overflows."""


def check_simulates(params: ScenarioParams, source: str) -> None:
    """Simulate the first ``FINITE_CHECK_STEPS`` steps of one path and refuse the scenario if any
    series is not finite (e.g. ``btc_price.initial_usd: 1e308`` overflows at once)."""
    import numpy as np

    from hybridrl.sim.exogenous import sample_paths

    end = params.time.start + dt.timedelta(days=FINITE_CHECK_STEPS * params.time.dt_days)
    short = dataclasses.replace(params, time=dataclasses.replace(params.time, end=min(end, params.time.end)))
    with np.errstate(all="ignore"):
        path = sample_paths(short, [0])
    for f in dataclasses.fields(path):
        value = getattr(path, f.name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ScenarioError(
                f"{source}: the simulated {f.name} is not finite within {FINITE_CHECK_STEPS} steps: "
                "a magnitude in this scenario is out of range"
            )


def check_price_taker(params: ScenarioParams) -> None:
    """A scenario's site, filled with the best machines on sale at the start, must stay under
    SITE_SHARE_LIMIT of the network's initial hashrate (checked on load; a forecaster's
    conditional scenario, started later from a lower hashrate, is not a scenario file)."""
    released = [g for g in params.asic_market.generations if g.release <= params.time.start]
    if released:
        best = min(g.efficiency_j_per_th for g in released)
        max_eh_s = params.site.mining_ready_mw * 1e6 / (best * params.site.pue_mining) / 1e6
        if max_eh_s >= SITE_SHARE_LIMIT * params.network.initial_hashrate_eh_s:
            raise ValueError(
                f"site.mining_ready_mw filled with {best} J/TH machines gives {max_eh_s:.2f} EH/s, "
                f"not under {SITE_SHARE_LIMIT:.0%} of network.initial_hashrate_eh_s: "
                "the site would not be a price-taker"
            )


def _read_with_extends(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if path in seen:
        raise ScenarioError(f"{path}: circular 'extends'")
    if not path.is_file():
        raise ScenarioError(f"{seen[-1] if seen else path}: extended scenario file {path} not found")
    data = read_scenario_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario must be a mapping at top level")
    if not seen and "name" not in data:
        data["name"] = path.stem  # a file without a name is named after itself, not its parent
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ScenarioError(f"{path}: extends: must be a scenario name (string)")
    base_path = path.parent / f"{base_name}.yaml"
    if not base_path.is_file():
        base_path = envs_dir() / f"{base_name}.yaml"  # a user's file may extend a catalogue scenario
    base = _read_with_extends(base_path, seen=(*seen, path))
    return _deep_merge(base, data)


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _fail(source: str, key: str, message: str) -> ScenarioError:
    return ScenarioError(f"{source}: {key or '<top level>'}: {message}")


def _build(tp: Any, value: Any, key: str, source: str, meta: Mapping[str, Any] | None = None) -> Any:
    """Convert ``value`` to type ``tp`` strictly, checking ``meta`` range constraints."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType) and type(None) in args:  # an optional parameter
        if value is None:
            return None
        (tp,) = (a for a in args if a is not type(None))
        origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build_dataclass(tp, value, key, source)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _fail(source, key, f"expected a list, got {type(value).__name__}")
        item = typing.get_args(tp)[0]
        return tuple(_build(item, v, f"{key}[{i}]", source, meta) for i, v in enumerate(value))
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise _fail(source, key, f"expected a mapping, got {type(value).__name__}")
        return {str(k): _build(val_tp, v, f"{key}.{k}", source, meta) for k, v in value.items()}
    scalar = _SCALAR_BUILDERS.get(tp)
    if scalar is None:
        raise TypeError(f"unsupported field type {tp}")  # pragma: no cover - schema bug
    return scalar(value, key, source, meta)


def _build_dataclass(tp: type, value: Any, key: str, source: str) -> Any:
    if not isinstance(value, Mapping):
        raise _fail(source, key, f"expected a mapping, got {type(value).__name__}")
    fields = {f.name: f for f in dataclasses.fields(tp)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        where = f"{key}.{unknown[0]}" if key else str(unknown[0])
        raise _fail(source, where, f"unknown key; allowed keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(tp)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        sub = f"{key}.{name}" if key else name
        if name in value:
            kwargs[name] = _build(hints[name], value[name], sub, source, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _fail(source, sub, "missing required key")
    try:
        return tp(**kwargs)
    except ValueError as exc:
        if isinstance(exc, ScenarioError):
            raise
        raise _fail(source, key, str(exc)) from None


def _build_bool(value: Any, key: str, source: str, meta: Mapping[str, Any] | None) -> bool:
    if not isinstance(value, bool):
        raise _fail(source, key, f"expected true/false, got {value!r}")
    return value


def _build_str(value: Any, key: str, source: str, meta: Mapping[str, Any] | None) -> str:
    if not isinstance(value, str):
        raise _fail(source, key, f"expected a string, got {value!r}")
    return value


def _build_date(value: Any, key: str, source: str, meta: Mapping[str, Any] | None) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise _fail(source, key, f"expected a date YYYY-MM-DD, got {value!r}") from None
    if not isinstance(value, dt.date):
        raise _fail(source, key, f"expected a date YYYY-MM-DD, got {value!r}")
    return value


def _build_int(value: Any, key: str, source: str, meta: Mapping[str, Any] | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(source, key, f"expected an integer, got {value!r}")
    _check_range(value, key, source, meta)
    return value


def _build_float(value: Any, key: str, source: str, meta: Mapping[str, Any] | None) -> float:
    if isinstance(value, str) and len(value) <= 64 and _YAML12_FLOAT.match(value):
        value = float(value)  # YAML 1.2 reads 1e6 as a number; PyYAML (YAML 1.1) as a string
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(source, key, f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise _fail(source, key, f"expected a finite number, got {value!r}")
    _check_range(float(value), key, source, meta)
    return float(value)


_SCALAR_BUILDERS: dict[Any, Any] = {
    bool: _build_bool,
    str: _build_str,
    dt.date: _build_date,
    int: _build_int,
    float: _build_float,
}


_YAML12_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _check_range(value: float, key: str, source: str, meta: Mapping[str, Any] | None) -> None:
    if not meta:
        return
    bounds = [
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ]
    for name, ok, _ in bounds:
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            allowed = " and ".join(f"{s} {meta[n]}" for n, _, s in bounds if meta.get(n) is not None)
            raise _fail(source, key, f"got {value}; allowed: {allowed}")
