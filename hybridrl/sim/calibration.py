"""Fit the BTC price, fee and hashrate processes to daily network history, and compare.

Reads any CSV with the columns of Coin Metrics' community network data as described in
``shared/data/README.md`` (date, price_usd, hashrate_th_s, fees_btc, issuance_btc, blocks). The
project ships no data: users bring their own copy.

The fits are simple and transparent:
- jumps: daily log returns beyond ``jump_sigmas`` robust standard deviations (1.4826 x MAD);
- regimes: a three-state Gaussian hidden Markov model (Baum-Welch) on weekly sums of the
  non-jump daily returns (daily data alone finds day-long volatility states, not market
  regimes), states ordered by drift (bull, calm, bear); durations and switch probabilities
  from its transition matrix;
- fees per block: AR(1) on daily log fees per block; spike episodes are days above
  ``spike_factor`` x the trailing 90-day median; the level's pace from an AR(1) of 30-day means;
- hashrate: log growth per year of the 7-day mean, and the deepest fall from a running peak.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hybridrl.sim.params import DAYS_PER_YEAR, ScenarioParams

FloatArray = NDArray[np.float64]
REQUIRED_COLUMNS = ("date", "price_usd", "hashrate_th_s", "fees_btc", "issuance_btc", "blocks")


class CalibrationDataError(ValueError):
    """A history file that cannot be used."""


@dataclass(frozen=True)
class NetworkHistory:
    """Daily network history, one entry per day, in the CSV's units."""

    dates: NDArray[np.datetime64]
    price_usd: FloatArray
    hashrate_th_s: FloatArray
    fees_btc: FloatArray
    issuance_btc: FloatArray
    blocks: FloatArray

    def window(self, start: str | None = None, end: str | None = None) -> NetworkHistory:
        keep = np.ones(len(self.dates), dtype=bool)
        if start:
            keep &= self.dates >= np.datetime64(start)
        if end:
            keep &= self.dates <= np.datetime64(end)
        if keep.sum() < 400:
            raise CalibrationDataError(
                f"the window {start}..{end} holds {keep.sum()} days; at least 400 are needed"
            )
        return NetworkHistory(**{f.name: getattr(self, f.name)[keep] for f in dataclasses.fields(self)})


