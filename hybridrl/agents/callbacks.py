"""Training callbacks: checkpoints (model + normalisation + replay buffer), evaluation on
validation paths (with the best model and its own statistics), power-allocation charts, and a
logger output that forwards SB3's metrics to W&B."""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from hybridrl.agents.best import write_best
from hybridrl.agents.factory import save_normalizer
from hybridrl.agents.files import (
    CHECKPOINT_DIR,
    EVAL_FILE,
    MODEL_FILE,
    REPLAY_BUFFER_FILE,
    STATE_FILE,
)
from hybridrl.agents.policy import NetworkPolicy, ObservationNormalizer, sb3_act_fn
from hybridrl.evaluation import evaluate
from hybridrl.evaluation.metrics import gap_closed
from hybridrl.evaluation.rollout import idle_mw
from hybridrl.sim.exogenous import ExogenousPath
from hybridrl.sim.params import ScenarioParams


class WandbWriter(KVWriter):
    """Sends every numeric value SB3 dumps (``train/``, ``rollout/``, ``eval/``, ``charts/``) to
    a W&B run, at the step SB3 dumps at (environment steps)."""

    def __init__(self, run: Any) -> None:
        self.run = run

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        data = {
            k: float(v)
            for k, v in key_values.items()
            if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        }
        if data:
            self.run.log(data, step=int(step))

    def close(self) -> None:
        pass


class AllocationCharts(BaseCallback):
    """``charts/<use>_mw``: the mean power given to mining, own GPUs, leased hosting, DR
    curtailment and left idle (limit minus the rest), over each rollout."""

    USES = ("mining", "own_gpu", "leased", "curtailed", "idle")

    def __init__(self) -> None:
        super().__init__()
        self._sums = np.zeros(len(self.USES))
        self._count = 0

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            p = info.get("power_mw")
            if p is None:
                continue
            uses = (p["asic"], p["gpu"], p["lease"], p["curtailed"])
            self._sums += (*uses, idle_mw(p["limit"], *uses))
            self._count += 1
        return True

    def _on_rollout_end(self) -> None:
        if self._count:
            for name, value in zip(self.USES, self._sums / self._count, strict=True):
                self.logger.record_mean(f"charts/{name}_mw", float(value))
        self._sums[:] = 0.0
        self._count = 0


@dataclass(frozen=True)
class Reference:
    """NAV change (USD) of always_mine and of the oracle on the validation paths."""

    always_mine_usd: np.ndarray
    oracle_usd: np.ndarray

    def gap_closed(self, nav_change_usd: np.ndarray) -> np.ndarray:
        return gap_closed(nav_change_usd, self.always_mine_usd, self.oracle_usd)


