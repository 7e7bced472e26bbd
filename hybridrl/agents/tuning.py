"""Hyperparameter search with Optuna (the ``hybridrl-tune`` app, ``configs/tune.yaml``).

Each trial is an ordinary training run (:func:`hybridrl.agents.training.train`) of the base
training config with the trial's values set, in ``<study dir>/trial_<n>``; its objective is the
run's best validation NAV change (the mean over ``eval.episodes`` validation paths, the same
paths for every trial, never a held-out one). Each evaluation is reported to Optuna, which
prunes a trial whose curve falls below the median of the earlier ones at the same step.

Studies live in an Optuna storage: a SQLite file in the study folder by default, or any RDB URL
(``postgresql://...``) or a journal file (``journal:<path>``), so that several processes or
machines running the same command share one study, each taking the next trial.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hybridrl.agents.config import ConfigError, TrainConfig

log = logging.getLogger(__name__)

PRIMITIVE = (bool, int, float, str, type(None))


@dataclass
class ParamSpec:
    """One searched setting: ``key`` is a dotted training-config key (``agent.learning_rate``).
    A float range (``low``, ``high``, ``log``), an integer range (``integer: true``) or a list
    of ``choices``; a string choice is read as YAML when applied (``"[128, 128]"`` is a list)."""

    key: str = ""
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: list[Any] | None = None

    def problems(self) -> list[str]:
        if not self.key:
            return ["key must name a training-config setting (e.g. agent.learning_rate)"]
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                return ["give either choices or low and high, not both"]
            if not self.choices:
                return ["choices must not be empty"]
            bad = [c for c in self.choices if not isinstance(c, PRIMITIVE)]
            return (
                [f"choices must be numbers, strings or booleans (a list as a string), got {bad}"]
                if bad
                else []
            )
        if self.low is None or self.high is None or not self.low < self.high:
            return [f"needs low < high (or choices), got low={self.low}, high={self.high}"]
        if self.log and self.low <= 0:
            return [f"a log range needs low > 0, got {self.low}"]
        return []

    def suggest(self, trial: Any) -> Any:
        """The trial's value (Optuna's suggestion)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.key, self.choices)
        assert self.low is not None and self.high is not None
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)

    def example(self) -> Any:
        """A value of the space (its first choice or its low end): to check the key up front."""
        if self.choices is not None:
            return self.choices[0]
        assert self.low is not None
        return int(self.low) if self.integer else self.low


@dataclass
class StudyConfig:
    """The study: where it is stored, how many trials this process runs, the sampler, pruner
    and search space."""

    study_name: str = "hybridrl"
    storage: str | None = None
    """An Optuna storage URL (``sqlite:///file.db``, ``postgresql://...``) or ``journal:<file>``;
    None: ``sqlite:///<study dir>/study.db``."""
    n_trials: int = 20
    """Trials this process runs (several processes may share one study)."""
    timeout_s: float | None = None
    """Stop starting trials after this many seconds (None: no limit)."""
    sampler_seed: int | None = 0
    """TPE sampler's seed (None: random)."""
    startup_trials: int = 5
    """Trials sampled at random before TPE models the space, and before any pruning."""
    warmup_evaluations: int = 1
    """Evaluations of a trial before it may be pruned."""
    space: list[ParamSpec] = field(default_factory=list)
    enqueue: list[dict[str, Any]] = field(default_factory=list)
    """Trials to run first when the study is new, as {searched key: value} (e.g. a known
    recipe, so that the search starts from it)."""

    def problems(self) -> list[tuple[str, str]]:
        out = [(f"space[{i}]", m) for i, spec in enumerate(self.space) for m in spec.problems()]
        keys = [spec.key for spec in self.space]
        out += [("space", f"{k!r} is searched twice") for k in sorted({k for k in keys if keys.count(k) > 1})]
        if not self.space:
            out.append(("space", "nothing to search: give at least one setting"))
        if not self.study_name:
            out.append(("study_name", "must not be empty"))
        for key in ("n_trials", "startup_trials"):
            if getattr(self, key) < (1 if key == "n_trials" else 0):
                out.append(
                    (key, f"must be at least {1 if key == 'n_trials' else 0}, got {getattr(self, key)}")
                )
        if self.warmup_evaluations < 0:
            out.append(("warmup_evaluations", f"must be at least 0, got {self.warmup_evaluations}"))
        searched = set(keys)
        for i, values in enumerate(self.enqueue):
            extra = sorted(set(values) - searched)
            if extra:
                out.append((f"enqueue[{i}]", f"{extra} not in the search space {sorted(searched)}"))
        if self.timeout_s is not None and self.timeout_s <= 0:
            out.append(("timeout_s", f"must be positive, got {self.timeout_s}"))
        return out


@dataclass
class TuneConfig(TrainConfig):
    """The training config every trial starts from, and the study (``tune``)."""

    tune: StudyConfig = field(default_factory=StudyConfig)

    def __post_init__(self) -> None:
        problems = [(f"tune.{k}", m) for k, m in self.tune.problems()]
        if self.resume is not None:
            problems.append(("resume", "a study trains fresh runs; resume a trial with hybridrl-train"))
        try:
            super().__post_init__()
        except ConfigError as err:
            problems = list(err.problems) + problems
        if not problems:
            problems = _space_problems(self)
        if problems:
            raise ConfigError(problems)


def base_train_config(cfg: TuneConfig) -> TrainConfig:
    """``cfg`` without its study: the config every trial starts from."""
    from hybridrl.agents.training import config_from_dict, config_to_dict

    data = config_to_dict(cfg)
    data.pop("tune")
    return config_from_dict(data)


