"""The leaderboard: every policy of every published benchmark (``experiments/results/<name>/``,
each holding a benchmark's ``summary.csv`` and ``paths.csv``) in one Markdown table, written to
``docs/leaderboard.md`` and between markers in the README by ``experiments/leaderboard.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hybridrl.evaluation.metrics import gap_closed

BEGIN, END = "<!-- leaderboard:begin -->", "<!-- leaderboard:end -->"
COLUMNS = (
    "| results | policy | paths | NAV change (M$) | gap closed | gap closed (dual bound) | CVaR 5 % (M$) "
    "| bankrupt | BTC beta | AI energy share |"
)


def published(results_dir: Path) -> list[Path]:
    """The published benchmark folders under ``results_dir``, by name."""
    return sorted(p.parent for p in results_dir.glob("*/summary.csv") if (p.parent / "paths.csv").is_file())


def dual_gap_by_policy(paths: pd.DataFrame) -> dict[str, float]:
    """Mean gap closed against the oracle's dual bounds per policy (NaN without an oracle);
    from ``paths.csv``, so that reports written before the column existed show it too."""
    oracle = paths[paths["policy"] == "oracle"].set_index("seed")
    if oracle.empty or "oracle_dual_bound_usd" not in oracle:
        return {}
    base = paths[paths["policy"] == "always_mine"].set_index("seed")["nav_change_usd"]
    out = {}
    for name, rows in paths.groupby("policy", sort=False):
        rows = rows.set_index("seed")
        seeds = rows.index.intersection(oracle.index).intersection(base.index)
        value = gap_closed(
            rows.loc[seeds, "nav_change_usd"].to_numpy(float),
            base.loc[seeds].to_numpy(float),
            oracle.loc[seeds, "oracle_dual_bound_usd"].to_numpy(float),
        )
        out[str(name)] = float(np.nanmean(value)) if np.isfinite(value).any() else float("nan")
    return out


def leaderboard_rows(folder: Path, link_prefix: str | None) -> list[str]:
    """One Markdown row per policy of the benchmark in ``folder``, naming it by a link to
    ``<link_prefix><name>/README.md`` (None: by its path as code, where links cannot reach)."""
    summary = pd.read_csv(folder / "summary.csv")
    paths = pd.read_csv(folder / "paths.csv")
    dual = dual_gap_by_policy(paths)
    name = (
        f"`experiments/results/{folder.name}`"
        if link_prefix is None
        else f"[{folder.name}]({link_prefix}{folder.name}/README.md)"
    )
    rows = []
    for _, row in summary.iterrows():
        mean, lo, hi = row["nav_change_usd"], row["nav_change_usd_lo"], row["nav_change_usd_hi"]
        rows.append(
            f"| {name} | {row['policy']} | {int(row['paths'])} "
            f"| {mean / 1e6:,.1f} [{lo / 1e6:,.1f}, {hi / 1e6:,.1f}] | {_ratio(row.get('gap_closed'))} "
            f"| {_ratio(dual.get(str(row['policy'])))} | {row['nav_change_cvar5_usd'] / 1e6:,.1f} "
            f"| {row['bankrupt']:.0%} | {_ratio(row.get('btc_beta'))} "
            f"| {_ratio(row.get('ai_energy_share'))} |"
        )
    return rows


def leaderboard_markdown(results_dir: Path, link_prefix: str | None = None) -> str:
    """The table over every published benchmark (see :func:`leaderboard_rows` for the links)."""
    lines = [COLUMNS, "|" + "---|" * COLUMNS.count(" | ") + "---|"]
    for folder in published(results_dir):
        lines += leaderboard_rows(folder, link_prefix)
    note = (
        "\nMean over the benchmark's held-out paths [95 % bootstrap interval]; the same paths for "
        "every policy of a row group. Gap closed = (policy - always_mine) / (oracle - always_mine) "
        "per path, against the time-limited oracle's plans and against its dual bounds (a "
        "policy's share of the true optimum lies between the two). CVaR 5 % = mean of the worst "
        "5 % of paths. Each folder's README has the command that reproduces it and the code it "
        "was made with.\n"
    )
    return "\n".join(lines) + "\n" + note


def _ratio(value: object) -> str:
    if value is None or not np.isfinite(float(value)):  # type: ignore[arg-type]
        return "n/a"
    return f"{float(value):.2f}"  # type: ignore[arg-type]


def with_leaderboard(text: str, table: str) -> str:
    """``text`` with the part between the leaderboard markers replaced by ``table``."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}{END}{tail}"
