"""The leaderboard: built from the published folders, kept up to date in the docs and README, and
its dual-bound column computed per path from paths.csv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridrl.evaluation.leaderboard import dual_gap_by_policy, leaderboard_markdown, with_leaderboard

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_and_readme_hold_the_current_leaderboard() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "leaderboard.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + "\nrun: python experiments/leaderboard.py"


def test_gap_against_the_dual_bound_by_hand(tmp_path: Path) -> None:
    paths = pd.DataFrame(
        {
            "policy": ["always_mine"] * 2 + ["greedy"] * 2 + ["oracle"] * 2,
            "seed": [0, 1] * 3,
            "nav_change_usd": [10.0, 20.0, 40.0, 20.0, 50.0, 60.0],
            "oracle_dual_bound_usd": [np.nan] * 4 + [70.0, 60.0],
        }
    )
    # greedy: (40 - 10) / (70 - 10) = 0.5 on seed 0, 0 on seed 1
    gaps = dual_gap_by_policy(paths)
    assert gaps["greedy"] == pytest.approx(0.25) and gaps["oracle"] == pytest.approx((40 / 60 + 1.0) / 2)
    folder = tmp_path / "mine"
    folder.mkdir()
    paths.to_csv(folder / "paths.csv", index=False)
    summary = paths.groupby("policy", sort=False)["nav_change_usd"].agg(["mean", "count"]).reset_index()
    pd.DataFrame(
        {
            "policy": summary["policy"],
            "paths": summary["count"],
            "nav_change_usd": summary["mean"],
            "nav_change_usd_lo": summary["mean"] - 1,
            "nav_change_usd_hi": summary["mean"] + 1,
            "nav_change_cvar5_usd": summary["mean"],
            "bankrupt": 0.0,
            "gap_closed": [0.0, 0.5, 1.0],
        }
    ).to_csv(folder / "summary.csv", index=False)
    table = leaderboard_markdown(tmp_path)
    assert "| `experiments/results/mine` | greedy | 2 | 0.0 [0.0, 0.0] | 0.50 | 0.25 |" in table
    assert "n/a" in table  # no BTC beta in this summary
    with pytest.raises(ValueError, match="markers"):
        with_leaderboard("no markers here", table)
