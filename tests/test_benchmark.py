"""Benchmark: metrics on hand-made trajectories, trajectories consistent with the evaluator,
the report end to end on `tiny`, and held-out seeds that never meet training seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridrl.agents.seeds import check_held_out, training_seeds, validation_seeds
from hybridrl.baselines import RULE_POLICIES
from hybridrl.evaluation import Trajectory, evaluate
from hybridrl.evaluation.metrics import (
    bootstrap_mean_ci,
    btc_beta,
    cvar,
    gap_closed,
    max_drawdown_usd,
    monthly_mean,
    monthly_rate,
    monthly_sd,
    monthly_sum,
    paired_difference,
)
from hybridrl.evaluation.report import PLOTS
from hybridrl.sim import load_scenario, sample_paths
from hybridrl.sim.plant import NAV_COMPONENTS

ROOT = Path(__file__).resolve().parents[1]
DAILY = np.arange("2026-01-01", "2026-07-01", dtype="datetime64[D]")


def test_monthly_aggregation_follows_the_calendar() -> None:
    ones = np.ones((2, DAILY.size))
    np.testing.assert_array_equal(monthly_sum(ones, DAILY)[0], [31, 28, 31, 30, 31, 30])
    np.testing.assert_array_equal(monthly_mean(ones, DAILY), np.ones((2, 6)))


def test_constant_revenue_has_zero_monthly_std_and_no_btc_beta() -> None:
    rng = np.random.default_rng(0)
    price = np.exp(np.cumsum(rng.normal(0, 0.03, (3, DAILY.size)), axis=1)) * 9e4
    monthly = monthly_rate(np.full((3, DAILY.size), 1e5), DAILY, dt_days=1.0)
    np.testing.assert_allclose(monthly, 1e5 * 30.4375)  # per average month, whatever its length
    assert np.all(monthly.std(axis=1) < 1e-6)
    np.testing.assert_array_equal(btc_beta(monthly, monthly_mean(price, DAILY)), 0.0)
    hourly = np.arange("2026-01-01T00", "2026-03-01T00", dtype="datetime64[h]")
    np.testing.assert_allclose(
        monthly_rate(np.full((1, hourly.size), 2.0), hourly, 1 / 24), 2.0 * 24 * 30.4375
    )


def test_metrics_undefined_on_too_few_months_are_nan_and_reported_as_na() -> None:
    rng = np.random.default_rng(2)
    for months in (1, 2):
        price = rng.uniform(5e4, 1e5, (3, months))
        assert np.isnan(btc_beta(0.01 * price, price)).all()
    assert np.isnan(monthly_sd(np.ones((3, 1)))).all()
    assert np.all(np.isfinite(monthly_sd(np.ones((3, 2)))))
    from hybridrl.evaluation.report import summary_markdown

    tiny = load_scenario("tiny")  # three weeks: one calendar month
    from hybridrl.evaluation.benchmark import run_benchmark

    result = run_benchmark(tiny, [0, 1], [RULE_POLICIES["always_mine"]], oracle=None, n_boot=50)
    assert result.paths["btc_beta"].isna().all() and result.paths["monthly_cash_flow_std_usd"].isna().all()
    row = next(
        line for line in summary_markdown(result, "t").splitlines() if line.startswith("| always_mine")
    )
    cells = [c.strip() for c in row.split("|")]
    assert cells[7] == "n/a" and cells[9] == "n/a", row  # monthly cash-flow sd, BTC beta


def test_revenue_proportional_to_price_has_beta_one_and_unrelated_revenue_near_zero() -> None:
    rng = np.random.default_rng(1)
    price = np.exp(np.cumsum(rng.normal(0, 0.05, (4, 48)), axis=1)) * 9e4
    np.testing.assert_allclose(btc_beta(0.01 * price, price), 1.0, atol=1e-12)
    np.testing.assert_allclose(btc_beta(-2.0 * price + 1e9, price), -1.0, atol=1e-12)
    unrelated = rng.normal(1e6, 1e4, (4, 48))
    assert np.all(np.abs(btc_beta(unrelated, price)) < 0.6)


def test_cvar_drawdown_gap_and_intervals_on_known_samples() -> None:
    assert cvar(np.arange(1.0, 101.0), 0.05) == pytest.approx(3.0)  # mean of the worst 5 of 100
    assert cvar(np.array([5.0, -1.0, 3.0]), 0.05) == -1.0  # at least one outcome
    assert cvar(np.arange(1.0, 21.0), 0.10) == pytest.approx(1.5)
    nav = np.array([[10.0, 12.0, 7.0, 9.0, 15.0, 14.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    np.testing.assert_array_equal(max_drawdown_usd(nav), [5.0, 0.0])
    np.testing.assert_array_equal(
        gap_closed(np.array([5.0, 1.0, 3.0]), np.array([0.0, 1.0, 3.0]), np.array([10.0, 3.0, 2.0])),
        [0.5, 0.0, np.nan],
    )
    x = np.random.default_rng(2).normal(10.0, 2.0, 400)
    mean, lo, hi = bootstrap_mean_ci(x)
    assert lo < mean < hi and mean == pytest.approx(x.mean())
    assert hi - lo == pytest.approx(2 * 1.96 * x.std() / np.sqrt(x.size), rel=0.15)
    same = paired_difference(x, x)
    assert same == (0.0, 0.0, 0.0)
    shifted = paired_difference(x + 1.0, x)
    assert shifted[0] == pytest.approx(1.0) and shifted[1] == pytest.approx(1.0)


def test_trajectories_add_up_to_the_evaluators_totals() -> None:
    params = load_scenario("default")
    seeds = [0, 1, 2]
    path = sample_paths(params, seeds)
    got: list[Trajectory] = []
    frame = evaluate(RULE_POLICIES["hashprice_threshold"], params, seeds, path, trajectories=got)
    traj = got[0]
    np.testing.assert_allclose(traj.nav_usd[:, -1] - traj.nav_usd[:, 0], frame["nav_change_usd"], rtol=1e-12)
    np.testing.assert_allclose(traj.operating_cash_usd.sum(axis=1), frame["operating_cash_usd"], rtol=1e-9)
    used = traj.mining_mw + traj.own_gpu_mw + traj.leased_mw + traj.curtailed_mw + traj.idle_mw
    assert np.all(used <= traj.limit_mw + 1e-6)
    assert traj.leased_mw.max() > 0 and traj.mining_mw.min() >= 0
    parts = frame[[f"nav_end_{k}" for k in NAV_COMPONENTS]].to_numpy()
    np.testing.assert_allclose(parts.sum(axis=1), traj.nav_usd[:, -1], rtol=1e-12)
    assert (frame["nav_end_lease_margin_pv_usd"] > 0).any()  # leases signed: the parts are not all cash
    assert np.all(frame["nav_end_leased_hall_usd"] <= 0)


def test_held_out_seeds_never_meet_training_or_validation_seeds() -> None:
    check_held_out(list(range(32)), training=training_seeds(0, 8))
    with pytest.raises(ValueError, match="must lie in"):
        check_held_out(validation_seeds(2))
    with pytest.raises(ValueError, match="must lie in"):
        check_held_out(training_seeds(0, 1))
    with pytest.raises(ValueError, match="overlap the run's training seeds: \\[3\\]"):
        check_held_out([1, 2, 3], training=[3, 99])


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "1", "WANDB_SILENT": "true"}
    return subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "benchmark.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.mark.filterwarnings("ignore")
def test_benchmark_end_to_end_on_tiny(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    out = tmp_path / "bench"
    proc = _run(["preset=smoke", "logger=wandb", f"hydra.run.dir={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "NAV at the end of the episode by part" in (out / "summary.md").read_text()
    for name in (
        "paths.csv",
        "summary.csv",
        "summary.md",
        "pairs.csv",
        *(f"plots/{p}" for p in PLOTS),
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    paths = pd.read_csv(out / "paths.csv")
    summary = pd.read_csv(out / "summary.csv")
    policies = {
        "always_mine",
        "static_split",
        "hashprice_threshold",
        "greedy",
        "mpc_conditional_expectation",
        "mpc_persistence",
        "ppo",
        "oracle",
    }
    assert set(summary["policy"]) == policies and (summary["paths"] == 4).all()
    assert len(paths) == 4 * len(policies)
    wide = paths.pivot(index="seed", columns="policy", values="nav_change_usd")
    # the oracle is warm-started from every policy's plan: never below any of them
    assert (wide["oracle"] >= wide.drop(columns="oracle").max(axis=1) - 1e-6 * wide.abs().max().max()).all()
    assert "| ppo |" in (out / "summary.md").read_text()
    # gap closed against the dual bounds: where a policy beats always_mine, never above the gap
    # against the plans (bound >= plan)
    both = paths[["gap_closed", "gap_closed_dual"]].dropna().query("gap_closed >= 0")
    assert len(both) > 0 and (both["gap_closed_dual"] <= both["gap_closed"] + 1e-9).all()
    assert "gap closed (dual bound)" in (out / "summary.md").read_text()
    assert list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    # the trained policy's run refuses seeds it trained on
    run_dir = out / "train"
    meta = json.loads((run_dir / "run.json").read_text())
    assert min(meta["training_seeds"]) >= 2**40
    meta["training_seeds"].append(1)  # pretend it had trained on held-out seed 1
    (run_dir / "run.json").write_text(json.dumps(meta))
    again = _run(
        [
            "env=tiny",
            f"runs=[{run_dir}]",
            "seeds=4",
            "mpc=[]",
            "oracle=false",
            "logger=none",
            f"hydra.run.dir={tmp_path / 'again'}",
        ],
        cwd=tmp_path,
    )
    assert again.returncode == 2
    assert "overlap the run's training seeds: [1]" in again.stderr


def test_benchmark_config_rejects_bad_values(tmp_path: Path) -> None:
    proc = _run(
        [
            "seeds=0",
            "rules=[always_mine,coinflip]",
            "mpc=[crystal_ball]",
            "first_seed=5000000000",
            "runs=[/nonexistent]",
            f"hydra.run.dir={tmp_path}/x",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    for text in (
        "seeds: must be >= 1",
        "unknown rule 'coinflip'",
        "unknown forecaster 'crystal_ball'",
        "first_seed: held-out seeds",
        "'/nonexistent' is not a training run directory",
    ):
        assert text in proc.stderr, proc.stderr


def test_parallel_per_path_work_gives_the_serial_results() -> None:
    """n_jobs=2 (joblib processes for the oracle's solves and the MPC's paths) equals the serial
    benchmark on tiny, where every solve is proven optimal, apart from the timings."""
    from hybridrl.baselines.forecast import PersistenceForecaster
    from hybridrl.baselines.mpc import MPC
    from hybridrl.evaluation.benchmark import OracleSettings, run_benchmark

    tiny = load_scenario("tiny")
    policies = [RULE_POLICIES["greedy"], MPC(PersistenceForecaster(), time_limit_s=60.0)]
    settings = OracleSettings(time_limit_s=120.0)
    runs = [
        run_benchmark(tiny, [0, 1, 2], policies, oracle=settings, n_boot=50, log=lambda _: None, n_jobs=n)
        for n in (1, 2)
    ]
    serial, parallel = (r.paths.drop(columns=["oracle_seconds"]) for r in runs)
    assert set(runs[0].paths.loc[runs[0].paths["policy"] == "oracle", "oracle_status"]) == {"optimal"}
    pd.testing.assert_frame_equal(serial, parallel)


@pytest.mark.filterwarnings("ignore")
def test_benchmark_shards_through_the_submitit_launcher_merge_into_one_report(tmp_path: Path) -> None:
    """Two shards of seeds as a Hydra multirun on the submitit launcher (its local executor
    here; ``hydra/launcher=slurm`` on a cluster), merged: the same per-path rows as one run over
    all the seeds; shards of another world or with a seed twice are refused."""
    common = ["env=tiny", "seeds=2", "mpc=[]", "oracle_time_limit_s=10", "logger=none"]
    sweep = tmp_path / "sweep"
    proc = _run(
        ["-m", "hydra/launcher=submitit_local", "first_seed=0,2", *common, f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    shards = sorted(p for p in sweep.iterdir() if (p / "paths.csv").is_file())
    assert len(shards) == 2
    whole = tmp_path / "whole"
    proc = _run([*common[:1], "seeds=4", *common[2:], f"hydra.run.dir={whole}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    merged = tmp_path / "merged"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "merge_benchmarks.py"),
            *map(str, shards),
            "--out",
            str(merged),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    a = pd.read_csv(merged / "paths.csv").sort_values(["policy", "seed"]).reset_index(drop=True)
    b = pd.read_csv(whole / "paths.csv").sort_values(["policy", "seed"]).reset_index(drop=True)
    assert list(a["seed"]) == list(b["seed"]) and set(a["policy"]) == set(b["policy"])
    for column in ("nav_change_usd", "gap_closed", "btc_beta", "max_drawdown_usd"):
        np.testing.assert_allclose(a[column], b[column], rtol=1e-9, equal_nan=True)
    summary = (merged / "summary.md").read_text()
    assert "4 held-out paths per policy" in summary and "Merged from the shards" in summary
    from hybridrl.evaluation.merge import merge_shards

    with pytest.raises(ValueError, match="seeds in more than one shard"):
        merge_shards([shards[0], shards[0]])
    import shutil

    other = tmp_path / "other_world"
    shutil.copytree(shards[1], other)
    config = other / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("scenario: tiny", "scenario: default"))
    with pytest.raises(ValueError, match=r"differs from .* in \['env'\]"):
        merge_shards([shards[0], other])
