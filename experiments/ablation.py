"""The learned-policy levers, tried and measured: each lever trained with several seeds, read on
the validation paths (never held-out ones).

Each lever is a set of ``hybridrl-train`` overrides; every (lever, seed) run goes to
``<out>/<lever>_s<seed>`` (a folder that already holds a finished run is read, not retrained,
so the study can be spread over several stops). The table gives, per run, the validation NAV
change of the first evaluation, the best and the last, the step of the best, the wall time, and
per lever the mean and standard deviation over seeds; greedy's NAV change on the same
validation paths is the reference.

Usage: python experiments/ablation.py [--out experiments/results/ablation] [--seeds 0 1 2]
       [--levers step_ppo epoch_scratch ...] [--jobs 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

LEVERS: dict[str, tuple[str, list[str]]] = {
    "step_ppo": (
        "full env (dispatch and investments every day), PPO from scratch, 300k plant steps",
        ["total_timesteps=300000", "eval.every_steps=50000", "eval.episodes=32", "eval.gap_closed=false"],
    ),
    "epoch_scratch": (
        "decision-epoch env (investments once a week, dispatch by the rule), PPO from scratch, 200k epochs",
        ["experiment=epoch_clone", "imitation.expert=null", "eval.episodes=32"],
    ),
    "epoch_clone": (
        "decision-epoch env, greedy cloned, then PPO, 200k epochs (experiment=epoch_clone)",
        ["experiment=epoch_clone", "eval.episodes=32"],
    ),
    "greedy_hybrid": (
        "hybrid: the network sets greedy's parameters each epoch, 500k epochs, log std -1, "
        "independent Gaussian noise at every epoch (experiment=greedy_hybrid)",
        ["experiment=greedy_hybrid"],
    ),
    "greedy_hybrid_sde": (
        "the same hybrid exploring with state-dependent noise held for a rollout (gSDE)",
        ["experiment=greedy_hybrid", "agent.use_sde=true"],
    ),
}
"""Each lever: what it is, and its training overrides."""


def train_one(out: Path, lever: str, seed: int, scenario: str) -> Path:
    """Train (lever, seed) into its folder unless a finished run is already there."""
    run = out / f"{lever}_s{seed}"
    if (run / "run.json").is_file():
        return run
    overrides = [*LEVERS[lever][1], f"env={scenario}", f"seed={seed}", "logger=none", f"hydra.run.dir={run}"]
    with (out / f"{lever}_s{seed}.log").open("w") as log:
        subprocess.run(
            [sys.executable, str(Path(__file__).with_name("train.py")), *overrides],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    return run


def read_run(run: Path) -> dict[str, float]:
    """First, best and last validation NAV change of a run (M$), the best's step, training seconds
    (steps over the run's recorded throughput; evaluations not counted)."""
    evals = pd.read_csv(run / "eval.csv")
    nav = evals["eval/nav_change_usd"] / 1e6
    meta = json.loads((run / "run.json").read_text())
    return {
        "first_step": int(evals["step"].iloc[0]),
        "first_musd": float(nav.iloc[0]),
        "best_musd": float(nav.max()),
        "best_step": int(evals["step"].iloc[int(nav.to_numpy().argmax())]),
        "last_musd": float(nav.iloc[-1]),
        "steps": int(meta["num_timesteps"]),
        "seconds": float(meta["num_timesteps"] / meta.get("steps_per_s_last_segment", float("nan"))),
    }


def greedy_reference_musd(scenario: str, episodes: int) -> float:
    """Greedy's mean NAV change (M$) on the first ``episodes`` validation paths."""
    from hybridrl.agents.seeds import validation_seeds
    from hybridrl.baselines.rules import Greedy
    from hybridrl.evaluation import evaluate

    return float(evaluate(Greedy(), scenario, validation_seeds(episodes))["nav_change_usd"].mean() / 1e6)


def table(frame: pd.DataFrame, greedy_musd: float) -> str:
    """The Markdown table: one row per lever (mean and sd over seeds)."""
    lines = [
        "| lever | what | seeds | first evaluation | best | last | best - greedy | best at step | minutes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for lever, rows in frame.groupby("lever", sort=False):

        def ms(col: str, rows: pd.DataFrame = rows) -> str:
            return f"{rows[col].mean():.1f} ± {rows[col].std(ddof=1):.1f}"

        lines.append(
            f"| `{lever}` | {LEVERS[str(lever)][0]} | {len(rows)} | {ms('first_musd')} | {ms('best_musd')} | "
            f"{ms('last_musd')} | {rows['best_musd'].mean() - greedy_musd:+.1f} | "
            f"{int(rows['best_step'].median())} | {rows['seconds'].mean() / 60:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("experiments/results/ablation"))
    parser.add_argument("--scenario", default="default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--levers", nargs="+", default=list(LEVERS), choices=list(LEVERS))
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    parser.add_argument("--episodes", type=int, default=32, help="validation paths of the runs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(lever, seed) for lever in args.levers for seed in args.seeds]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(lambda job: train_one(args.out, job[0], job[1], args.scenario), jobs))
    frame = pd.DataFrame(
        [
            {"lever": lever, "seed": seed, **read_run(run)}
            for (lever, seed), run in zip(jobs, runs, strict=True)
        ]
    )
    frame.to_csv(args.out / "ablation.csv", index=False)
    greedy = greedy_reference_musd(args.scenario, args.episodes)
    text = (
        f"Validation NAV change (M$, mean ± sd over training seeds {args.seeds}) on the first "
        f"{args.episodes} validation paths of `{args.scenario}`; greedy makes {greedy:.1f} on them.\n\n"
        + table(frame, greedy)
        + "\n"
    )
    (args.out / "ablation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
