"""Baseline benchmark on this machine; prints a JSON object as its last line.

- ``oracle_seconds_default``: the perfect-foresight MILP on ``default`` (1,461 steps), seed 0,
  warm-started from the best rule-based policy on that path, under ``--time-limit`` (its
  status and gap are printed too); in the 8-seed comparison the oracle is warm-started from the
  best of the rule-based policies and the MPC on each path, so it is never below them;
- ``oracle_seconds_hourly_ops``: the same on ``hourly_ops`` (8,760 steps);
- ``oracle_column_seconds_by_n_jobs``: wall time of the 8-seed oracle column with the per-path
  solves in 1 and 2 processes (``--n-jobs``);
- ``mpc_seconds_per_episode``: the rolling-horizon MPC (90-day horizon, weekly re-plans,
  conditional-expectation forecaster) over one ``default`` episode, mean over the seeds;
- over ``--seeds`` seeds of ``default``: ``mean_nav_change_usd`` and ``gap_closed`` per policy,
  gap closed = sum(policy - always_mine) / sum(oracle - always_mine) over the same paths;
  ``gap_closed_vs_bound`` the same against the oracle's dual bounds: while the oracle's solves
  are time-limited, a policy's true gap closed lies between the two.

Usage: python experiments/bench_baselines.py [--seeds 8] [--time-limit 30] [--n-jobs 1 2]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from hybridrl.baselines import RULE_POLICIES
from hybridrl.baselines.forecast import ConditionalExpectationForecaster, PersistenceForecaster
from hybridrl.baselines.mpc import MPC
from hybridrl.baselines.oracle import OracleModel
from hybridrl.evaluation import evaluate, evaluate_oracle
from hybridrl.sim import Plant, load_scenario, sample_paths


def time_oracle(scenario: str, time_limit: float) -> dict[str, float | str]:
    params = load_scenario(scenario)
    start = time.perf_counter()
    model = OracleModel(Plant(params), sample_paths(params, [0]))
    result = model.solve(time_limit_s=time_limit, start_from=list(RULE_POLICIES.values()))
    seconds = time.perf_counter() - start
    print(
        f"oracle on {scenario}: {seconds:.1f} s (build + solve), status {result.status}, "
        f"gap {result.mip_gap:.2%}, objective {result.objective_usd / 1e6:,.1f} M$, "
        f"bound {result.dual_bound_usd / 1e6:,.1f} M$, {result.n_variables:,} variables, "
        f"{result.n_constraints:,} constraints"
    )
    return {"seconds": round(seconds, 2), "status": result.status, "mip_gap": round(result.mip_gap, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--time-limit", type=float, default=30.0, help="oracle time limit per path (s)")
    parser.add_argument(
        "--n-jobs",
        type=int,
        nargs="+",
        default=[1, 2],
        help="processes for the oracle column, each timed in turn (the last one's results are kept)",
    )
    args = parser.parse_args()
    default = time_oracle("default", args.time_limit)
    hourly = time_oracle("hourly_ops", max(args.time_limit, 120.0))

    params = load_scenario("default")
    seeds = list(range(args.seeds))
    path = sample_paths(params, seeds)
    frames = {name: evaluate(policy, params, seeds, path) for name, policy in RULE_POLICIES.items()}
    warm_starts = [*RULE_POLICIES.values(), MPC(ConditionalExpectationForecaster())]
    mpc_seconds = {}
    for forecaster in (ConditionalExpectationForecaster(), PersistenceForecaster()):
        mpc = MPC(forecaster)
        start = time.perf_counter()
        frames[mpc.name] = evaluate(mpc, params, seeds, path)
        mpc_seconds[mpc.name] = (time.perf_counter() - start) / len(seeds)
        print(f"{mpc.name}: {mpc_seconds[mpc.name]:.1f} s per episode, solve statuses {set(mpc.statuses)}")
    oracle_column_seconds = {}
    for n_jobs in args.n_jobs:
        start = time.perf_counter()
        oracle = evaluate_oracle(
            params, seeds, path, time_limit_s=args.time_limit, start_from=warm_starts, n_jobs=n_jobs
        )
        oracle_column_seconds[n_jobs] = round(time.perf_counter() - start, 1)
        print(f"oracle column, {args.seeds} seeds, n_jobs={n_jobs}: {oracle_column_seconds[n_jobs]} s")
    frames["oracle"] = oracle
    base = frames["always_mine"]["nav_change_usd"].to_numpy()
    mean_nav = {name: round(float(f["nav_change_usd"].mean()), 0) for name, f in frames.items()}

    def closed_against(reference_usd: np.ndarray) -> dict[str, float | None]:
        """Gap closed per policy, pooled over the paths, against ``reference_usd`` per path."""
        room = float(np.sum(reference_usd - base))
        return {
            name: round(float(np.sum(f["nav_change_usd"].to_numpy() - base)) / room, 4) if room > 0 else None
            for name, f in frames.items()
        }

    gap_closed = closed_against(oracle["nav_change_usd"].to_numpy())
    gap_closed_vs_bound = closed_against(oracle["oracle_dual_bound_usd"].to_numpy())
    print(f"\nover {args.seeds} seeds of default (M$):")
    for name in frames:
        print(
            f"  {name:22s} mean NAV change {mean_nav[name] / 1e6:9.1f}   gap closed {gap_closed[name]}"
            f" (against the bound {gap_closed_vs_bound[name]})"
        )
    statuses = oracle["oracle_status"].value_counts().to_dict()
    print(
        f"  oracle statuses {statuses}, mean MIP gap {oracle['oracle_mip_gap'].mean():.2%}, "
        f"mean dual bound {oracle['oracle_dual_bound_usd'].mean() / 1e6:,.1f} M$, "
        f"mean solve {oracle['oracle_seconds'].mean():.1f} s per path"
    )
    print(
        json.dumps(
            {
                "oracle_seconds_default": default["seconds"],
                "oracle_status_default": default["status"],
                "oracle_mip_gap_default": default["mip_gap"],
                "oracle_seconds_hourly_ops": hourly["seconds"],
                "oracle_status_hourly_ops": hourly["status"],
                "mpc_seconds_per_episode": round(mpc_seconds["mpc_conditional_expectation"], 2),
                "mpc_seconds_per_episode_by_forecaster": {k: round(v, 2) for k, v in mpc_seconds.items()},
                "mean_nav_change_usd": mean_nav,
                "gap_closed": gap_closed,
                "gap_closed_vs_bound": gap_closed_vs_bound,
                "mean_oracle_dual_bound_usd": round(float(oracle["oracle_dual_bound_usd"].mean()), 0),
                "oracle_statuses": statuses,
                "oracle_column_seconds_by_n_jobs": oracle_column_seconds,
                "seeds": args.seeds,
            }
        )
    )


if __name__ == "__main__":
    main()
