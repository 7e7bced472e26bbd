"""Exogenous paths: everything random about the world, sampled before any decision.

A path holds T+1 time points (index t is the start of step t; index T is the end of the
episode, used to value the site). It is generated for a batch of B seeds at once, row b being
exactly the path of seed b alone: each row draws its random numbers from its own
``numpy.random.SeedSequence`` (spawned into one stream per process), and the recursions are
vectorised over rows.

Models (docs/model.md): regime-switching jump diffusion for log BTC price; log-AR(1)
fees per block with spike episodes; network hashrate mean-reverting toward the level where the
marginal fleet breaks even; difficulty with the 2,016-block retarget and x4 clamp; subsidy by
height; FPPS hashprice; PPA + real-time power with spikes and demand-response calls; ASIC and GPU
markets by generation; Poisson hosting offers; outages.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from hybridrl.sim import protocol
from hybridrl.sim.params import DAYS_PER_MONTH, DAYS_PER_YEAR, NetworkParams, ScenarioParams

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]
SeedLike = int | np.random.SeedSequence

STREAMS = (
    "btc",
    "fees",
    "network",
    "power",
    "outages",
    "asic",
    "gpu",
    "offers",
    "tenants",
    "retrofits",
    "grid",
    "reserves",
)
"""Independent random streams of one path, spawned in this order from the path's seed."""

MWH_PER_TH_DAY_PER_J_PER_TH = 24.0 / 1e6
"""Energy in MWh of one TH/s running a day at 1 J/TH (1 W per TH/s x 24 h)."""


@dataclass(frozen=True)
class ExogenousPath:
    """A batch of B exogenous paths over T steps; arrays are (B, T+1[, n]) unless noted."""

    dt_days: float
    start_date: np.datetime64
    btc_price_usd: FloatArray
    regime: NDArray[np.int8]
    fees_btc_per_block: FloatArray
    network_hashrate_th_s: FloatArray
    difficulty: FloatArray
    height: FloatArray
    blocks: FloatArray
    """blocks found during step t (last column unused, zero)"""
    subsidy_btc: FloatArray
    """mean subsidy per block during step t"""
    hashprice_usd_per_ph_day: FloatArray
    power_rt_usd_per_mwh: FloatArray
    dr_call: BoolArray
    availability: FloatArray
    asic_available: BoolArray
    asic_price_usd_per_th: FloatArray
    asic_resale_usd_per_th: FloatArray
    gpu_available: BoolArray
    gpu_spot_usd_per_gpu_hour: FloatArray
    gpu_utilisation: FloatArray
    gpu_node_capex_usd: FloatArray
    """all-in capex of one node: the server plus its share of networking and storage"""
    gpu_node_resale_usd: FloatArray
    tenant_defaulted: BoolArray
    """(B, T+1, K): the tenant of offer k has defaulted by step t (were the offer accepted): the
    lease ends, its hall is free again and its margin still to come is lost. A time series, so
    that a decision-maker learns of a default only when it happens."""
    retrofit_delay_epochs: IntArray
    """(B, T+1): decision epochs by which the retrofit batch due at step t is late (0 when on
    time or between epochs); the site learns it on the due date, not when it orders"""
    offer_arrival_step: IntArray
    """(B, K): step at which offer k opens (n_steps+1 for an empty slot), in arrival order"""
    offer_expiry_step: IntArray
    """(B, K): first step at which offer k can no longer be accepted"""
    offer_ready_step: IntArray
    """(B, K): step from which the tenant expects delivery and pays"""
    offer_end_step: FloatArray
    """(B, K): step (fractional) at which the lease term ends; may lie beyond the episode"""
    offer_it_mw: FloatArray
    offer_price_usd_per_kw_month: FloatArray
    offer_penalty_usd_per_kw_month: FloatArray
    offer_term_months: FloatArray
    system_load_gw: FloatArray
    """system load of the grid (zero when the scenario models no grid)"""
    load_forecast_gw: FloatArray
    """the day-ahead forecast of the system load at step t (known from the day before)"""
    load_day_peak_forecast_gw: FloatArray
    """the highest day-ahead forecast of step t's calendar day (known from the day before)"""
    load_month_high_gw: FloatArray
    """the highest system load realised in step t's calendar month before step t (0 at its start)"""
    reserve_price_usd_per_mw_h: FloatArray
    """price of a MW of reserve held available for an hour (zero without reserves)"""
    reserve_deployed: BoolArray
    """the grid deploys reserves during step t: committed MW must be switched off"""
    dr_notice: BoolArray
    """a random DR call has been announced for one of the next ``power.dr_notice_hours`` (all
    False without notice; calls set off by the real-time price come without notice)"""
    cp_peak: FloatArray
    """1.0 at the step of each charged month's highest realised system load (the coincident
    peak), else 0. Known to the plant and the oracle only, never revealed to a decision-maker
    (:data:`hybridrl.sim.information.HIDDEN_FIELDS`): which step was the peak is known only once
    the month is over. A forecast may carry probabilities instead."""

    @property
    def n_paths(self) -> int:
        return int(self.btc_price_usd.shape[0])

    @property
    def n_steps(self) -> int:
        return int(self.btc_price_usd.shape[1]) - 1

    @property
    def dates(self) -> NDArray[np.datetime64]:
        """Date-time of each time point (T+1,)."""
        minutes = np.round(np.arange(self.n_steps + 1) * self.dt_days * 1440.0).astype("timedelta64[m]")
        return self.start_date.astype("datetime64[m]") + minutes

    def window(self, start: int, end: int | None = None) -> ExogenousPath:
        """Time points start..end (default: the last) as a path of its own: index 0 is ``start``;
        offer steps are shifted to match (an offer that arrived earlier has a negative arrival)."""
        end = self.n_steps if end is None else end
        if not 0 <= start < end <= self.n_steps:
            raise ValueError(f"need 0 <= start < end <= {self.n_steps}, got {start}, {end}")
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, np.ndarray) or f.name == "start_date":
                continue
            changes[f.name] = (
                value - start
                if f.name.startswith("offer_") and f.name.endswith("_step")
                else (value if f.name.startswith("offer_") else value[:, start : end + 1])
            )
        minutes = np.round(start * self.dt_days * 1440.0).astype("timedelta64[m]")
        return dataclasses.replace(
            self, start_date=self.start_date.astype("datetime64[m]") + minutes, **changes
        )

    def rows(self, index: int | slice | Sequence[int] | IntArray) -> ExogenousPath:
        """The paths of the given rows (a batch of one for an int)."""
        sel = [index] if isinstance(index, (int, np.integer)) else index
        changes = {
            f.name: getattr(self, f.name)[sel]
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray) and f.name != "start_date"
        }
        return dataclasses.replace(self, **changes)


