"""hybridrl: a reinforcement-learning lab for hybrid Bitcoin-mining / AI-compute sites.

Importing the package registers ``hybridrl/HybridMine-v0`` with Gymnasium.
"""

import gymnasium as gym

__version__ = "0.1.0.dev0"
ENV_ID = "hybridrl/HybridMine-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="hybridrl.env.hybrid_mine:HybridMineEnv")

__all__ = ["ENV_ID", "__version__"]
