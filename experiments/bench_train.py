"""PPO training throughput on the default scenario, in environment steps per second.

    python experiments/bench_train.py [--steps 40960] [--n-envs 4] [--vec-env dummy native]

Trains with the default PPO configuration (VecNormalize, one torch thread) on each vector env
kind asked for in turn (``dummy``: SB3's DummyVecEnv of single envs; ``native``: the batched
vector env), and
no logger, evaluation or checkpoint inside the timed part. The last line printed is a JSON
object with ``ppo_steps_per_s`` (of the first kind; floor on the 2-core reference machine:
1,500) and ``ppo_steps_per_s_by_vec_env``.
"""

from __future__ import annotations

import argparse
import json
import tempfile

from hybridrl.agents.config import EnvConfig, EvalConfig, LoggerConfig, LoggerKind, TrainConfig, VecEnvKind
from hybridrl.agents.training import train


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=40_960, help="environment steps to train")
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--vec-env", nargs="+", default=["dummy"], choices=[k.value for k in VecEnvKind])
    args = parser.parse_args()
    rates = {kind: _rate(args, VecEnvKind(kind)) for kind in args.vec_env}
    for kind, rate in rates.items():
        print(f"{kind}: {rate:,.0f} PPO env-steps/s")
    print(json.dumps({"ppo_steps_per_s": rates[args.vec_env[0]], "ppo_steps_per_s_by_vec_env": rates}))


def _rate(args: argparse.Namespace, kind: VecEnvKind) -> float:
    never = 10 * args.steps
    cfg = TrainConfig(
        env=EnvConfig(scenario=args.scenario),
        logger=LoggerConfig(kind=LoggerKind.none),
        eval=EvalConfig(every_steps=never, gap_closed=False),
        total_timesteps=args.steps,
        n_envs=args.n_envs,
        checkpoint_every_steps=never,
        progress_bar=False,
        vec_env=kind,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = train(cfg, tmp)
    rate = result.num_timesteps / result.seconds
    print(
        f"PPO on {args.scenario} ({kind.value}, {cfg.n_envs} envs): {result.num_timesteps} steps in "
        f"{result.seconds:.1f} s: {rate:,.0f} steps/s"
    )
    return round(rate, 1)


if __name__ == "__main__":
    main()
