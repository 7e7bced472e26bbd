"""Exogenous paths: everything random about the world, sampled before any decision.

A path holds T+1 time points (index t is the start of step t; index T is the end of the
episode, used to value the site). It is generated for a batch of B seeds at once, row b being
exactly the path of seed b alone: each row draws its random numbers from its own
``numpy.random.SeedSequence`` (spawned into one stream per process), and the recursions are
vectorised over rows.

Models (DESIGN.md section 4): regime-switching jump diffusion for log BTC price; log-AR(1)
fees per block with spike episodes; network hashrate mean-reverting toward the level where the
marginal fleet breaks even; difficulty with the 2,016-block retarget and x4 clamp; subsidy by
height; FPPS hashprice; PPA + real-time power with spikes and demand-response calls; ASIC and GPU
markets by generation; Poisson hosting offers; outages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hybridrl.sim import protocol
from hybridrl.sim.params import DAYS_PER_MONTH, DAYS_PER_YEAR, ScenarioParams

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]
SeedLike = int | np.random.SeedSequence

STREAMS = ("btc", "fees", "network", "power", "outages", "asic", "gpu", "offers")
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
    gpu_node_resale_usd: FloatArray
    offer_arrival_step: IntArray
    """(B, K): step at which offer k opens (n_steps+1 for an empty slot)"""
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
    draws = [_row_draws(params, s) for s in seqs]
    stacked = {k: np.stack([d[k] for d in draws]) for k in draws[0]}
    return _simulate(params, stacked)


# --------------------------------------------------------------------------- random draws


def _row_draws(p: ScenarioParams, seq: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """All random numbers of one path, each stream from its own generator."""
    T = p.time.n_steps
    dt_y = p.time.dt_days / DAYS_PER_YEAR
    rng = dict(zip(STREAMS, (np.random.default_rng(s) for s in seq.spawn(len(STREAMS))), strict=True))
    d: dict[str, np.ndarray] = {}
    g = rng["btc"]
    d["regime_u0"] = g.random(1)
    d["regime_leave_u"] = g.random(T)
    d["regime_next_u"] = g.random(T)
    d["btc_z"] = g.standard_normal(T)
    d["jump_n"] = g.poisson(p.btc_price.jump_rate_per_year * dt_y, T).astype(np.float64)
    d["jump_z"] = g.standard_normal(T)
    g = rng["fees"]
    d["fee_z"] = g.standard_normal(T)
    d["fee_spike_u"] = g.random(T)
    g = rng["network"]
    d["hash_z"] = g.standard_normal(T)
    d["block_z"] = g.standard_normal(T)
    g = rng["power"]
    d["rt_z"] = g.standard_normal(T + 1)
    d["spike_n"] = g.poisson(p.power.spike_rate_per_year * dt_y, T + 1).astype(np.float64)
    d["spike_size"] = g.gamma(d["spike_n"], 1.0) * p.power.spike_mean_usd_per_mwh
    d["dr_u"] = g.random(T + 1)
    g = rng["outages"]
    d["outage_n"] = g.poisson(p.outages.rate_per_year * dt_y, T + 1).astype(np.float64)
    d["outage_days"] = g.exponential(p.outages.mean_days, T + 1)
    d["outage_depth"] = g.uniform(p.outages.depth_min, p.outages.depth_max, T + 1)
    g = rng["asic"]
    d["asic_release_z"] = g.standard_normal(p.n_asic)
    g = rng["gpu"]
    d["gpu_release_z"] = g.standard_normal(p.n_gpu)
    d["gpu_spot_z"] = g.standard_normal((T + 1, p.n_gpu))
    d["gpu_util_z"] = g.standard_normal((T + 1, p.n_gpu))
    g = rng["offers"]
    K, o = p.offers.max_offers, p.offers
    d["offer_gap_days"] = g.exponential(DAYS_PER_YEAR / o.rate_per_year, K) if o.rate_per_year > 0 else (
        np.full(K, np.inf)
    )
    d["offer_mw"] = g.uniform(o.it_mw_min, o.it_mw_max, K)
    d["offer_price"] = g.uniform(o.price_min_usd_per_kw_month, o.price_max_usd_per_kw_month, K)
    d["offer_term"] = g.uniform(o.term_min_months, o.term_max_months, K)
    d["offer_ready"] = g.uniform(o.ready_min_months, o.ready_max_months, K)
    return d


# --------------------------------------------------------------------------- recursions


def _ou_coefficients(rate_per_day: float, vol_per_sqrt_day: float, dt_days: float) -> tuple[float, float]:
    """Exact discretisation of an Ornstein-Uhlenbeck step: x' = a x + s z."""
    if rate_per_day <= 0:
        return 1.0, vol_per_sqrt_day * np.sqrt(dt_days)
    a = float(np.exp(-rate_per_day * dt_days))
    return a, vol_per_sqrt_day * float(np.sqrt((1 - a * a) / (2 * rate_per_day)))


