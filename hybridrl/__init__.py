"""hybridrl: a reinforcement-learning lab for hybrid Bitcoin-mining / AI-compute sites.

Importing the package registers ``hybridrl/HybridMine-v1`` (and its decision-epoch mode
``hybridrl/HybridMineEpoch-v1``) with Gymnasium: at once when
Gymnasium is already imported, otherwise as soon as it is. The package itself does not import
Gymnasium, so that the production runtime (:mod:`hybridrl.scheduler`) loads only numpy and
onnxruntime.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

__version__ = "0.1.0.dev0"
ENV_ID = "hybridrl/HybridMine-v1"
EPOCH_ENV_ID = "hybridrl/HybridMineEpoch-v1"
"""The decision-epoch mode: one agent step per investment epoch, dispatch by the economics rule."""
GREEDY_HYBRID_ENV_ID = "hybridrl/HybridMineGreedyHybrid-v1"
"""The decision-epoch mode whose agent sets the greedy rule's parameters each epoch (a hybrid)."""


def _register() -> None:
    import gymnasium as gym

    if ENV_ID not in gym.registry:
        gym.register(
            id=ENV_ID,
            entry_point="hybridrl.env.hybrid_mine:HybridMineEnv",
            vector_entry_point="hybridrl.env.vector:HybridMineVectorEnv",
        )
    if EPOCH_ENV_ID not in gym.registry:
        gym.register(
            id=EPOCH_ENV_ID,
            entry_point="hybridrl.env.epoch_env:DecisionEpochEnv",
            vector_entry_point="hybridrl.env.epoch_vector:HybridMineEpochVectorEnv",
        )
    if GREEDY_HYBRID_ENV_ID not in gym.registry:
        gym.register(
            id=GREEDY_HYBRID_ENV_ID,
            entry_point="hybridrl.env.epoch_env:DecisionEpochEnv",
            vector_entry_point="hybridrl.env.epoch_vector:HybridMineEpochVectorEnv",
            kwargs={"action": "greedy_parameters"},
        )


class _RegisterWhenGymnasiumLoads(importlib.abc.MetaPathFinder):
    """Registers the environment right after ``gymnasium`` is first imported."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "gymnasium":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_register(module: ModuleType) -> None:
            exec_module(module)
            _register()

        loader.exec_module = exec_and_register  # type: ignore[method-assign]
        return spec


if "gymnasium" in sys.modules:
    _register()
elif not any(isinstance(f, _RegisterWhenGymnasiumLoads) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenGymnasiumLoads())

__all__ = ["ENV_ID", "EPOCH_ENV_ID", "GREEDY_HYBRID_ENV_ID", "__version__"]
