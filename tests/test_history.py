"""Replay of real network history: the path's price, fees and blocks are the file's, the
difficulty rebuilt by the retarget rule follows the one the file implies, halvings fall on their
days, the FPPS hashprice follows the realised revenue per PH/s, and bad files are refused with
the file, the row and the column named. A synthetic file made block by block here (its own
retarget loop, not the project's) is always used; the Coin Metrics file when present."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hybridrl.agents.config import DEFAULT_RULES
from hybridrl.baselines import RULE_POLICIES
from hybridrl.evaluation import evaluate
from hybridrl.sim import load_scenario, sample_paths
from hybridrl.sim.history import HistoryFileError, NetworkHistory, read_network_history, replay_paths
from hybridrl.sim.params import ScenarioParams

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "btc_daily_coinmetrics.csv"
HEADER = "date,price_usd,hashrate_th_s,fees_btc,issuance_btc,blocks"
SYNTHETIC_START = dt.date(2020, 1, 1)
SYNTHETIC_DAYS = 400
SYNTHETIC_HALVING = 629_999 - 144 * 100  # height 14 days before ~day 100's halving


def _synthetic_rows(seed: int = 0) -> list[str]:
    """A chain found block by block: exponential block times at a growing hashrate, the
    difficulty retargeted every 2,016 blocks on the epoch's timespan (first to last block, x4
    clamp), subsidy by height; aggregated per UTC day into the Coin Metrics columns, with the
    hashrate written as Coin Metrics does (blocks x mean difficulty x 2^32 / 86,400)."""
    rng = np.random.default_rng(seed)
    n_blocks = SYNTHETIC_DAYS * 160
    height0 = SYNTHETIC_HALVING
    hashrate0 = 1.0e20  # H/s
    growth_per_s = np.log(1.6) / (365.25 * 86_400)
    difficulty = hashrate0 * 600.0 / 2**32
    times, diffs = np.empty(n_blocks), np.empty(n_blocks)
    t = 0.0
    epoch_first: float | None = None
    for i in range(n_blocks):
        h = height0 + i
        if h % 2016 == 0 and i > 0 and epoch_first is not None:  # Bitcoin's rule: first to last block
            span = np.clip(times[i - 1] - epoch_first, 1209600 / 4, 1209600 * 4)
            difficulty = difficulty * 1209600 / span
        rate = hashrate0 * np.exp(growth_per_s * t) / (difficulty * 2**32)
        t += rng.exponential(1.0 / rate)
        times[i], diffs[i] = t, difficulty
        if h % 2016 == 0:
            epoch_first = t  # the time of the epoch's first block
    day = np.floor(times / 86_400).astype(int)
    keep = day < SYNTHETIC_DAYS
    day, heights, diffs = day[keep], (height0 + np.arange(n_blocks))[keep], diffs[keep]
    subsidy = 50.0 * 2.0 ** -np.floor(heights / 210_000)
    blocks = np.bincount(day, minlength=SYNTHETIC_DAYS).astype(float)
    issuance = np.bincount(day, weights=subsidy, minlength=SYNTHETIC_DAYS)
    mean_d = np.bincount(day, weights=diffs, minlength=SYNTHETIC_DAYS) / blocks
    hashrate_th_s = blocks * mean_d * 2**32 / 86_400 / 1e12
    price = 8_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.03, SYNTHETIC_DAYS)))
    fees = blocks * rng.uniform(0.1, 0.5, SYNTHETIC_DAYS)
    dates = [SYNTHETIC_START + dt.timedelta(days=i) for i in range(SYNTHETIC_DAYS)]
    return [
        f"{d.isoformat()},{float(p)!r},{float(h)!r},{float(f)!r},{float(s)!r},{int(b)}"
        for d, p, h, f, s, b in zip(dates, price, hashrate_th_s, fees, issuance, blocks, strict=True)
    ]


@pytest.fixture(scope="module")
def synthetic_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "synthetic.csv"
    path.write_text("\n".join([HEADER, *_synthetic_rows()]) + "\n")
    return path


def _window_params(start: dt.date, end: dt.date) -> ScenarioParams:
    """``default`` over [start, end] with every ASIC generation on sale from 2019 (the test needs
    a fleet at any start; the historical scenario has the real dates)."""
    p = load_scenario("default")
    am = p.asic_market
    gens = tuple(dataclasses.replace(g, release=min(g.release, dt.date(2019, 1, 1))) for g in am.generations)
    gm = p.gpu_market
    ggens = tuple(dataclasses.replace(g, release=min(g.release, dt.date(2019, 1, 1))) for g in gm.generations)
    return dataclasses.replace(
        p,
        time=dataclasses.replace(p.time, start=start, end=end),
        asic_market=dataclasses.replace(am, generations=gens),
        gpu_market=dataclasses.replace(gm, generations=ggens),
    )


def _check_replay(history: NetworkHistory, start: dt.date, end: dt.date) -> None:
    params = _window_params(start, end)
    path = replay_paths(params, history, [0, 1, 2])
    first = history.day_index(start)
    T = path.n_steps
    days = history.slice(first, first + T)
    # the file's series, on every row
    for b in range(3):
        np.testing.assert_array_equal(path.btc_price_usd[b, :T], days.price_usd)
        np.testing.assert_allclose(path.fees_btc_per_block[b, :T], days.fees_btc / days.blocks, rtol=1e-15)
        np.testing.assert_array_equal(path.blocks[b, :T], days.blocks)
    # difficulty by the retarget rule against the one the file implies, on days without a retarget
    implied = days.implied_difficulty()
    steady = path.difficulty[0, :T] == path.difficulty[0, 1 : T + 1]
    error = np.abs(path.difficulty[0, :T][steady] / implied[steady] - 1.0)
    assert np.median(error) < 0.02 and np.quantile(error, 0.95) < 0.05, (np.median(error), error.max())
    # the FPPS hashprice against what a PH/s really earned each day
    realised = days.realised_usd_per_ph_day()
    miss = np.abs(path.hashprice_usd_per_ph_day[0, :T] / realised - 1.0)
    assert np.median(miss) < 0.03, np.median(miss)
    # the other processes are sampled per seed: rows differ there
    assert not np.array_equal(path.power_rt_usd_per_mwh[0], path.power_rt_usd_per_mwh[1])


def test_a_synthetic_history_replays_with_its_series_difficulty_and_hashprice(synthetic_file: Path) -> None:
    history = read_network_history(synthetic_file)
    _check_replay(history, SYNTHETIC_START + dt.timedelta(days=30), SYNTHETIC_START + dt.timedelta(days=398))


def test_the_synthetic_halving_falls_on_its_day(synthetic_file: Path) -> None:
    history = read_network_history(synthetic_file)
    start = SYNTHETIC_START + dt.timedelta(days=30)
    path = replay_paths(_window_params(start, SYNTHETIC_START + dt.timedelta(days=200)), history, [0])
    first = history.day_index(start)
    # the day holding block 630,000, counted from the file's own blocks
    real_day = int(np.searchsorted(np.cumsum(history.blocks), 630_000 - SYNTHETIC_HALVING, side="right"))
    crossing = int(np.flatnonzero(path.height[0] >= 630_000)[0]) - 1  # step during which it is found
    assert first + crossing == real_day
    assert path.subsidy_btc[0, crossing + 1] == 6.25 and path.subsidy_btc[0, crossing - 1] == 12.5


@pytest.mark.skipif(not REAL.is_file(), reason="the Coin Metrics file is not here")
def test_the_real_history_replays_through_the_2020_and_2024_halvings() -> None:
    history = read_network_history(REAL)
    assert history.dates[0] <= np.datetime64("2020-01-01") and history.n_days > 5000
    _check_replay(history, dt.date(2020, 1, 1), dt.date(2025, 12, 29))
    path = replay_paths(_window_params(dt.date(2020, 1, 1), dt.date(2025, 12, 29)), history, [0])
    dates = path.dates.astype("datetime64[D]")

    def subsidy_on(day: str) -> float:
        return float(path.subsidy_btc[0, int(np.flatnonzero(dates == np.datetime64(day))[0])])

    # 2020-05-11 holds block 630,000 (128 of its blocks before it); 2024-04-20 is the first day
    # wholly at 3.125 BTC (block 840,000: 2024-04-20 00:09 UTC; Coin Metrics' issuance puts the
    # last 4 blocks of 2024-04-19 after it already)
    assert subsidy_on("2020-05-10") == 12.5 and 6.25 < subsidy_on("2020-05-11") < 12.5
    assert subsidy_on("2020-05-12") == 6.25
    assert subsidy_on("2024-04-18") == 6.25 and subsidy_on("2024-04-20") == 3.125


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda rows: [HEADER.replace(",blocks", ""), *[r.rsplit(",", 1)[0] for r in rows]],
            "missing column(s) blocks",
        ),
        (lambda rows: [HEADER, *rows[:10], *rows[11:]], "row 12, column date"),
        (lambda rows: [HEADER, *rows[:10], rows[11], rows[10], *rows[12:]], "row 12, column date"),
        (
            lambda rows: [HEADER, *rows[:5], rows[5].replace(",", ",-", 1), *rows[6:]],
            "row 7, column price_usd",
        ),
        (
            lambda rows: [
                HEADER,
                *rows[:5],
                ",".join([*rows[5].split(",")[:3], "", *rows[5].split(",")[4:]]),
                *rows[6:],
            ],
            "row 7, column fees_btc",
        ),
        (
            lambda rows: [HEADER, *rows[:3], rows[3].rsplit(",", 1)[0] + ",abc", *rows[4:]],
            "row 5, column blocks",
        ),
        (
            lambda rows: [HEADER, *rows[:3], rows[3].rsplit(",", 1)[0] + ",0", *rows[4:]],
            "row 5, column blocks",
        ),
        (lambda rows: [HEADER, rows[0].replace("2020-01-01", "2020-13-01"), *rows[1:]], "row 2, column date"),
        (
            lambda rows: [
                HEADER,
                *rows[:3],
                ",".join([rows[3].split(",")[0], "nan", *rows[3].split(",")[2:]]),
                *rows[4:],
            ],
            "row 5, column price_usd",
        ),
    ],
)
def test_bad_files_are_refused_with_file_row_and_column(tmp_path: Path, edit, expected: str) -> None:  # type: ignore[no-untyped-def]
    rows = _synthetic_rows()[:150]
    path = _write(tmp_path, edit(rows))
    with pytest.raises(HistoryFileError) as info:
        read_network_history(path)
    assert str(path) in str(info.value) and expected in str(info.value), str(info.value)


def test_a_file_without_a_halving_or_data_is_refused(tmp_path: Path) -> None:
    rows = _synthetic_rows()[:50]  # before the halving
    with pytest.raises(HistoryFileError, match="no halving"):
        read_network_history(_write(tmp_path, [HEADER, *rows]))
    with pytest.raises(HistoryFileError, match="no data rows"):
        read_network_history(_write(tmp_path, [HEADER]))
    with pytest.raises(HistoryFileError, match="no such file"):
        read_network_history(tmp_path / "absent.csv")


def test_a_window_outside_the_file_or_not_daily_is_refused(synthetic_file: Path) -> None:
    history = read_network_history(synthetic_file)
    late = _window_params(SYNTHETIC_START + dt.timedelta(days=300), SYNTHETIC_START + dt.timedelta(days=500))
    with pytest.raises(ValueError, match="runs past the file's last day"):
        replay_paths(late, history, [0])
    early = _window_params(dt.date(2019, 6, 1), dt.date(2020, 6, 1))
    with pytest.raises(ValueError, match="outside the file's dates"):
        replay_paths(early, history, [0])
    start = SYNTHETIC_START + dt.timedelta(days=30)
    params = _window_params(start, start + dt.timedelta(days=30))
    hourly = dataclasses.replace(params, time=dataclasses.replace(params.time, dt_days=1 / 24))
    with pytest.raises(ValueError, match="daily steps"):
        replay_paths(hourly, history, [0])


def test_offers_arrive_from_their_first_date() -> None:
    params = load_scenario("history_2020")
    path = sample_paths(params, list(range(16)))
    first = (params.offers.first_arrival - params.time.start).days
    arrived = path.offer_arrival_step[path.offer_arrival_step <= path.n_steps]
    assert arrived.size and arrived.min() >= first
    unset = dataclasses.replace(params, offers=dataclasses.replace(params.offers, first_arrival=None))
    early = sample_paths(unset, list(range(16))).offer_arrival_step
    assert early[early <= path.n_steps].min() < first
    assert unset.scenario_hash != params.scenario_hash  # the date is part of the world


@pytest.mark.skipif(not REAL.is_file(), reason="the Coin Metrics file is not here")
def test_every_rule_policy_runs_the_2020_2025_backtest() -> None:
    params = load_scenario("history_2020")
    history = read_network_history(REAL)
    seeds = list(range(4))
    path = replay_paths(params, history, seeds)
    assert path.n_steps == (params.time.end - params.time.start).days + 1
    for name, policy in RULE_POLICIES.items():
        table = evaluate(policy, params, seeds, path=path)
        assert np.isfinite(table["nav_change_usd"]).all(), name
        assert not table["bankrupt"].any(), name


def _backtest(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    script = Path(__file__).resolve().parents[1] / "experiments" / "backtest.py"
    return subprocess.run(
        [sys.executable, str(script), *overrides, f"hydra.run.dir={tmp_path / 'out'}"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )


def test_the_backtest_app_reports_every_rule_policy_on_the_replay(
    synthetic_file: Path, tmp_path: Path
) -> None:
    done = _backtest(
        tmp_path,
        f"data={synthetic_file}",
        "start=2020-02-01",
        "end=2020-09-30",
        "seeds=2",
        "mpc=[]",
        "oracle=false",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "out"
    replay = pd.read_csv(out / "replay.csv")
    assert len(replay) == (dt.date(2020, 9, 30) - dt.date(2020, 2, 1)).days + 1
    assert replay["hashprice_error"].abs().median() < 0.03
    paths = pd.read_csv(out / "paths.csv")
    assert set(paths["policy"]) == set(DEFAULT_RULES) and len(paths) == 2 * len(DEFAULT_RULES)
    per_year = pd.read_csv(out / "per_year.csv")
    assert set(per_year["year"]) == {2020} and set(per_year["policy"]) == set(DEFAULT_RULES)
    # the year's NAV change is the episode's (one calendar year here), the mean over the seeds
    for name, got in per_year.groupby("policy"):
        expected = paths.loc[paths["policy"] == name, "nav_change_usd"].mean()
        assert got["nav_change_usd"].iloc[0] == pytest.approx(expected, rel=1e-9), name
        mined = paths.loc[paths["policy"] == name, "btc_mined"].mean()
        assert got["btc_mined"].iloc[0] == pytest.approx(mined, rel=1e-9), name
    # always_mine buys no ASICs: its all-in cost is its cash cost, which power and opex make up
    mine = per_year[per_year["policy"] == "always_mine"].iloc[0]
    assert mine["all_in_cost_usd_per_btc"] == pytest.approx(mine["cash_cost_usd_per_btc"])
    assert 0 < mine["cash_cost_usd_per_btc"] < mine["revenue_usd"] / mine["btc_mined"]


def test_the_backtest_app_refuses_a_bad_file_or_window(synthetic_file: Path, tmp_path: Path) -> None:
    done = _backtest(tmp_path, "data=absent.csv")
    assert done.returncode == 2 and "data" in done.stderr and "absent.csv" in done.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "\n" + "\n".join(_synthetic_rows()[:5]).replace("2020-01-03", "2020-01-09") + "\n"
    )
    done = _backtest(tmp_path, f"data={bad}")
    assert done.returncode == 2 and "row 4, column date" in done.stderr, done.stderr[-1000:]
    done = _backtest(tmp_path, f"data={synthetic_file}", "start=2020-02-01", "end=2022-01-01", "oracle=false")
    assert done.returncode == 2 and "runs past the file's last day" in done.stderr, done.stderr[-1000:]


@pytest.mark.skipif(not REAL.is_file(), reason="the Coin Metrics file is not here")
def test_every_halving_of_the_real_file_anchors_the_same_heights() -> None:
    history = read_network_history(REAL)
    assert [k for _, _, k in history.halvings] == [1, 2, 3, 4]
    heights = [history.height_at_start(day) for day, _, _ in history.halvings]
    for other in heights[1:]:
        np.testing.assert_array_equal(other, heights[0])
