"""Reinforcement-learning agents (stable-baselines3, needs the ``rl`` extra): typed training
configs, the training loop with checkpoints, resume, evaluation and W&B logging, and a trained
network as a :class:`~hybridrl.baselines.rules.Policy`.

Importing this package loads neither torch nor SB3; :mod:`hybridrl.agents.training` and
:mod:`hybridrl.agents.factory` do.
"""

from hybridrl.agents.config import ConfigError, TrainConfig
from hybridrl.agents.policy import NetworkPolicy, load_trained_policy

__all__ = ["ConfigError", "NetworkPolicy", "TrainConfig", "load_trained_policy"]
