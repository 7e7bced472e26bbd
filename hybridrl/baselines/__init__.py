"""Policies to compare learned agents against: rule-based policies (``rules``), the
perfect-foresight MILP oracle (``oracle``) and the rolling-horizon MPC (``mpc``, ``forecast``)."""

from hybridrl.baselines.rules import (
    RULE_POLICIES,
    AlwaysMine,
    Greedy,
    HashpriceThreshold,
    Policy,
    StaticSplit,
)

__all__ = ["RULE_POLICIES", "AlwaysMine", "Greedy", "HashpriceThreshold", "Policy", "StaticSplit"]
