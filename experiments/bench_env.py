"""Environment throughput on this machine; prints a JSON object as its last line.

- ``single_env_steps_per_s``: a ``gym.make`` environment on ``default`` under random actions,
  resets included (paths are sampled at reset), over ``--seconds`` of wall time.
- ``batched_steps_per_s``: the plant stepped over B = ``--batch`` paths with random actions
  decoded to native units, counted in environment steps (B per plant step); path sampling is
  timed separately (``batched_path_sampling_s``).

Usage: python experiments/bench_env.py [--seconds 10] [--batch 1024] [--batched-steps 400]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import gymnasium as gym
import numpy as np

import hybridrl
from hybridrl.env.encoding import action_layout, decode_action
from hybridrl.sim import Plant, load_scenario, sample_paths


def bench_single(seconds: float) -> tuple[float, int]:
    env = gym.make(hybridrl.ENV_ID, scenario="default")
    env.action_space.seed(0)
    env.reset(seed=0)
    steps = episodes = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.reset()
        episodes += 1
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            steps += 1
            done = terminated or truncated
    return steps / (time.perf_counter() - start), episodes


def bench_batched(batch: int, n_steps: int) -> tuple[float, float]:
    params = load_scenario("default")
    plant = Plant(params)
    start = time.perf_counter()
    path = sample_paths(params, list(range(batch)))
    sampling_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    n_actions = action_layout(plant).size
    actions = rng.uniform(-1, 1, (n_steps, batch, n_actions))
    state = plant.initial_state(batch)
    n_steps = min(n_steps, params.time.n_steps)
    start = time.perf_counter()
    for i in range(n_steps):
        out = plant.step(state, decode_action(plant, state, path, actions[i]), path)
        plant.nav_usd(out.state, path)
        state = out.state
    return batch * n_steps / (time.perf_counter() - start), sampling_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--batched-steps", type=int, default=400)
    args = parser.parse_args()
    single, episodes = bench_single(args.seconds)
    print(f"single env: {single:,.0f} steps/s over {episodes} episodes (resets included)")
    batched, sampling = bench_batched(args.batch, args.batched_steps)
    print(f"batched plant, B={args.batch}: {batched:,.0f} env steps/s; path sampling took {sampling:.1f} s")
    print(
        json.dumps(
            {
                "single_env_steps_per_s": round(single, 1),
                "batched_steps_per_s": round(batched, 1),
                "batch": args.batch,
                "batched_path_sampling_s": round(sampling, 2),
                "machine": f"{platform.machine()}, {platform.python_version()}",
            }
        )
    )


if __name__ == "__main__":
    main()