class CheckpointAndEval(BaseCallback):
    """Checkpoints every ``checkpoint_every`` and evaluations every ``eval_every`` environment
    steps (counted in steps, not ``step()`` calls; agent steps, i.e. epochs, in the decision-epoch
    mode), keeping the ``keep`` newest checkpoints.

    Each checkpoint is written to a temporary folder and renamed into place, so a run killed
    while saving leaves the previous checkpoint intact.
    """

    def __init__(
        self,
        run_dir: Path,
        params: ScenarioParams,
        validation_seeds: list[int],
        validation_path: ExogenousPath,
        checkpoint_every: int,
        eval_every: int,
        keep: int,
        reference: Reference | None,
        state: dict[str, Any] | None = None,
        epoch_action: str | None = None,
        on_evaluation: Callable[[int, float], bool] | None = None,
        evaluate_first: bool = False,
    ) -> None:
        super().__init__()
        self.evaluate_first = evaluate_first
        """evaluate before the first step (a warm-started network: the clone itself is then a
        candidate for ``best/``, so fine-tuning can only add to it on the validation paths)"""
        self.epoch_action = epoch_action
        """what the network decides in a decision-epoch mode (None: the full env)"""
        self.on_evaluation = on_evaluation
        """called after each evaluation during training with (step, validation NAV change in $);
        False stops training there (a pruned tuning trial)"""
        self.run_dir = run_dir
        self.params = params
        self.validation_seeds = validation_seeds
        self.validation_path = validation_path
        self.checkpoint_every = checkpoint_every
        self.eval_every = eval_every
        self.keep = keep
        self.reference = reference
        self.state = dict(state or {"best_nav_change_usd": None, "evaluations": 0})
        self._next_checkpoint = 0
        self._next_eval = 0
        self._last_eval_step: int | None = None
        self._start_step = 0

    def _on_training_start(self) -> None:
        n = self._start_step = self.num_timesteps
        self._next_checkpoint = (n // self.checkpoint_every + 1) * self.checkpoint_every
        self._next_eval = (n // self.eval_every + 1) * self.eval_every
        if self.evaluate_first and n == 0:
            self.evaluate()

    def _on_training_end(self) -> None:
        """Evaluate the model as learning left it (the last update comes after the last step
        callback), so that ``best/`` can be the trained policy and not only an earlier one."""
        if self.num_timesteps > self._start_step and self._last_eval_step != self.num_timesteps:
            self.evaluate()

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next_eval:
            nav = self.evaluate()["eval/nav_change_usd"]
            self._next_eval = (self.num_timesteps // self.eval_every + 1) * self.eval_every
            if self.on_evaluation is not None and not self.on_evaluation(self.num_timesteps, nav):
                return False
        if self.num_timesteps >= self._next_checkpoint:
            self.checkpoint()
            self._next_checkpoint = (self.num_timesteps // self.checkpoint_every + 1) * self.checkpoint_every
        return True

    # ------------------------------------------------------------------ saving

    def _vecnormalize(self) -> VecNormalize | None:
        env = self.model.get_env()
        return env if isinstance(env, VecNormalize) else None

    def save_model(self, folder: Path, replay_buffer: bool = False) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder / MODEL_FILE)
        vecnorm = self._vecnormalize()
        if vecnorm is not None:
            save_normalizer(vecnorm, folder)
        if replay_buffer and isinstance(self.model, OffPolicyAlgorithm):
            self.model.save_replay_buffer(folder / REPLAY_BUFFER_FILE)

    def checkpoint(self) -> Path:
        root = self.run_dir / CHECKPOINT_DIR
        final = root / f"step_{self.num_timesteps:012d}"
        tmp = root / f".tmp_{self.num_timesteps:012d}"
        shutil.rmtree(tmp, ignore_errors=True)
        self.save_model(tmp, replay_buffer=True)
        (tmp / STATE_FILE).write_text(json.dumps({**self.state, "num_timesteps": self.num_timesteps}))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in sorted(root.glob("step_*"))[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    # ------------------------------------------------------------------ evaluation

    def evaluate(self) -> dict[str, float]:
        self._last_eval_step = self.num_timesteps
        vecnorm = self._vecnormalize()
        normalizer = ObservationNormalizer.from_vecnormalize(vecnorm) if vecnorm is not None else None
        policy = NetworkPolicy(
            "agent",
            sb3_act_fn(self.model),
            normalizer,
            epoch_mode=self.epoch_action is not None,
            epoch_action=self.epoch_action or "investments",
        )
        start = time.perf_counter()
        frame = evaluate(policy, self.params, self.validation_seeds, path=self.validation_path)
        nav = frame["nav_change_usd"].to_numpy()
        metrics = {
            "eval/nav_change_usd": float(nav.mean()),
            "eval/nav_change_usd_std": float(nav.std()),
            "eval/cash_profit_usd": float(frame["cash_profit_usd"].mean()),
            "eval/ai_energy_share": float(frame["ai_energy_share"].mean()),
            "eval/bankrupt_rate": float(frame["bankrupt"].mean()),
            "eval/btc_mined": float(frame["btc_mined"].mean()),
        }
        if self.reference is not None:
            metrics["eval/gap_closed"] = float(np.nanmean(self.reference.gap_closed(nav)))
        metrics["eval/seconds"] = time.perf_counter() - start
        for k, v in metrics.items():
            self.logger.record(k, v)
        self.logger.dump(self.num_timesteps)
        self.state["evaluations"] = int(self.state["evaluations"]) + 1
        best = self.state["best_nav_change_usd"]
        if best is None or metrics["eval/nav_change_usd"] > best:
            self.state["best_nav_change_usd"] = metrics["eval/nav_change_usd"]
            self.state["best_step"] = self.num_timesteps
            record = {"step": self.num_timesteps, "nav_change_usd": metrics["eval/nav_change_usd"]}
            write_best(self.run_dir, self.save_model, record)
        append_eval_row(self.run_dir / EVAL_FILE, {"step": self.num_timesteps, **metrics})
        return metrics


def append_eval_row(path: Path, row: dict[str, float]) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def truncate_eval_history(path: Path, after_step: int) -> None:
    """Drop evaluation rows past ``after_step`` (a resumed run redoes them)."""
    if path.is_file():
        frame = pd.read_csv(path)
        frame[frame["step"] <= after_step].to_csv(path, index=False)
