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
from typing import Any, NamedTuple

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
from hybridrl.env.hybrid_mine import USD_PER_REWARD_UNIT, PathStream, reset_info, step_info
from hybridrl.sim.exogenous import ExogenousPath, sample_paths
from hybridrl.sim.params import ScenarioParams, load_scenario
from hybridrl.sim.plant import CASH_FLOW_TERMS, Plant, PlantState, StepOutcome

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
        obs, rows = self.reset_rows(seed=seed, options=options)
        infos: dict[str, Any] = {}
        for i, info in enumerate(rows):
            self._add_info(infos, info, i)
        return obs, infos

    def reset_rows(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], list[dict[str, Any]]]:
        """:meth:`reset` with one info dict per row (what the SB3 adapter reads)."""
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
        return self._first_obs(group), [reset_info(group.nav, group.path, b) for b in range(self.num_envs)]

    def step(
        self, actions: NDArray[Any]
    ) -> tuple[NDArray[np.float32], FloatArray, NDArray[np.bool_], NDArray[np.bool_], dict[str, Any]]:
        obs, rewards, terminated, truncated, results, restarted = self._step_all(actions)
        n = self.num_envs
        infos: dict[str, Any] = {}
        for r in results:
            live, done = r.rows[~r.done], r.rows[r.done]
            if live.size:
                _put_info(infos, live, _batch_info(r, ~r.done), n)
            if done.size:
                _put_info(infos.setdefault("final_info", {}), done, _batch_info(r, r.done), n)
                infos.setdefault("_final_info", np.zeros(n, dtype=bool))[done] = True
                final_obs = infos.setdefault("final_obs", np.full(n, None, dtype=object))
                for ended in np.flatnonzero(r.done):
                    final_obs[r.rows[ended]] = r.obs[ended]
                infos.setdefault("_final_obs", np.zeros(n, dtype=bool))[done] = True
        if restarted is not None:
            for b, row in enumerate(restarted.rows.tolist()):
                self._add_info(infos, reset_info(restarted.nav, restarted.path, b), row)
        return obs, rewards, terminated, truncated, infos

    def step_rows(self, actions: NDArray[Any]) -> RowStep:
        """:meth:`step` with one info dict per row instead of Gymnasium's vector format (what
        the SB3 adapter reads): a row that ended has its final observation and info, its
        ``obs`` and ``reset_infos`` entry are the new episode's."""
        obs, rewards, terminated, truncated, results, restarted = self._step_all(actions)
        n = self.num_envs
        out = RowStep(
            obs, rewards, terminated, truncated, [{} for _ in range(n)], [None] * n, [{} for _ in range(n)]
        )
        for r in results:
            for b, row in enumerate(r.rows.tolist()):
                out.infos[row] = step_info(r.outcome, r.nav, b, float(r.excess[b]))
                out.infos[row].update({k: v[b].item() for k, v in r.extra.items()})
                if r.done[b]:
                    out.final_obs[row] = r.obs[b]
        if restarted is not None:
            for b, row in enumerate(restarted.rows.tolist()):
                out.reset_infos[row] = reset_info(restarted.nav, restarted.path, b)
        return out

    def _step_all(
        self, actions: NDArray[Any]
    ) -> tuple[
        NDArray[np.float32], FloatArray, NDArray[np.bool_], NDArray[np.bool_], list[_GroupStep], _Group | None
    ]:
        """Step every group; restart the rows that ended (in one new group, returned)."""
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
        obs = np.zeros((n, len(self.observation_names)), dtype=np.float32)
        rewards = np.zeros(n)
        terminated = np.zeros(n, dtype=bool)
        results = [r for group in self._groups for r in self._step_groups(group, clipped_a, excess)]
        groups = []
        for r in results:
            obs[r.rows] = r.obs
            rewards[r.rows] = r.rewards
            terminated[r.rows] = r.done
            if not r.done.all():
                groups.append(r.group.keep(~r.done) if r.done.any() else r.group)
        ended = [r.rows[r.done] for r in results if r.done.any()]
        restarted = None
        if ended:
            restart = np.sort(np.concatenate(ended))
            restarted = self._start(restart, [None] * restart.size)
            obs[restarted.rows] = self._first_obs(restarted)
            groups.append(restarted)
        self._groups = groups
        self._after_step()
        return obs, rewards, terminated, np.zeros(n, dtype=bool), results, restarted

    def row_path(self, i: int) -> ExogenousPath:
        """The path row ``i`` is on now (a batch of one)."""
        for group in self._groups:
            where = np.flatnonzero(group.rows == i)
            if where.size:
                return group.path.rows(int(where[0]))
        raise RuntimeError("call reset() first")

    # ------------------------------------------------------------------ internals

    def _start(self, rows: NDArray[np.int64], seeds: list[int | None]) -> _Group:
        # every restarting row's next seed, sampled in one batch (row b of a batch is exactly the
        # path of its seed alone)
        path = sample_paths(
            self.params, [self._streams[int(r)].next_seed(s) for r, s in zip(rows, seeds, strict=True)]
        )
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

    def _first_obs(self, group: _Group) -> NDArray[np.float32]:
        return self._encoder(group.state, group.path, group.nav, group.nav0, group.exogenous[:, 0])

    def _step_groups(self, group: _Group, actions: FloatArray, excess: FloatArray) -> list[_GroupStep]:
        """One agent step of a group: the results of its rows (a subclass may split them)."""
        return [self._step_group(group, actions, excess)]

    def _after_step(self) -> None:
        """Called once the groups of the next step are set (a subclass's bookkeeping)."""

    def _step_group(self, group: _Group, actions: FloatArray, excess: FloatArray) -> _GroupStep:
        native = decode_action(self.plant, group.state, group.path, actions[group.rows])
        stepped = self.plant.step(group.state, native, group.path)
        nav = self.plant.nav_usd(stepped.state, group.path)
        done = stepped.state.bankrupt | (stepped.state.t >= group.path.n_steps)
        t = stepped.state.t
        return _GroupStep(
            group=_Group(group.rows, group.path, stepped.state, group.nav0, nav, group.exogenous),
            outcome=stepped,
            rewards=(nav - group.nav) / USD_PER_REWARD_UNIT,
            done=done,
            obs=self._encoder(stepped.state, group.path, nav, group.nav0, group.exogenous[:, t]),
            excess=excess[group.rows],
        )


