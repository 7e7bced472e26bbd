"""stable-baselines3's ``VecEnv`` over the native vector environment (``vec_env=native``).

SB3 steps it as it steps a ``DummyVecEnv`` of ``Monitor``-wrapped single environments, with
the same results up to floating-point rounding: one info dict per row, ``TimeLimit.truncated``
in each, and for a row whose episode ended the final step's info with its
``terminal_observation`` and Monitor's ``episode`` record (the row has already restarted, its
observation is the new episode's first). ``seed(s)`` makes the next
``reset()`` put row i on the path of seed ``s + i``, as SB3 seeds a ``DummyVecEnv``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from hybridrl.env.vector import HybridMineVectorEnv
from hybridrl.sim.params import ScenarioParams


class NativeVecEnv(VecEnv):
    """SB3 adapter of :class:`~hybridrl.env.vector.HybridMineVectorEnv` (module docstring), or
    with an ``epoch_action`` of its decision-epoch version
    :class:`~hybridrl.env.epoch_vector.HybridMineEpochVectorEnv`."""

    def __init__(self, scenario: str | ScenarioParams, n_envs: int, epoch_action: str | None = None) -> None:
        if epoch_action is not None:
            from hybridrl.env.epoch_vector import HybridMineEpochVectorEnv

            self.venv: HybridMineVectorEnv = HybridMineEpochVectorEnv(
                n_envs, scenario=scenario, action=epoch_action
            )
        else:
            self.venv = HybridMineVectorEnv(n_envs, scenario=scenario)
        super().__init__(n_envs, self.venv.single_observation_space, self.venv.single_action_space)
        n_actions = int(np.prod(self.venv.action_space.shape or (0,))) // n_envs
        self._actions: NDArray[Any] = np.zeros((n_envs, n_actions), dtype=np.float32)
        self._returns = np.zeros(n_envs)
        self._lengths = np.zeros(n_envs, dtype=np.int64)
        self._t_start = time.time()

    def reset(self) -> NDArray[np.float32]:
        seeds = list(self._seeds) if any(s is not None for s in self._seeds) else None
        obs, self.reset_infos = self.venv.reset_rows(seed=seeds)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: NDArray[Any]) -> None:
        self._actions = np.asarray(actions).reshape(self._actions.shape)

    def step_wait(self) -> VecEnvStepReturn:
        step = self.venv.step_rows(self._actions)
        dones = step.terminated | step.truncated
        self._returns += step.rewards
        self._lengths += 1
        for i in np.flatnonzero(dones):
            info = step.infos[i]
            info["terminal_observation"] = step.final_obs[i]
            info["episode"] = {  # as SB3's Monitor reports an episode
                "r": round(float(self._returns[i]), 6),
                "l": int(self._lengths[i]),
                "t": round(time.time() - self._t_start, 6),
            }
            self._returns[i], self._lengths[i] = 0.0, 0
            self.reset_infos[i] = step.reset_infos[i]
        for row, info in enumerate(step.infos):
            info["TimeLimit.truncated"] = bool(step.truncated[row] and not step.terminated[row])
        return step.obs, step.rewards.astype(np.float32), dones, step.infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The vector env's attribute, once per row asked for (every row shares it)."""
        return [getattr(self.venv, attr_name, None) for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise NotImplementedError("the rows of the native vector env share their attributes")

    def env_method(
        self, method_name: str, *args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        result = getattr(self.venv, method_name)(*args, **kwargs)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: VecEnvIndices) -> Sequence[int] | Iterable[int]:
        return self._get_indices(indices)
