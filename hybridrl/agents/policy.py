"""A trained network as a :class:`~hybridrl.baselines.rules.Policy`, so the evaluator pairs it
with every baseline on the same paths.

The adapter builds the very observation the environment would (same encoder, from the plant
state and the path known so far), normalises it with the run's frozen VecNormalize statistics,
asks the network for its deterministic action and decodes it with the environment's mapping.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hybridrl.agents.best import model_dir
from hybridrl.agents.files import MODEL_FILE, NORMALIZER_FILE, RUN_FILE
from hybridrl.baselines.rules import rule_dispatch
from hybridrl.env.encoding import ObservationEncoder, decode_action
from hybridrl.env.epoch_encoding import decode_epoch, epoch_observation
from hybridrl.sim.information import PathView
from hybridrl.sim.plant import NativeAction, Plant, PlantState

FloatArray = NDArray[np.float64]
ActFn = Callable[[NDArray[np.float32], NDArray[np.bool_]], NDArray[np.float32]]
"""(normalised observations (B, n), episode starts (B,)) -> actions (B, A)."""


@dataclass(frozen=True)
class ObservationNormalizer:
    """VecNormalize's observation transform: clip((obs - mean) / sqrt(var + eps), +-clip)."""

    mean: NDArray[np.float64]
    var: NDArray[np.float64]
    epsilon: float
    clip: float

    def __call__(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        z = (obs - self.mean) / np.sqrt(self.var + self.epsilon)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    @classmethod
    def from_vecnormalize(cls, vecnorm: Any) -> ObservationNormalizer:
        return cls(
            mean=np.array(vecnorm.obs_rms.mean, dtype=np.float64),
            var=np.array(vecnorm.obs_rms.var, dtype=np.float64),
            epsilon=float(vecnorm.epsilon),
            clip=float(vecnorm.clip_obs),
        )

    def to_json(self, path: Path, **extra: float) -> None:
        """Write the statistics as JSON (``extra``: informative fields, e.g. the sample count)."""
        data = {
            "obs_mean": self.mean.tolist(),
            "obs_var": self.var.tolist(),
            "epsilon": self.epsilon,
            "clip_obs": self.clip,
            **extra,
        }
        path.write_text(json.dumps(data))

    @classmethod
    def from_json(cls, path: Path) -> ObservationNormalizer:
        """The statistics a run saved as ``vecnormalize.json`` (see ``factory.save_normalizer``)."""
        data = json.loads(path.read_text())
        return cls(
            mean=np.array(data["obs_mean"], dtype=np.float64),
            var=np.array(data["obs_var"], dtype=np.float64),
            epsilon=float(data["epsilon"]),
            clip=float(data["clip_obs"]),
        )

    @classmethod
    def identity(cls, n: int) -> ObservationNormalizer:
        return cls(mean=np.zeros(n), var=np.ones(n), epsilon=0.0, clip=np.inf)


class NetworkPolicy:
    """Any observation -> action network (normalised Box actions) as a native-unit policy.

    :param epoch_mode: the network was trained in the decision-epoch mode
        (``hybridrl/HybridMineEpoch-v1``): it is asked at each investment epoch for the epoch's
        investments (:func:`~hybridrl.env.epoch_encoding.decode_epoch_action`), and every step
        dispatches by the economics rule, as in that environment.
    :param epoch_action: in epoch mode, what the network decides
        (:data:`~hybridrl.env.epoch_encoding.EPOCH_ACTIONS`; ``greedy_parameters``: the greedy
        rule's parameters, a hybrid policy).
    """

    def __init__(
        self,
        name: str,
        act: ActFn,
        normalizer: ObservationNormalizer | None = None,
        epoch_mode: bool = False,
        epoch_action: str = "investments",
    ) -> None:
        self._name = name
        self.epoch_action = epoch_action
        self._act = act
        self.normalizer = normalizer
        self.epoch_mode = epoch_mode
        self._encoder: ObservationEncoder | None = None
        self._nav0: FloatArray = np.zeros(0)

    @property
    def name(self) -> str:
        return self._name

    def observe(self, plant: Plant, state: PlantState, view: PathView) -> NDArray[np.float32]:
        """The environment's observation for every row (before normalisation); in epoch mode the
        decision-epoch environment's (:func:`~hybridrl.env.epoch_encoding.epoch_observation`)."""
        if self._encoder is None or self._encoder.plant is not plant:
            self._encoder = ObservationEncoder(plant)
        nav = plant.nav_usd(state, view)  # type: ignore[arg-type]
        if state.t == 0 or self._nav0.shape != nav.shape:
            self._nav0 = nav
        obs = self._encoder(state, view, nav, self._nav0)  # type: ignore[arg-type]
        return epoch_observation(plant, state, view, obs, self._nav0) if self.epoch_mode else obs

    def act(self, plant: Plant, state: PlantState, view: PathView) -> NativeAction:
        if self.epoch_mode and not plant.is_decision_epoch(state.t):
            return rule_dispatch(plant, state, view)
        obs = self.observe(plant, state, view)
        if self.normalizer is not None:
            obs = self.normalizer(obs)
        starts = np.full(state.n_paths, state.t == 0)
        action = np.clip(np.asarray(self._act(obs, starts), dtype=np.float64), -1.0, 1.0)
        if self.epoch_mode:
            return decode_epoch(plant, state, view, action, self.epoch_action)
        return decode_action(plant, state, view, action)


def sb3_act_fn(model: Any) -> ActFn:
    """Deterministic SB3 predictions; recurrent policies keep their LSTM state between calls and
    reset it where an episode starts."""
    state: list[Any] = [None]

    def act(obs: NDArray[np.float32], starts: NDArray[np.bool_]) -> NDArray[np.float32]:
        action, state[0] = model.predict(obs, state=state[0], episode_start=starts, deterministic=True)
        return np.asarray(action, dtype=np.float32)

    return act


def load_trained_policy(run_dir: str | Path, which: str = "final", name: str | None = None) -> NetworkPolicy:
    """The policy saved by a training run: ``which`` = ``final`` (the run directory's model),
    ``best`` (best by validation) or a checkpoint directory. Needs the ``rl`` extra."""
    from hybridrl.agents.factory import algorithm_class

    run_dir = Path(run_dir)
    meta = json.loads((run_dir / RUN_FILE).read_text())
    folder = model_dir(run_dir, which)
    model = algorithm_class(meta["algo"]).load(folder / MODEL_FILE, device="cpu")
    stats = folder / NORMALIZER_FILE
    normalizer = ObservationNormalizer.from_json(stats) if stats.is_file() else None
    from hybridrl.agents.config import EnvMode

    epoch_action = EnvMode.of_env_id(meta.get("env_id")).epoch_action
    return NetworkPolicy(
        name or f"{meta['algo']}",
        sb3_act_fn(model),
        normalizer,
        epoch_mode=epoch_action is not None,
        epoch_action=epoch_action or "investments",
    )
