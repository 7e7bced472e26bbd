"""The native vector environment of the decision-epoch mode: N paths, one agent step per
investment epoch (``gym.make_vec("hybridrl/HybridMineEpoch-v1", num_envs=N, scenario=...)``).

Row i behaves exactly as a :class:`~hybridrl.env.epoch_env.DecisionEpochEnv` would inside a
``SyncVectorEnv`` in same-step autoreset mode, with the seeding, autoreset and per-row ``info``
of :class:`~hybridrl.env.vector.HybridMineVectorEnv`: an agent step decodes the epoch's
investments, then steps the whole group through the epoch with the economics rule's dispatch
(:func:`~hybridrl.baselines.rules.rule_dispatch`), one plant call per day for all rows. A row
that goes bankrupt inside an epoch ends there, as the single env does; the others finish the
epoch. ``info`` holds the epoch's sums as the single env's does (cash-flow terms, BTC mined,
clipping) and ``steps``, the plant steps the epoch covered.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from hybridrl.baselines.rules import rule_dispatch
from hybridrl.env.epoch_encoding import (
    decode_epoch,
    epoch_observation,
)
from hybridrl.env.epoch_env import epoch_spaces
from hybridrl.env.hybrid_mine import USD_PER_REWARD_UNIT
from hybridrl.env.vector import HybridMineVectorEnv, _Group, _GroupStep
from hybridrl.sim.information import PathReveal, PathView
from hybridrl.sim.params import ScenarioParams
from hybridrl.sim.plant import CASH_FLOW_TERMS, StepOutcome

FloatArray = NDArray[np.float64]
CLIP_DUST = 1e-9
"""A clipped amount at or below this is not reported (as :func:`~hybridrl.env.hybrid_mine.step_info`)."""


@dataclasses.dataclass
class _EpochSums:
    """What an epoch adds up per row: rewards, cash-flow terms, BTC mined, clipping."""

    rewards: FloatArray
    terms: dict[str, FloatArray]
    btc: FloatArray
    clipped: dict[str, FloatArray]
    steps: NDArray[np.int64]

    @classmethod
    def first(cls, stepped: StepOutcome, rewards: FloatArray) -> _EpochSums:
        return cls(
            rewards=rewards.copy(),
            terms={k: stepped.cash_flows_usd[k].copy() for k in CASH_FLOW_TERMS},
            btc=stepped.btc_mined.copy(),
            clipped={k: _reported(v) for k, v in stepped.clipped.items()},
            steps=np.ones(rewards.shape, dtype=np.int64),
        )

    def add(self, stepped: StepOutcome, rewards: FloatArray) -> None:
        self.rewards += rewards
        for k in CASH_FLOW_TERMS:
            self.terms[k] += stepped.cash_flows_usd[k]
        self.btc += stepped.btc_mined
        for k, v in stepped.clipped.items():
            self.clipped[k] = self.clipped.get(k, np.zeros_like(v)) + _reported(v)
        self.steps += 1

    def rows(self, idx: NDArray[np.intp]) -> _EpochSums:
        return _EpochSums(
            self.rewards[idx],
            {k: v[idx] for k, v in self.terms.items()},
            self.btc[idx],
            {k: v[idx] for k, v in self.clipped.items()},
            self.steps[idx],
        )

    def outcome(self, last: StepOutcome) -> StepOutcome:
        """The epoch as one outcome: the last step's state and power, the epoch's sums."""
        return dataclasses.replace(last, cash_flows_usd=self.terms, btc_mined=self.btc, clipped=self.clipped)


def _reported(v: FloatArray) -> FloatArray:
    return np.where(v > CLIP_DUST, v, 0.0)


class HybridMineEpochVectorEnv(HybridMineVectorEnv):
    """N decision-epoch mines in one batch (module docstring); spaces and ``action`` as the
    single :class:`~hybridrl.env.epoch_env.DecisionEpochEnv`'s."""

    def __init__(
        self, num_envs: int = 1, scenario: str | ScenarioParams = "default", action: str = "investments"
    ) -> None:
        super().__init__(num_envs, scenario)
        self.epoch_action = action
        spaces = epoch_spaces(self.plant, action)
        self.action_names, self.observation_names, self.single_action_space, self.single_observation_space = (
            spaces
        )
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._reveals: dict[int, tuple[Any, PathReveal]] = {}

    def _view(self, group: _Group) -> PathView:
        """What the group's rows know today (one reveal per batch of paths, kept while used)."""
        entry = self._reveals.get(id(group.path))
        if entry is None or entry[0] is not group.path:
            entry = self._reveals[id(group.path)] = (group.path, PathReveal(group.path))
        return entry[1].view(group.state.t)

    def _first_obs(self, group: _Group) -> NDArray[np.float32]:
        return self._epoch_obs(group, super()._first_obs(group))

    def _epoch_obs(self, group: _Group, observation: NDArray[np.float32]) -> NDArray[np.float32]:
        return epoch_observation(self.plant, group.state, self._view(group), observation, group.nav0)

    def _step_groups(self, group: _Group, actions: FloatArray, excess: FloatArray) -> list[_GroupStep]:
        """Decode the epoch's investments, then step the group with the rule's dispatch to the
        next decision epoch; rows that go bankrupt on the way end there (their own step)."""
        native = decode_epoch(
            self.plant, group.state, self._view(group), actions[group.rows], self.epoch_action
        )
        excess = excess[group.rows]
        ended: list[_GroupStep] = []
        sums: _EpochSums | None = None
        while True:
            stepped = self.plant.step(group.state, native, group.path)
            nav = self.plant.nav_usd(stepped.state, group.path)
            rewards = (nav - group.nav) / USD_PER_REWARD_UNIT
            if sums is None:
                sums = _EpochSums.first(stepped, rewards)
            else:
                sums.add(stepped, rewards)
            group = _Group(group.rows, group.path, stepped.state, group.nav0, nav, group.exogenous)
            t = stepped.state.t
            if t >= group.path.n_steps or self.plant.is_decision_epoch(t):
                done = stepped.state.bankrupt | (t >= group.path.n_steps)
                return [*ended, self._epoch_step(group, stepped, sums, done, excess)]
            broke = stepped.state.bankrupt
            if broke.all():
                return [*ended, self._epoch_step(group, stepped, sums, broke, excess)]
            if broke.any():
                idx = np.flatnonzero(broke)
                done = np.ones(idx.size, dtype=bool)
                ended.append(
                    self._epoch_step(
                        group.keep(broke), _outcome_rows(stepped, idx), sums.rows(idx), done, excess[idx]
                    )
                )
                live = np.flatnonzero(~broke)
                group, sums, excess = group.keep(~broke), sums.rows(live), excess[live]
            native = rule_dispatch(self.plant, group.state, self._view(group))

    def _epoch_step(
        self, group: _Group, last: StepOutcome, sums: _EpochSums, done: NDArray[np.bool_], excess: FloatArray
    ) -> _GroupStep:
        t = group.state.t
        observation = self._encoder(group.state, group.path, group.nav, group.nav0, group.exogenous[:, t])
        return _GroupStep(
            group=group,
            outcome=sums.outcome(last),
            rewards=sums.rewards,
            done=done,
            obs=self._epoch_obs(group, observation),
            excess=excess,
            extra={"steps": sums.steps},
        )

    def _after_step(self) -> None:
        """Forget the reveals of batches no group steps any more."""
        live = {id(g.path) for g in self._groups}
        self._reveals = {k: v for k, v in self._reveals.items() if k in live}


def _outcome_rows(full: StepOutcome, idx: NDArray[np.intp]) -> StepOutcome:
    """Rows ``idx`` of a step's outcome."""
    arrays = {
        f.name: getattr(full, f.name)[idx]
        for f in dataclasses.fields(full)
        if isinstance(getattr(full, f.name), np.ndarray)
    }
    return dataclasses.replace(
        full,
        state=full.state.rows(idx),
        cash_flows_usd={k: v[idx] for k, v in full.cash_flows_usd.items()},
        clipped={k: v[idx] for k, v in full.clipped.items()},
        **arrays,
    )
