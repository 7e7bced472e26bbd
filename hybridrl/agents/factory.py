"""Stable-baselines3 pieces built from typed configs: vectorised environments and agents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecNormalize

from hybridrl.agents.config import (
    AgentConfig,
    Algo,
    EnvMode,
    OnPolicyConfig,
    RecurrentPPOConfig,
    TD3Config,
    VecEnvKind,
)
from hybridrl.agents.files import NORMALIZER_FILE, VECNORMALIZE_FILE
from hybridrl.agents.policy import ObservationNormalizer
from hybridrl.env import HybridMineEnv
from hybridrl.sim.params import ScenarioParams


def algorithm_class(algo: Algo | str) -> type[BaseAlgorithm]:
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import A2C, PPO, SAC, TD3

    classes: dict[Algo, type[BaseAlgorithm]] = {
        Algo.ppo: PPO,
        Algo.sac: SAC,
        Algo.td3: TD3,
        Algo.a2c: A2C,
        Algo.recurrent_ppo: RecurrentPPO,
    }
    return classes[Algo(algo)]


class _MakeEnv:
    """Picklable environment constructor (SubprocVecEnv sends it to worker processes)."""

    def __init__(self, params: ScenarioParams, mode: EnvMode = EnvMode.step) -> None:
        self.params = params
        self.mode = mode

    def __call__(self) -> Monitor:
        if self.mode.epoch_action is not None:
            from hybridrl.env.epoch_env import DecisionEpochEnv

            return Monitor(DecisionEpochEnv(self.params, action=self.mode.epoch_action))
        return Monitor(HybridMineEnv(self.params))


def make_vec_env(
    params: ScenarioParams, n_envs: int, kind: VecEnvKind = VecEnvKind.dummy, mode: EnvMode = EnvMode.step
) -> VecEnv:
    """``n_envs`` training environments of ``params`` in ``mode``, stepped as ``kind`` says."""
    if kind is VecEnvKind.native:
        from hybridrl.agents.native_vec import NativeVecEnv

        return NativeVecEnv(params, n_envs, epoch_action=mode.epoch_action)
    fns = [_MakeEnv(params, mode) for _ in range(n_envs)]
    return DummyVecEnv(fns) if kind is VecEnvKind.dummy else SubprocVecEnv(fns)  # type: ignore[arg-type]


def seed_paths(venv: VecEnv, seeds: list[int]) -> None:
    """Environment i starts on the path of ``seeds[i]`` at the next reset and then draws that
    seed's children (see :mod:`hybridrl.agents.seeds`). Call it after building the model: SB3
    re-seeds the environments with the agent's seed when it builds one."""
    if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
        raise ValueError("SB3 seeds environments consecutively; pass consecutive seeds")
    venv.seed(seeds[0])


def wrap_normalize(venv: VecEnv, gamma: float, stats_file: Path | None = None) -> VecNormalize:
    """VecNormalize over observations and rewards; statistics restored from ``stats_file``."""
    if stats_file is not None:
        vecnorm = VecNormalize.load(str(stats_file), venv)
        vecnorm.training = True
        return vecnorm
    return VecNormalize(venv, norm_obs=True, norm_reward=True, gamma=gamma, clip_obs=10.0)


def make_model(agent: AgentConfig, venv: VecEnv, seed: int, device: str = "cpu") -> BaseAlgorithm:
    cls = algorithm_class(agent.algo)
    policy_kwargs: dict[str, Any] = {"net_arch": list(agent.net_arch)}
    if isinstance(agent, OnPolicyConfig):
        policy_kwargs["log_std_init"] = agent.log_std_init
    kwargs = agent.sb3_kwargs()
    policy = "MlpPolicy"
    if isinstance(agent, RecurrentPPOConfig):
        policy = "MlpLstmPolicy"
        policy_kwargs.update(lstm_hidden_size=agent.lstm_hidden_size, n_lstm_layers=agent.n_lstm_layers)
    if isinstance(agent, TD3Config):
        from stable_baselines3.common.noise import NormalActionNoise

        n = venv.action_space.shape[0]  # type: ignore[index]
        kwargs["action_noise"] = NormalActionNoise(np.zeros(n), agent.action_noise_std * np.ones(n))
    return cls(policy, venv, seed=seed, device=device, verbose=0, policy_kwargs=policy_kwargs, **kwargs)


def save_normalizer(vecnorm: VecNormalize, folder: Path) -> None:
    """VecNormalize statistics as SB3's pickle (to resume) and as JSON (for the export and the
    evaluator, which never unpickle)."""
    vecnorm.save(str(folder / VECNORMALIZE_FILE))
    rms = vecnorm.obs_rms
    assert not isinstance(rms, dict), "HybridMineEnv observations are a Box, not a Dict"
    ObservationNormalizer.from_vecnormalize(vecnorm).to_json(folder / NORMALIZER_FILE, count=float(rms.count))