def seed_sequences(seeds: Sequence[SeedLike] | SeedLike) -> list[np.random.SeedSequence]:
    """Normalise ints / SeedSequences to a list of SeedSequences (one per path)."""
    if isinstance(seeds, (int, np.integer, np.random.SeedSequence)):
        seeds = [seeds]
    out = []
    for s in seeds:
        if isinstance(s, np.random.SeedSequence):
            out.append(s)
        elif isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0:
            out.append(np.random.SeedSequence(int(s)))
        else:
            raise ValueError(f"a seed must be a non-negative int or a SeedSequence, got {s!r}")
    return out


def sample_paths(params: ScenarioParams, seeds: Sequence[SeedLike] | SeedLike) -> ExogenousPath:
    """Sample one exogenous path per seed; row b depends only on ``seeds[b]``."""
    seqs = seed_sequences(seeds)
    if not seqs:
        raise ValueError("at least one seed is needed")
    draws = [_row_inputs(params, s) for s in seqs]
    stacked = {k: np.stack([d[k] for d in draws]) for k in draws[0]}
    return _simulate(params, stacked)


# --------------------------------------------------------------------------- per-row inputs


def _spells(
    g: np.random.Generator, mean_days: np.ndarray, next_state: np.ndarray, first: int, horizon_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """A continuous-time Markov chain as spells: (state of each spell, end day of each spell).

    ``next_state[i]`` is a cumulative row of switch probabilities out of state i.
    """
    states, ends = [first], []
    elapsed = 0.0
    while True:
        elapsed += g.exponential(mean_days[states[-1]])
        ends.append(elapsed)
        if elapsed >= horizon_days:
            return np.array(states), np.array(ends)
        u = g.random()
        states.append(min(int(np.searchsorted(next_state[states[-1]], u, side="right")), len(mean_days) - 1))


def _row_inputs(p: ScenarioParams, seq: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """Random inputs of one path, each stream from its own generator (a pure function of ``seq``)."""
    T = p.time.n_steps
    dt = p.time.dt_days
    dt_y = dt / DAYS_PER_YEAR
    horizon = (T + 1) * dt
    day = np.arange(T + 1) * dt
    # children made explicitly (not seq.spawn, which advances seq's counter): a SeedSequence
    # gives the same path however often it is used
    children = [
        np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, i), pool_size=seq.pool_size)
        for i in range(len(STREAMS))
    ]
    rng = dict(zip(STREAMS, (np.random.default_rng(c) for c in children), strict=True))
    d: dict[str, np.ndarray] = {}

    g = rng["btc"]
    reg = p.btc_price.regimes
    first = min(
        int(np.searchsorted(np.cumsum(reg.initial_probabilities), g.random(), side="right")),
        len(reg.names) - 1,
    )
    states, ends = _spells(
        g,
        np.asarray(reg.mean_duration_days),
        np.cumsum(np.asarray(reg.switch_probabilities), axis=1),
        first,
        horizon,
    )
    d["regime"] = states[np.searchsorted(ends, day, side="right")].astype(np.int8)
    d["btc_z"] = g.standard_normal(T)
    d["jump_n"] = g.poisson(p.btc_price.jump_rate_per_year * dt_y, T).astype(np.float64)
    d["jump_z"] = g.standard_normal(T)

    g = rng["fees"]
    f = p.fees
    d["fee_z"] = g.standard_normal(T + 1)
    if f.spike_rate_per_year > 0:
        on_off = np.array([DAYS_PER_YEAR / f.spike_rate_per_year, f.spike_mean_days])
        states, ends = _spells(g, on_off, np.array([[0.0, 1.0], [1.0, 1.0]]), 0, horizon)
        d["fee_spike"] = states[np.searchsorted(ends, day, side="right")].astype(bool)
    else:
        d["fee_spike"] = np.zeros(T + 1, dtype=bool)

    g = rng["network"]
    d["hash_z"] = g.standard_normal(T + 1)
    d["block_z"] = g.standard_normal(T)

    g = rng["power"]
    d["rt_z"] = g.standard_normal(T + 1)
    spike_n = g.poisson(p.power.spike_rate_per_year * dt_y, T + 1).astype(np.float64)
    d["spike_size"] = g.gamma(spike_n, 1.0) * p.power.spike_mean_usd_per_mwh
    d["dr_u"] = g.random(T + 1)

    g = rng["outages"]
    o = p.outages
    lost = np.zeros(T + 1)
    n_events = g.poisson(o.rate_per_year * horizon / DAYS_PER_YEAR)
    for begin, length, depth in zip(
        g.uniform(0.0, horizon, n_events),
        g.exponential(o.mean_days, n_events),
        g.uniform(o.depth_min, o.depth_max, n_events),
        strict=True,
    ):
        overlap = np.clip(np.minimum(day + dt, begin + length) - np.maximum(day, begin), 0.0, dt) / dt
        lost = np.maximum(lost, depth * overlap)
    d["availability"] = 1.0 - lost

    g = rng["asic"]
    d["asic_release_z"] = g.standard_normal(p.n_asic)
    g = rng["gpu"]
    d["gpu_release_z"] = g.standard_normal(p.n_gpu)
    d["gpu_spot_z"] = g.standard_normal((T + 1, p.n_gpu))
    d["gpu_util_z"] = g.standard_normal((T + 1, p.n_gpu))

    g = rng["offers"]
    K, of = p.offers.max_offers, p.offers
    d["offer_gap_days"] = (
        g.exponential(DAYS_PER_YEAR / of.rate_per_year, K) if of.rate_per_year > 0 else np.full(K, np.inf)
    )
    d["offer_mw"] = g.uniform(of.it_mw_min, of.it_mw_max, K)
    d["offer_price"] = g.uniform(of.price_min_usd_per_kw_month, of.price_max_usd_per_kw_month, K)
    d["offer_term"] = g.uniform(of.term_min_months, of.term_max_months, K)
    d["offer_ready"] = g.uniform(of.ready_min_months, of.ready_max_months, K)
    d["tenant_default_exp"] = rng["tenants"].exponential(1.0, K)
    g = rng["retrofits"]
    d["retrofit_late_u"] = g.random(T + 1)
    d["retrofit_delay_exp"] = g.exponential(1.0, T + 1)
    if p.grid is not None:
        g = rng["grid"]
        d["weather_z"] = g.standard_normal(T + 1)
        d["load_noise_z"] = g.standard_normal(T + 1)
        d["forecast_z"] = g.standard_normal(math.ceil(horizon) + 2)
    if p.reserves is not None:
        g = rng["reserves"]
        r = p.reserves
        d["reserve_z"] = g.standard_normal(T + 1)
        n_events = g.poisson(r.deployment_rate_per_year * horizon / DAYS_PER_YEAR)
        begin = g.uniform(0.0, horizon, n_events)
        length = g.exponential(r.deployment_mean_hours / 24.0, n_events)
        deployed = np.zeros(T + 1, dtype=bool)
        for b, n in zip(begin, length, strict=True):
            deployed |= (day < b + n) & (b < day + dt)
        d["reserve_deployed"] = deployed
    return d


