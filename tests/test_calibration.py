from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hybridrl.sim import load_scenario
from hybridrl.sim.calibration import (
    CalibrationDataError,
    apply_fits,
    fit_btc_price,
    fit_fees,
    fit_hashrate,
    history_stats,
    load_network_csv,
    model_stats,
)

from .conftest import COINMETRICS_CSV

ROOT = Path(__file__).resolve().parents[1]
needs_data = pytest.mark.skipif(not COINMETRICS_CSV.is_file(), reason=f"{COINMETRICS_CSV} not present")


def test_loader_names_missing_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,price_usd\n2024-01-01,1\n")
    with pytest.raises(CalibrationDataError, match=r"missing column\(s\) \['hashrate_th_s'"):
        load_network_csv(bad)
    with pytest.raises(CalibrationDataError, match="no such file"):
        load_network_csv(tmp_path / "absent.csv")


def test_fits_recover_a_synthetic_history(tmp_path: Path) -> None:
    # a GBM with 60 %/yr volatility and a steady hashrate growth of 40 %/yr
    rng = np.random.default_rng(0)
    n = 2000
    r = rng.normal(0.0, 0.6 / np.sqrt(365.25), n - 1)
    price = 30000 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    hashrate = 4e8 * np.exp(0.4 * np.arange(n) / 365.25)
    dates = np.datetime64("2019-01-01") + np.arange(n)
    rows = ["date,price_usd,hashrate_th_s,fees_btc,issuance_btc,blocks"]
    rows += [f"{d},{p:.6f},{h:.1f},20.0,900.0,144" for d, p, h in zip(dates, price, hashrate, strict=True)]
    path = tmp_path / "synthetic.csv"
    path.write_text("\n".join(rows) + "\n")
    history = load_network_csv(path)
    assert history_stats(history)["volatility_per_year"] == pytest.approx(0.6, rel=0.05)
    fit = fit_btc_price(history)
    assert fit.jump_rate_per_year < 1.0  # a Gaussian history has (almost) no 4-sigma days
    assert fit_hashrate(history).log_growth_per_year == pytest.approx(0.4, rel=0.02)
    assert fit_fees(history).long_run_btc_per_block == pytest.approx(20.0 / 144, rel=0.01)


@needs_data
def test_history_spot_check_and_fitted_model_reproduces_it() -> None:
    history = load_network_csv(COINMETRICS_CSV)
    day = np.flatnonzero(history.dates == np.datetime64("2024-07-04"))[0]
    assert history.price_usd[day] == pytest.approx(57418.24)
    assert history.blocks[day] == 140
    window = history.window("2019-01-01")
    hist = history_stats(window)
    params = apply_fits(load_scenario("default"), fit_btc_price(window), fit_fees(window))
    model = model_stats(params, n_paths=32)
    assert model["volatility_per_year"] == pytest.approx(hist["volatility_per_year"], rel=0.15)
    assert model["kurtosis"] > 6  # fat tails, which a plain GBM (kurtosis 3) misses
    assert model["share_beyond_3_sd"] > 0.008
    assert model["blocks_per_day"] == pytest.approx(hist["blocks_per_day"], abs=3)
    fees = fit_fees(window)
    # the fitted level is history's; the model reaches it from today's fees at the fitted pace
    assert fees.long_run_btc_per_block == pytest.approx(hist["fees_btc_per_block_median"], rel=0.3)
    assert 0.5 < fees.level_reversion_per_year < 3.0


@needs_data
def test_calibrate_cli_prints_parameters_beside_history() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "experiments" / "calibrate.py"),
            "--data",
            str(COINMETRICS_CSV),
            "--paths",
            "8",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    assert "jump_rate_per_year" in out and "drift_per_year" in out
    for label in ("BTC volatility", "days beyond 3 sd", "max drawdown", "hashrate log growth", "fee share"):
        assert label in out


def test_calibrate_cli_reports_bad_data(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date\n2024-01-01\n")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "calibrate.py"), "--data", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "missing column" in proc.stderr


@pytest.fixture(scope="module")
def default_world() -> dict[str, float]:
    return model_stats(load_scenario("default"), n_paths=128)


def test_default_world_matches_the_histories_figures(default_world: dict[str, float]) -> None:
    """Model v1's calibration targets (2021-2025 history; forward hashrate assumption in
    envs/default.yaml), fixed figures so the test runs without the data."""
    m = default_world
    assert 0.20 <= m["hashrate_growth_per_year"] <= 0.40  # median over 2026-2027
    assert m["hashrate_declining_years"] <= 0.2  # at most 1 path-year in 5
    assert 2.0 <= m["yearly_excess_kurtosis"] <= 8.0
    assert m["days_beyond_15pct_per_year"] <= 1.0
    assert 0.40 <= m["yearly_volatility"] <= 0.60
    assert 0.0187 / 1.5 <= m["fees_30d_btc_per_block"] <= 0.0187 * 1.5  # continuous with end-2025


@needs_data
def test_history_holds_the_figures_the_calibration_cites(default_world: dict[str, float]) -> None:
    history = history_stats(load_network_csv(COINMETRICS_CSV).window("2022-01-01", "2025-12-31"))
    assert history["hashrate_growth_per_year"] > 0.3 and history["hashrate_declining_years"] == 0.0
    assert 1.0 <= history["yearly_excess_kurtosis"] <= 5.2
    assert history["days_beyond_15pct_per_year"] <= 1.0
    assert history["fees_30d_btc_per_block"] == pytest.approx(0.0187, abs=5e-4)
    ratio = default_world["fees_30d_btc_per_block"] / history["fees_30d_btc_per_block"]
    assert 1 / 1.5 <= ratio <= 1.5
