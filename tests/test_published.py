"""Every committed model re-evaluates to its published per-path figures: for each published
benchmark folder holding a trained run (``experiments/results/<name>/train``), the run's best
model on the first held-out seeds of its ``paths.csv`` gives the NAV change printed there."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results"
RUNS = sorted(p.parent for p in RESULTS.glob("*/train*/run.json"))


@pytest.mark.parametrize("run_dir", RUNS, ids=[f"{p.parent.name}/{p.name}" for p in RUNS])
def test_a_committed_model_reproduces_its_published_paths(run_dir: Path) -> None:
    pytest.importorskip("stable_baselines3")
    from hybridrl.agents.policy import load_trained_policy
    from hybridrl.agents.run_scenario import load_run_scenario
    from hybridrl.evaluation import evaluate

    meta = json.loads((run_dir / "run.json").read_text())
    paths = pd.read_csv(run_dir.parent / "paths.csv")
    from hybridrl.evaluation.benchmark import run_policy_name

    label = run_policy_name(meta)
    names = [n for n in paths["policy"].unique() if n in (label, f"{label}_{run_dir.name}")]
    if not names:  # reports before the mode prefix named a run by its algorithm
        names = [n for n in paths["policy"].unique() if n == meta["algo"]]
    assert len(names) == 1, f"{run_dir}: no single row group for it in paths.csv ({names})"
    published = paths[paths["policy"] == names[0]].sort_values("seed").head(3)
    params = load_run_scenario(run_dir)
    frame = evaluate(load_trained_policy(run_dir, which="best"), params, published["seed"].tolist())
    expected = published["nav_change_usd"].to_numpy()
    assert frame["nav_change_usd"].to_numpy() == pytest.approx(expected, rel=1e-6)
