from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from hybridrl.sim import ScenarioError, list_scenarios, load_scenario


def test_catalogue_has_required_scenarios() -> None:
    assert {"default", "bear_market", "ai_boom", "hourly_ops", "tiny"} <= set(list_scenarios())


def test_default_scenario_matches_the_brief(default_params) -> None:  # type: ignore[no-untyped-def]
    p = default_params
    assert (p.time.start, p.time.end, p.time.n_steps) == (dt.date(2026, 1, 1), dt.date(2029, 12, 31), 1461)
    assert p.site.interconnection_mw == 100.0
    assert p.site.hpc_ready_mw == 10.0 and not p.site.initial_gpu_nodes
    assert {"S19_XP", "S21", "S21_XP"} <= set(p.site.initial_asic_th)
    assert p.power.ppa_mw > 0 and p.finance.credit_limit_usd > 0


def test_hourly_ops_is_hourly_for_a_year_without_investments() -> None:
    p = load_scenario("hourly_ops")
    assert p.time.n_steps == 8760 and not p.time.investments_enabled


def test_scenario_hash_is_stable_and_discriminates() -> None:
    assert load_scenario("default").scenario_hash == load_scenario("default").scenario_hash
    assert load_scenario("default").scenario_hash != load_scenario("bear_market").scenario_hash


def test_unknown_scenario_name_lists_catalogue() -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nope'.*default"):
        load_scenario("nope")


def _write(tmp_path: Path, body: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"extends": "default", **body}))
    return path


BAD_INPUTS = [
    pytest.param(
        {"site": {"minig_ready_mw": 5.0}},
        r"site\.minig_ready_mw: unknown key; allowed keys: .*mining_ready_mw",
        id="unknown-nested-key",
    ),
    pytest.param({"colour": "red"}, r"colour: unknown key; allowed keys: .*btc_price", id="unknown-top-key"),
    pytest.param(
        {"site": {"interconnection_mw": "lots"}},
        r"site\.interconnection_mw: expected a number, got 'lots'",
        id="wrong-type-number",
    ),
    pytest.param(
        {"time": {"investments_enabled": "yes"}},
        r"time\.investments_enabled: expected true/false",
        id="wrong-type-bool",
    ),
    pytest.param(
        {"time": {"start": "first of May"}}, r"time\.start: expected a date YYYY-MM-DD", id="wrong-type-date"
    ),
    pytest.param(
        {"offers": {"max_offers": 2.5}}, r"offers\.max_offers: expected an integer", id="wrong-type-int"
    ),
    pytest.param(
        {"site": {"mining_ready_mw": -5.0}},
        r"site\.mining_ready_mw: got -5\.0; allowed: >= 0",
        id="negative-capacity",
    ),
    pytest.param(
        {"site": {"interconnection_mw": -1.0}},
        r"site\.interconnection_mw: got -1\.0; allowed: > 0",
        id="negative-interconnection",
    ),
    pytest.param(
        {"power": {"dr_call_probability_per_step": 1.5}},
        r"power\.dr_call_probability_per_step: got 1\.5; allowed: >= 0\.0 and <= 1\.0",
        id="probability-above-1",
    ),
    pytest.param(
        {"outages": {"depth_min": -0.1}},
        r"outages\.depth_min: got -0\.1; allowed: >= 0\.0 and <= 1\.0",
        id="probability-below-0",
    ),
    pytest.param(
        {"btc_price": {"regimes": {"initial_probabilities": [0.5, 0.5, 0.5]}}},
        r"btc_price\.regimes: initial_probabilities must sum to 1",
        id="probabilities-not-summing",
    ),
    pytest.param(
        {"time": {"start": "2027-01-01", "end": "2026-01-01"}},
        r"time: end \(2026-01-01\) is before start \(2027-01-01\)",
        id="dates-out-of-order",
    ),
    pytest.param(
        {"offers": {"it_mw_min": 50.0, "it_mw_max": 10.0}},
        r"offers: it_mw_min must not exceed it_mw_max",
        id="range-out-of-order",
    ),
    pytest.param(
        {"site": {"initial_asic_th": {"S9": 100.0}}}, r"initial_asic_th: unknown generation", id="unknown-gen"
    ),
    pytest.param(
        {"site": {"mining_ready_mw": 10.0}}, r"draws .* MW, more than mining_ready_mw", id="fleet-too-big"
    ),
    pytest.param(
        {"offers": {"window_days": 3.0}},
        r"offers.window_days must be at least time.decision_every_days",
        id="offer-window-shorter-than-epoch",
    ),
    pytest.param(
        {"network": {"initial_hashrate_eh_s": 1e300}},
        r"network\.initial_hashrate_eh_s: got 1e\+300; allowed: > 0\.0 and <= 1000000\.0",
        id="sanity-range-hashrate",
    ),
    pytest.param(
        {"finance": {"interest_rate_per_year": 1e6}},
        r"finance\.interest_rate_per_year: got 1000000\.0; allowed: >= 0\.0 and <= 10\.0",
        id="sanity-range-interest",
    ),
    pytest.param(
        {"btc_price": {"regimes": {"volatility_per_year": [0.5, 0.4, 1e9]}}},
        r"btc_price\.regimes\.volatility_per_year\[2\]: got 1000000000\.0; allowed",
        id="sanity-range-tuple-element",
    ),
    pytest.param(
        {"finance": {"pool_fee": float("nan")}},
        r"finance\.pool_fee: expected a finite number",
        id="nan-value",
    ),
]


