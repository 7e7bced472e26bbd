"""One benchmark report from benchmark shards: the per-path work of a benchmark spread over the
jobs of a Hydra multirun (``first_seed=0,8,16,24 seeds=8``), e.g. on a cluster through the
Hydra submitit launcher (``hydra/launcher=slurm``), then merged here.

Every per-path figure (NAV change, gap closed against that path's oracle, risk metrics) depends
on its own path only, so the merged ``paths.csv`` is the one a single run over all the seeds
writes; the summary and the paired differences are recomputed from it. A merge refuses shards
of different scenarios or settings, with other policies, or with a seed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from hybridrl.evaluation.benchmark import BenchmarkResult, pairwise, summarize
from hybridrl.evaluation.report import plot_gap_closed, plot_nav_breakdown, plot_nav_change, summary_markdown

SHARD_SETTINGS = (
    "env",
    "rules",
    "mpc",
    "runs",
    "run_model",
    "oracle",
    "oracle_time_limit_s",
    "train_on_the_fly",
)
"""Benchmark settings every shard must share (its seeds may differ)."""
MERGED_PLOTS = ("nav_change.png", "gap_closed.png", "nav_breakdown.png")
"""The plots a merge can draw from ``paths.csv`` alone (the allocation and revenue plots need a
shard's trajectories: see each shard's own ``plots/``)."""


def _settings(shard: Path) -> dict[str, Any]:
    config = shard / ".hydra" / "config.yaml"
    if not config.is_file():
        raise ValueError(f"{shard} is not a benchmark output folder (no .hydra/config.yaml)")
    cfg = yaml.safe_load(config.read_text()) or {}
    return {key: cfg.get(key) for key in SHARD_SETTINGS}


def merge_shards(shards: Sequence[str | Path], n_boot: int = 10_000) -> tuple[pd.DataFrame, BenchmarkResult]:
    """(the merged paths, the result to report) of the benchmark output folders ``shards``."""
    folders = [Path(s) for s in shards]
    if len(folders) < 2:
        raise ValueError("give at least two benchmark shards to merge")
    first = _settings(folders[0])
    frames = []
    for folder in folders:
        settings = _settings(folder)
        differ = sorted(k for k in SHARD_SETTINGS if settings[k] != first[k])
        if differ:
            raise ValueError(f"{folder} differs from {folders[0]} in {differ}: not shards of one benchmark")
        paths_csv = folder / "paths.csv"
        if not paths_csv.is_file():
            raise ValueError(f"{folder} has no paths.csv: the shard did not finish")
        frames.append(pd.read_csv(paths_csv))
    policies = [list(dict.fromkeys(frame["policy"])) for frame in frames]
    if any(p != policies[0] for p in policies):
        raise ValueError(f"the shards ran different policies: {policies}")
    paths = pd.concat(frames, ignore_index=True)
    twice = paths[paths.duplicated(["policy", "seed"], keep=False)]
    if len(twice):
        raise ValueError(f"seeds in more than one shard: {sorted(set(twice['seed']))}")
    order = {name: i for i, name in enumerate(policies[0])}
    paths = paths.sort_values(["policy", "seed"], key=lambda c: c.map(order) if c.name == "policy" else c)
    paths = paths.reset_index(drop=True)
    result = BenchmarkResult(
        paths=paths,
        summary=summarize(paths, n_boot=n_boot),
        pairs=pairwise(paths, n_boot=n_boot),
        trajectories={},
        path=None,  # type: ignore[arg-type]  # a merge has no path: only the paths' figures
        seconds={},
    )
    return paths, result


def write_merged_report(
    shards: Sequence[str | Path], out_dir: str | Path, title: str = "Benchmark (merged shards)"
) -> dict[str, Path]:
    """Merge ``shards`` into ``out_dir``: paths.csv, summary.csv, summary.md, pairs.csv and the
    plots of :data:`MERGED_PLOTS`; returns the files by name."""
    paths, result = merge_shards(shards)
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    files = {name: out / name for name in ("paths.csv", "summary.csv", "summary.md", "pairs.csv")}
    paths.to_csv(files["paths.csv"], index=False)
    result.summary.to_csv(files["summary.csv"], index=False)
    result.pairs.to_csv(files["pairs.csv"], index=False)
    shard_list = "\n".join(f"- {Path(s)}" for s in shards)
    files["summary.md"].write_text(
        summary_markdown(result, title) + f"\nMerged from the shards:\n{shard_list}\n"
    )
    for name, plot in zip(MERGED_PLOTS, (plot_nav_change, plot_gap_closed, plot_nav_breakdown), strict=True):
        files[name] = out / "plots" / name
        plot(result, files[name])
    return files
