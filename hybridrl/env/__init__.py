"""Gymnasium-facing layer: the environment and its action/observation encoding."""

from hybridrl.env.hybrid_mine import HybridMineEnv

__all__ = ["HybridMineEnv"]
