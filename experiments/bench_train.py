"""PPO training throughput on the default scenario, in environment steps per second.

    python experiments/bench_train.py [--steps 40960] [--n-envs 4]

Trains with the default PPO configuration (DummyVecEnv, VecNormalize, one torch thread) and
no logger, evaluation or checkpoint inside the timed part. The last line printed is a JSON
object with ``ppo_steps_per_s`` (floor on the 2-core reference machine: 1,500).
"""

from __future__ import annotations

import argparse
import json
import tempfile

from hybridrl.agents.config import EnvConfig, EvalConfig, LoggerConfig, LoggerKind, TrainConfig
from hybridrl.agents.training import config_to_dict, train


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=40_960, help="environment steps to train")
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument("--scenario", default="default")
    args = parser.parse_args()
    never = 10 * args.steps
    cfg = TrainConfig(
        env=EnvConfig(scenario=args.scenario),
        logger=LoggerConfig(kind=LoggerKind.none),
        eval=EvalConfig(every_steps=never, gap_closed=False),
        total_timesteps=args.steps,
        n_envs=args.n_envs,
        checkpoint_every_steps=never,
        progress_bar=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = train(cfg, tmp)
    rate = result.num_timesteps / result.seconds
    print(
        f"PPO on {args.scenario}: {result.num_timesteps} steps in {result.seconds:.1f} s: {rate:,.0f} steps/s"
    )
    print(
        json.dumps(
            {
                "ppo_steps_per_s": round(rate, 1),
                "config": config_to_dict(cfg)["agent"] | {"n_envs": cfg.n_envs},
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