def _release_steps(dates: Sequence[object], jitter_days: Sequence[float], z: np.ndarray, p: ScenarioParams) -> (
    np.ndarray
):
    """(B, n) first step at which each generation can be bought (0 if released before start)."""
    start = np.datetime64(p.time.start, "D")
    nominal = np.array([(np.datetime64(d, "D") - start).astype(float) for d in dates])
    days = nominal + np.asarray(jitter_days) * z * (nominal > 0)
    return np.maximum(0, np.ceil(days / p.time.dt_days)).astype(np.int64)


def _simulate(p: ScenarioParams, d: dict[str, np.ndarray]) -> ExogenousPath:
    B = d["btc_z"].shape[0]
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

    # ---- BTC regimes and log price
    reg = p.btc_price.regimes
    n_reg = len(reg.names)
    init_cum = np.cumsum(reg.initial_probabilities)
    regime = np.empty((B, T + 1), dtype=np.int8)
    regime[:, 0] = np.minimum((d["regime_u0"][:, 0:1] > init_cum[None, :]).sum(axis=1), n_reg - 1)
    leave_p = 1.0 - np.exp(-dt / np.asarray(reg.mean_duration_days))
    switch_cum = np.cumsum(np.asarray(reg.switch_probabilities, dtype=np.float64), axis=1)
    for t in range(T):
        r = regime[:, t].astype(np.int64)
        leave = d["regime_leave_u"][:, t] < leave_p[r]
        nxt = np.minimum((d["regime_next_u"][:, t : t + 1] > switch_cum[r]).sum(axis=1), n_reg - 1)
        regime[:, t + 1] = np.where(leave & (n_reg > 1), nxt, r)
    mu = np.asarray(reg.drift_per_year)[regime[:, :T]]
    sig = np.asarray(reg.volatility_per_year)[regime[:, :T]]
    bp = p.btc_price
    log_ret = (
        (mu - 0.5 * sig**2) * dt_y
        + sig * np.sqrt(dt_y) * d["btc_z"]
        + d["jump_n"] * bp.jump_mean_log
        + np.sqrt(d["jump_n"]) * bp.jump_std_log * d["jump_z"]
    )
    log_price = np.log(bp.initial_usd) + np.concatenate([np.zeros((B, 1)), np.cumsum(log_ret, axis=1)], axis=1)
    price = np.exp(log_price)

    # ---- fees per block
    f = p.fees
    a_fee, s_fee = _ou_coefficients(f.reversion_per_day, f.volatility_per_sqrt_day, dt)
    log_fee = np.empty((B, T + 1))
    spike = np.zeros((B, T + 1), dtype=bool)
    log_fee[:, 0] = np.log(f.initial_btc_per_block)
    m_fee = np.log(f.long_run_btc_per_block)
    p_start = 1.0 - np.exp(-f.spike_rate_per_year * dt_y)
    p_end = 1.0 - np.exp(-dt / f.spike_mean_days)
    for t in range(T):
        log_fee[:, t + 1] = m_fee + a_fee * (log_fee[:, t] - m_fee) + s_fee * d["fee_z"][:, t]
        u = d["fee_spike_u"][:, t]
        spike[:, t + 1] = np.where(spike[:, t], u >= p_end, u < p_start)
    fees = np.exp(log_fee) * np.where(spike, f.spike_multiplier, 1.0)

    # ---- network hashrate, difficulty, height, subsidy (sequential: the retarget needs it)
    n = p.network
    hashrate = np.empty((B, T + 1))
    difficulty = np.empty((B, T + 1))
    height = np.empty((B, T + 1))
    blocks = np.zeros((B, T + 1))
    subsidy = np.empty((B, T + 1))
    inv_d_eff = np.empty((B, T + 1))
    hashrate[:, 0] = n.initial_hashrate_eh_s * 1e6
    difficulty[:, 0] = n.initial_difficulty
    height[:, 0] = n.initial_height
    epoch_start = np.floor(height[:, 0] / protocol.RETARGET_INTERVAL_BLOCKS) * protocol.RETARGET_INTERVAL_BLOCKS
    blocks_per_day_0 = 86_400.0 * hashrate[:, 0] * 1e12 / (difficulty[:, 0] * protocol.HASHES_PER_DIFFICULTY)
    epoch_elapsed_s = (height[:, 0] - epoch_start) * 86_400.0 / blocks_per_day_0

    def equilibrium_th_s(t: int, sub: np.ndarray) -> np.ndarray:
        revenue_usd_per_day = protocol.TARGET_BLOCKS_PER_DAY * (sub + fees[:, t]) * price[:, t]
        marginal_eff = n.marginal_efficiency_ratio * frontier_eff[:, t]
        cost_usd_per_th_day = marginal_eff * MWH_PER_TH_DAY_PER_J_PER_TH * n.marginal_power_usd_per_mwh
        return revenue_usd_per_day / cost_usd_per_th_day

    # markup fixed so that, at t=0, equilibrium = equilibrium_gap_at_start x initial hashrate
    sub0 = protocol.block_subsidy_btc(height[:, 0])
    markup = equilibrium_th_s(0, sub0) / (n.equilibrium_gap_at_start * hashrate[:, 0])
    keep_up = float(np.exp(-n.reversion_per_year * dt_y))
    keep_down = float(np.exp(-n.reversion_down_per_year * dt_y))
    secs = dt * 86_400.0
    for t in range(T):
        D = difficulty[:, t]
        h0 = height[:, t]
        lam = secs * hashrate[:, t] * 1e12 / (D * protocol.HASHES_PER_DIFFICULTY)
        found = np.maximum(lam + np.sqrt(lam) * d["block_z"][:, t], 0.0)
        boundary = epoch_start + protocol.RETARGET_INTERVAL_BLOCKS
        crosses = h0 + found >= boundary
        frac = np.where(crosses, (boundary - h0) / np.maximum(found, 1e-12), 1.0)
        D_new = np.where(
            crosses, protocol.retarget_difficulty(D, np.maximum(epoch_elapsed_s + frac * secs, 1e-9)), D
        )
        rest = (1.0 - frac) * found * D / D_new
        found = np.where(crosses, boundary - h0 + rest, found)
        epoch_start = np.where(crosses, boundary, epoch_start)
        epoch_elapsed_s = np.where(crosses, (1.0 - frac) * secs, epoch_elapsed_s + secs)
        inv_d_eff[:, t] = frac / D + (1.0 - frac) / D_new
        h1 = h0 + found
        s0 = protocol.block_subsidy_btc(h0)
        next_halving = (np.floor(h0 / protocol.HALVING_INTERVAL_BLOCKS) + 1) * protocol.HALVING_INTERVAL_BLOCKS
        after = np.maximum(h1 - next_halving, 0.0)
        subsidy[:, t] = np.where(found > 0, s0 - 0.5 * s0 * after / np.maximum(found, 1e-12), s0)
        blocks[:, t] = found
        height[:, t + 1] = h1
        difficulty[:, t + 1] = D_new
        target = equilibrium_th_s(t, s0) / markup
        log_h = np.log(hashrate[:, t])
        gap = log_h - np.log(target)
        hashrate[:, t + 1] = np.exp(
            log_h - gap + np.where(gap > 0, keep_down, keep_up) * gap
            + n.volatility_per_sqrt_day * np.sqrt(dt) * d["hash_z"][:, t]
        )
    subsidy[:, T] = protocol.block_subsidy_btc(height[:, T])
    inv_d_eff[:, T] = 1.0 / difficulty[:, T]
    hashprice = protocol.hashprice_usd_per_ph_day(subsidy, fees, price, 1.0 / inv_d_eff)

    # ---- power
    pw = p.power
    a_rt, s_rt = _ou_coefficients(pw.rt_reversion_per_day, pw.rt_volatility_per_sqrt_day, dt)
    x = np.empty((B, T + 1))
    x[:, 0] = s_rt / np.sqrt(max(1 - a_rt * a_rt, 1e-12)) * d["rt_z"][:, 0] if a_rt < 1 else 0.0
    for t in range(T):
        x[:, t + 1] = a_rt * x[:, t] + s_rt * d["rt_z"][:, t + 1]
    start_day_of_year = (p.time.start - p.time.start.replace(month=1, day=1)).days
    day_of_year = start_day_of_year + steps * dt
    season = 1.0 + pw.rt_seasonal_amplitude * np.cos(2 * np.pi * (day_of_year - 200.0) / DAYS_PER_YEAR)
    hour = (day_of_year % 1.0) * 24.0
    season = season * (1.0 + pw.rt_intraday_amplitude * np.cos(2 * np.pi * (hour - 17.0) / 24.0))
    decay = 0.5 ** (dt / pw.spike_half_life_days)
    spike_level = np.empty((B, T + 1))
    spike_level[:, 0] = d["spike_size"][:, 0]
    for t in range(T):
        spike_level[:, t + 1] = decay * spike_level[:, t] + d["spike_size"][:, t + 1]
    rt = np.clip(pw.rt_mean_usd_per_mwh * season * np.exp(x) + spike_level, pw.price_floor_usd_per_mwh,
                 pw.price_cap_usd_per_mwh)
    dr_call = (d["dr_u"] < pw.dr_call_probability_per_step) | (rt > pw.dr_trigger_usd_per_mwh)

    # ---- outages: each event removes a share of capacity for an exponential duration
    availability = np.ones((B, T + 1))
    remaining = np.zeros(B)
    depth = np.zeros(B)
    for t in range(T + 1):
        new = d["outage_n"][:, t] > 0
        remaining = np.where(new, d["outage_days"][:, t], remaining)
        depth = np.where(new, d["outage_depth"][:, t], depth)
        active = remaining > 0
        availability[:, t] = np.where(active, 1.0 - depth * np.minimum(remaining / dt, 1.0), 1.0)
        remaining = np.maximum(remaining - dt, 0.0)

    # ---- ASIC prices: days of expected margin at smoothed hashprice
    am = p.asic_market
    alpha = 1.0 - np.exp(-dt / am.hashprice_smoothing_days)
    smooth = np.empty((B, T + 1))
    smooth[:, 0] = hashprice[:, 0]
    for t in range(T):
        smooth[:, t + 1] = smooth[:, t] + alpha * (hashprice[:, t + 1] - smooth[:, t])
    margin = smooth[:, :, None] / 1000.0 - asic_eff * MWH_PER_TH_DAY_PER_J_PER_TH * am.reference_power_usd_per_mwh
    asic_price = np.maximum(am.scrap_usd_per_th, am.new_value_days * margin)
    asic_resale = np.maximum(am.scrap_usd_per_th, am.used_value_days * margin)

    # ---- GPU market
    gm = p.gpu_market
    gpu_release = _release_steps(
        [g.release for g in gm.generations], [g.release_jitter_days for g in gm.generations],
        d["gpu_release_z"], p,
    )
    gpu_available = steps[None, :, None] >= gpu_release[:, None, :]
    later_released = np.zeros((B, T + 1, p.n_gpu))
    for j in range(p.n_gpu):
        for k in range(j + 1, p.n_gpu):
            later_released[:, :, j] += (steps[None, :] >= gpu_release[:, k : k + 1]) & (gpu_release[:, k : k + 1] > 0)
    step_down = (1.0 - gm.release_step_down) ** later_released
    years_on_market = np.maximum(years[None, :, None] - gpu_release[:, None, :] * dt_y, 0.0)
    spot0 = np.array([g.spot_usd_per_gpu_hour for g in gm.generations])
    spot_trend = np.array([g.spot_trend_per_year for g in gm.generations])
    capex0 = np.array([g.node_capex_usd for g in gm.generations])
    capex_trend = np.array([g.capex_trend_per_year for g in gm.generations])
    a_sp, s_sp = _ou_coefficients(gm.spot_reversion_per_day, gm.spot_volatility_per_sqrt_day, dt)
    noise = np.empty((B, T + 1, p.n_gpu))
    noise[:, 0] = 0.0
    for t in range(T):
        noise[:, t + 1] = a_sp * noise[:, t] + s_sp * d["gpu_spot_z"][:, t + 1]
    spot = spot0 * np.exp(spot_trend * years_on_market + noise) * step_down
    capex = capex0 * np.exp(capex_trend * years_on_market) * step_down
    phi = gm.utilisation_persistence ** dt
    z = np.empty((B, T + 1, p.n_gpu))
    z[:, 0] = 0.0
    for t in range(T):
        z[:, t + 1] = phi * z[:, t] + gm.utilisation_volatility * np.sqrt(1 - phi * phi) * d["gpu_util_z"][:, t + 1]
    logit_mean = np.log(gm.utilisation_mean / max(1.0 - gm.utilisation_mean, 1e-9)) if 0 < gm.utilisation_mean < 1 \
        else (30.0 if gm.utilisation_mean >= 1 else -30.0)
    util = 1.0 / (1.0 + np.exp(-(logit_mean + z)))

    # ---- hosting offers
    o = p.offers
    arrival_days = np.cumsum(d["offer_gap_days"], axis=1)
    horizon_days = T * dt
    exists = arrival_days < horizon_days
    arrival = np.where(exists, np.floor(arrival_days / dt), T + 1).astype(np.int64)
    expiry = np.where(exists, arrival + np.maximum(1, np.round(o.window_days / dt)), T + 1).astype(np.int64)
    ready = np.where(exists, arrival + np.round(d["offer_ready"] * DAYS_PER_MONTH / dt), T + 1).astype(np.int64)
    end = np.where(exists, ready + d["offer_term"] * DAYS_PER_MONTH / dt, T + 1.0)

    return ExogenousPath(
        dt_days=dt,
        start_date=np.datetime64(p.time.start, "D"),
        btc_price_usd=price,
        regime=regime,
        fees_btc_per_block=fees,
        network_hashrate_th_s=hashrate,
        difficulty=difficulty,
        height=height,
        blocks=blocks,
        subsidy_btc=subsidy,
        hashprice_usd_per_ph_day=np.asarray(hashprice),
        power_rt_usd_per_mwh=rt,
        dr_call=dr_call,
        availability=availability,
        asic_available=asic_available,
        asic_price_usd_per_th=asic_price,
        asic_resale_usd_per_th=asic_resale,
        gpu_available=gpu_available,
        gpu_spot_usd_per_gpu_hour=spot,
        gpu_utilisation=util,
        gpu_node_capex_usd=capex,
        gpu_node_resale_usd=gm.resale_fraction * capex,
        offer_arrival_step=arrival,
        offer_expiry_step=expiry,
        offer_ready_step=ready,
        offer_end_step=end,
        offer_it_mw=np.where(exists, d["offer_mw"], 0.0),
        offer_price_usd_per_kw_month=np.where(exists, d["offer_price"], 0.0),
        offer_penalty_usd_per_kw_month=np.where(exists, d["offer_price"] * o.late_penalty_fraction, 0.0),
        offer_term_months=np.where(exists, d["offer_term"], 0.0),
    )
