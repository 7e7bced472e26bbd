"""Running policies over scenario paths and summarising what happened."""

from hybridrl.evaluation.rollout import RolloutResult, evaluate, rollout

__all__ = ["RolloutResult", "evaluate", "rollout"]
