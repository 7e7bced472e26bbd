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


def expert_policy(name: str) -> Policy:
    """A fresh policy an imitation warm start may clone: a rule policy by name, or an MPC as
    ``mpc_<forecaster>`` (no peeking expert; the oracle is not one)."""
    if name in RULE_POLICIES:
        return RULE_POLICIES[name]
    if name.startswith("mpc_"):
        from hybridrl.baselines.mpc import mpc_with

        return mpc_with(name.removeprefix("mpc_"))
    raise ValueError(f"unknown expert {name!r}: a rule policy ({list(RULE_POLICIES)}) or mpc_<forecaster>")


__all__ = [
    "RULE_POLICIES",
    "AlwaysMine",
    "Greedy",
    "HashpriceThreshold",
    "Policy",
    "StaticSplit",
    "expert_policy",
]
