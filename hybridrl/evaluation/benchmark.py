"""Benchmark: every policy on the same held-out paths, per-path metrics, summaries with
bootstrap intervals and CVaR, paired differences.

Library code: typed arguments in, pandas frames and trajectories out (the Hydra app is
``experiments/benchmark.py``; plots and files are :mod:`hybridrl.evaluation.report`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hybridrl.agents.config import BenchmarkConfig
from hybridrl.agents.files import RUN_FILE
from hybridrl.agents.seeds import check_held_out
from hybridrl.baselines.rules import AlwaysMine, Policy
from hybridrl.evaluation.metrics import (
    bootstrap_mean_ci,
    btc_beta,
    cvar,
    gap_closed,
    max_drawdown_usd,
    monthly_mean,
    monthly_rate,
    monthly_sd,
    paired_difference,
)
from hybridrl.evaluation.rollout import (
    Trajectory,
    evaluate_oracle,
    recorded_rollout,
    result_frame,
)
from hybridrl.sim.exogenous import ExogenousPath, sample_paths
from hybridrl.sim.params import ScenarioParams
from hybridrl.sim.plant import NativeAction
from hybridrl.wandb_finish import finish_run

SUMMARY_METRICS = (
    "nav_change_usd",
    "cash_profit_usd",
    "gap_closed",
    "gap_closed_dual",
    "monthly_cash_flow_std_usd",
    "max_drawdown_usd",
    "btc_beta",
    "ai_energy_share",
    "btc_mined",
    "bankrupt",
)


@dataclass(frozen=True)
class OracleSettings:
    time_limit_s: float = 30.0
    mip_rel_gap: float = 1e-4


@dataclass(frozen=True)
class BenchmarkResult:
    paths: pd.DataFrame
    """One row per (policy, seed): the evaluator's columns plus the risk metrics."""
    summary: pd.DataFrame
    """One row per policy: mean and 95 % bootstrap interval of each metric, CVaR 5 % of NAV change."""
    pairs: pd.DataFrame
    """Paired differences of NAV change between every two policies, with bootstrap intervals."""
    trajectories: dict[str, Trajectory]
    path: ExogenousPath
    seconds: dict[str, float]


def run_benchmark(
    params: ScenarioParams,
    seeds: Sequence[int],
    policies: Sequence[Policy],
    oracle: OracleSettings | None = OracleSettings(),
    n_boot: int = 10_000,
    log: Callable[[str], None] = print,
    n_jobs: int = 1,
    path: ExogenousPath | None = None,
) -> BenchmarkResult:
    """Evaluate ``policies`` (always_mine is added if missing) and the oracle on ``seeds``
    (their sampled paths, or ``path``, one row per seed: a replay of real history).

    The oracle is warm-started from every evaluated policy's plan on each path (replayed, not
    re-run), so its plan is never worse than theirs even when its time limit stops it.
    ``n_jobs``: processes for the per-path work (the oracle's solves, and the MPCs, which plan
    each path on its own); rule and trained policies run as one batch."""
    if len({p.name for p in policies}) != len(policies):
        raise ValueError(f"policy names must be unique: {[p.name for p in policies]}")
    if not any(p.name == "always_mine" for p in policies):
        policies = [AlwaysMine(), *policies]
    if path is None:
        path = sample_paths(params, list(seeds))
    elif path.n_paths != len(seeds):
        raise ValueError(f"the path has {path.n_paths} rows for {len(seeds)} seeds")
    frames: list[pd.DataFrame] = []
    trajectories: dict[str, Trajectory] = {}
    seconds: dict[str, float] = {}
    recorded: list[list[list[NativeAction]]] = []
    for policy in policies:
        start = time.perf_counter()
        per_path = n_jobs if getattr(policy, "plans_each_path_alone", False) else 1
        result, plans = recorded_rollout(params, path, policy, n_jobs=per_path)
        frames.append(result_frame(policy.name, seeds, result, path))
        assert result.trajectory is not None
        trajectories[policy.name] = result.trajectory
        recorded.append(plans)
        seconds[policy.name] = time.perf_counter() - start
        log(
            f"{policy.name}: mean NAV change {frames[-1]['nav_change_usd'].mean() / 1e6:,.1f} M$ "
            f"({seconds[policy.name]:.1f} s)"
        )
    if oracle is not None:
        start = time.perf_counter()
        got: list[Trajectory] = []
        frame = evaluate_oracle(
            params,
            seeds,
            path,
            time_limit_s=oracle.time_limit_s,
            mip_rel_gap=oracle.mip_rel_gap,
            start_from=(),
            start_plans=recorded,
            trajectories=got,
            n_jobs=n_jobs,
        )
        frames.append(frame)
        trajectories["oracle"] = got[0]
        seconds["oracle"] = time.perf_counter() - start
        log(
            f"oracle: mean NAV change {frame['nav_change_usd'].mean() / 1e6:,.1f} M$ "
            f"({seconds['oracle']:.1f} s; statuses {sorted(set(frame['oracle_status']))})"
        )
    paths = pd.concat(frames, ignore_index=True)
    paths = add_path_metrics(paths, trajectories, path)
    return BenchmarkResult(
        paths=paths,
        summary=summarize(paths, n_boot=n_boot),
        pairs=pairwise(paths, n_boot=n_boot),
        trajectories=trajectories,
        path=path,
        seconds=seconds,
    )


