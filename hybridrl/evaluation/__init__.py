"""Running policies over scenario paths and summarising what happened."""

from hybridrl.evaluation.rollout import PlanPolicy, RolloutResult, evaluate, evaluate_oracle, rollout

__all__ = ["PlanPolicy", "RolloutResult", "evaluate", "evaluate_oracle", "rollout"]
