"""Gymnasium-facing layer: the environment and its action/observation encoding.

``hybridrl.env.encoding`` is numpy only; ``HybridMineEnv`` (which imports Gymnasium) loads on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridrl.env.hybrid_mine import HybridMineEnv

__all__ = ["HybridMineEnv"]


def __getattr__(name: str) -> Any:
    if name == "HybridMineEnv":
        from hybridrl.env.hybrid_mine import HybridMineEnv

        return HybridMineEnv
    raise AttributeError(f"module 'hybridrl.env' has no attribute {name!r}")
