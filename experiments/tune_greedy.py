"""Choose the greedy rule's defaults on validation paths (never on held-out ones).

Evaluates every point of a small grid of :class:`~hybridrl.baselines.rules.Greedy` parameters on
the same validation paths (seeds 2**32 + i, disjoint from every held-out and training seed) of
each scenario, prints one line per point and scenario, and as its last line a JSON object with
the chosen point and its means on every scenario. The choice: among points with no bankrupt
path, those within ``TIE_SHARE`` of the best mean NAV change on the first scenario; of these, the
best mean over all scenarios (so a tie on the first is broken by robustness elsewhere).

Usage: python experiments/tune_greedy.py [--paths 32] [--scenarios default bear_market ai_boom]
"""

from __future__ import annotations

import argparse
import itertools
import json

from hybridrl.agents.seeds import validation_seeds
from hybridrl.baselines.rules import Greedy
from hybridrl.evaluation import evaluate
from hybridrl.sim import load_scenario, sample_paths

TIE_SHARE = 0.01
GRID = {
    "payback_months": (6.0, 12.0, 18.0, 24.0, 36.0),
    "mining_horizon_months": (0.0, 6.0, 24.0),
    "reserve_usd": (0.0, 20e6),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=32)
    parser.add_argument("--scenarios", nargs="+", default=["default", "bear_market", "ai_boom"])
    args = parser.parse_args()
    seeds = validation_seeds(args.paths)
    points = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    means: dict[str, list[float]] = {}
    safe = [True] * len(points)
    for scenario in args.scenarios:
        params = load_scenario(scenario)
        path = sample_paths(params, seeds)
        means[scenario] = []
        for point in points:
            frame = evaluate(Greedy(**point), params, seeds, path)
            nav = float(frame["nav_change_usd"].mean())
            means[scenario].append(nav)
            safe[points.index(point)] &= not frame["bankrupt"].any()
            bankrupt = int(frame["bankrupt"].sum())
            print(f"{scenario:12s} {point} mean NAV change {nav / 1e6:8.1f} M$, bankrupt {bankrupt}")
    first = args.scenarios[0]
    candidates = [i for i in range(len(points)) if safe[i]] or list(range(len(points)))
    top = max(means[first][i] for i in candidates)
    near = [i for i in candidates if means[first][i] >= top - TIE_SHARE * abs(top)]
    best = max(near, key=lambda i: sum(means[s][i] for s in args.scenarios))
    defaults = {k: getattr(Greedy(), k) for k in GRID}
    print(
        json.dumps(
            {
                "chosen_on": first,
                "validation_paths": args.paths,
                "best": points[best],
                "mean_nav_change_usd": {s: means[s][best] for s in args.scenarios},
                "defaults": defaults,
                "defaults_mean_nav_change_usd": (
                    {s: means[s][points.index(defaults)] for s in args.scenarios}
                    if defaults in points
                    else None
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
