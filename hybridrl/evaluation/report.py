"""Benchmark report files: ``paths.csv``, ``summary.csv``, ``summary.md``, ``pairs.csv`` and
PNG plots (allocation over time, NAV-change distribution, gap closed, revenue against BTC, NAV
at the end by part)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hybridrl.evaluation.benchmark import BenchmarkResult
from hybridrl.evaluation.metrics import monthly_mean, monthly_rate
from hybridrl.sim.plant import NAV_COMPONENTS

PLOTS = ("allocation.png", "nav_change.png", "gap_closed.png", "revenue_vs_btc.png", "nav_breakdown.png")
NAV_PART_LABELS = {
    "cash_usd": "cash",
    "asic_resale_usd": "ASICs at resale",
    "gpu_resale_usd": "GPUs at resale",
    "infrastructure_book_usd": "halls at book",
    "lease_margin_pv_usd": "lease margin PV",
    "leased_hall_usd": "leased halls: residual - book",
}
"""How the report names each part of NAV (:data:`~hybridrl.sim.plant.NAV_COMPONENTS`)."""


def nav_breakdown_means(paths: pd.DataFrame) -> pd.DataFrame:
    """Mean NAV part at the end of the episode per policy (USD), columns in NAV order, plus the total."""
    cols = [f"nav_end_{k}" for k in NAV_COMPONENTS]
    means = paths.groupby("policy", sort=False)[cols].mean()
    means.columns = list(NAV_COMPONENTS)
    means["nav_usd"] = means.sum(axis=1)
    return means


def nav_breakdown_markdown(paths: pd.DataFrame) -> list[str]:
    """Table lines: what each policy's NAV is made of at the end, mean over paths, in M$."""
    means = nav_breakdown_means(paths)
    head = " | ".join(NAV_PART_LABELS[k] for k in NAV_COMPONENTS)
    lines = [
        "",
        "NAV at the end of the episode by part, mean over paths (M$); each asset counted once: a "
        "leased hall counts for its lease margin's PV plus its discounted residual book, in place of "
        "its book (the last column is that replacement).",
        "",
        f"| policy | NAV | {head} |",
        "|---|---" + "|---" * len(NAV_COMPONENTS) + "|",
    ]
    for policy, row in means.iterrows():
        cells = " | ".join(f"{row[k] / 1e6:,.1f}" for k in NAV_COMPONENTS)
        lines.append(f"| {policy} | {row['nav_usd'] / 1e6:,.1f} | {cells} |")
    return lines