def add_path_metrics(
    paths: pd.DataFrame, trajectories: dict[str, Trajectory], path: ExogenousPath
) -> pd.DataFrame:
    """Monthly cash-flow std, max drawdown, BTC beta and gap closed for every (policy, seed):
    against the oracle's plans (``gap_closed``) and against its dual bounds
    (``gap_closed_dual``: what no policy can pass; a policy's true share of the optimum lies
    between the two)."""
    dates = path.dates
    price = monthly_mean(path.btc_price_usd[:, :-1], dates)
    out = []
    base = paths[paths["policy"] == "always_mine"]["nav_change_usd"].to_numpy()
    has_oracle = (paths["policy"] == "oracle").any()
    oracle = paths[paths["policy"] == "oracle"]
    oracle_nav = oracle["nav_change_usd"].to_numpy() if has_oracle else None
    dual = oracle["oracle_dual_bound_usd"].to_numpy(dtype=float) if has_oracle else None
    for name, traj in trajectories.items():
        rows = paths[paths["policy"] == name].copy()
        rows["monthly_cash_flow_std_usd"] = monthly_sd(
            monthly_rate(traj.operating_cash_usd, dates, path.dt_days)
        )
        rows["max_drawdown_usd"] = max_drawdown_usd(traj.nav_usd)
        rows["btc_beta"] = btc_beta(monthly_rate(traj.revenue_usd, dates, path.dt_days), price)
        rows["gap_closed"] = (
            gap_closed(rows["nav_change_usd"].to_numpy(), base, oracle_nav)
            if oracle_nav is not None
            else np.nan
        )
        rows["gap_closed_dual"] = (
            gap_closed(rows["nav_change_usd"].to_numpy(), base, dual) if dual is not None else np.nan
        )
        out.append(rows)
    return pd.concat(out).sort_index()


def summarize(paths: pd.DataFrame, n_boot: int = 10_000, alpha: float = 0.05) -> pd.DataFrame:
    """One row per policy (in order of appearance): ``<metric>``, ``<metric>_lo``,
    ``<metric>_hi`` (95 % bootstrap interval of the mean over paths) for each summary metric,
    ``nav_change_cvar5_usd`` and the number of paths."""
    rows = []
    for name, group in paths.groupby("policy", sort=False):
        row: dict[str, object] = {"policy": name, "paths": len(group)}
        for metric in SUMMARY_METRICS:
            if metric not in group:
                continue
            mean, lo, hi = bootstrap_mean_ci(group[metric].to_numpy(dtype=float), n_boot=n_boot)
            row.update({metric: mean, f"{metric}_lo": lo, f"{metric}_hi": hi})
        row["nav_change_cvar5_usd"] = cvar(group["nav_change_usd"].to_numpy(dtype=float), alpha)
        rows.append(row)
    return pd.DataFrame(rows)


