"""Fingerprints of the simulator's trajectories, to show that a refactor changes none of them.

For every catalogue scenario: each rule policy stepped through the plant on a few paths, and the
environment under seeded random actions (decoding included), hashed step by step (every state
array, cash flow, dispatch figure and clipped amount, bit for bit); on ``tiny``, the oracle's
objective. Run it before and after a change and compare the two outputs::

    python experiments/trajectory_digest.py > before.json
    # ... change the code ...
    python experiments/trajectory_digest.py > after.json && diff before.json after.json
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from typing import Any

import numpy as np

from hybridrl.baselines.oracle import solve_oracle
from hybridrl.baselines.rules import RULE_POLICIES
from hybridrl.sim.exogenous import sample_paths
from hybridrl.sim.information import PathReveal
from hybridrl.sim.params import list_scenarios, load_scenario
from hybridrl.sim.plant import Plant, StepOutcome


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        h.update(str(value.dtype).encode() + str(value.shape).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for k in sorted(value):
            if k in EXCLUDED:
                continue
            h.update(k.encode())
            _feed(h, value[k])
    else:
        h.update(repr(value).encode())


EXCLUDED: set[str] = set()
"""State fields, cash-flow terms and info keys left out of the fingerprints (``--exclude-field``:
one a change adds)."""


def _feed_outcome(h: Any, out: StepOutcome) -> None:
    for f in dataclasses.fields(out.state):
        if f.name not in EXCLUDED:
            _feed(h, getattr(out.state, f.name))
    for name in ("cash_flows_usd", "clipped"):
        _feed(h, getattr(out, name))
    for name in ("btc_mined", "asic_power_mw", "gpu_power_mw", "lease_power_mw", "curtailed_mw"):
        _feed(h, getattr(out, name))


def rule_digest(scenario: str, policy_name: str, seeds: list[int]) -> str:
    plant = Plant(load_scenario(scenario))
    path = sample_paths(plant.params, seeds)
    reveal = PathReveal(path)
    policy = RULE_POLICIES[policy_name]
    state = plant.initial_state(len(seeds))
    h = hashlib.sha256()
    while state.t < path.n_steps:
        out = plant.step(state, policy.act(plant, state, reveal.view(state.t)), path)
        _feed_outcome(h, out)
        state = out.state
    _feed(h, plant.nav_breakdown_usd(state, path))
    return h.hexdigest()


def env_digest(scenario: str, seed: int, steps: int) -> str:
    from hybridrl.env import HybridMineEnv

    env = HybridMineEnv(scenario)
    rng = np.random.default_rng(seed)
    h = hashlib.sha256()
    obs, _ = env.reset(seed=seed)
    _feed(h, obs)
    for _ in range(steps):
        action = rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        _feed(h, obs)
        _feed(h, {"reward": reward, "terminated": terminated, "truncated": truncated})
        _feed(h, {k: v for k, v in info.items() if isinstance(v, (dict, float, int, np.ndarray))})
        if terminated or truncated:
            obs, _ = env.reset()
            _feed(h, obs)
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3, help="paths per scenario and rule policy")
    parser.add_argument("--env-steps", type=int, default=1500, help="random-action env steps per scenario")
    parser.add_argument("--no-oracle", action="store_true", help="skip the oracle on tiny")
    parser.add_argument(
        "--exclude-field",
        action="append",
        default=[],
        help="a plant state field, cash-flow term or info key to leave out (one a change adds), repeatable",
    )
    args = parser.parse_args()
    EXCLUDED.update(args.exclude_field)
    seeds = list(range(args.seeds))
    out: dict[str, Any] = {}
    for scenario in list_scenarios():
        for name in RULE_POLICIES:
            out[f"{scenario}/{name}"] = rule_digest(scenario, name, seeds)
        out[f"{scenario}/env_random"] = env_digest(scenario, 0, args.env_steps)
    if not args.no_oracle:
        plant = Plant(load_scenario("tiny"))
        res = solve_oracle(plant, sample_paths(plant.params, [0]), time_limit_s=120.0, mip_rel_gap=0.0)
        out["tiny/oracle_objective_usd"] = repr(float(res.objective_usd))
        out["tiny/oracle_status"] = str(res.status)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
