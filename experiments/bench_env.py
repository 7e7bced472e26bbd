"""Environment throughput on this machine; prints a JSON object as its last line.

- ``single_env_steps_per_s``: a ``gym.make`` environment on ``--scenario`` (``default``) under random actions,
  resets included (paths are sampled at reset), over ``--seconds`` of wall time.
- ``batched_steps_per_s``: the plant stepped over B = ``--batch`` paths with random actions
  decoded to native units, counted in environment steps (B per plant step); path sampling is
  timed separately (``batched_path_sampling_s``);
- ``vector_env_steps_per_s``: ``gym.make_vec`` (the native vector env) with ``--vector-envs``
  rows (64) under random actions through the Gymnasium ``VectorEnv`` API, autoreset included;
- ``epoch_vector_agent_steps_per_s`` / ``epoch_single_agent_steps_per_s``: the decision-epoch
  mode (``hybridrl/HybridMineEpoch-v1``, one agent step per investment epoch) through its native
  vector env (``--vector-envs`` rows) and one env, in agent steps; on a scenario that invests;
- ``cartpole_steps_per_s``: Gymnasium's ``CartPole-v1`` through ``gym.make`` under random
  actions, measured in the same run as a yardstick (this machine's speed drifts by tens of per
  cent between runs); ``*_vs_cartpole`` are the ratios (floors: vector >= 1.3, single >= 0.05).

Usage: python experiments/bench_env.py [--seconds 10] [--batch 1024] [--batched-steps 400]
       [--vector-envs 64] [--scenario default]
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


def bench_single(seconds: float, scenario: str = "default") -> tuple[float, int]:
    env = gym.make(hybridrl.ENV_ID, scenario=scenario)
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


def bench_steps(make: object, seconds: float, vector: bool = False) -> float:
    """Env steps per second of ``make()`` under random actions for ``seconds``, resets included."""
    env = make()  # type: ignore[operator]
    env.action_space.seed(0)
    env.reset(seed=0)  # the first reset is not timed; the autoresets are
    rows = env.num_envs if vector else 1
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += rows
        if not vector and (terminated or truncated):
            env.reset()
    return steps / (time.perf_counter() - start)


def bench_batched(batch: int, n_steps: int, scenario: str = "default") -> tuple[float, float]:
    params = load_scenario(scenario)
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
    parser.add_argument("--vector-envs", type=int, default=64)
    parser.add_argument("--scenario", default="default", help="catalogue scenario to step (default: default)")
    args = parser.parse_args()
    cartpole = bench_steps(lambda: gym.make("CartPole-v1"), min(args.seconds, 5.0))
    print(f"CartPole-v1 (yardstick): {cartpole:,.0f} steps/s")
    vector = bench_steps(
        lambda: gym.make_vec(hybridrl.ENV_ID, num_envs=args.vector_envs, scenario=args.scenario),
        args.seconds,
        vector=True,
    )
    ratio = vector / cartpole
    print(f"native vector env, N={args.vector_envs}: {vector:,.0f} env steps/s ({ratio:.2f}x CartPole)")
    epoch: dict[str, float] = {}
    if load_scenario(args.scenario).time.investments_enabled:
        epoch["epoch_vector_agent_steps_per_s"] = bench_steps(
            lambda: gym.make_vec(hybridrl.EPOCH_ENV_ID, num_envs=args.vector_envs, scenario=args.scenario),
            args.seconds,
            vector=True,
        )
        epoch["epoch_single_agent_steps_per_s"] = bench_steps(
            lambda: gym.make(hybridrl.EPOCH_ENV_ID, scenario=args.scenario), args.seconds
        )
        print(
            f"decision-epoch mode: native vector env N={args.vector_envs} "
            f"{epoch['epoch_vector_agent_steps_per_s']:,.0f}, one env "
            f"{epoch['epoch_single_agent_steps_per_s']:,.0f} agent steps/s"
        )
    single, episodes = bench_single(args.seconds, args.scenario)
    print(f"single env: {single:,.0f} steps/s over {episodes} episodes (resets included)")
    batched, sampling = bench_batched(args.batch, args.batched_steps, args.scenario)
    print(f"batched plant, B={args.batch}: {batched:,.0f} env steps/s; path sampling took {sampling:.1f} s")
    print(
        json.dumps(
            {
                "single_env_steps_per_s": round(single, 1),
                "vector_env_steps_per_s": round(vector, 1),
                "vector_envs": args.vector_envs,
                "cartpole_steps_per_s": round(cartpole, 1),
                "single_vs_cartpole": round(single / cartpole, 4),
                "vector_vs_cartpole": round(vector / cartpole, 3),
                "batched_steps_per_s": round(batched, 1),
                **{k: round(v, 1) for k, v in epoch.items()},
                "batch": args.batch,
                "batched_path_sampling_s": round(sampling, 2),
                "scenario": args.scenario,
                "machine": f"{platform.machine()}, {platform.python_version()}",
            }
        )
    )


if __name__ == "__main__":
    main()
