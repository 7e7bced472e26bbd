"""Fit the default BTC price, fee and hashrate processes to real daily history and compare.

Usage:
    python experiments/calibrate.py --data ../shared/data/btc_daily_coinmetrics.csv \
        [--start 2019-01-01] [--end 2025-12-31] [--scenario default] [--paths 256]

Prints the fitted parameters (YAML, ready to paste into a scenario) and, beside each historical
statistic, the same statistic on paths simulated from the scenario with the fitted processes and
from the scenario as it stands. The data are read, never copied into the project.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import yaml

from hybridrl.sim import load_scenario
from hybridrl.sim.calibration import (
    CalibrationDataError,
    apply_fits,
    fit_btc_price,
    fit_fees,
    fit_hashrate,
    history_stats,
    load_network_csv,
    model_stats,
)

LABELS = {
    "volatility_per_year": ("BTC volatility (/yr)", "{:.0%}"),
    "mean_log_return_per_year": ("BTC mean log return (/yr)", "{:+.0%}"),
    "kurtosis": ("daily log-return kurtosis", "{:.1f}"),
    "share_beyond_3_sd": ("days beyond 3 sd", "{:.2%}"),
    "max_drawdown_4y_median": ("max drawdown in 4 years (median)", "{:.0%}"),
    "hashrate_log_growth_per_year": ("hashrate log growth (/yr)", "{:+.0%}"),
    "hashrate_max_drawdown": ("hashrate max drawdown", "{:.0%}"),
    "fees_btc_per_block_median": ("fees per block, median (BTC)", "{:.3f}"),
    "fee_share": ("fee share of miner BTC (*)", "{:.1%}"),
    "blocks_per_day": ("blocks per day", "{:.1f}"),
    "yearly_volatility": ("BTC volatility, median year", "{:.0%}"),
    "yearly_excess_kurtosis": ("excess kurtosis, median year", "{:.1f}"),
    "days_beyond_15pct_per_year": ("days beyond +-15 % a year", "{:.2f}"),
    "hashrate_growth_per_year": ("hashrate growth a year (**)", "{:+.0%}"),
    "hashrate_declining_years": ("hashrate: declining years", "{:.0%}"),
    "hashrate_declining_quarters": ("hashrate: declining quarters", "{:.0%}"),
    "fees_30d_btc_per_block": ("fees per block, 30 days (***)", "{:.4f}"),
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="daily network CSV (Coin Metrics columns)")
    parser.add_argument("--start", default="2019-01-01")
    parser.add_argument("--end", default=None)
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--paths", type=int, default=256)
    args = parser.parse_args()
    try:
        history = load_network_csv(args.data).window(args.start, args.end)
    except CalibrationDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    params = load_scenario(args.scenario)
    price, fees, hashrate = fit_btc_price(history), fit_fees(history), fit_hashrate(history)
    fitted = apply_fits(params, price, fees)
    print(
        f"history: {history.dates[0]} to {history.dates[-1]} ({len(history.dates)} days) from {args.data}\n"
    )
    print("fitted parameters (YAML):")
    fitted_yaml = {
        "btc_price": {
            "regimes": {k: v for k, v in dataclasses.asdict(price).items() if not k.startswith("jump")},
            **{k: v for k, v in dataclasses.asdict(price).items() if k.startswith("jump")},
        },
        "fees": dataclasses.asdict(fees),
        "network (facts, not parameters)": dataclasses.asdict(hashrate),
    }
    print(yaml.safe_dump(fitted_yaml, sort_keys=False, default_flow_style=None))
    hist = history_stats(history)
    fit_model = model_stats(fitted, args.paths)
    scenario_model = model_stats(params, args.paths)
    header = f"{'statistic':36s} {'history':>10s} {'fitted model':>14s} {params.name + ' scenario':>18s}"
    print(header)
    print("-" * len(header))
    for key, (label, fmt) in LABELS.items():
        print(
            f"{label:36s} {fmt.format(hist[key]):>10s} {fmt.format(fit_model[key]):>14s}"
            f" {fmt.format(scenario_model[key]):>18s}"
        )
    print(
        f"\nmodels: medians over {args.paths} simulated paths of {params.time.n_steps} steps from "
        f"{params.time.start}; the fitted model keeps the scenario's network, market and site. "
        "Scenario drifts are forward-looking choices, not history.\n(*) the model's subsidy is 3.125 then "
        "1.5625 BTC, history's 12.5 to 3.125: equal fees give the model a larger share.\n"
        "Per-year rows: 365-day blocks from the window's or the episode's start (history) and pooled "
        "path-years (models); hashrate levels are 30-day means.\n(**) median over years (history) or "
        "over the first two path-years (models). (***) history: the window's last 30 days; models: the "
        "median path's first 30 days, which should continue it."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