def summary_markdown(result: BenchmarkResult, title: str) -> str:
    """The summary table: mean [95 % interval] over paths, in M$ where money."""
    s = result.summary

    def money(m: str, row: pd.Series) -> str:
        if m not in row or not np.isfinite(row[m]):
            return "n/a"
        return f"{row[m] / 1e6:,.1f} [{row[m + '_lo'] / 1e6:,.1f}, {row[m + '_hi'] / 1e6:,.1f}]"

    def ratio(m: str, row: pd.Series) -> str:
        if m not in row or not np.isfinite(row[m]):
            return "n/a"
        return f"{row[m]:.2f} [{row[m + '_lo']:.2f}, {row[m + '_hi']:.2f}]"

    lines = [
        f"# {title}",
        "",
        f"{int(s['paths'].iloc[0])} held-out paths per policy, the same paths for every policy. "
        "Mean [95 % bootstrap interval]; money in M$.",
        "",
        "| policy | NAV change | gap closed | gap closed (dual bound) | cash profit | CVaR 5 % NAV "
        "| monthly cash-flow sd | max drawdown | BTC beta | AI energy share | bankrupt |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, row in s.iterrows():
        lines.append(
            f"| {row['policy']} | {money('nav_change_usd', row)} | {ratio('gap_closed', row)} "
            f"| {ratio('gap_closed_dual', row)} | {money('cash_profit_usd', row)} "
            f"| {row['nav_change_cvar5_usd'] / 1e6:,.1f} "
            f"| {money('monthly_cash_flow_std_usd', row)} | {money('max_drawdown_usd', row)} "
            f"| {ratio('btc_beta', row)} | {ratio('ai_energy_share', row)} | {row['bankrupt']:.0%} |"
        )
    lines += [
        "",
        "Gap closed = (policy - always_mine) / (oracle - always_mine) per path, against the "
        "oracle's plans and against its dual bounds (no policy can pass a dual bound; a "
        "time-limited oracle's plan may be passed). BTC beta = "
        "correlation of monthly operating revenue with the monthly mean BTC price. CVaR 5 % = mean "
        "NAV change of the worst 5 % of paths. n/a: undefined on this episode (a BTC beta needs 3 "
        "calendar months, a monthly sd 2).",
    ]
    if f"nav_end_{NAV_COMPONENTS[0]}" in result.paths:
        lines += nav_breakdown_markdown(result.paths)
        lines.append("")
    if "oracle_status" in result.paths:
        oracle = result.paths[result.paths["policy"] == "oracle"]
        statuses = ", ".join(f"{k}: {v}" for k, v in oracle["oracle_status"].value_counts().items())
        lines.append(
            f"Oracle solves: {statuses}; mean MIP gap {oracle['oracle_mip_gap'].mean():.1%} (a time-limited "
            "oracle is a feasible plan, warm-started from every policy's plan on its path, and the dual "
            "bound caps what any policy could reach)."
        )
    return "\n".join(lines) + "\n"


def write_report(result: BenchmarkResult, out_dir: str | Path, title: str = "Benchmark") -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns them by name."""
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    files = {
        "paths.csv": out / "paths.csv",
        "summary.csv": out / "summary.csv",
        "summary.md": out / "summary.md",
        "pairs.csv": out / "pairs.csv",
    }
    result.paths.to_csv(files["paths.csv"], index=False)
    result.summary.to_csv(files["summary.csv"], index=False)
    result.pairs.to_csv(files["pairs.csv"], index=False)
    files["summary.md"].write_text(summary_markdown(result, title))
    for name, fn in zip(
        PLOTS,
        (plot_allocation, plot_nav_change, plot_gap_closed, plot_revenue_vs_btc, plot_nav_breakdown),
        strict=True,
    ):
        files[name] = out / "plots" / name
        fn(result, files[name])
    return files


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_allocation(result: BenchmarkResult, file: Path, row: int = 0) -> None:
    """Stacked MW over time (mining, own GPUs, leased, curtailed, idle) on one path per policy."""
    plt = _plt()
    names = list(result.trajectories)
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 1.9 * len(names) + 0.6), sharex=True, squeeze=False)
    dates = result.path.dates[:-1]
    labels = ("mining", "own GPUs", "leased", "curtailed", "idle")
    for ax, name in zip(axes[:, 0], names, strict=True):
        t = result.trajectories[name]
        stack = [t.mining_mw[row], t.own_gpu_mw[row], t.leased_mw[row], t.curtailed_mw[row], t.idle_mw[row]]
        ax.stackplot(dates, *stack, labels=labels, linewidth=0)
        ax.set_ylabel("MW")
        ax.set_title(name, fontsize=9, loc="left")
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=5)
    seed = result.paths["seed"].iloc[row]
    fig.suptitle(f"Power allocation on path seed {seed}", fontsize=10)
    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)


def plot_nav_change(result: BenchmarkResult, file: Path) -> None:
    """Distribution of NAV change over paths, per policy."""
    plt = _plt()
    names = list(dict.fromkeys(result.paths["policy"]))
    data = [result.paths[result.paths["policy"] == n]["nav_change_usd"].to_numpy() / 1e6 for n in names]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(names)), 4))
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("NAV change over the episode (M$)")
    ax.axhline(0, color="grey", lw=0.5)
    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)


def plot_gap_closed(result: BenchmarkResult, file: Path) -> None:
    """Mean gap closed per policy with its 95 % bootstrap interval."""
    plt = _plt()
    s = result.summary
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(s)), 4))
    if "gap_closed" in s and np.isfinite(s["gap_closed"]).any():
        mean = s["gap_closed"].to_numpy(dtype=float)
        err = np.vstack(
            [mean - s["gap_closed_lo"].to_numpy(dtype=float), s["gap_closed_hi"].to_numpy(dtype=float) - mean]
        )
        ax.bar(range(len(s)), mean, yerr=err, capsize=4, color="tab:blue")
        ax.set_xticks(range(len(s)), s["policy"], rotation=30, ha="right", fontsize=8)
        ax.axhline(1, color="grey", lw=0.5, ls="--")
    else:
        ax.text(0.5, 0.5, "no oracle in this benchmark", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("gap closed (0 = always_mine, 1 = oracle)")
    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)


def plot_revenue_vs_btc(result: BenchmarkResult, file: Path) -> None:
    """Monthly operating revenue against the monthly mean BTC price (every path), per policy."""
    plt = _plt()
    dates = result.path.dates
    price = monthly_mean(result.path.btc_price_usd[:, :-1], dates).ravel() / 1e3
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, traj in result.trajectories.items():
        revenue = monthly_rate(traj.revenue_usd, dates, result.path.dt_days).ravel() / 1e6
        ax.scatter(price, revenue, s=4, alpha=0.5, label=name)
    ax.set_xlabel("BTC price, monthly mean (k$)")
    ax.set_ylabel("operating revenue per month (M$)")
    ax.legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)


def plot_nav_breakdown(result: BenchmarkResult, file: Path) -> None:
    """Stacked bars of the mean NAV parts at the end per policy (negative parts below zero), with
    the total NAV marked."""
    plt = _plt()
    means = nav_breakdown_means(result.paths) / 1e6
    x = np.arange(len(means))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(means)) + 2.5, 4.5))
    up, down = np.zeros(len(means)), np.zeros(len(means))
    for name in NAV_COMPONENTS:
        v = means[name].to_numpy(dtype=float)
        base = np.where(v >= 0, up, down)
        ax.bar(x, v, bottom=base, label=NAV_PART_LABELS[name], width=0.6)
        up, down = up + np.maximum(v, 0.0), down + np.minimum(v, 0.0)
    ax.scatter(x, means["nav_usd"], color="black", marker="D", zorder=3, label="NAV")
    ax.set_xticks(x, list(means.index), rotation=30, ha="right", fontsize=8)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("NAV at the end, mean over paths (M$)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)
