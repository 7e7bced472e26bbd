"""A native Gymnasium vector environment: N paths stepped by the batched plant and encoder.

``gym.make_vec("hybridrl/HybridMine-v1", num_envs=N, scenario=...)`` returns it. Row i behaves
exactly as a :class:`~hybridrl.env.hybrid_mine.HybridMineEnv` would inside a
``SyncVectorEnv`` in same-step autoreset mode: ``reset(seed=s)`` gives row i the path of seed
``s + i``; each row then draws its next paths from its own stream (the children of its seed);
when a row's episode ends (the horizon, or bankruptcy) its final observation and info go to
``info["final_obs"]`` and ``info["final_info"]`` and the row restarts at once, without touching
the others. Per-row ``info`` uses Gymnasium's vector format (arrays with ``_key`` masks).

Rows whose episodes started at the same step share one plant batch ("group"); a row that ends
early (bankruptcy) restarts in a group of its own, so every group steps with one call of the
plant, the decoder and the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from hybridrl.env.encoding import (
    OBS_BOUND,
    ObservationEncoder,
    action_names,
    decode_action,
    observation_names,
)
from hybridrl.env.hybrid_mine import USD_PER_REWARD_UNIT, PathStream, step_info
from hybridrl.sim.exogenous import ExogenousPath, stack_paths
from hybridrl.sim.params import ScenarioParams, load_scenario
from hybridrl.sim.plant import Plant, PlantState

FloatArray = NDArray[np.float64]


@dataclass
class RowStep:
    """One step of every row, with per-row infos (:meth:`HybridMineVectorEnv.step_rows`)."""

    obs: NDArray[np.float32]
    rewards: FloatArray
    terminated: NDArray[np.bool_]
    truncated: NDArray[np.bool_]
    infos: list[dict[str, Any]]
    """each row's step info (for a row that ended: its final step's)"""
    final_obs: list[NDArray[np.float32] | None]
    """the last observation of each row that ended (None for the others)"""
    reset_infos: list[dict[str, Any]]
    """the reset info of each row that restarted (empty for the others)"""


@dataclass
class _Group:
    """Rows whose episodes are at the same step, as one batch."""

    rows: NDArray[np.int64]
    path: ExogenousPath
    state: PlantState
    nav0: FloatArray
    nav: FloatArray
    exogenous: NDArray[np.float32]
    """(B, T+1, n_exo) the path's exogenous observation columns"""

    def keep(self, mask: NDArray[np.bool_]) -> _Group:
        idx = np.flatnonzero(mask)
        return _Group(
            rows=self.rows[idx],
            path=self.path.rows(idx),
            state=self.state.rows(idx),
            nav0=self.nav0[idx],
            nav=self.nav[idx],
            exogenous=self.exogenous[idx],
        )


