"""PPO training throughput on the default scenario, in environment steps per second.

    python experiments/bench_train.py [--steps 65536] [--dummy-envs 4] [--native-envs 64]

Trains with the default PPO configuration (VecNormalize, one torch thread), no logger,
evaluation or checkpoint inside the timed part, twice in the same run: through SB3's
``DummyVecEnv`` of single envs with ``--dummy-envs`` environments, and through the native
vector env with ``--native-envs``; the rollout per update (``n_steps`` x environments) and the
minibatches are the same in both, so the PPO work per sample is too. The last line printed is a
JSON object with ``ppo_steps_per_s_dummy``, ``ppo_steps_per_s_native`` and their ratio (floors on
the 2-core reference machine: native >= 10,000 and >= 3x dummy).
"""

from __future__ import annotations

import argparse
import json
import tempfile

from hybridrl.agents.config import (
    EnvConfig,
    EvalConfig,
    LoggerConfig,
    LoggerKind,
    PPOConfig,
    TrainConfig,
    VecEnvKind,
)
from hybridrl.agents.training import train


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=65_536, help="environment steps to train, each kind")
    parser.add_argument("--dummy-envs", type=int, default=4)
    parser.add_argument("--native-envs", type=int, default=64)
    parser.add_argument("--scenario", default="default")
    args = parser.parse_args()
    rollout = PPOConfig().n_steps * args.dummy_envs
    dummy = _rate(args.scenario, args.steps, VecEnvKind.dummy, args.dummy_envs, rollout)
    native = _rate(args.scenario, args.steps, VecEnvKind.native, args.native_envs, rollout)
    print(
        json.dumps(
            {
                "ppo_steps_per_s_dummy": dummy,
                "ppo_steps_per_s_native": native,
                "native_vs_dummy": round(native / dummy, 2),
                "dummy_envs": args.dummy_envs,
                "native_envs": args.native_envs,
                "rollout_steps_per_update": rollout,
            }
        )
    )


def _rate(scenario: str, steps: int, kind: VecEnvKind, n_envs: int, rollout: int) -> float:
    never = 10 * steps
    agent = PPOConfig(n_steps=max(1, rollout // n_envs))
    cfg = TrainConfig(
        env=EnvConfig(scenario=scenario),
        agent=agent,
        logger=LoggerConfig(kind=LoggerKind.none),
        eval=EvalConfig(every_steps=never, gap_closed=False),
        total_timesteps=steps,
        n_envs=n_envs,
        checkpoint_every_steps=never,
        progress_bar=False,
        vec_env=kind,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = train(cfg, tmp)
    rate = result.num_timesteps / result.seconds
    print(
        f"PPO on {scenario} ({kind.value}, {n_envs} envs x {agent.n_steps} steps a rollout): "
        f"{result.num_timesteps} steps in {result.seconds:.1f} s: {rate:,.0f} steps/s"
    )
    return round(rate, 1)


if __name__ == "__main__":
    main()