def load_network_csv(path: str | Path) -> NetworkHistory:
    """Read a daily network CSV; rows with a missing value in a required column are dropped."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationDataError(f"{path}: no such file")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CalibrationDataError(
                f"{path}: missing column(s) {missing}; required: {list(REQUIRED_COLUMNS)}"
            )
        rows = [r for r in reader if all(r[c] not in ("", None) for c in REQUIRED_COLUMNS)]
    if not rows:
        raise CalibrationDataError(f"{path}: no complete rows")
    try:
        columns = {c: np.array([float(r[c]) for r in rows]) for c in REQUIRED_COLUMNS[1:]}
        dates = np.array([np.datetime64(r["date"], "D") for r in rows])
    except ValueError as exc:
        raise CalibrationDataError(f"{path}: unreadable value: {exc}") from None
    order = np.argsort(dates)
    return NetworkHistory(dates=dates[order], **{k: v[order] for k, v in columns.items()})


# --------------------------------------------------------------------------- statistics


def max_drawdown(series: FloatArray) -> float:
    """Deepest fall from a running peak, as a share of the peak."""
    return float(np.max(1.0 - series / np.maximum.accumulate(series)))


def return_stats(log_returns: FloatArray, dt_days: float = 1.0) -> dict[str, float]:
    r = log_returns
    sd = r.std()
    return {
        "volatility_per_year": float(sd * math.sqrt(DAYS_PER_YEAR / dt_days)),
        "mean_log_return_per_year": float(r.mean() * DAYS_PER_YEAR / dt_days),
        "kurtosis": float(((r - r.mean()) ** 4).mean() / sd**4),
        "share_beyond_3_sd": float(np.mean(np.abs(r - r.mean()) > 3 * sd)),
    }


def history_stats(h: NetworkHistory) -> dict[str, float]:
    """The facts a calibration should reproduce, over the whole of ``h``."""
    stats = return_stats(np.diff(np.log(h.price_usd)))
    years = (h.dates[-1] - h.dates[0]).astype(float) / DAYS_PER_YEAR
    hashrate_7d = np.convolve(h.hashrate_th_s, np.ones(7) / 7, mode="valid")
    stats.update(
        {
            "max_drawdown_4y_median": _rolling_drawdown_median(h.price_usd, round(4 * DAYS_PER_YEAR)),
            "hashrate_log_growth_per_year": float(np.log(hashrate_7d[-1] / hashrate_7d[0]) / years),
            "hashrate_max_drawdown": max_drawdown(hashrate_7d),
            "fee_share": float(h.fees_btc.sum() / (h.fees_btc.sum() + h.issuance_btc.sum())),
            "fees_btc_per_block_median": float(np.median(h.fees_btc / np.maximum(h.blocks, 1.0))),
            "blocks_per_day": float(h.blocks.mean()),
            **yearly_stats(h.price_usd, h.hashrate_th_s),
            "fees_30d_btc_per_block": float(h.fees_btc[-30:].sum() / h.blocks[-30:].sum()),
        }
    )
    return stats


BIG_MOVE_LOG = float(np.log(1.15))
"""A daily move beyond +-15 % (in log terms, |r| > log 1.15)."""
YEAR_DAYS = 365
QUARTER_DAYS = 91
SMOOTH_DAYS = 30
"""Hashrate levels are 30-day means (the daily network estimate is noisy)."""


def yearly_price_stats(price_usd: FloatArray) -> dict[str, FloatArray]:
    """Per 365-day block of a daily price series: annualised volatility, excess kurtosis of the
    daily log returns, and days beyond +-15 % (one value per whole block)."""
    r = np.diff(np.log(price_usd))
    n = len(r) // YEAR_DAYS
    blocks = r[: n * YEAR_DAYS].reshape(n, YEAR_DAYS)
    centred = blocks - blocks.mean(axis=1, keepdims=True)
    var = (centred**2).mean(axis=1)
    return {
        "volatility_per_year": np.sqrt(var * DAYS_PER_YEAR),
        "excess_kurtosis": (centred**4).mean(axis=1) / var**2 - 3.0,
        "days_beyond_15pct": (np.abs(blocks) > BIG_MOVE_LOG).sum(axis=1).astype(np.float64),
    }


def hashrate_growth(hashrate_th_s: FloatArray, period_days: int) -> FloatArray:
    """Growth of the 30-day mean hashrate over consecutive periods of ``period_days`` (the first
    period starts with the series): H(end) / H(start) - 1, one value per whole period."""
    smooth = np.convolve(hashrate_th_s, np.ones(SMOOTH_DAYS) / SMOOTH_DAYS, mode="valid")
    ends = np.arange(0, len(smooth), period_days)
    level = smooth[ends]
    return level[1:] / level[:-1] - 1.0


def yearly_stats(
    price_usd: FloatArray, hashrate_th_s: FloatArray, growth_years: int | None = None
) -> dict[str, float]:
    """Per-year facts of daily series, one row per path (a 1-D series is one path), pooled over
    the rows' 365-day blocks: median BTC volatility and excess kurtosis, mean days beyond +-15 %;
    median hashrate growth (over each row's first ``growth_years`` years, all by default), and
    the shares of declining years and quarters."""
    prices, hashrates = np.atleast_2d(price_usd), np.atleast_2d(hashrate_th_s)
    per_year = [yearly_price_stats(p) for p in prices]
    pooled = {k: np.concatenate([y[k] for y in per_year]) for k in per_year[0]}
    growth = np.array([hashrate_growth(h, YEAR_DAYS) for h in hashrates])
    quarters = np.array([hashrate_growth(h, QUARTER_DAYS) for h in hashrates])
    return {
        "yearly_volatility": float(np.median(pooled["volatility_per_year"])),
        "yearly_excess_kurtosis": float(np.median(pooled["excess_kurtosis"])),
        "days_beyond_15pct_per_year": float(pooled["days_beyond_15pct"].mean()),
        "hashrate_growth_per_year": float(np.median(growth[:, :growth_years])),
        "hashrate_declining_years": float(np.mean(growth < 0)),
        "hashrate_declining_quarters": float(np.mean(quarters < 0)),
    }


def _rolling_drawdown_median(price: FloatArray, window: int) -> float:
    """Median over 4-year windows (quarterly starts) of the maximum drawdown; whole series if shorter."""
    if len(price) <= window:
        return max_drawdown(price)
    starts = range(0, len(price) - window, 91)
    return float(np.median([max_drawdown(price[s : s + window]) for s in starts]))


# --------------------------------------------------------------------------- fits


@dataclass(frozen=True)
class PriceFit:
    names: tuple[str, ...]
    drift_per_year: tuple[float, ...]
    volatility_per_year: tuple[float, ...]
    mean_duration_days: tuple[float, ...]
    switch_probabilities: tuple[tuple[float, ...], ...]
    initial_probabilities: tuple[float, ...]
    jump_rate_per_year: float
    jump_mean_log: float
    jump_std_log: float


def fit_btc_price(
    h: NetworkHistory,
    jump_sigmas: float = 4.0,
    n_regimes: int = 3,
    iterations: int = 300,
    period_days: int = 7,
) -> PriceFit:
    """Jumps by a robust threshold on daily log returns, then a Gaussian hidden Markov model
    (Baum-Welch) on ``period_days`` sums of the other returns; regimes ordered by drift."""
    r = np.diff(np.log(h.price_usd))
    years = len(r) / DAYS_PER_YEAR
    robust_sd = 1.4826 * np.median(np.abs(r - np.median(r)))
    jump = np.abs(r - np.median(r)) > jump_sigmas * robust_sd
    # regimes persist for months: fit on weekly sums of the non-jump daily returns
    calm_r = np.where(jump, 0.0, r)
    weeks = len(calm_r) // period_days
    weekly = calm_r[: weeks * period_days].reshape(weeks, period_days).sum(axis=1)
    mean_w, sd_w, trans_w, init = _gaussian_hmm(weekly, n_regimes, iterations)
    order = np.argsort(-mean_w)
    mean = mean_w[order] / period_days
    sd = sd_w[order] / math.sqrt(period_days)
    trans, init = trans_w[np.ix_(order, order)], init[order]
    stay = np.clip(np.diag(trans), 0.0, 1.0 - 1e-6)
    switch = trans * (1 - np.eye(n_regimes))
    switch = switch / np.maximum(switch.sum(axis=1, keepdims=True), 1e-12)
    stationary = _stationary(trans)
    jr = r[jump]
    names = ("bull", "calm", "bear") if n_regimes == 3 else tuple(f"regime_{k}" for k in range(n_regimes))
    return PriceFit(
        names=names,
        # the drift of a geometric process: mean log return + variance / 2
        drift_per_year=tuple(
            round(float((m + 0.5 * v**2) * DAYS_PER_YEAR), 3) for m, v in zip(mean, sd, strict=True)
        ),
        volatility_per_year=tuple(round(float(v * math.sqrt(DAYS_PER_YEAR)), 3) for v in sd),
        mean_duration_days=tuple(round(float(period_days / (1.0 - p)), 1) for p in stay),
        switch_probabilities=tuple(tuple(round(float(p), 3) for p in row) for row in _normalise_rows(switch)),
        initial_probabilities=tuple(round(float(p), 3) for p in _normalise(stationary)),
        jump_rate_per_year=round(float(jump.sum() / years), 2),
        jump_mean_log=round(float(jr.mean()) if jr.size else 0.0, 4),
        jump_std_log=round(float(jr.std()) if jr.size > 1 else 0.0, 4),
    )


def _gaussian_hmm(
    x: FloatArray, k: int, iterations: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Baum-Welch for a k-state HMM with Gaussian emissions (scaled forward-backward)."""
    n = len(x)
    qs = np.quantile(x, np.linspace(0.2, 0.8, k))
    mean = qs.copy()
    sd = np.full(k, x.std()) * np.linspace(0.7, 1.3, k)
    trans = np.full((k, k), 0.02 / max(k - 1, 1)) + np.eye(k) * (0.98 - 0.02 / max(k - 1, 1))
    init = np.full(k, 1.0 / k)
    for _ in range(iterations):
        dens = np.exp(-0.5 * ((x[:, None] - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)) + 1e-300
        alpha = np.empty((n, k))
        scale = np.empty(n)
        a = init * dens[0]
        scale[0] = a.sum()
        alpha[0] = a / scale[0]
        for t in range(1, n):
            a = (alpha[t - 1] @ trans) * dens[t]
            scale[t] = a.sum()
            alpha[t] = a / scale[t]
        beta = np.empty((n, k))
        beta[-1] = 1.0
        for t in range(n - 2, -1, -1):
            beta[t] = trans @ (dens[t + 1] * beta[t + 1]) / scale[t + 1]
        gamma = alpha * beta
        gamma /= gamma.sum(axis=1, keepdims=True)
        xi = (alpha[:-1, :, None] * trans[None] * (dens[1:] * beta[1:])[:, None, :]) / scale[1:, None, None]
        trans = xi.sum(axis=0)
        trans /= trans.sum(axis=1, keepdims=True)
        init = gamma[0]
        weight = gamma.sum(axis=0)
        mean = (gamma * x[:, None]).sum(axis=0) / weight
        sd = np.sqrt((gamma * (x[:, None] - mean) ** 2).sum(axis=0) / weight)
        sd = np.maximum(sd, 1e-4)
    return mean, sd, trans, init


def _stationary(trans: FloatArray) -> FloatArray:
    values, vectors = np.linalg.eig(trans.T)
    v = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return v / v.sum()


def _normalise(p: FloatArray) -> FloatArray:
    p = np.round(p, 3)
    p[np.argmax(p)] += 1.0 - p.sum()
    return p


def _normalise_rows(m: FloatArray) -> FloatArray:
    return np.array([_normalise(row) if row.sum() > 0 else row for row in m])


@dataclass(frozen=True)
class FeeFit:
    long_run_btc_per_block: float
    reversion_per_day: float
    volatility_per_sqrt_day: float
    spike_rate_per_year: float
    spike_mean_days: float
    spike_multiplier: float
    level_reversion_per_year: float


def _monthly_reversion_per_year(log_per_block: FloatArray) -> float:
    """Pace at which the fee level moves: AR(1) of 30-day means of log fees per block, per year."""
    n = len(log_per_block) // 30
    monthly = log_per_block[: n * 30].reshape(n, 30).mean(axis=1)
    if n < 3 or monthly[:-1].std() < 1e-9:
        return 0.0
    phi = float(np.clip(np.polyfit(monthly[:-1], monthly[1:], 1)[0], 1e-3, 0.9999))
    return -math.log(phi) * DAYS_PER_YEAR / 30.0


def fit_fees(h: NetworkHistory, spike_factor: float = 3.0) -> FeeFit:
    per_block = np.maximum(h.fees_btc / np.maximum(h.blocks, 1.0), 1e-6)
    x = np.log(per_block)
    baseline = np.array([np.median(per_block[max(0, i - 90) : i + 1]) for i in range(len(per_block))])
    spike = per_block > spike_factor * baseline
    calm = ~spike[1:] & ~spike[:-1]
    prev, nxt = x[:-1][calm], x[1:][calm]
    if prev.std() < 1e-9:  # constant fees: no dynamics to fit
        phi, intercept = 0.5, 0.5 * float(prev.mean())
    else:
        phi, intercept = np.polyfit(prev, nxt, 1)
        phi = float(np.clip(phi, 1e-3, 0.9999))
    resid = nxt - (phi * prev + intercept)
    starts = np.flatnonzero(spike[1:] & ~spike[:-1])
    years = len(x) / DAYS_PER_YEAR
    episodes = max(len(starts), 1)
    return FeeFit(
        long_run_btc_per_block=round(float(math.exp(intercept / (1 - phi))), 4),
        reversion_per_day=round(-math.log(phi), 4),
        volatility_per_sqrt_day=round(float(resid.std()), 3),
        spike_rate_per_year=round(len(starts) / years, 2),
        spike_mean_days=round(float(spike.sum() / episodes), 1),
        spike_multiplier=round(float(np.mean(per_block[spike] / baseline[spike])) if spike.any() else 1.0, 2),
        level_reversion_per_year=round(_monthly_reversion_per_year(x), 3),
    )


@dataclass(frozen=True)
class HashrateFit:
    log_growth_per_year: float
    volatility_per_sqrt_day: float
    floor_share_of_peak: float


def fit_hashrate(h: NetworkHistory) -> HashrateFit:
    smooth = np.convolve(h.hashrate_th_s, np.ones(7) / 7, mode="valid")
    step = np.diff(np.log(smooth))
    years = len(smooth) / DAYS_PER_YEAR
    return HashrateFit(
        log_growth_per_year=round(float(np.log(smooth[-1] / smooth[0]) / years), 3),
        volatility_per_sqrt_day=round(float(np.std(step - step.mean())), 4),
        floor_share_of_peak=round(1.0 - max_drawdown(smooth), 2),
    )


def apply_fits(params: ScenarioParams, price: PriceFit, fees: FeeFit) -> ScenarioParams:
    """``params`` with the fitted BTC price and fee processes (everything else unchanged)."""
    regimes = dataclasses.replace(
        params.btc_price.regimes,
        names=price.names,
        drift_per_year=price.drift_per_year,
        volatility_per_year=price.volatility_per_year,
        mean_duration_days=price.mean_duration_days,
        switch_probabilities=price.switch_probabilities,
        initial_probabilities=price.initial_probabilities,
    )
    btc = dataclasses.replace(
        params.btc_price,
        regimes=regimes,
        jump_rate_per_year=price.jump_rate_per_year,
        jump_mean_log=price.jump_mean_log,
        jump_std_log=price.jump_std_log,
    )
    fee = dataclasses.replace(
        params.fees,
        long_run_btc_per_block=fees.long_run_btc_per_block,
        reversion_per_day=fees.reversion_per_day,
        volatility_per_sqrt_day=fees.volatility_per_sqrt_day,
        spike_rate_per_year=fees.spike_rate_per_year,
        spike_mean_days=max(fees.spike_mean_days, 1.0),
        spike_multiplier=max(fees.spike_multiplier, 1.0),
        level_reversion_per_year=fees.level_reversion_per_year,
    )
    return dataclasses.replace(params, btc_price=btc, fees=fee)


def model_stats(params: ScenarioParams, n_paths: int, seed: int = 0) -> dict[str, float]:
    """The statistics of :func:`history_stats`, on paths simulated from ``params`` (medians over paths)."""
    from hybridrl.sim.exogenous import sample_paths

    path = sample_paths(params, list(np.random.SeedSequence(seed).spawn(n_paths)))
    dt = params.time.dt_days
    per_path = [return_stats(np.diff(np.log(p)), dt) for p in path.btc_price_usd]
    stats = {k: float(np.median([s[k] for s in per_path])) for k in per_path[0]}
    years = path.n_steps * dt / DAYS_PER_YEAR
    hashrate = path.network_hashrate_th_s
    subsidy_btc = path.subsidy_btc[:, :-1] * path.blocks[:, :-1]
    fees_btc = path.fees_btc_per_block[:, :-1] * path.blocks[:, :-1]
    stats.update(
        {
            "max_drawdown_4y_median": float(np.median([max_drawdown(p) for p in path.btc_price_usd])),
            "hashrate_log_growth_per_year": float(
                np.median(np.log(hashrate[:, -1] / hashrate[:, 0]) / years)
            ),
            "hashrate_max_drawdown": float(np.median([max_drawdown(x) for x in hashrate])),
            "fee_share": float(
                np.median(fees_btc.sum(axis=1) / (fees_btc.sum(axis=1) + subsidy_btc.sum(axis=1)))
            ),
            "fees_btc_per_block_median": float(np.median(path.fees_btc_per_block)),
            "blocks_per_day": float(np.median(path.blocks[:, :-1].sum(axis=1) / (path.n_steps * dt))),
            "fees_30d_btc_per_block": float(
                np.median(path.fees_btc_per_block[:, : round(30 / dt)].mean(axis=1))
            ),
        }
    )
    if dt == 1.0:  # per-year facts of daily paths, pooled over paths (the first two years' growth)
        stats.update(yearly_stats(path.btc_price_usd, hashrate, growth_years=2))
    return stats
