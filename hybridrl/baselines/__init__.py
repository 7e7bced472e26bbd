"""Policies to compare learned agents against: rule-based now; MILP oracle and MPC to follow."""

from hybridrl.baselines.rules import (
    RULE_POLICIES,
    AlwaysMine,
    Greedy,
    HashpriceThreshold,
    Policy,
    StaticSplit,
)

__all__ = ["RULE_POLICIES", "AlwaysMine", "Greedy", "HashpriceThreshold", "Policy", "StaticSplit"]