def pairwise(paths: pd.DataFrame, metric: str = "nav_change_usd", n_boot: int = 10_000) -> pd.DataFrame:
    """Paired differences (row policy minus column policy) of ``metric`` on the same seeds."""
    wide = paths.pivot(index="seed", columns="policy", values=metric)
    names = list(dict.fromkeys(paths["policy"]))
    rows = []
    for a in names:
        for b in names:
            if a == b:
                continue
            mean, lo, hi = paired_difference(wide[a].to_numpy(), wide[b].to_numpy(), n_boot=n_boot)
            rows.append({"policy": a, "versus": b, f"{metric}_diff": mean, "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


def check_trained_world(run_dir: Path, params: ScenarioParams, log: Callable[[str], None]) -> None:
    """Refuse a run trained on another world under the benchmarked scenario's name (its copy and
    this scenario disagree); a run trained on a differently named scenario is benchmarked here
    with a note (a transfer test)."""
    from hybridrl.agents.run_scenario import RunScenarioError, load_run_scenario

    trained = load_run_scenario(run_dir)
    if trained.scenario_hash == params.scenario_hash:
        return
    if trained.name == params.name:
        raise RunScenarioError(
            f"{run_dir} was trained on a scenario named {params.name!r} that is not the one benchmarked "
            f"here (hash {trained.scenario_hash[:12]} against {params.scenario_hash[:12]}): its results "
            "would be reported under the wrong world"
        )
    log(f"note: {run_dir} was trained on scenario {trained.name!r}, benchmarked on {params.name!r}")


def run_from_config(
    cfg: BenchmarkConfig, out_dir: str | Path, log: Callable[[str], None] = print
) -> BenchmarkResult:
    """The benchmark of ``experiments/benchmark.py``: build the policies the config names
    (training one on the fly if asked), check that no RL policy trained on the held-out seeds,
    run, write the report into ``out_dir`` and, with W&B on, log its tables and plots."""
    from hybridrl.evaluation.report import write_report
    from hybridrl.sim.params import load_scenario

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params = load_scenario(cfg.env.scenario)
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    policies = build_policies(cfg, params, seeds, out, log)
    oracle = OracleSettings(time_limit_s=cfg.oracle_time_limit_s) if cfg.oracle else None
    result = run_benchmark(
        params, seeds, policies, oracle=oracle, n_boot=cfg.bootstrap, log=log, n_jobs=cfg.n_jobs
    )
    title = cfg.title or f"Benchmark on {params.name}"
    files = write_report(result, out, title=title)
    if cfg.logger.kind.value == "wandb":
        _log_wandb(cfg, out, result, files)
    return result


def build_policies(
    cfg: BenchmarkConfig, params: ScenarioParams, seeds: Sequence[int], out: Path, log: Callable[[str], None]
) -> list[Policy]:
    """The policies a benchmark config names: rules (``peak_avoidance`` added on a scenario with a
    grid, ``reserve_threshold`` on one with reserves), MPCs and trained runs (one trained on the
    fly into ``out``/train first if asked), each run checked against the seeds and the world."""
    from hybridrl.baselines.mpc import mpc_with
    from hybridrl.baselines.rules import RULE_POLICIES

    run_dirs = [Path(r) for r in cfg.runs]
    if cfg.train_on_the_fly:
        from hybridrl.agents.training import train

        train_cfg = dataclasses.replace(
            cfg.train, env=dataclasses.replace(cfg.train.env, scenario=cfg.env.scenario)
        )
        algo = train_cfg.agent.algo.value
        log(f"training {algo} for {train_cfg.total_timesteps} steps on {cfg.env.scenario}")
        trained = train(train_cfg, out / "train")
        log(f"trained {trained.num_timesteps} steps in {trained.seconds:.0f} s")
        run_dirs.append(out / "train")
    rules = list(cfg.rules)
    for name, present in (("peak_avoidance", params.grid), ("reserve_threshold", params.reserves)):
        if present is not None and name not in rules:  # the rule of a mechanism the world has
            rules.append(name)
    policies: list[Policy] = [RULE_POLICIES[name] for name in rules]
    policies += [mpc_with(name) for name in cfg.mpc]
    metas = [json.loads((run_dir / RUN_FILE).read_text()) for run_dir in run_dirs]
    names = [run_policy_name(meta) for meta in metas]
    for run_dir, meta, name in zip(run_dirs, metas, names, strict=True):
        check_held_out(list(seeds), training=[int(s) for s in meta.get("training_seeds", [])])
        check_trained_world(run_dir, params, log)
        from hybridrl.agents.policy import load_trained_policy

        if names.count(name) > 1:
            name = f"{name}_{run_dir.name}"
        policies.append(load_trained_policy(run_dir, which=cfg.run_model, name=name))
    return policies


def run_policy_name(meta: dict[str, Any]) -> str:
    """A trained run's name in a report: its algorithm, prefixed by its mode: ``epoch_`` for a
    network deciding the investments once per epoch, ``hybrid_greedy_`` for one setting the
    greedy rule's parameters (a hybrid policy, not a pure network); none in the full env."""
    from hybridrl.agents.config import EnvMode

    prefix = {EnvMode.step: "", EnvMode.epoch: "epoch_", EnvMode.greedy_hybrid: "hybrid_greedy_"}
    return prefix[EnvMode.of_env_id(meta.get("env_id"))] + str(meta["algo"])


def _log_wandb(cfg: BenchmarkConfig, out: Path, result: BenchmarkResult, files: dict[str, Path]) -> None:
    import wandb

    run = wandb.init(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        group=cfg.logger.group,
        tags=list(cfg.logger.tags) or None,
        job_type="benchmark",
        dir=str(out),
        mode=cfg.logger.mode.value,
        reinit="finish_previous",
        config={"scenario": cfg.env.scenario, "seeds": cfg.seeds, "first_seed": cfg.first_seed},
        settings=wandb.Settings(console="off", x_disable_stats=True, silent=True),
    )
    try:
        run.log(
            {
                "benchmark/summary": wandb.Table(dataframe=result.summary),
                "benchmark/paths": wandb.Table(dataframe=result.paths.astype({"seed": str})),
                **{
                    f"benchmark/{p.stem}": wandb.Image(str(p))
                    for name, p in files.items()
                    if name.endswith(".png")
                },
            }
        )
    finally:
        finish_run(run)
