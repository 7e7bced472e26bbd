from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from hybridrl.evaluation.rollout import halving_summary
from hybridrl.sim import ExogenousPath, ScenarioParams, sample_paths
from hybridrl.sim.params import SITE_SHARE_LIMIT


def _arrays(path: ExogenousPath) -> dict[str, np.ndarray]:
    return {
        f.name: getattr(path, f.name)
        for f in dataclasses.fields(path)
        if f.name not in ("dt_days", "start_date")
    }


def test_same_seed_same_path_different_seed_different(default_params: ScenarioParams) -> None:
    a, b, c = (sample_paths(default_params, [s]) for s in (7, 7, 8))
    for name, value in _arrays(a).items():
        np.testing.assert_array_equal(value, _arrays(b)[name], err_msg=name)
    assert not np.array_equal(a.btc_price_usd, c.btc_price_usd)
    assert not np.array_equal(a.power_rt_usd_per_mwh, c.power_rt_usd_per_mwh)


def test_batched_row_equals_single_path_of_spawned_seed(default_params: ScenarioParams) -> None:
    children = np.random.SeedSequence(2026).spawn(5)
    batch = sample_paths(default_params, children)
    for b in (0, 3):
        single = sample_paths(default_params, [children[b]])
        for name, value in _arrays(batch.rows(b)).items():
            np.testing.assert_array_equal(value, _arrays(single)[name], err_msg=name)


def test_a_seed_sequence_can_be_reused(default_params: ScenarioParams) -> None:
    seq = np.random.SeedSequence(5)
    np.testing.assert_array_equal(
        sample_paths(default_params, [seq]).btc_price_usd, sample_paths(default_params, [seq]).btc_price_usd
    )


def test_bad_seeds_are_refused(default_params: ScenarioParams) -> None:
    with pytest.raises(ValueError, match="non-negative int"):
        sample_paths(default_params, [-1])
    with pytest.raises(ValueError, match="at least one seed"):
        sample_paths(default_params, [])


@pytest.fixture(scope="module")
def paths256(default_params: ScenarioParams) -> ExogenousPath:
    return sample_paths(default_params, list(range(256)))


def test_calibration_btc_volatility(paths256: ExogenousPath) -> None:
    log_returns = np.diff(np.log(paths256.btc_price_usd), axis=1)
    annual_vol = log_returns.std() * np.sqrt(365.25 / paths256.dt_days)
    assert 0.35 <= annual_vol <= 0.90


def test_calibration_hashprice_falls_at_the_halving(paths256: ExogenousPath) -> None:
    summary = halving_summary(paths256)
    assert np.nanmedian(summary["hashprice_after"]) < np.nanmedian(summary["hashprice_before"])


def test_calibration_network_hashrate_positive_and_growing(paths256: ExogenousPath) -> None:
    h = paths256.network_hashrate_th_s
    assert np.all(h > 0)
    assert np.median(h[:, -1]) > h[0, 0]


def test_calibration_halving_timing(paths256: ExogenousPath) -> None:
    dates = halving_summary(paths256)["halving_date"]
    inside = dates.notna() & (dates >= "2027-12-01") & (dates < "2028-10-01")
    assert inside.mean() >= 0.9


def test_site_stays_a_price_taker(paths256: ExogenousPath, default_params: ScenarioParams) -> None:
    fleet_th = sum(default_params.site.initial_asic_th.values())
    assert (fleet_th / paths256.network_hashrate_th_s).max() < SITE_SHARE_LIMIT


def test_blocks_and_difficulty_follow_the_retarget(paths256: ExogenousPath) -> None:
    # blocks per day stay near 144 on average, and difficulty only moves at 2,016-block boundaries
    per_day = paths256.blocks[:, :-1].sum(axis=1) / (paths256.n_steps * paths256.dt_days)
    assert 138 < np.median(per_day) < 152
    d = paths256.difficulty[0]
    changes = np.flatnonzero(np.diff(d) != 0)
    boundaries = np.floor(paths256.height[0] / 2016)
    assert np.all(boundaries[changes + 1] > boundaries[changes])
    ratio = d[changes + 1] / d[changes]
    assert np.all((ratio >= 0.25) & (ratio <= 4.0))


def test_hourly_path_has_intraday_shape() -> None:
    from hybridrl.sim import load_scenario

    p = load_scenario("hourly_ops")
    path = sample_paths(p, [0])
    hours = np.arange(p.time.n_steps + 1) % 24
    rt = path.power_rt_usd_per_mwh[0]
    assert np.median(rt[hours == 17]) > np.median(rt[hours == 5])
    assert path.dates[24] == np.datetime64(dt.date(2026, 1, 2), "m")