# --------------------------------------------------------------------------- recursions


def _ar1(first: np.ndarray, keep: float, innovations: np.ndarray, axis: int = 1) -> np.ndarray:
    """x_0 = first, x_n = keep * x_(n-1) + innovations_n (n >= 1), along ``axis`` (linear filter)."""
    u = np.concatenate(
        [np.expand_dims(first, axis), np.take(innovations, np.arange(1, innovations.shape[axis]), axis)],
        axis=axis,
    )
    return np.asarray(lfilter([1.0], [1.0, -keep], u, axis=axis))


def _ou_coefficients(rate_per_day: float, vol_per_sqrt_day: float, dt_days: float) -> tuple[float, float]:
    """Exact discretisation of an Ornstein-Uhlenbeck step: x' = a x + s z."""
    if rate_per_day <= 0:
        return 1.0, vol_per_sqrt_day * np.sqrt(dt_days)
    a = float(np.exp(-rate_per_day * dt_days))
    return a, vol_per_sqrt_day * float(np.sqrt((1 - a * a) / (2 * rate_per_day)))


def _release_steps(
    dates: Sequence[dt.date], jitter_days: Sequence[float], z: np.ndarray, p: ScenarioParams
) -> np.ndarray:
    """(B, n) first step at which each generation can be bought (0 if released before start)."""
    start = np.datetime64(p.time.start, "D")
    nominal = np.array([(np.datetime64(d, "D") - start).astype(float) for d in dates])
    days = nominal + np.asarray(jitter_days) * z * (nominal > 0)
    return np.maximum(0, np.ceil(days / p.time.dt_days)).astype(np.int64)