@pytest.mark.parametrize(("override", "message"), BAD_INPUTS)
def test_bad_scenario_fails_on_load_naming_file_and_key(tmp_path: Path, override: dict, message: str) -> None:  # type: ignore[type-arg]
    path = _write(tmp_path, override)
    with pytest.raises(ScenarioError, match=message) as info:
        load_scenario(path)
    assert str(path) in str(info.value)


def test_missing_required_key(tmp_path: Path) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text(yaml.safe_dump({"name": "bare", "description": "x"}))
    with pytest.raises(ScenarioError, match=r"bare\.yaml: time: missing required key"):
        load_scenario(path)


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ScenarioError, match="must be a mapping"):
        load_scenario(listing)


def test_extends_a_catalogue_scenario_from_elsewhere(tmp_path: Path) -> None:
    path = _write(tmp_path, {"name": "mine", "site": {"pue_hpc": 1.25}})
    p = load_scenario(path)
    assert p.name == "mine" and p.site.pue_hpc == 1.25
    assert p.site.interconnection_mw == load_scenario("default").site.interconnection_mw


def test_scientific_notation_is_a_number(tmp_path: Path) -> None:
    path = tmp_path / "sci.yaml"
    path.write_text("extends: default\nfinance:\n  credit_limit_usd: 2e8\n")
    assert load_scenario(path).finance.credit_limit_usd == 2e8


def test_a_site_that_would_move_the_network_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, {"network": {"initial_hashrate_eh_s": 300.0}})
    with pytest.raises(ScenarioError, match=r"site: .* not under 1% of network.initial_hashrate_eh_s"):
        load_scenario(path)


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" + "".join(
    f"{chr(99 + i)}: &{chr(99 + i)} [{', '.join(['*' + chr(98 + i)] * 9)}]\n" for i in range(7)
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "extends: default\ndescription: x\nsources:\n  " + BILLION_LAUGHS.replace("\n", "\n  "),
            "anchors and aliases",
        ),
        ("extends: default\nname: d\n" + "x: " + "[" * 10_000 + "]" * 10_000 + "\n", "nesting deeper"),
        (b"extends: default\nname: \xff\xfe\n", "not UTF-8"),
        ("extends: default\nname: big\ndescription: " + "x" * (2 << 20) + "\n", "at most"),
        (
            "extends: default\nname: huge\nbtc_price:\n  initial_usd: 1.0e308\n",
            r"initial_usd: got 1e\+308; allowed",
        ),
        (
            "extends: default\nname: digits\nnetwork:\n  initial_height: " + "9" * 5000 + "\n",
            "unreadable value",
        ),
    ],
    ids=["aliases", "deep", "not-utf8", "too-large", "overflow", "huge-integer"],
)
def test_hostile_scenario_files_fail_fast_with_the_file_named(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(path)
    assert str(path) in str(err.value)
    assert len(str(err.value)) <= 800


def test_long_values_are_cut_in_error_messages(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text("extends: default\nname: long\ntime:\n  dt_days: '" + "9" * 100_000 + "'\n")
    with pytest.raises(ScenarioError, match="characters cut") as err:
        load_scenario(path)
    assert len(str(err.value)) < 800


def test_a_file_without_a_name_takes_its_own(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("extends: tiny\ndescription: my own world\n")
    assert load_scenario(path).name == "mine"


def test_the_finite_check_refuses_a_series_that_overflows(default_params) -> None:  # type: ignore[no-untyped-def]
    """The finite check behind the ranges: parameters built past the loader's checks."""
    import dataclasses

    from hybridrl.sim.params import check_simulates

    price = dataclasses.replace(default_params.btc_price, initial_usd=1e308)
    with pytest.raises(ScenarioError, match="not finite within"):
        check_simulates(dataclasses.replace(default_params, btc_price=price), "x.yaml")
