"""Train an SB3 agent on a scenario from a :class:`TrainConfig` into a run directory.

A run directory holds: ``config.yaml`` (the resolved configuration), ``scenario.yaml`` (its own
copy of the resolved scenario, which resuming, evaluation and export read), ``run.json`` (what was
trained, on which seeds, how fast), ``model.zip`` with ``vecnormalize.pkl``/``.json``,
``checkpoints/step_*/`` (model, statistics, replay buffer, callback state), ``best/`` (the best
model by validation NAV change, with the statistics it was evaluated with), ``eval.csv`` (the
evaluation history), ``progress*.csv`` (SB3's training metrics) and, with W&B on, ``wandb/``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hybridrl.agents.config import (
    AGENT_CONFIGS,
    Algo,
    ConfigError,
    EnvConfig,
    EnvMode,
    EvalConfig,
    ImitationConfig,
    LoggerConfig,
    LoggerKind,
    TrainConfig,
    VecEnvKind,
    WandbMode,
    is_run_dir,
)
from hybridrl.agents.files import (
    BEST_DIR,
    CHECKPOINT_DIR,
    EVAL_FILE,
    MODEL_FILE,
    REPLAY_BUFFER_FILE,
    RUN_CONFIG_FILE,
    RUN_FILE,
    STATE_FILE,
    VECNORMALIZE_FILE,
)
from hybridrl.agents.seeds import imitation_seeds, training_seeds, validation_seeds
from hybridrl.sim.exogenous import sample_paths
from hybridrl.sim.params import ScenarioParams, load_scenario
from hybridrl.wandb_finish import finish_run

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- config files


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    def plain(x: Any) -> Any:
        if isinstance(x, Enum):
            return x.value
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, list):
            return [plain(v) for v in x]
        return x

    out: dict[str, Any] = plain(dataclasses.asdict(cfg))
    return out


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """The inverse of :func:`config_to_dict`; unknown keys raise :class:`ConfigError`."""
    enums = {e.__name__: e for e in (Algo, LoggerKind, WandbMode, VecEnvKind, EnvMode)}

    def build(cls: type, values: dict[str, Any], prefix: str, parts: dict[str, Any]) -> Any:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields) - set(parts))
        if unknown:
            raise ConfigError([(f"{prefix}{k}", "unknown key") for k in unknown])
        kwargs = {
            k: enums[str(fields[k].type)](v) if str(fields[k].type) in enums else v for k, v in values.items()
        }
        return cls(**kwargs, **parts)

    data = dict(data)
    agent = dict(data.pop("agent", {}))
    parts = {
        "env": build(EnvConfig, data.pop("env", {}), "env.", {}),
        "agent": build(AGENT_CONFIGS[Algo(agent.get("algo", "ppo"))], agent, "agent.", {}),
        "logger": build(LoggerConfig, data.pop("logger", {}), "logger.", {}),
        "eval": build(EvalConfig, data.pop("eval", {}), "eval.", {}),
        "imitation": build(ImitationConfig, data.pop("imitation", {}), "imitation.", {}),
    }
    cfg: TrainConfig = build(TrainConfig, data, "", parts)
    return cfg


def save_config(cfg: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def load_config(path: Path) -> TrainConfig:
    return config_from_dict(yaml.safe_load(path.read_text()))


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted((run_dir / CHECKPOINT_DIR).glob("step_*"))
    return found[-1] if found else None


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    num_timesteps: int
    seconds: float
    resumed_from_step: int | None


def resolve_progress_bar(setting: bool | None, multirun: bool = False) -> bool:
    """Explicit setting wins; otherwise on in an interactive terminal, off in CI and multiruns."""
    if setting is not None:
        return setting
    return sys.stdout.isatty() and not multirun and not os.environ.get("CI")


RESUMABLE_SETTINGS = ("total_timesteps", "logger", "progress_bar", "device", "torch_threads", "vec_env")
"""What a resumed run may change: how long and where it runs and what it logs to, never what it
learns (the scenario, the agent, the seed, the evaluation)."""


def resume(
    run_dir: str | Path,
    total_timesteps: int | None = None,
    logger: LoggerConfig | None = None,
    progress_bar: bool | None = None,
    multirun: bool = False,
    **settings: Any,
) -> TrainResult:
    """Continue the run in ``run_dir`` from its latest checkpoint (from scratch if it has none)
    with its saved configuration and on its own copy of the scenario; only
    :data:`RESUMABLE_SETTINGS` may change (others raise :class:`ConfigError`). Refuses
    (:class:`~hybridrl.agents.run_scenario.RunScenarioError`) if the scenario its config names
    now describes another world. A resumed run loses at most the steps since that checkpoint;
    its environments start fresh episodes (on their training seeds' paths again)."""
    from hybridrl.agents.run_scenario import load_run_scenario, refuse_changed_source

    run_dir = Path(run_dir)
    if not (run_dir / RUN_CONFIG_FILE).is_file():
        raise ConfigError(
            [("resume", f"{str(run_dir)!r} is not a training run directory (no {RUN_CONFIG_FILE})")]
        )
    cfg = load_config(run_dir / RUN_CONFIG_FILE)
    not_allowed = sorted(set(settings) - set(RESUMABLE_SETTINGS))
    if not_allowed:
        raise ConfigError([(k, "cannot change when resuming a run") for k in not_allowed])
    changes: dict[str, Any] = {"progress_bar": progress_bar, **settings}
    if total_timesteps is not None:
        changes["total_timesteps"] = total_timesteps
    if logger is not None:
        changes["logger"] = logger
    params = load_run_scenario(run_dir)
    refuse_changed_source(params, cfg.env.scenario, run_dir)
    return _train(dataclasses.replace(cfg, **changes), run_dir, params, multirun=multirun, resuming=True)


def train(
    cfg: TrainConfig,
    run_dir: str | Path,
    multirun: bool = False,
    on_evaluation: Callable[[int, float], bool] | None = None,
) -> TrainResult:
    """Train a fresh run into ``run_dir`` (see the module docstring for its files); to continue
    one, use :func:`resume`. The scenario is loaded (and any problem raised) before anything is
    written; the run keeps its own copy of it. ``on_evaluation(step, validation NAV change $)``
    is called after each evaluation during training; False ends training there (the run is
    saved as if it had reached its steps: tuning prunes trials this way)."""
    from hybridrl.agents.run_scenario import save_run_scenario

    if cfg.resume is not None:
        raise ValueError("train() starts fresh runs; call resume(run_dir) to continue one")
    run_dir = Path(run_dir)
    if (run_dir / RUN_CONFIG_FILE).exists():
        raise ValueError(
            f"{run_dir} already holds a run; resume it with resume({str(run_dir)!r}) or pick a new one"
        )
    params = load_scenario(cfg.env.scenario)
    check_cloning(cfg, params)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_run_scenario(params, run_dir)
    save_config(cfg, run_dir / RUN_CONFIG_FILE)
    return _train(cfg, run_dir, params, multirun=multirun, resuming=False, on_evaluation=on_evaluation)


def _train(
    cfg: TrainConfig,
    run_dir: Path,
    params: ScenarioParams,
    multirun: bool,
    resuming: bool,
    on_evaluation: Callable[[int, float], bool] | None = None,
) -> TrainResult:
    import torch
    from stable_baselines3.common.logger import CSVOutputFormat, Logger

    from hybridrl.agents.callbacks import (
        AllocationCharts,
        CheckpointAndEval,
        WandbWriter,
        truncate_eval_history,
    )
    from hybridrl.agents.factory import (
        algorithm_class,
        make_model,
        make_vec_env,
        seed_paths,
        wrap_normalize,
    )

    checkpoint = latest_checkpoint(run_dir) if resuming else None
    state: dict[str, Any] | None = None
    if checkpoint is not None:
        state = json.loads((checkpoint / STATE_FILE).read_text())
    if resuming:
        state = _repaired_best_state(run_dir, state)

    torch.set_num_threads(cfg.torch_threads)
    train_seeds = training_seeds(cfg.seed, cfg.n_envs)
    eval_seeds = validation_seeds(cfg.eval.episodes)
    venv = make_vec_env(params, cfg.n_envs, cfg.vec_env, cfg.env.mode)
    start_step = 0
    if checkpoint is not None:
        env = wrap_normalize(venv, cfg.agent.gamma, checkpoint / VECNORMALIZE_FILE) if cfg.normalize else venv
        model = algorithm_class(cfg.agent.algo).load(checkpoint / MODEL_FILE, env=env, device=cfg.device)
        if (checkpoint / REPLAY_BUFFER_FILE).is_file():
            model.load_replay_buffer(checkpoint / REPLAY_BUFFER_FILE)  # type: ignore[attr-defined]
        start_step = model.num_timesteps
        truncate_eval_history(run_dir / EVAL_FILE, start_step)
    else:
        env = wrap_normalize(venv, cfg.agent.gamma) if cfg.normalize else venv
        model = make_model(cfg.agent, env, seed=cfg.seed, device=cfg.device)
        if resuming:  # killed before its first checkpoint: start again
            truncate_eval_history(run_dir / EVAL_FILE, 0)
        if cfg.imitation.expert is not None:
            _warm_start(cfg, params, model, env if cfg.normalize else None, run_dir)
    seed_paths(venv, train_seeds)

    wandb_run = _start_wandb(cfg, run_dir, state)
    csv_name = "progress.csv" if checkpoint is None else f"progress_from_{start_step}.csv"
    formats: list[Any] = [CSVOutputFormat(str(run_dir / csv_name))]
    if wandb_run is not None:
        formats.append(WandbWriter(wandb_run))
    model.set_logger(Logger(str(run_dir), formats))

    validation_path = sample_paths(params, eval_seeds)
    reference = _reference(cfg, params, eval_seeds, validation_path, run_dir)
    state = {**(state or {"best_nav_change_usd": None, "evaluations": 0})}
    if wandb_run is not None:
        state["wandb_run_id"] = wandb_run.id
    saver = CheckpointAndEval(
        run_dir,
        params,
        eval_seeds,
        validation_path,
        checkpoint_every=cfg.checkpoint_every_steps,
        eval_every=cfg.eval.every_steps,
        keep=cfg.keep_checkpoints,
        reference=reference,
        state=state,
        epoch_action=cfg.env.mode.epoch_action,
        on_evaluation=on_evaluation,
        evaluate_first=checkpoint is None
        and (cfg.imitation.expert is not None or cfg.env.mode is EnvMode.greedy_hybrid),
    )
    start = time.perf_counter()
    remaining = max(cfg.total_timesteps - start_step, 0)
    log.info(
        "training %s on %s for %d steps (from step %d) into %s",
        cfg.agent.algo.value,
        cfg.env.scenario,
        remaining,
        start_step,
        run_dir,
    )
    try:
        model.learn(
            remaining,
            callback=[AllocationCharts(), saver],
            reset_num_timesteps=checkpoint is None,
            progress_bar=resolve_progress_bar(cfg.progress_bar, multirun),
        )
        seconds = time.perf_counter() - start
        saver.save_model(run_dir)
        steps = model.num_timesteps - start_step
        (run_dir / RUN_FILE).write_text(
            json.dumps(
                {
                    "algo": cfg.agent.algo.value,
                    "env_id": cfg.env.mode.env_id,
                    "scenario": params.name,
                    "scenario_hash": params.scenario_hash,
                    "num_timesteps": model.num_timesteps,
                    "training_seeds": train_seeds,
                    "training_paths": "each environment's first seed, then its SeedSequence children",
                    "validation_seeds": eval_seeds,
                    "steps_per_s_last_segment": steps / seconds if seconds > 0 else None,
                    "best": saver.state,
                    "wandb_run_id": None if wandb_run is None else wandb_run.id,
                },
                indent=2,
            )
        )
    finally:
        model.logger.close()
        env.close()
        if wandb_run is not None:
            finish_run(wandb_run)
    return TrainResult(run_dir, model.num_timesteps, seconds, None if checkpoint is None else start_step)


IMITATION_FILE = "imitation.json"


def check_cloning(cfg: TrainConfig, params: ScenarioParams) -> None:
    """Cloning in the full environment copies an expert's dispatch only, so it needs a scenario
    without investments; raise :class:`ConfigError` otherwise."""
    if (
        cfg.imitation.expert is not None
        and cfg.env.mode is not EnvMode.epoch
        and params.time.investments_enabled
    ):
        raise ConfigError(
            [
                (
                    "imitation.expert",
                    "in the full environment an expert's dispatch is cloned, which needs an operations "
                    f"scenario (time.investments_enabled: false); {params.name} invests: use env.mode=epoch",
                )
            ]
        )


def _warm_start(cfg: TrainConfig, params: ScenarioParams, model: Any, vecnorm: Any, run_dir: Path) -> None:
    """Clone ``cfg.imitation.expert`` into the fresh ``model`` (:mod:`hybridrl.agents.imitation`)
    and record how well it fits in ``imitation.json``."""
    from hybridrl.agents.imitation import clone_expert, record_demonstrations
    from hybridrl.baselines import expert_policy
    from hybridrl.env.hybrid_mine import USD_PER_REWARD_UNIT

    im = cfg.imitation
    assert im.expert is not None
    epoch_mode = cfg.env.mode is EnvMode.epoch
    start = time.perf_counter()
    seeds = imitation_seeds(cfg.seed, im.episodes)
    if is_run_dir(im.expert):
        expert, n_jobs = _trained_expert(Path(im.expert), params), 1  # a network: one process
    else:
        expert, n_jobs = expert_policy(im.expert), im.n_jobs
    demos = record_demonstrations(params, expert, seeds, n_jobs=n_jobs, epoch_mode=epoch_mode)
    fit = clone_expert(
        model,
        vecnorm,
        demos,
        cfg.agent.gamma,
        im.epochs,
        im.learning_rate,
        im.log_std,
        seed=cfg.seed,
        epoch_mode=epoch_mode,
    )
    record = {
        "expert": im.expert,
        "seeds": [seeds[0], seeds[-1]],
        "expert_nav_change_usd_mean": float(demos.rewards.sum(axis=0).mean() * USD_PER_REWARD_UNIT),
        **fit,
        "seconds": time.perf_counter() - start,
    }
    (run_dir / IMITATION_FILE).write_text(json.dumps(record, indent=2))
    log.info("cloned %s on %d paths: %s", im.expert, im.episodes, record)


def _trained_expert(run_dir: Path, params: ScenarioParams) -> Any:
    """The best model of a finished run as an expert to clone; it must have been trained on
    ``params``' world (the same scenario hash)."""
    from hybridrl.agents.policy import load_trained_policy

    trained_on = json.loads((run_dir / RUN_FILE).read_text()).get("scenario_hash")
    if trained_on != params.scenario_hash:
        raise ConfigError(
            [("imitation.expert", f"{run_dir} was trained on another world than {params.name!r}")]
        )
    return load_trained_policy(run_dir, which="best", name=f"expert_{run_dir.name}")


def _repaired_best_state(run_dir: Path, state: dict[str, Any] | None) -> dict[str, Any]:
    """Repair ``best/`` after a kill and make the callback's record of the best agree with the
    model actually on disk (which may come from steps past the checkpoint: it was evaluated on
    the validation paths all the same)."""
    from hybridrl.agents.best import best_record, repair_best

    state = dict(state or {"best_nav_change_usd": None, "evaluations": 0})
    outcome = repair_best(run_dir)
    if outcome != "intact":
        log.warning("%s/%s was incomplete: %s", run_dir, BEST_DIR, outcome)
    record = best_record(run_dir)
    if record is not None:
        state["best_nav_change_usd"], state["best_step"] = (
            float(record["nav_change_usd"]),
            int(record["step"]),
        )
    elif not (run_dir / BEST_DIR).exists():
        state["best_nav_change_usd"] = None
        state.pop("best_step", None)
    return state


def _start_wandb(cfg: TrainConfig, run_dir: Path, state: dict[str, Any] | None) -> Any:
    if cfg.logger.kind is LoggerKind.none:
        return None
    import wandb

    run_id = (state or {}).get("wandb_run_id")
    return wandb.init(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        group=cfg.logger.group,
        tags=list(cfg.logger.tags) or None,
        config=config_to_dict(cfg),
        dir=str(run_dir),
        mode=cfg.logger.mode.value,
        id=run_id,
        resume="allow" if run_id else None,
        reinit="finish_previous",
        settings=wandb.Settings(console="off", x_disable_stats=True, silent=True),
    )


def _reference(cfg: TrainConfig, params: Any, seeds: list[int], path: Any, run_dir: Path) -> Any:
    """always_mine and oracle NAV changes on the validation paths, solved once per run and
    cached in ``eval_reference.csv`` (a resumed run reads them back)."""
    if not cfg.eval.gap_closed:
        return None
    import pandas as pd

    from hybridrl.agents.callbacks import Reference
    from hybridrl.baselines import AlwaysMine
    from hybridrl.evaluation import evaluate, evaluate_oracle

    cache = run_dir / "eval_reference.csv"
    if cache.is_file():
        frame = pd.read_csv(cache)
    else:
        log.info(
            "gap closed needs always_mine and the oracle on the %d validation paths: solving them once "
            "(up to %.0f s each; eval.gap_closed=false skips this)",
            len(seeds),
            cfg.eval.oracle_time_limit_s,
        )
        base = evaluate(AlwaysMine(), params, seeds, path=path)
        oracle = evaluate_oracle(params, seeds, path=path, time_limit_s=cfg.eval.oracle_time_limit_s)
        frame = pd.DataFrame(
            {
                "seed": seeds,
                "always_mine_usd": base["nav_change_usd"],
                "oracle_usd": oracle["nav_change_usd"],
                "oracle_status": oracle["oracle_status"],
            }
        )
        frame.to_csv(cache, index=False)
    return Reference(
        always_mine_usd=np.asarray(frame["always_mine_usd"], dtype=float),
        oracle_usd=np.asarray(frame["oracle_usd"], dtype=float),
    )