class _GroupStep(NamedTuple):
    """One group's step: the group after it, the plant's outcome and what it gives."""

    group: _Group
    outcome: StepOutcome
    rewards: FloatArray
    done: NDArray[np.bool_]
    obs: NDArray[np.float32]
    excess: FloatArray
    """action clipped away per row (sum over components)"""
    extra: dict[str, NDArray[Any]] = {}  # noqa: RUF012 - a NamedTuple's default, never mutated
    """further per-row ``info`` entries (a subclass's)"""

    @property
    def rows(self) -> NDArray[np.int64]:
        return self.group.rows

    @property
    def nav(self) -> FloatArray:
        return self.group.nav


def _put(infos: dict[str, Any], key: str, rows: NDArray[np.int64], values: Any, n: int) -> None:
    """Gymnasium's vector-format entry: ``infos[key][rows] = values`` and its ``_key`` mask."""
    value = np.asarray(values)
    if key not in infos:
        infos[key] = np.full(n, None, dtype=object) if value.dtype.kind == "O" else np.zeros(n, value.dtype)
        infos[f"_{key}"] = np.zeros(n, dtype=bool)
    infos[key][rows] = value
    infos[f"_{key}"][rows] = True


def _put_info(infos: dict[str, Any], rows: NDArray[np.int64], info: dict[str, Any], n: int) -> None:
    """Write a :func:`_batch_info` batch over ``rows`` into ``infos``
    (Gymnasium's vector format; a ``(values, mask)`` entry only where the mask holds)."""
    for key, value in info.items():
        if isinstance(value, dict):
            sub = infos.setdefault(key, {})
            for k, v in value.items():
                if isinstance(v, tuple):
                    values, mask = v
                    if mask.any():
                        _put(sub, k, rows[mask], values[mask], n)
                else:
                    _put(sub, k, rows, v, n)
            infos.setdefault(f"_{key}", np.zeros(n, dtype=bool))[rows] = True
        else:
            _put(infos, key, rows, value, n)


def _batch_info(r: _GroupStep, sel: NDArray[np.bool_]) -> dict[str, Any]:
    """:func:`~hybridrl.env.hybrid_mine.step_info`'s layout for the rows ``sel`` of a group, as
    arrays (the vector-format rendering; the parity tests check it against the single env's)."""
    out = r.outcome
    clipped: dict[str, Any] = {k: (v[sel], v[sel] > 1e-9) for k, v in out.clipped.items()}
    clipped["action"] = (r.excess[sel], r.excess[sel] > 0)
    return {
        "reward_terms": {k: out.cash_flows_usd[k][sel] for k in CASH_FLOW_TERMS},
        "nav_usd": r.nav[sel],
        "cash_usd": out.state.cash_usd[sel],
        "btc_mined": out.btc_mined[sel],
        "power_mw": {
            "asic": out.asic_power_mw[sel],
            "gpu": out.gpu_power_mw[sel],
            "lease": out.lease_power_mw[sel],
            "curtailed": out.curtailed_mw[sel],
            "limit": out.power_limit_mw[sel],
        },
        "site_share_of_network": out.site_share_of_network[sel],
        "clipped": clipped,
        "bankrupt": out.state.bankrupt[sel],
        "t": np.full(int(sel.sum()), out.state.t),
        **{k: v[sel] for k, v in r.extra.items()},
    }
