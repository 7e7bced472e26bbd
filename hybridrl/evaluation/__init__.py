"""Running policies over scenario paths and summarising what happened."""

from hybridrl.evaluation.rollout import (
    PlanPolicy,
    RecordingPolicy,
    RolloutResult,
    Trajectory,
    evaluate,
    evaluate_oracle,
    rollout,
)

__all__ = [
    "PlanPolicy",
    "RecordingPolicy",
    "RolloutResult",
    "Trajectory",
    "evaluate",
    "evaluate_oracle",
    "rollout",
]