class HybridMineVectorEnv(VectorEnv):
    """N hybrid mines in one batch (module docstring). Spaces and units as the single env's."""

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP}  # noqa: RUF012 - gymnasium convention

    def __init__(self, num_envs: int = 1, scenario: str | ScenarioParams = "default") -> None:
        if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.num_envs = num_envs
        self.params = scenario if isinstance(scenario, ScenarioParams) else load_scenario(scenario)
        self.plant = Plant(self.params)
        self._encoder = ObservationEncoder(self.plant)
        self.action_names = action_names(self.plant)
        self.observation_names = observation_names(self.plant)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (len(self.action_names),), np.float32)
        self.single_observation_space = gym.spaces.Box(
            -OBS_BOUND, OBS_BOUND, (len(self.observation_names),), np.float32
        )
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._streams = [PathStream(self.params) for _ in range(num_envs)]
        self._groups: list[_Group] = []

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Every row starts a new episode: on seed ``seed + i`` (or ``seed[i]``), or on its
        stream's next path."""
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; the vector env takes none")
        seeds: list[int | None]
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed needs {self.num_envs} values, got {len(seeds)}")
        group = self._start(np.arange(self.num_envs), seeds)
        self._groups = [group]
        obs = np.zeros((self.num_envs, len(self.observation_names)), dtype=np.float32)
        rows: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self._observe_start(group, obs, rows)
        infos: dict[str, Any] = {}
        for i, info in enumerate(rows):
            self._add_info(infos, info, i)
        return obs, infos

    def step(
        self, actions: NDArray[Any]
    ) -> tuple[NDArray[np.float32], FloatArray, NDArray[np.bool_], NDArray[np.bool_], dict[str, Any]]:
        out = self.step_rows(actions)
        infos: dict[str, Any] = {}
        for i in range(self.num_envs):
            if out.terminated[i]:
                self._add_info(infos, {"final_obs": out.final_obs[i], "final_info": out.infos[i]}, i)
                self._add_info(infos, out.reset_infos[i], i)
            else:
                self._add_info(infos, out.infos[i], i)
        return out.obs, out.rewards, out.terminated, out.truncated, infos

    def step_rows(self, actions: NDArray[Any]) -> RowStep:
        """:meth:`step` with one info dict per row instead of Gymnasium's vector format (what
        the SB3 adapter reads): a row that ended has its final observation and info, its
        ``obs`` and ``reset_infos`` entry are the new episode's."""
        if not self._groups:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(f"actions must have shape {self.action_space.shape}, got {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError("actions contain NaN or infinity")
        clipped_a = np.minimum(np.maximum(a, -1.0), 1.0)
        excess = np.minimum(np.abs(a - clipped_a), np.finfo(np.float64).max / a.shape[1]).sum(axis=1)
        n = self.num_envs
        out = RowStep(
            obs=np.zeros((n, len(self.observation_names)), dtype=np.float32),
            rewards=np.zeros(n),
            terminated=np.zeros(n, dtype=bool),
            truncated=np.zeros(n, dtype=bool),
            infos=[{} for _ in range(n)],
            final_obs=[None] * n,
            reset_infos=[{} for _ in range(n)],
        )
        groups, ended = [], []
        for group in self._groups:
            group, done = self._step_group(group, clipped_a, excess, out)
            if not done.all():
                groups.append(group.keep(~done) if done.any() else group)
            ended.append(group.rows[done])
        restart = np.sort(np.concatenate(ended)) if ended else np.zeros(0, dtype=np.int64)
        if restart.size:
            new = self._start(restart, [None] * restart.size)
            self._observe_start(new, out.obs, out.reset_infos)
            groups.append(new)
        self._groups = groups
        return out

    def row_path(self, i: int) -> ExogenousPath:
        """The path row ``i`` is on now (a batch of one)."""
        for group in self._groups:
            where = np.flatnonzero(group.rows == i)
            if where.size:
                return group.path.rows(int(where[0]))
        raise RuntimeError("call reset() first")

    # ------------------------------------------------------------------ internals

    def _start(self, rows: NDArray[np.int64], seeds: list[int | None]) -> _Group:
        paths = [self._streams[int(r)].next(s) for r, s in zip(rows, seeds, strict=True)]
        path = stack_paths(paths)
        state = self.plant.initial_state(len(rows))
        nav0 = self.plant.nav_usd(state, path)
        return _Group(
            rows=np.asarray(rows, dtype=np.int64),
            path=path,
            state=state,
            nav0=nav0,
            nav=nav0,
            exogenous=self._encoder.exogenous(path, slice(None)),
        )

    def _observe_start(self, group: _Group, obs: NDArray[np.float32], infos: list[dict[str, Any]]) -> None:
        obs[group.rows] = self._encoder(group.state, group.path, group.nav, group.nav0, group.exogenous[:, 0])
        date = str(group.path.dates[0])
        for b, row in enumerate(group.rows):
            infos[int(row)] = {"nav_usd": float(group.nav[b]), "date": date}

    def _step_group(
        self, group: _Group, actions: FloatArray, excess: FloatArray, out: RowStep
    ) -> tuple[_Group, NDArray[np.bool_]]:
        native = decode_action(self.plant, group.state, group.path, actions[group.rows])
        stepped = self.plant.step(group.state, native, group.path)
        nav = self.plant.nav_usd(stepped.state, group.path)
        rows = group.rows
        out.rewards[rows] = (nav - group.nav) / USD_PER_REWARD_UNIT
        done = stepped.state.bankrupt | (stepped.state.t >= group.path.n_steps)
        out.terminated[rows] = done
        t = stepped.state.t
        row_obs = self._encoder(stepped.state, group.path, nav, group.nav0, group.exogenous[:, t])
        out.obs[rows] = row_obs
        for b, row in enumerate(rows):
            out.infos[int(row)] = step_info(stepped, nav, b, float(excess[row]))
            if done[b]:
                out.final_obs[int(row)] = row_obs[b]
        return _Group(rows, group.path, stepped.state, group.nav0, nav, group.exogenous), done
