"""Where each policy's money comes from: the mean over held-out paths of every cash-flow term
(``hybridrl.economics.CASH_FLOWS``), per policy, the oracle's plans included (replayed through
the plant). Prints a Markdown table (M$) and writes ``--out`` (CSV, USD) if given.

Usage: python experiments/cash_flow_terms.py [--scenario hourly_ops] [--seeds 8] [--first-seed 0]
       [--policies always_mine peak_avoidance reserve_threshold mpc_persistence] [--runs DIR ...]
       [--oracle-time-limit 120] [--out terms.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from hybridrl.baselines import expert_policy
from hybridrl.baselines.oracle import OracleModel
from hybridrl.economics import CASH_FLOW_TERMS
from hybridrl.evaluation.rollout import PlanPolicy, rollout
from hybridrl.sim import Plant, load_scenario, sample_paths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", default="hourly_ops")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--policies",
        nargs="*",
        default=["always_mine", "peak_avoidance", "reserve_threshold", "mpc_persistence"],
    )
    parser.add_argument(
        "--runs", nargs="*", default=[], help="trained run folders, evaluated as trained policies"
    )
    parser.add_argument("--oracle-time-limit", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    params = load_scenario(args.scenario)
    plant = Plant(params)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    path = sample_paths(params, seeds)
    policies = [expert_policy(name) for name in args.policies]
    if args.runs:
        from hybridrl.agents.policy import load_trained_policy

        policies += [load_trained_policy(Path(run), which="best", name=Path(run).name) for run in args.runs]
    rows = {}
    for policy in policies:
        result = rollout(plant, path, policy)
        rows[policy.name] = {**{k: float(np.mean(v)) for k, v in result.cash_flows_usd.items()},
                             "nav_change_usd": float(result.nav_change_usd.mean())}  # fmt: skip
    plans = [
        OracleModel(plant, path, row=b).solve(args.oracle_time_limit).plan or [] for b in range(len(seeds))
    ]
    result = rollout(plant, path, PlanPolicy(plans))
    rows["oracle"] = {**{k: float(np.mean(v)) for k, v in result.cash_flows_usd.items()},
                      "nav_change_usd": float(result.nav_change_usd.mean())}  # fmt: skip
    table = pd.DataFrame(rows).T[[*CASH_FLOW_TERMS, "nav_change_usd"]]
    table = table.loc[:, (table.abs() > 0.5).any()]  # the terms that move
    if args.out is not None:
        table.to_csv(args.out, index_label="policy")
    print(f"Mean over {len(seeds)} paths of {args.scenario} (seeds {seeds[0]}-{seeds[-1]}), M$:\n")
    print("| policy | " + " | ".join(table.columns) + " |")
    print("|---|" + "---|" * len(table.columns))
    for name, row in table.iterrows():
        print(f"| {name} | " + " | ".join(f"{v / 1e6:,.2f}" for v in row) + " |")


if __name__ == "__main__":
    main()
