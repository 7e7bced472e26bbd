"""Latency of the production scheduler: one ``decide`` call (validation, features, ONNX network,
safety projection) and batched decisions.

    python experiments/bench_scheduler.py [--policy DIR] [--calls 5000]

Without ``--policy`` it trains a small PPO (default network [64, 64]) on `default` for a few
thousand steps and exports it first. States come from the simulator. The last line printed is a
JSON object with ``p50_ms``, ``p99_ms`` and ``batched_decisions_per_s`` (floor: p99 <= 1 ms).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--policy", type=Path, help="an exported policy folder")
    parser.add_argument("--calls", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=1_024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        policy = args.policy
        if policy is None:
            from hybridrl.agents.config import EvalConfig, LoggerConfig, LoggerKind, TrainConfig
            from hybridrl.agents.training import train
            from hybridrl.export.onnx_export import export_policy

            cfg = TrainConfig(
                logger=LoggerConfig(kind=LoggerKind.none),
                eval=EvalConfig(every_steps=4096, episodes=1, gap_closed=False),
                total_timesteps=4096,
                checkpoint_every_steps=10**6,
                progress_bar=False,
            )
            train(cfg, Path(tmp) / "run")
            policy = Path(tmp) / "policy"
            export_policy(Path(tmp) / "run", policy, which="final")
        from hybridrl.scheduler import Scheduler

        scheduler = Scheduler.load(policy)
        from hybridrl.export.spec import simulated_states

        states, _ = simulated_states(scheduler.meta["scenario"], 2_000)
        for state in states[:200]:  # warm-up
            scheduler.decide(state)
        times = np.empty(args.calls)
        for i in range(args.calls):
            state = states[i % len(states)]
            start = time.perf_counter()
            scheduler.decide(state)
            times[i] = time.perf_counter() - start
        batch = [states[i % len(states)] for i in range(args.batch)]
        start = time.perf_counter()
        scheduler.decide_batch(batch)
        batched = args.batch / (time.perf_counter() - start)
    p50, p99 = np.percentile(times * 1e3, [50, 99])
    print(
        f"decide: p50 {p50:.3f} ms, p99 {p99:.3f} ms ({args.calls} calls); batched {batched:,.0f} decisions/s"
    )
    print(
        json.dumps(
            {"p50_ms": round(p50, 4), "p99_ms": round(p99, 4), "batched_decisions_per_s": round(batched, 1)}
        )
    )


if __name__ == "__main__":
    main()
