"""The decision-epoch environment: one agent step per investment epoch (``hybridrl/HybridMineEpoch-v1``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from hybridrl.baselines.rules import rule_dispatch
from hybridrl.env.encoding import OBS_BOUND
from hybridrl.env.epoch_encoding import (
    decode_epoch,
    epoch_action_names,
    epoch_observation,
    epoch_observation_names,
)
from hybridrl.env.hybrid_mine import HybridMineEnv
from hybridrl.sim.information import PathReveal
from hybridrl.sim.params import ScenarioParams
from hybridrl.sim.plant import CASH_FLOW_TERMS, Plant

Step = tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]


EpochSpaces = tuple[tuple[str, ...], tuple[str, ...], gym.spaces.Box, gym.spaces.Box]


def epoch_spaces(plant: Plant, action: str) -> EpochSpaces:
    """(action names, observation names, action space, observation space) of one decision-epoch
    env of ``plant`` deciding ``action``; a plant without investment epochs is refused."""
    if not plant.investments_enabled:
        raise ValueError(
            f"scenario {plant.params.name!r} has no investment epochs (investments are disabled): "
            "use the full environment hybridrl/HybridMine-v1"
        )
    actions, observations = epoch_action_names(plant, action), epoch_observation_names(plant)
    return (
        actions,
        observations,
        gym.spaces.Box(-1.0, 1.0, (len(actions),), np.float32),
        gym.spaces.Box(-OBS_BOUND, OBS_BOUND, (len(observations),), np.float32),
    )


class DecisionEpochEnv(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """The hybrid site of :class:`~hybridrl.env.hybrid_mine.HybridMineEnv`, decided once per
    investment epoch.

    One agent step covers one investment epoch (7 daily steps on ``default``: 209 agent steps
    per episode instead of 1,461). The agent chooses the epoch's investments (ASIC sales per
    generation, ASIC and GPU orders, retrofits, acceptance of the open hosting offers) through
    a dead-zone action centred on "change nothing" (:mod:`hybridrl.env.epoch_encoding`);
    dispatch at every step follows the economics rule the rule policies use
    (:func:`~hybridrl.baselines.rules.rule_dispatch`: run what has a positive margin today,
    curtail idle MW in a demand-response call), which is optimal step by step because nothing
    in the dispatch of this model couples one day to the next.

    Observation: the full environment's at the epoch's first step (same encoder, same names),
    then the decision features (:func:`~hybridrl.env.epoch_encoding.epoch_observation`).
    Reward: the NAV change over the epoch in millions of USD (the sum of the full env's rewards
    over its steps, so rewards still telescope to final - initial NAV). ``info`` is the last
    step's, with ``reward_terms`` and ``btc_mined`` summed over the epoch, ``clipped`` summed
    over its steps and ``steps`` the number of plant steps it covered. Episode end, seeding
    (``reset(seed=s)`` gives the path of seed ``s``) and ``options={"path": ...}`` as in the
    full environment.

    :param scenario: as for :class:`~hybridrl.env.hybrid_mine.HybridMineEnv`; a scenario
        without investment epochs (investments disabled) is refused.
    :param action: what an agent step decides (:data:`~hybridrl.env.epoch_encoding.EPOCH_ACTIONS`):
        the epoch's ``investments``, or ``greedy_parameters`` (the greedy rule's parameters for
        the epoch, a hybrid: :mod:`hybridrl.env.greedy_hybrid`; registered as
        ``hybridrl/HybridMineGreedyHybrid-v1``).
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}  # noqa: RUF012 - gymnasium convention

    def __init__(
        self,
        scenario: str | ScenarioParams = "default",
        render_mode: str | None = None,
        action: str = "investments",
    ) -> None:
        self._inner = HybridMineEnv(scenario, render_mode=render_mode)
        self.render_mode = render_mode
        self.params = self._inner.params
        self.plant = self._inner.plant
        self.epoch_action = action
        self.action_names, self.observation_names, action_space, observation_space = epoch_spaces(
            self.plant, action
        )
        self.action_space = action_space  # type: ignore[assignment]  # a float32 Box
        self.observation_space = observation_space  # type: ignore[assignment]
        self._reveal: PathReveal | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        obs, info = self._inner.reset(seed=seed, options=options)
        assert self._inner.path is not None
        self._reveal = PathReveal(self._inner.path)
        return self._observe(obs), info

    @property
    def path(self) -> Any:
        """The episode's exogenous path (None before the first reset)."""
        return self._inner.path

    @property
    def state(self) -> Any:
        """The plant state (None before the first reset)."""
        return self._inner.state

    def step(self, action: NDArray[np.float32]) -> Step:
        state, _ = self._inner._require_started()
        assert self._reveal is not None
        u = np.asarray(action, dtype=np.float64)
        if u.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {u.shape}")
        if not np.isfinite(u).all():
            raise ValueError(f"action contains NaN or infinity: {u}")
        bounded = np.minimum(np.maximum(u, -1.0), 1.0)
        excess = float(np.minimum(np.abs(u - bounded), np.finfo(np.float64).max / u.size).sum())
        native = decode_epoch(
            self.plant, state, self._reveal.view(state.t), bounded[None, :], self.epoch_action
        )
        _, reward, terminated, truncated, info = self._inner._advance(native, excess, observe=False)
        terms, clipped = dict(info["reward_terms"]), dict(info["clipped"])
        btc, steps = info["btc_mined"], 1
        while not terminated:
            state, _ = self._inner._require_started()
            if self.plant.is_decision_epoch(state.t):
                break
            native = rule_dispatch(self.plant, state, self._reveal.view(state.t))
            _, r, terminated, truncated, info = self._inner._advance(native, 0.0, observe=False)
            reward += r
            for k in CASH_FLOW_TERMS:
                terms[k] += info["reward_terms"][k]
            for k, v in info["clipped"].items():
                clipped[k] = clipped.get(k, 0.0) + v
            btc += info["btc_mined"]
            steps += 1
        info = {**info, "reward_terms": terms, "clipped": clipped, "btc_mined": btc, "steps": steps}
        return self._observe(self._inner._observe()), reward, terminated, truncated, info

    def _observe(self, observation: NDArray[np.float32]) -> NDArray[np.float32]:
        state = self._inner.state
        assert self._reveal is not None and state is not None
        view = self._reveal.view(state.t)  # t = n_steps after the last step: the terminal observation
        return epoch_observation(self.plant, state, view, observation[None, :], self._inner._nav0)[0]

    def render(self) -> str | None:
        """As the full environment's ``render``."""
        return self._inner.render()