def with_values(base: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """``base`` with the dotted keys of ``values`` set (string values read as YAML); a key the
    config lacks or a value out of range raises :class:`ConfigError`."""
    from hybridrl.agents.training import config_from_dict, config_to_dict

    data = config_to_dict(base)
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError([(key, "unknown key")])
            node = node[part]
        if leaf not in node:
            raise ConfigError([(key, "unknown key")])
        node[leaf] = yaml.safe_load(value) if isinstance(value, str) else value
    return config_from_dict(data)


def _space_problems(cfg: TuneConfig) -> list[tuple[str, str]]:
    """Each searched key must be a setting of the training config (checked with a value of its
    range before any trial runs)."""
    base = base_train_config(cfg)
    out = []
    for i, spec in enumerate(cfg.tune.space):
        try:
            with_values(base, {spec.key: spec.example()})
        except ConfigError as err:
            out += [(f"tune.space[{i}]", f"{k}: {m}") for k, m in err.problems]
    return out


def storage_url(cfg: StudyConfig, study_dir: Path) -> Any:
    """The Optuna storage of the study (see :class:`StudyConfig`)."""
    if cfg.storage is None:
        return f"sqlite:///{(study_dir / 'study.db').resolve()}"
    if cfg.storage.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(cfg.storage.removeprefix("journal:")))
    return cfg.storage


@dataclass(frozen=True)
class StudySummary:
    study_dir: Path
    best_value_usd: float | None
    best_params: dict[str, Any]
    best_trial_dir: Path | None
    trials: int
    pruned: int


def run_study(cfg: TuneConfig, study_dir: str | Path) -> StudySummary:
    """Run ``cfg.tune.n_trials`` trials of the study (created, or continued if it exists), then
    write ``trials.csv`` and, once a trial has completed, ``best.json`` and ``best_preset.yaml``
    (the best values as a Hydra experiment preset, ready for ``configs/experiment/``)."""
    import optuna

    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=storage_url(cfg.tune, study_dir),
        study_name=cfg.tune.study_name,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(
            seed=cfg.tune.sampler_seed, n_startup_trials=cfg.tune.startup_trials
        ),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=cfg.tune.startup_trials, n_warmup_steps=cfg.tune.warmup_evaluations
        ),
    )
    if not study.trials:
        for values in cfg.tune.enqueue:
            study.enqueue_trial(dict(values))
    base = base_train_config(cfg)
    study.optimize(lambda trial: _objective(trial, cfg.tune, base, study_dir), n_trials=cfg.tune.n_trials,
                   timeout=cfg.tune.timeout_s)  # fmt: skip
    return write_study_files(study, study_dir)


def _objective(trial: Any, tune: StudyConfig, base: TrainConfig, study_dir: Path) -> float:
    import optuna

    from hybridrl.agents.training import train

    values = {spec.key: spec.suggest(trial) for spec in tune.space}
    cfg = with_values(base, values)
    if cfg.logger.group is None:
        cfg = dataclasses.replace(cfg, logger=dataclasses.replace(cfg.logger, group=tune.study_name))
    run_dir = study_dir / f"trial_{trial.number:04d}"
    trial.set_user_attr("run_dir", str(run_dir))
    evaluations = [0]
    pruned = [False]

    def on_evaluation(step: int, nav_change_usd: float) -> bool:
        trial.report(nav_change_usd, evaluations[0])
        evaluations[0] += 1
        pruned[0] = trial.should_prune()
        return not pruned[0]

    result = train(cfg, run_dir, multirun=True, on_evaluation=on_evaluation)
    best = json.loads((run_dir / "run.json").read_text())["best"]["best_nav_change_usd"]
    trial.set_user_attr("num_timesteps", result.num_timesteps)
    trial.set_user_attr("seconds", result.seconds)
    log.info("trial %d %s: best validation NAV change %.4g $", trial.number, values, best)
    if pruned[0]:
        raise optuna.TrialPruned(f"pruned after {evaluations[0]} evaluations")
    return float(best)


def write_study_files(study: Any, study_dir: Path) -> StudySummary:
    """``trials.csv`` (every trial of the study), and the best trial's ``best.json`` and
    ``best_preset.yaml``."""
    import optuna

    study.trials_dataframe().to_csv(study_dir / "trials.csv", index=False)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    pruned = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,)))
    if not complete:
        return StudySummary(study_dir, None, {}, None, len(study.trials), pruned)
    best = study.best_trial
    record = {
        "study": study.study_name,
        "trial": best.number,
        "best_validation_nav_change_usd": best.value,
        "params": best.params,
        "run_dir": best.user_attrs.get("run_dir"),
    }
    (study_dir / "best.json").write_text(json.dumps(record, indent=2))
    (study_dir / "best_preset.yaml").write_text(preset_yaml(best.params, study.study_name, best.value))
    run_dir = best.user_attrs.get("run_dir")
    return StudySummary(
        study_dir,
        best.value,
        dict(best.params),
        Path(run_dir) if run_dir else None,
        len(study.trials),
        pruned,
    )


def preset_yaml(params: dict[str, Any], study_name: str, value: float | None) -> str:
    """The tuned values as a global Hydra preset (``configs/experiment/<name>.yaml``)."""
    nested: dict[str, Any] = {}
    for key, raw in sorted(params.items()):
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw) if isinstance(raw, str) else raw
    head = (
        "# @package _global_\n"
        f"# best trial of Optuna study {study_name!r}: validation NAV change {value:.6g} $\n"
    )
    return head + yaml.safe_dump(nested, sort_keys=True)