def _chain(
    hashrate_th_s: np.ndarray,
    p: ScenarioParams,
    block_z: np.ndarray,
    found_blocks: np.ndarray | None = None,
    epoch_begin_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Blocks, height and difficulty step by step, with the 2,016-block retarget and x4 clamp.

    Returns (difficulty (B, T+1), height (B, T+1), blocks (B, T+1), 1 / effective difficulty of
    each step (B, T+1)), where a step that crosses a retarget boundary finds its blocks before the
    boundary at the old difficulty and the rest at the new one. With ``found_blocks`` (B, T+1)
    the blocks of each step are those (a replay of real history, :mod:`hybridrl.sim.history`):
    the rule then only times the epochs and retargets, from ``epoch_begin_s`` (when the current
    epoch's first block was found, in seconds from the start; by default estimated at the
    initial block rate).
    """
    B, T1 = hashrate_th_s.shape
    T = T1 - 1
    n = p.network
    secs = p.time.dt_days * protocol.SECONDS_PER_DAY
    difficulty = np.empty((B, T1))
    height = np.empty((B, T1))
    blocks = np.zeros((B, T1))
    inv_d = np.empty((B, T1))
    D = np.full(B, n.initial_difficulty)
    h = np.full(B, float(n.initial_height))
    epoch_start = np.floor(h / protocol.RETARGET_INTERVAL_BLOCKS) * protocol.RETARGET_INTERVAL_BLOCKS
    # time already spent in the current epoch: given, or at the initial block rate
    rate0 = hashrate_th_s[:, 0] * 1e12 / (D * protocol.HASHES_PER_DIFFICULTY)
    begin_s = -(h - epoch_start) / rate0 if epoch_begin_s is None else np.full(B, epoch_begin_s)
    hash_per_step = hashrate_th_s * (1e12 * secs / protocol.HASHES_PER_DIFFICULTY)
    difficulty[:, 0] = D
    height[:, 0] = h
    boundary = epoch_start + protocol.RETARGET_INTERVAL_BLOCKS
    for t in range(T):
        if found_blocks is None:
            lam = hash_per_step[:, t] / D
            found = np.maximum(lam + np.sqrt(lam) * block_z[:, t], 0.0)
        else:
            found = found_blocks[:, t]
        h1 = h + found
        crosses = h1 >= boundary
        if crosses.any():
            frac = np.where(crosses, (boundary - h) / np.maximum(found, 1e-12), 1.0)
            # the rule times the epoch from its first block to its last: 2,015 of its intervals
            actual = np.maximum((t + frac) * secs - begin_s, 1e-9) * protocol.TIMED_SHARE_OF_EPOCH
            D_new = np.where(crosses, protocol.retarget_difficulty(D, actual), D)
            rest = (1.0 - frac) * found * (D / D_new if found_blocks is None else 1.0)
            found = np.where(crosses, boundary - h + rest, found)
            inv_d[:, t] = frac / D + (1.0 - frac) / D_new
            begin_s = np.where(crosses, (t + frac) * secs, begin_s)
            boundary = np.where(crosses, boundary + protocol.RETARGET_INTERVAL_BLOCKS, boundary)
            D = D_new
            h1 = h + found
        else:
            inv_d[:, t] = 1.0 / D
        blocks[:, t] = found
        h = h1
        height[:, t + 1] = h
        difficulty[:, t + 1] = D
    inv_d[:, T] = 1.0 / D
    return difficulty, height, blocks, inv_d


def break_even_hashrate_th_s(
    n: NetworkParams,
    price_usd: np.ndarray | float,
    fees_btc_per_block: np.ndarray | float,
    subsidy_btc: np.ndarray | float,
    fleet_efficiency_j_per_th: np.ndarray | float,
) -> np.ndarray:
    """Network hashrate (TH/s) at which the marginal fleet's revenue equals its power cost:
    144 (subsidy + fees) price / (ratio x fleet J/TH x 24e-6 MWh x marginal $/MWh). The network
    reverts toward this level divided by a cost markup fixed at the scenario's start."""
    cost_usd_per_th_day = (
        n.marginal_efficiency_ratio
        * np.asarray(fleet_efficiency_j_per_th)
        * MWH_PER_TH_DAY_PER_J_PER_TH
        * n.marginal_power_usd_per_mwh
    )
    return np.asarray(
        protocol.TARGET_BLOCKS_PER_DAY
        * (np.asarray(subsidy_btc) + np.asarray(fees_btc_per_block))
        * np.asarray(price_usd)
        / cost_usd_per_th_day
    )


def network_markup(p: ScenarioParams, years: float = 0.0) -> float:
    """The cost markup of the network's equilibrium ``years`` after the scenario's start (fixed by
    the start, falling at ``cost_decline_per_year``)."""
    n = p.network
    released = [g.efficiency_j_per_th for g in p.asic_market.generations if g.release <= p.time.start]
    if not released:
        raise ValueError(f"{p.name}: no ASIC generation is released at the start of the episode")
    sub0 = protocol.block_subsidy_btc(float(n.initial_height))
    level = break_even_hashrate_th_s(
        n, p.btc_price.initial_usd, p.fees.initial_btc_per_block, sub0, min(released)
    )
    markup = float(level) / (n.equilibrium_gap_at_start * n.initial_hashrate_eh_s * 1e6)
    return markup * float(np.exp(-n.cost_decline_per_year * years))


def retrofit_delay_limit_epochs(p: ScenarioParams) -> int:
    """The longest retrofit delay, in decision epochs."""
    return math.ceil(p.site.retrofit_delay_max_days / (p.time.epoch_steps * p.time.dt_days) - 1e-9)


def _retrofit_delays(p: ScenarioParams, d: dict[str, np.ndarray]) -> IntArray:
    """(B, T+1) epochs of delay of the retrofit batch due at each step: late with
    ``retrofit_delay_probability``, by an exponential delay of mean ``retrofit_delay_mean_days``
    rounded up to whole epochs, at most ``retrofit_delay_max_days``."""
    s = p.site
    epoch_days = p.time.epoch_steps * p.time.dt_days
    late = d["retrofit_late_u"] < s.retrofit_delay_probability
    epochs = np.ceil(d["retrofit_delay_exp"] * s.retrofit_delay_mean_days / epoch_days)
    steps = np.arange(late.shape[-1])
    due = late & (steps % p.time.epoch_steps == 0) & p.time.investments_enabled
    return np.where(due, np.minimum(epochs, retrofit_delay_limit_epochs(p)), 0).astype(np.int64)


def _simulated_network(
    p: ScenarioParams, d: dict[str, np.ndarray], frontier_eff: np.ndarray
) -> dict[str, np.ndarray]:
    """The simulated BTC price, fees and network (hashrate, chain, subsidy, hashprice) of a batch:
    the series a replay of real history (:mod:`hybridrl.sim.history`) replaces."""
    B = d["btc_z"].shape[0]
    T = p.time.n_steps
    dt = p.time.dt_days
    dt_y = dt / DAYS_PER_YEAR
    years = np.arange(T + 1) * dt_y

    # ---- BTC: regime-switching jump diffusion of the log price
    reg = p.btc_price.regimes
    regime = d["regime"]
    mu = np.asarray(reg.drift_per_year)[regime[:, :T]]
    sig = np.asarray(reg.volatility_per_year)[regime[:, :T]]
    bp = p.btc_price
    log_ret = (
        (mu - 0.5 * sig**2) * dt_y
        + sig * np.sqrt(dt_y) * d["btc_z"]
        + d["jump_n"] * bp.jump_mean_log
        + np.sqrt(d["jump_n"]) * bp.jump_std_log * d["jump_z"]
    )
    log_price = np.log(bp.initial_usd) + np.concatenate(
        [np.zeros((B, 1)), np.cumsum(log_ret, axis=1)], axis=1
    )
    price = np.exp(log_price)

    # ---- fees per block: log-AR(1) around the long-run level, times the spike multiplier
    f = p.fees
    a_fee, s_fee = _ou_coefficients(f.reversion_per_day, f.volatility_per_sqrt_day, dt)
    m_fee = np.log(f.long_run_btc_per_block)
    gap0 = np.log(f.initial_btc_per_block) - m_fee
    if f.level_reversion_per_year > 0:
        # the level moves from today's toward the long-run one at a slow pace; days revert to it
        level = m_fee + gap0 * np.exp(-f.level_reversion_per_year * years)
        dev = _ar1(np.zeros(B), a_fee, s_fee * d["fee_z"])
    else:
        level = np.full(T + 1, m_fee)
        dev = _ar1(np.full(B, gap0), a_fee, s_fee * d["fee_z"])
    fees = np.exp(level + dev) * np.where(d["fee_spike"], f.spike_multiplier, 1.0)

    # ---- network hashrate toward the break-even level of the marginal fleet; then the chain.
    # The equilibrium depends on the subsidy, hence on when the halving happens, hence on the
    # hashrate before it: iterate until the subsidy schedule is stable (one pass per halving).
    n = p.network
    h0 = n.initial_hashrate_eh_s * 1e6
    turnover = 1.0 - float(np.exp(-dt_y / n.fleet_turnover_years))
    fleet_eff = np.exp(_ar1(np.log(frontier_eff[:, 0]), 1.0 - turnover, turnover * np.log(frontier_eff)))
    revenue_per_subsidy = break_even_hashrate_th_s(n, price, 0.0, 1.0, fleet_eff)
    revenue_per_fees = break_even_hashrate_th_s(n, price, fees, 0.0, fleet_eff)
    sub0 = protocol.block_subsidy_btc(float(n.initial_height))
    # cost markup fixed so that, at t=0, equilibrium = equilibrium_gap_at_start x initial hashrate
    markup = (sub0 * revenue_per_subsidy[:, 0] + revenue_per_fees[:, 0]) / (n.equilibrium_gap_at_start * h0)
    # the all-in cost of a TH/s beyond the frontier's efficiency (power contracts, hosting,
    # financing) falls at ``cost_decline_per_year``: the markup shrinks with time
    markup = markup[:, None] * np.exp(-n.cost_decline_per_year * years)[None, :]
    keep = float(np.exp(-n.reversion_per_year * dt_y))
    noise = n.volatility_per_sqrt_day * np.sqrt(dt) * d["hash_z"]
    subsidy_at_height = np.full((B, T + 1), sub0)
    for _ in range(8):
        log_target = np.log((subsidy_at_height * revenue_per_subsidy + revenue_per_fees) / markup)
        if n.target_smoothing_days > 0:
            # capacity is planned and built on expected economics, not on the day's price
            a = 1.0 - float(np.exp(-dt / n.target_smoothing_days))
            log_target = _ar1(log_target[:, 0], 1.0 - a, a * log_target)
        # x_(t+1) = keep x_t + (1 - keep) target_t + noise_(t+1)
        innov = np.concatenate([np.zeros((B, 1)), (1.0 - keep) * log_target[:, :T]], axis=1) + noise
        log_h = _ar1(np.full(B, np.log(h0)), keep, innov)
        floor = np.log(n.floor_share_of_peak) + np.maximum.accumulate(log_h, axis=1)
        hashrate = np.exp(np.maximum(log_h, floor))
        difficulty, height, blocks, inv_d_eff = _chain(hashrate, p, d["block_z"])
        new_subsidy = protocol.block_subsidy_btc(height)
        if np.array_equal(new_subsidy, subsidy_at_height):
            break
        subsidy_at_height = new_subsidy
    return network_series(price, regime, fees, hashrate, (difficulty, height, blocks, inv_d_eff))


def network_series(
    price: np.ndarray,
    regime: np.ndarray,
    fees: np.ndarray,
    hashrate: np.ndarray,
    chain: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> dict[str, np.ndarray]:
    """The network series of a path (the keys :func:`_simulate` takes as ``network``) from the
    price, regime, fees per block, hashrate and :func:`_chain`'s output: the subsidy by height
    and the FPPS hashprice follow. Shared by the simulated network and a replay of history."""
    difficulty, height, blocks, inv_d_eff = chain
    subsidy = mean_subsidy_btc(height, blocks)
    return {
        "btc_price_usd": price,
        "regime": regime,
        "fees_btc_per_block": fees,
        "network_hashrate_th_s": hashrate,
        "difficulty": difficulty,
        "height": height,
        "blocks": blocks,
        "subsidy_btc": subsidy,
        "hashprice_usd_per_ph_day": np.asarray(
            protocol.hashprice_usd_per_ph_day(subsidy, fees, price, 1.0 / inv_d_eff)
        ),
    }


def mean_subsidy_btc(height: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """(B, T+1) mean subsidy per block over each step's blocks, from the height at each step's
    start and the blocks found in it: a step that straddles a halving earns the mean."""
    T = height.shape[1] - 1
    subsidy_at_height = protocol.block_subsidy_btc(height)
    s_start = subsidy_at_height[:, :T]
    next_halving = (
        np.floor(height[:, :T] / protocol.HALVING_INTERVAL_BLOCKS) + 1
    ) * protocol.HALVING_INTERVAL_BLOCKS
    after = np.maximum(height[:, 1:] - next_halving, 0.0)
    found = blocks[:, :T]
    return np.concatenate(
        [
            np.where(found > 0, s_start - 0.5 * s_start * after / np.maximum(found, 1e-12), s_start),
            subsidy_at_height[:, T:],
        ],
        axis=1,
    )


GRID_SERIES = (
    "system_load_gw",
    "load_forecast_gw",
    "load_day_peak_forecast_gw",
    "load_month_high_gw",
    "cp_peak",
)
"""The path's grid series (:class:`~hybridrl.sim.params.GridParams`)."""


def calendar(p: ScenarioParams, n_points: int) -> dict[str, IntArray | FloatArray]:
    """Calendar of the first ``n_points`` time points of ``p``'s episode: ``hour`` of the day
    (float), ``weekday`` (0 Monday), ``month`` (1-12), ``month_index`` (months since 1970),
    ``month_progress`` (share of the month elapsed), ``day_index`` (days since the start),
    ``day_of_year`` (days since 1 January of the start's year, float) and ``charged_month``
    (the grid's coincident peak of the month is charged: :class:`~hybridrl.sim.params.GridParams`)."""
    minutes = np.round(np.arange(n_points) * p.time.dt_days * 1440.0).astype("timedelta64[m]")
    when = np.datetime64(p.time.start, "m") + minutes
    days = when.astype("datetime64[D]")
    months = when.astype("datetime64[M]").astype(np.int64)
    month_start = months.astype("datetime64[M]").astype("datetime64[m]")
    month_minutes = (months + 1).astype("datetime64[M]").astype("datetime64[m]") - month_start
    return {
        "hour": (when - days).astype(np.int64) / 60.0,
        "weekday": (days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday
        "month": months % 12 + 1,
        "month_index": months,
        "month_progress": (when - month_start).astype(np.int64) / month_minutes.astype(np.int64),
        "day_index": (days - np.datetime64(p.time.start, "D")).astype(np.int64),
        "day_of_year": (p.time.start - p.time.start.replace(month=1, day=1)).days
        + np.arange(n_points) * p.time.dt_days,
        "charged_month": np.isin(months % 12 + 1, p.grid.cp_months if p.grid is not None else ()),
    }


def _grid_series(
    p: ScenarioParams, d: dict[str, np.ndarray], B: int, cal: dict[str, Any]
) -> dict[str, FloatArray]:
    """System load, its day-ahead forecasts and the coincident peaks (:class:`GridParams`), on the
    episode's :func:`calendar` ``cal``; zero-stride zeros when the scenario models no grid."""
    T = p.time.n_steps
    if p.grid is None:
        zero = np.broadcast_to(np.zeros(1), (B, T + 1))
        return {k: zero for k in GRID_SERIES}
    gp = p.grid
    day_of_year = cal["day_of_year"]
    shape = (
        gp.load_mean_gw
        * (
            1.0
            + gp.load_seasonal_amplitude
            * np.cos(2 * np.pi * (day_of_year - gp.load_seasonal_peak_day) / 365.25)
        )
        * (1.0 + gp.load_intraday_amplitude * np.cos(2 * np.pi * (cal["hour"] - gp.load_peak_hour) / 24.0))
        * np.where(cal["weekday"] >= 5, 1.0 - gp.load_weekend_drop, 1.0)
    )
    a, s = _ou_coefficients(gp.weather_reversion_per_day, gp.weather_volatility_per_sqrt_day, p.time.dt_days)
    stationary = s / np.sqrt(max(1 - a * a, 1e-12)) if a < 1 else 0.0
    weather = _ar1(stationary * d["weather_z"][:, 0], a, s * d["weather_z"])
    expected = shape * np.exp(weather)
    load = expected * np.exp(gp.hourly_noise * d["load_noise_z"])
    forecast = expected * np.exp(gp.forecast_error * d["forecast_z"][:, cal["day_index"]])
    day = cal["day_index"]
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    day_peak = np.maximum.reduceat(forecast, starts, axis=1)[:, np.cumsum(np.r_[False, day[1:] != day[:-1]])]
    cp_peak = np.zeros((B, T + 1))
    month_high = np.zeros((B, T + 1))
    for m in np.unique(cal["month_index"]):  # the highest load of the month before each step
        steps = np.flatnonzero(cal["month_index"] == m)
        month_high[:, steps[1:]] = np.maximum.accumulate(load[:, steps[:-1]], axis=1)
    month = cal["month_index"][:T]
    for m in np.unique(month[cal["charged_month"][:T]]):
        steps = np.flatnonzero(month == m)
        cp_peak[np.arange(B), steps[np.argmax(load[:, steps], axis=1)]] = 1.0
    return {
        "system_load_gw": load,
        "load_forecast_gw": forecast,
        "load_day_peak_forecast_gw": day_peak,
        "load_month_high_gw": month_high,
        "cp_peak": cp_peak,
    }


def _notice(scheduled: BoolArray, notice_hours: float | None, dt_days: float) -> BoolArray:
    """(B, T+1) whether a ``scheduled`` call falls in one of the next ``notice_hours`` (zero-stride
    False without notice)."""
    if not notice_hours:
        return np.broadcast_to(np.zeros(1, dtype=bool), scheduled.shape)
    steps = max(1, round(notice_hours / 24.0 / dt_days))
    ahead = np.zeros_like(scheduled)
    for k in range(1, steps + 1):
        ahead[:, :-k] |= scheduled[:, k:]
    return ahead


def _reserve_series(
    p: ScenarioParams, d: dict[str, np.ndarray], B: int, rt: FloatArray, cal: dict[str, Any]
) -> dict[str, Any]:
    """Reserve price and deployments (:class:`~hybridrl.sim.params.ReserveParams`), on the
    episode's :func:`calendar` ``cal``; zero-stride zeros without reserves."""
    T = p.time.n_steps
    r = p.reserves
    if r is None:
        return {
            "reserve_price_usd_per_mw_h": np.broadcast_to(np.zeros(1), (B, T + 1)),
            "reserve_deployed": np.broadcast_to(np.zeros(1, dtype=bool), (B, T + 1)),
        }
    day_of_year = cal["day_of_year"]
    shape = (1.0 + r.price_seasonal_amplitude * np.cos(2 * np.pi * (day_of_year - 200.0) / DAYS_PER_YEAR)) * (
        1.0 + r.price_intraday_amplitude * np.cos(2 * np.pi * (cal["hour"] - r.price_peak_hour) / 24.0)
    )
    a, s = _ou_coefficients(r.price_reversion_per_day, r.price_volatility_per_sqrt_day, p.time.dt_days)
    stationary = s / np.sqrt(max(1 - a * a, 1e-12)) if a < 1 else 0.0
    x = _ar1(stationary * d["reserve_z"][:, 0], a, s * d["reserve_z"])
    price = r.price_mean_usd_per_mw_h * shape * np.exp(x - 0.5 * stationary**2)
    deployed = d["reserve_deployed"] | (rt > r.deployment_trigger_usd_per_mwh)
    return {"reserve_price_usd_per_mw_h": price, "reserve_deployed": deployed}


def _simulate(
    p: ScenarioParams, d: dict[str, np.ndarray], network: dict[str, np.ndarray] | None = None
) -> ExogenousPath:
    """The batch's paths from its random inputs ``d``; ``network`` (the keys of
    :func:`_simulated_network`) replaces the simulated BTC price, fees and chain."""
    T = p.time.n_steps
    dt = p.time.dt_days
    dt_y = dt / DAYS_PER_YEAR
    steps = np.arange(T + 1)
    years = steps * dt_y

    # ---- ASIC generations: release steps and frontier efficiency
    asic_eff = np.array([g.efficiency_j_per_th for g in p.asic_market.generations])
    asic_release = _release_steps(
        [g.release for g in p.asic_market.generations],
        [g.release_jitter_days for g in p.asic_market.generations],
        d["asic_release_z"],
        p,
    )
    asic_available = steps[None, :, None] >= asic_release[:, None, :]
    frontier_eff = np.where(asic_available, asic_eff, np.inf).min(axis=2)
    if not np.all(np.isfinite(frontier_eff)):
        raise ValueError(f"{p.name}: no ASIC generation is released at the start of the episode")

    if network is None:
        network = _simulated_network(p, d, frontier_eff)
    hashprice = network["hashprice_usd_per_ph_day"]
    B = hashprice.shape[0]

    # ---- power
    pw = p.power
    a_rt, s_rt = _ou_coefficients(pw.rt_reversion_per_day, pw.rt_volatility_per_sqrt_day, dt)
    stationary = s_rt / np.sqrt(max(1 - a_rt * a_rt, 1e-12)) if a_rt < 1 else 0.0
    x = _ar1(stationary * d["rt_z"][:, 0], a_rt, s_rt * d["rt_z"])
    cal = calendar(p, T + 1)
    day_of_year = cal["day_of_year"]
    season = 1.0 + pw.rt_seasonal_amplitude * np.cos(2 * np.pi * (day_of_year - 200.0) / DAYS_PER_YEAR)
    hour = (day_of_year % 1.0) * 24.0
    season = season * (1.0 + pw.rt_intraday_amplitude * np.cos(2 * np.pi * (hour - 17.0) / 24.0))
    spike_level = _ar1(d["spike_size"][:, 0], 0.5 ** (dt / pw.spike_half_life_days), d["spike_size"])
    rt = np.clip(
        pw.rt_mean_usd_per_mwh * season * np.exp(x) + spike_level,
        pw.price_floor_usd_per_mwh,
        pw.price_cap_usd_per_mwh,
    )
    scheduled = d["dr_u"] < pw.dr_call_probability_per_step
    dr_call = scheduled | (rt > pw.dr_trigger_usd_per_mwh)
    dr_notice = _notice(scheduled, pw.dr_notice_hours, dt)

    availability = d["availability"]

    # ---- ASIC prices: days of expected margin at smoothed hashprice
    am = p.asic_market
    alpha = 1.0 - np.exp(-dt / am.hashprice_smoothing_days)
    smooth = _ar1(hashprice[:, 0], 1.0 - alpha, alpha * hashprice)
    margin = (
        smooth[:, :, None] / 1000.0 - asic_eff * MWH_PER_TH_DAY_PER_J_PER_TH * am.reference_power_usd_per_mwh
    )
    asic_price = np.maximum(am.scrap_usd_per_th, am.new_value_days * margin)
    asic_resale = np.maximum(am.scrap_usd_per_th, am.used_value_days * margin)

    # ---- GPU market
    gm = p.gpu_market
    gpu_release = _release_steps(
        [g.release for g in gm.generations],
        [g.release_jitter_days for g in gm.generations],
        d["gpu_release_z"],
        p,
    )
    gpu_available = steps[None, :, None] >= gpu_release[:, None, :]
    later_released = np.zeros((B, T + 1, p.n_gpu))
    for j in range(p.n_gpu):
        for k in range(j + 1, p.n_gpu):
            later_released[:, :, j] += (steps[None, :] >= gpu_release[:, k : k + 1]) & (
                gpu_release[:, k : k + 1] > 0
            )
    step_down = (1.0 - gm.release_step_down) ** later_released
    years_on_market = np.maximum(years[None, :, None] - gpu_release[:, None, :] * dt_y, 0.0)
    spot0 = np.array([g.spot_usd_per_gpu_hour for g in gm.generations])
    spot_trend = np.array([g.spot_trend_per_year for g in gm.generations])
    capex0 = np.array([g.node_capex_usd for g in gm.generations])
    capex_trend = np.array([g.capex_trend_per_year for g in gm.generations])
    a_sp, s_sp = _ou_coefficients(gm.spot_reversion_per_day, gm.spot_volatility_per_sqrt_day, dt)
    noise = _ar1(np.zeros((B, p.n_gpu)), a_sp, s_sp * d["gpu_spot_z"])
    spot = spot0 * np.exp(spot_trend * years_on_market + noise) * step_down
    capex = capex0 * np.exp(capex_trend * years_on_market) * step_down
    phi = gm.utilisation_persistence**dt
    z = _ar1(
        np.zeros((B, p.n_gpu)), phi, gm.utilisation_volatility * np.sqrt(1 - phi * phi) * d["gpu_util_z"]
    )
    logit_mean = (
        np.log(gm.utilisation_mean / max(1.0 - gm.utilisation_mean, 1e-9))
        if 0 < gm.utilisation_mean < 1
        else (30.0 if gm.utilisation_mean >= 1 else -30.0)
    )
    util = 1.0 / (1.0 + np.exp(-(logit_mean + z)))

    # ---- hosting offers
    o = p.offers
    arrival_days = np.cumsum(d["offer_gap_days"], axis=1)
    if o.first_arrival is not None:  # the Poisson clock starts at the offers' first date
        arrival_days = arrival_days + max((o.first_arrival - p.time.start).days, 0)
    horizon_days = T * dt
    exists = arrival_days < horizon_days
    arrival = np.where(exists, np.floor(arrival_days / dt), T + 1).astype(np.int64)
    expiry = np.where(exists, arrival + np.maximum(1, np.round(o.window_days / dt)), T + 1).astype(np.int64)
    ready = np.where(exists, arrival + np.round(d["offer_ready"] * DAYS_PER_MONTH / dt), T + 1).astype(
        np.int64
    )
    end = np.where(exists, ready + d["offer_term"] * DAYS_PER_MONTH / dt, T + 1.0)
    # tenant default: a constant hazard from the ready-by step on
    hazard_per_step = o.tenant_default_hazard_per_year * dt_y
    if hazard_per_step > 0:
        default_step = np.ceil(ready + d["tenant_default_exp"] / hazard_per_step)
        tenant_defaulted = steps[None, :, None] >= default_step[:, None, :]
    else:
        tenant_defaulted = np.zeros((B, T + 1, arrival.shape[1]), dtype=bool)

    grid = _grid_series(p, d, B, cal)
    return ExogenousPath(
        dt_days=dt,
        start_date=np.datetime64(p.time.start, "D"),
        **network,
        power_rt_usd_per_mwh=rt,
        dr_call=dr_call,
        availability=availability,
        asic_available=asic_available,
        asic_price_usd_per_th=asic_price,
        asic_resale_usd_per_th=asic_resale,
        gpu_available=gpu_available,
        gpu_spot_usd_per_gpu_hour=spot,
        gpu_utilisation=util,
        gpu_node_capex_usd=capex * (1.0 + gm.node_overhead_capex_share),
        gpu_node_resale_usd=gm.resale_fraction * capex,
        tenant_defaulted=tenant_defaulted,
        retrofit_delay_epochs=_retrofit_delays(p, d),
        offer_arrival_step=arrival,
        offer_expiry_step=expiry,
        offer_ready_step=ready,
        offer_end_step=end,
        offer_it_mw=np.where(exists, d["offer_mw"], 0.0),
        offer_price_usd_per_kw_month=np.where(exists, d["offer_price"], 0.0),
        offer_penalty_usd_per_kw_month=np.where(exists, d["offer_price"] * o.late_penalty_fraction, 0.0),
        offer_term_months=np.where(exists, d["offer_term"], 0.0),
        system_load_gw=grid["system_load_gw"],
        load_forecast_gw=grid["load_forecast_gw"],
        load_day_peak_forecast_gw=grid["load_day_peak_forecast_gw"],
        load_month_high_gw=grid["load_month_high_gw"],
        cp_peak=grid["cp_peak"],
        **_reserve_series(p, d, B, rt, cal),
        dr_notice=dr_notice,
    )
