"""Risk and diversification metrics of policy trajectories, and statistics across paths.

Per path: standard deviation of monthly operating cash flow, maximum NAV drawdown, BTC beta
(the correlation of monthly revenue with the monthly mean BTC price), gap closed. Monthly
flows are rates per average month (:func:`monthly_rate`), so calendar lengths add no noise. Across paths:
mean with a percentile-bootstrap 95 % interval, CVaR, and paired differences (same paths).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def month_index(dates: NDArray[np.datetime64]) -> NDArray[np.int64]:
    """Calendar month of each date, counted from the first date's month (0, 0, ..., 1, ...)."""
    months = dates.astype("datetime64[M]").astype(np.int64)
    return months - months[0]


def monthly_sum(values: FloatArray, dates: NDArray[np.datetime64]) -> FloatArray:
    """(B, T) per-step values -> (B, M) sums per calendar month of the steps' start dates."""
    idx = month_index(dates[: values.shape[1]])
    out = np.zeros((values.shape[0], int(idx.max()) + 1))
    np.add.at(out.T, idx, values.T)
    return out


def monthly_mean(values: FloatArray, dates: NDArray[np.datetime64]) -> FloatArray:
    """(B, T) per-step values -> (B, M) means per calendar month."""
    idx = month_index(dates[: values.shape[1]])
    counts = np.bincount(idx).astype(float)
    return monthly_sum(values, dates) / counts


def monthly_rate(values: FloatArray, dates: NDArray[np.datetime64], dt_days: float) -> FloatArray:
    """(B, T) per-step flows -> (B, M) flow per average month (30.44 days) in each calendar
    month: a constant flow gives the same figure for February and March, and a month the
    episode only partly covers is not read as a fall in revenue."""
    from hybridrl.sim.params import DAYS_PER_MONTH

    return monthly_mean(values, dates) * (DAYS_PER_MONTH / dt_days)


def max_drawdown_usd(nav_usd: FloatArray) -> FloatArray:
    """(B, T+1) NAV -> (B,) largest fall from a running peak, in USD (>= 0)."""
    return np.max(np.maximum.accumulate(nav_usd, axis=1) - nav_usd, axis=1)


def correlation(x: FloatArray, y: FloatArray) -> FloatArray:
    """Row-wise Pearson correlation of (B, M) series; 0 where either row is constant (no
    co-movement to measure)."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    num = (xc * yc).sum(axis=1)
    tiny = 1e-12 * np.maximum(np.abs(x).max(axis=1) * np.abs(y).max(axis=1), 1e-300) * x.shape[1]
    return np.where(den > tiny, num / np.where(den > tiny, den, 1.0), 0.0)


MIN_MONTHS_FOR_BETA = 3
"""Fewer monthly points leave a correlation undefined (one) or always +-1 (two): NaN, shown n/a."""
MIN_MONTHS_FOR_SD = 2
"""A standard deviation over one month is undefined: NaN, shown n/a."""


def btc_beta(monthly_revenue_usd: FloatArray, monthly_btc_price_usd: FloatArray) -> FloatArray:
    """(B,) correlation of monthly revenue with the monthly mean BTC price: 1 when revenue moves
    in proportion to the price, near 0 when it does not follow the price; NaN over fewer than
    :data:`MIN_MONTHS_FOR_BETA` months."""
    if monthly_revenue_usd.shape[1] < MIN_MONTHS_FOR_BETA:
        return np.full(monthly_revenue_usd.shape[0], np.nan)
    return correlation(monthly_revenue_usd, monthly_btc_price_usd)


def monthly_sd(monthly_usd: FloatArray) -> FloatArray:
    """(B, M) -> (B,) standard deviation across months; NaN over fewer than
    :data:`MIN_MONTHS_FOR_SD` months."""
    if monthly_usd.shape[1] < MIN_MONTHS_FOR_SD:
        return np.full(monthly_usd.shape[0], np.nan)
    return monthly_usd.std(axis=1)


def gap_closed(policy_usd: FloatArray, always_mine_usd: FloatArray, oracle_usd: FloatArray) -> FloatArray:
    """(policy - always_mine) / (oracle - always_mine) per path; NaN where the oracle does not
    beat always_mine (no gap to close)."""
    span = oracle_usd - always_mine_usd
    ok = span > 0
    return np.where(ok, (policy_usd - always_mine_usd) / np.where(ok, span, 1.0), np.nan)


def cvar(x: FloatArray, alpha: float = 0.05) -> float:
    """Conditional value at risk of outcomes ``x`` (higher is better): the mean of the worst
    ceil(alpha * n) outcomes."""
    x = np.sort(np.asarray(x, dtype=float)[~np.isnan(x)])
    if x.size == 0:
        return float("nan")
    k = max(1, int(np.ceil(alpha * x.size - 1e-9)))
    return float(x[:k].mean())


def bootstrap_mean_ci(
    x: FloatArray, n_boot: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap interval of the mean (NaNs dropped)."""
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(x.mean()), float(low), float(high)


def paired_difference(
    a: FloatArray, b: FloatArray, n_boot: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of a - b over the same paths, with a bootstrap interval that resamples paths (so the
    pairing is kept)."""
    return bootstrap_mean_ci(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), n_boot, level, seed)
