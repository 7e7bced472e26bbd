"""Every rule-based policy runs on every scenario and keeps the books closed."""

from __future__ import annotations

import numpy as np
import pytest

from hybridrl.baselines import RULE_POLICIES, StaticSplit
from hybridrl.evaluation import rollout
from hybridrl.sim import CASH_FLOW_TERMS, Plant, list_scenarios, load_scenario, sample_paths


@pytest.mark.parametrize("scenario", list_scenarios())
@pytest.mark.parametrize("name", sorted(RULE_POLICIES))
def test_rule_policy_runs_and_ledger_closes(scenario: str, name: str) -> None:
    params = load_scenario(scenario)
    plant = Plant(params)
    path = sample_paths(params, [0, 1])
    result = rollout(plant, path, RULE_POLICIES[name])
    flows = sum(result.cash_flows_usd[k] for k in CASH_FLOW_TERMS)
    np.testing.assert_allclose(result.cash_profit_usd, flows, rtol=1e-9, atol=0.01)
    assert np.all(result.steps > 0) and np.all(np.isfinite(result.nav_change_usd))
    assert np.all(result.btc_mined >= 0) and np.all(
        (result.ai_energy_share >= 0) & (result.ai_energy_share <= 1)
    )


def test_policies_that_invest_do_build_ai_capacity() -> None:
    params = load_scenario("default")
    plant = Plant(params)
    path = sample_paths(params, [0, 1, 2])
    for name in ("static_split", "hashprice_threshold", "greedy"):
        assert np.all(rollout(plant, path, RULE_POLICIES[name]).ai_energy_share > 0.05), name
    assert np.all(rollout(plant, path, RULE_POLICIES["always_mine"]).ai_energy_share == 0)


def test_static_split_rejects_a_bad_share() -> None:
    with pytest.raises(ValueError, match="ai_share"):
        StaticSplit(ai_share=1.5)
