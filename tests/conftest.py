from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybridrl.sim import ScenarioParams, load_scenario

DATA_DIR = Path(os.environ.get("HYBRIDRL_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
COINMETRICS_CSV = DATA_DIR / "btc_daily_coinmetrics.csv"


@pytest.fixture(scope="session")
def default_params() -> ScenarioParams:
    return load_scenario("default")


@pytest.fixture(scope="session")
def tiny_params() -> ScenarioParams:
    return load_scenario("tiny")
