"""Policies to compare learned agents against (rule-based now; MILP oracle and MPC to follow)."""

from hybridrl.baselines.rules import AlwaysMine, Policy

__all__ = ["AlwaysMine", "Policy"]
