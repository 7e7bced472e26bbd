"""The main job, for now: the default scenario under the always-mine rule over 8 seeds.

Usage: python experiments/demo.py [--scenario default] [--seeds 8]
Later issues replace this with the full benchmark (RL agents against rule-based policies,
MPC and the MILP oracle).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from hybridrl.baselines import AlwaysMine
from hybridrl.evaluation import evaluate
from hybridrl.sim import load_scenario


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="default", help="catalogue name or YAML path")
    parser.add_argument("--seeds", type=int, default=8, help="number of paths (seeds 0..N-1)")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    params = load_scenario(args.scenario)
    start = time.perf_counter()
    frame = evaluate(AlwaysMine(), params, list(range(args.seeds)))
    seconds = time.perf_counter() - start
    table = pd.DataFrame(
        {
            "seed": frame["seed"],
            "NAV change (M$)": frame["nav_change_usd"] / 1e6,
            "operating cash (M$)": frame["operating_cash_usd"] / 1e6,
            "BTC mined": frame["btc_mined"],
            "hashprice before halving ($/PH/day)": frame["hashprice_before"],
            "hashprice after halving ($/PH/day)": frame["hashprice_after"],
            "halving date": frame["halving_date"].fillna("-"),
            "bankrupt": frame["bankrupt"],
        }
    )
    print(
        f"hybridrl demo: scenario '{params.name}' ({params.time.start} to {params.time.end}, "
        f"{params.time.n_steps} steps), policy always_mine, {args.seeds} seeds\n"
    )
    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.float_format", "{:,.1f}".format
    ):
        print(table.to_string(index=False))
        numeric = table.drop(columns=["seed", "halving date", "bankrupt"])
        print("\nmean over seeds:")
        print(numeric.mean().to_string())
    print(
        f"\n{args.seeds} episodes in {seconds:.1f} s. "
        "Hashprice: median over 90 days either side of the halving."
    )


if __name__ == "__main__":
    main()
