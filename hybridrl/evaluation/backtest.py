"""The backtest: every policy on real network history (``experiments/backtest.py``).

The benchmark's policies, metrics and report on a path whose BTC price, fees, blocks and
difficulty are the file's (:func:`hybridrl.sim.history.replay_paths`), over a window of the
scenario (``envs/history_2020.yaml`` by default), with what the file lacks sampled on each seed.
Adds ``replay.csv`` (the model's FPPS hashprice beside what one PH/s really earned each day, the
rebuilt difficulty beside the one the file implies) and ``per_year.csv`` (:func:`per_year_table`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from hybridrl.agents.config import BacktestConfig
from hybridrl.evaluation.benchmark import BenchmarkResult, OracleSettings, build_policies, run_benchmark
from hybridrl.evaluation.metrics import btc_beta, monthly_mean, monthly_rate, monthly_sd
from hybridrl.evaluation.rollout import Trajectory
from hybridrl.sim.exogenous import ExogenousPath
from hybridrl.sim.history import NetworkHistory, read_network_history, replay_paths
from hybridrl.sim.params import ScenarioParams

MIN_BTC_FOR_COST = 10.0
"""BTC a seed must mine in a year for its cost per BTC to be reported."""


def window_params(
    params: ScenarioParams, history: NetworkHistory, start: str, end: str = ""
) -> ScenarioParams:
    """``params`` over [start, end] (end: the file's last day when empty), daily steps."""
    last = dt.date.fromisoformat(str(history.dates[-1]))
    time = dataclasses.replace(
        params.time,
        start=dt.date.fromisoformat(start),
        end=dt.date.fromisoformat(end) if end else last,
        dt_days=1.0,
    )
    return dataclasses.replace(params, time=time)


def replay_table(path: ExogenousPath, history: NetworkHistory) -> pd.DataFrame:
    """One row per day of the window: the replay's hashprice and difficulty beside the file's
    realised revenue per PH/s and implied difficulty (relative errors included)."""
    first = history.day_index(str(path.dates[0].astype("datetime64[D]")))
    T = path.n_steps
    days = history.slice(first, first + T)
    hashprice = path.hashprice_usd_per_ph_day[0, :T]
    realised = days.realised_usd_per_ph_day()
    difficulty = path.difficulty[0, :T]
    implied = days.implied_difficulty()
    return pd.DataFrame(
        {
            "date": days.dates.astype(str),
            "hashprice_usd_per_ph_day": hashprice,
            "realised_usd_per_ph_day": realised,
            "hashprice_error": hashprice / realised - 1.0,
            "difficulty": difficulty,
            "implied_difficulty": implied,
            "difficulty_error": difficulty / implied - 1.0,
            "subsidy_btc": path.subsidy_btc[0, :T],
            "btc_price_usd": path.btc_price_usd[0, :T],
        }
    )


def per_year_table(result: BenchmarkResult) -> pd.DataFrame:
    """One row per (policy, calendar year), means over the seeds: NAV change over the year,
    operating revenue, operating cash flow, BTC beta (monthly revenue against the monthly mean
    BTC price, within the year), the sd of monthly operating cash flow (the seed's thesis, that
    AI lowers revenue volatility and BTC beta, year by year on the real past), BTC mined and the
    cost to mine one (:func:`_cost_per_btc`)."""
    path = result.path
    T = path.n_steps
    dates = path.dates[:T].astype("datetime64[D]")
    years = dates.astype("datetime64[Y]").astype(int) + 1970
    rows = []
    for name, traj in result.trajectories.items():
        for year in np.unique(years):
            at = np.flatnonzero(years == year)
            first, stop = int(at[0]), int(at[-1]) + 1
            revenue = monthly_rate(traj.revenue_usd[:, first:stop], dates[first:stop], path.dt_days)
            cash = monthly_rate(traj.operating_cash_usd[:, first:stop], dates[first:stop], path.dt_days)
            price = monthly_mean(path.btc_price_usd[:, first:stop], dates[first:stop])
            rows.append(
                {
                    "policy": name,
                    "year": int(year),
                    "days": stop - first,
                    "nav_change_usd": float(np.mean(traj.nav_usd[:, stop] - traj.nav_usd[:, first])),
                    "revenue_usd": float(np.mean(traj.revenue_usd[:, first:stop].sum(axis=1))),
                    "operating_cash_usd": float(np.mean(traj.operating_cash_usd[:, first:stop].sum(axis=1))),
                    "btc_beta": float(np.nanmean(btc_beta(revenue, price))),
                    "monthly_cash_flow_sd_usd": float(np.nanmean(monthly_sd(cash))),
                    **_cost_per_btc(traj, first, stop),
                }
            )
    return pd.DataFrame(rows)


def _cost_per_btc(traj: Trajectory, first: int, stop: int) -> dict[str, float]:
    """Cost to mine one BTC over steps [first, stop), over the seeds' totals: cash (the ASICs'
    share of the site's power cost and the mining halls' opex) and all-in (plus the ASICs bought
    in those steps, cash basis); NaN when fewer than :data:`MIN_BTC_FOR_COST` BTC a seed were
    mined (a fleet all but switched off has no meaningful cost per BTC). The power part is the
    site's PPA cost less its real-time resale, so it can be negative in a year when reselling
    the PPA's energy earned more than the PPA cost."""
    seeds = traj.btc_mined.shape[0]
    btc = float(traj.btc_mined[:, first:stop].sum())
    cash = -float((traj.mining_power_usd[:, first:stop] + traj.mining_opex_usd[:, first:stop]).sum())
    capex = -float(traj.asic_capex_usd[:, first:stop].sum())
    if btc < MIN_BTC_FOR_COST * seeds:
        return {"btc_mined": btc / seeds, "cash_cost_usd_per_btc": np.nan, "all_in_cost_usd_per_btc": np.nan}
    return {
        "btc_mined": btc / seeds,
        "cash_cost_usd_per_btc": cash / btc,
        "all_in_cost_usd_per_btc": (cash + capex) / btc,
    }


def run_backtest_from_config(
    cfg: BacktestConfig, out_dir: str | Path, log: Callable[[str], None] = print
) -> BenchmarkResult:
    """Read the file, replay it over the window on ``cfg.seeds`` seeds, run every policy the
    config names and the oracle (perfect foresight of the real history), write the report."""
    from hybridrl.evaluation.report import write_report
    from hybridrl.sim.params import load_scenario

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    history = read_network_history(cfg.data)
    params = window_params(load_scenario(cfg.env.scenario), history, cfg.start, cfg.end)
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    path = replay_paths(params, history, seeds)
    table = replay_table(path, history)
    table.to_csv(out / "replay.csv", index=False)
    log(
        f"replay {params.time.start} to {params.time.end} ({path.n_steps} days): hashprice within "
        f"{np.median(np.abs(table['hashprice_error'])):.2%} of the realised revenue per PH/s in the "
        "median"
    )
    policies = build_policies(cfg, params, seeds, out, log)
    oracle = OracleSettings(time_limit_s=cfg.oracle_time_limit_s) if cfg.oracle else None
    result = run_benchmark(
        params, seeds, policies, oracle=oracle, n_boot=cfg.bootstrap, log=log, n_jobs=cfg.n_jobs, path=path
    )
    title = cfg.title or f"Backtest on {Path(cfg.data).name}, {params.time.start} to {params.time.end}"
    write_report(result, out, title=title)
    per_year_table(result).to_csv(out / "per_year.csv", index=False)
    return result
