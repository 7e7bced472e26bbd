"""Typed training configuration: plain dataclasses, checked before any work starts.

Hydra composes these as structured configs (:func:`register_configs`, called by the entry
points in ``experiments/``); the library itself only ever sees the dataclass objects. Type
errors and unknown keys are caught by OmegaConf while composing; ranges and names are checked
here by :func:`config_problems`, which lists every problem at once with its dotted key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from hybridrl.agents.files import RUN_CONFIG_FILE, RUN_FILE
from hybridrl.agents.seeds import ENVS_PER_RUN, HELD_OUT_LIMIT, RUN_SEED_LIMIT
from hybridrl.sim.params import envs_dir, list_scenarios


class ConfigError(ValueError):
    """A configuration that cannot run; the message lists every problem with its key."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = [f"  {key}: {message}" for key, message in problems]
        super().__init__("invalid configuration:\n" + "\n".join(lines))


class Algo(Enum):
    ppo = "ppo"
    sac = "sac"
    td3 = "td3"
    a2c = "a2c"
    recurrent_ppo = "recurrent_ppo"


class LoggerKind(Enum):
    none = "none"
    wandb = "wandb"


class WandbMode(Enum):
    offline = "offline"
    online = "online"
    disabled = "disabled"


class VecEnvKind(Enum):
    """How the training environments are stepped: ``dummy`` (SB3's DummyVecEnv of single envs),
    ``subproc`` (one process each) or ``native`` (the batched vector env, one plant call a step)."""

    dummy = "dummy"
    subproc = "subproc"
    native = "native"


# --------------------------------------------------------------------------- agents


@dataclass
class AgentConfig:
    """Hyperparameters shared by every algorithm (SB3 names and meanings)."""

    algo: Algo = Algo.ppo
    learning_rate: float = 3e-4
    gamma: float = 0.99
    net_arch: list[int] = field(default_factory=lambda: [64, 64])

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if not self.learning_rate > 0:
            out.append(("learning_rate", f"must be > 0, got {self.learning_rate}"))
        if not 0 < self.gamma < 1:
            out.append(("gamma", f"must lie in (0, 1), got {self.gamma}"))
        if not self.net_arch or any(n < 1 for n in self.net_arch):
            out.append(("net_arch", f"must be a non-empty list of positive layer sizes, got {self.net_arch}"))
        return out + _range_problems(self)

    def sb3_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the SB3 constructor (everything but algo and net_arch)."""
        skip = {"algo", "net_arch", "action_noise_std", "lstm_hidden_size", "n_lstm_layers", "log_std_init"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}


def _positive_int(default: int) -> Any:
    return field(default=default, metadata={"range": (lambda v: v >= 1, ">= 1")})


def _non_negative(default: float) -> Any:
    return field(default=default, metadata={"range": (lambda v: v >= 0, ">= 0")})


def _unit_interval(default: float) -> Any:
    return field(default=default, metadata={"range": (lambda v: 0 <= v <= 1, "in [0, 1]")})


@dataclass
class OnPolicyConfig(AgentConfig):
    n_steps: int = _positive_int(1024)
    gae_lambda: float = _unit_interval(0.95)
    ent_coef: float = _non_negative(0.0)
    vf_coef: float = _non_negative(0.5)
    max_grad_norm: float = field(default=0.5, metadata={"range": (lambda v: v > 0, "> 0")})
    log_std_init: float = field(default=0.0, metadata={"range": (lambda v: -10 <= v <= 2, "in [-10, 2]")})
    use_sde: bool = False
    """generalised state-dependent exploration (SB3's gSDE): the noise is a function of the
    state, resampled every ``sde_sample_freq`` steps (-1: at each rollout's start only), so an
    exploratory change of behaviour lasts long enough for its long-term effect to show"""
    sde_sample_freq: int = field(default=-1, metadata={"range": (lambda v: v == -1 or v >= 1, "-1 or >= 1")})
    """log standard deviation of the Gaussian actor at the start (SB3's policy keyword); below 0
    explores closer to the zero action (greedy itself in ``env.mode=greedy_hybrid``)"""


@dataclass
class PPOConfig(OnPolicyConfig):
    algo: Algo = Algo.ppo
    batch_size: int = _positive_int(256)
    n_epochs: int = _positive_int(5)
    clip_range: float = field(default=0.2, metadata={"range": (lambda v: v > 0, "> 0")})


@dataclass
class RecurrentPPOConfig(PPOConfig):
    algo: Algo = Algo.recurrent_ppo
    n_steps: int = _positive_int(256)
    batch_size: int = _positive_int(128)
    lstm_hidden_size: int = _positive_int(64)
    n_lstm_layers: int = _positive_int(1)


@dataclass
class A2CConfig(OnPolicyConfig):
    algo: Algo = Algo.a2c
    learning_rate: float = 7e-4
    n_steps: int = _positive_int(8)
    gae_lambda: float = _unit_interval(1.0)


@dataclass
class OffPolicyConfig(AgentConfig):
    buffer_size: int = _positive_int(200_000)
    learning_starts: int = _non_negative(1_000)
    batch_size: int = _positive_int(256)
    tau: float = field(default=0.005, metadata={"range": (lambda v: 0 < v <= 1, "in (0, 1]")})
    train_freq: int = _positive_int(1)
    gradient_steps: int = _positive_int(1)


@dataclass
class SACConfig(OffPolicyConfig):
    algo: Algo = Algo.sac
    ent_coef: str = "auto"

    def problems(self) -> list[tuple[str, str]]:
        out = super().problems()
        value = self.ent_coef.removeprefix("auto_")
        if self.ent_coef != "auto":
            try:
                if float(value) <= 0:
                    raise ValueError
            except ValueError:
                out.append(
                    ("ent_coef", f"must be 'auto', 'auto_<float>' or a positive float, got {self.ent_coef!r}")
                )
        return out

    def sb3_kwargs(self) -> dict[str, Any]:
        kwargs = super().sb3_kwargs()
        if not self.ent_coef.startswith("auto"):
            kwargs["ent_coef"] = float(self.ent_coef)
        return kwargs


@dataclass
class TD3Config(OffPolicyConfig):
    algo: Algo = Algo.td3
    learning_rate: float = 1e-3
    policy_delay: int = _positive_int(2)
    target_policy_noise: float = _non_negative(0.2)
    target_noise_clip: float = _non_negative(0.5)
    action_noise_std: float = _non_negative(0.1)
    """Std of the Gaussian exploration noise added to actions in [-1, 1]."""


AGENT_CONFIGS: dict[Algo, type[AgentConfig]] = {
    Algo.ppo: PPOConfig,
    Algo.sac: SACConfig,
    Algo.td3: TD3Config,
    Algo.a2c: A2CConfig,
    Algo.recurrent_ppo: RecurrentPPOConfig,
}


# --------------------------------------------------------------------------- the run


class EnvMode(Enum):
    """What one agent step is: ``step`` (every plant step, ``hybridrl/HybridMine-v1``: dispatch
    and investments), ``epoch`` (one investment epoch, ``hybridrl/HybridMineEpoch-v1``: the
    investments only, dispatch by the economics rule) or ``greedy_hybrid`` (one investment epoch,
    ``hybridrl/HybridMineGreedyHybrid-v1``: the greedy rule's parameters for the epoch, a hybrid
    policy)."""

    step = "step"
    epoch = "epoch"
    greedy_hybrid = "greedy_hybrid"

    @property
    def epoch_action(self) -> str | None:
        """What an agent step decides in a decision-epoch mode
        (:data:`~hybridrl.env.epoch_encoding.EPOCH_ACTIONS`); None in the step mode."""
        return {"epoch": "investments", "greedy_hybrid": "greedy_parameters"}.get(self.value)

    @property
    def env_id(self) -> str:
        """The registered Gymnasium id of the mode's environment."""
        from hybridrl import ENV_ID, EPOCH_ENV_ID, GREEDY_HYBRID_ENV_ID

        return {"step": ENV_ID, "epoch": EPOCH_ENV_ID, "greedy_hybrid": GREEDY_HYBRID_ENV_ID}[self.value]

    @classmethod
    def of_env_id(cls, env_id: str | None) -> EnvMode:
        """The mode of a run's recorded ``env_id`` (a run without one: ``step``)."""
        return next((mode for mode in cls if mode.env_id == env_id), cls.step)


@dataclass
class EnvConfig:
    scenario: str = "default"
    """A catalogue name (``envs/<name>.yaml``) or a path to a scenario YAML file."""
    mode: EnvMode = EnvMode.step

    def problems(self) -> list[tuple[str, str]]:
        if self.scenario in list_scenarios() or Path(self.scenario).is_file():
            return []
        return [
            (
                "scenario",
                f"unknown scenario {self.scenario!r}: not in the catalogue {list_scenarios()} "
                f"({envs_dir()}) and not a file",
            )
        ]


def is_run_dir(path: str) -> bool:
    """Whether ``path`` is a finished training run (it holds ``run.json``)."""
    return (Path(path) / RUN_FILE).is_file()


@dataclass
class ImitationConfig:
    """Warm start by behaviour cloning: the network's mean action is fitted to an expert's
    decisions (its investments with ``env.mode=epoch``; its dispatch step by step in the full
    environment of an operations scenario, one without investments) on paths of the run's own
    training range, its value head to the expert's discounted returns, before RL starts. The
    expert must not peek: a rule policy, an MPC (its forecaster sees only the path so far) or a
    trained run (its network sees what the site knows), never the oracle."""

    expert: str | None = None
    """A rule policy's name (``greedy``, ...), an MPC's (``mpc_conditional_expectation``,
    ``mpc_persistence``), a training run's directory (its ``best/`` model, trained on the same
    world: e.g. distilling a hybrid into a pure network), or None for no warm start."""
    episodes: int = _positive_int(64)
    """Expert episodes recorded (paths from the end of the run's training seed block)."""
    epochs: int = _positive_int(200)
    """Passes over the recorded decisions."""
    learning_rate: float = field(default=1e-3, metadata={"range": (lambda v: v > 0, "> 0")})
    log_std: float = field(default=-1.5, metadata={"range": (lambda v: -5 <= v <= 1, "in [-5, 1]")})
    """The policy's log standard deviation after cloning (exploration around the expert)."""
    n_jobs: int = field(
        default=1, metadata={"range": (lambda v: v == -1 or v >= 1, ">= 1, or -1 for every core")}
    )
    """Processes recording the demonstrations (joblib; an MPC solves each path alone, about 13 s
    per path on ``default``); the demonstrations are the same for any value."""

    def problems(self) -> list[tuple[str, str]]:
        out = _range_problems(self)
        if self.expert is not None and self.expert not in EXPERT_NAMES and not is_run_dir(self.expert):
            out.append(
                (
                    "expert",
                    f"unknown expert {self.expert!r}; known: {list(EXPERT_NAMES)} "
                    "or a training run's directory",
                )
            )
        return out


@dataclass
class EvalConfig:
    """Evaluation during training, on validation paths disjoint from the training paths."""

    every_steps: int = _positive_int(20_000)
    """Evaluate each time the run crosses a multiple of this many environment steps."""
    episodes: int = _positive_int(4)
    gap_closed: bool = True
    """Also report gap closed against the MILP oracle (its plans are solved once per run)."""
    oracle_time_limit_s: float = field(default=20.0, metadata={"range": (lambda v: v > 0, "> 0")})

    def problems(self) -> list[tuple[str, str]]:
        return _range_problems(self)


@dataclass
class LoggerConfig:
    kind: LoggerKind = LoggerKind.wandb
    mode: WandbMode = WandbMode.offline
    """offline (default: no account, no network), online, or disabled."""
    project: str = "hybridrl"
    entity: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)

    def problems(self) -> list[tuple[str, str]]:
        return [] if self.project else [("project", "must not be empty")]


@dataclass
class TrainConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=PPOConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    imitation: ImitationConfig = field(default_factory=ImitationConfig)
    seed: int = 0
    """Seeds the agent and the training paths; training and validation paths never meet."""
    total_timesteps: int = _positive_int(200_000)
    n_envs: int = _positive_int(4)
    vec_env: VecEnvKind = VecEnvKind.native
    """``native`` (the batched vector env) by default: on ``default``, 3 seeds x 150,000 steps, its
    validation curves were those of ``dummy`` bit for bit (CHANGELOG, issue 15)."""
    torch_threads: int = _positive_int(1)
    normalize: bool = True
    """VecNormalize observations and rewards (statistics saved beside every model)."""
    checkpoint_every_steps: int = _positive_int(50_000)
    keep_checkpoints: int = _positive_int(3)
    progress_bar: bool | None = None
    """None: on when stdout is a terminal and not in CI or a multirun job."""
    resume: str | None = None
    """A run directory to continue from its latest checkpoint."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_config(self)


RULE_NAMES = (
    "always_mine",
    "static_split",
    "hashprice_threshold",
    "greedy",
    "peak_avoidance",
    "reserve_threshold",
)
"""The keys of :data:`hybridrl.baselines.RULE_POLICIES` (named here so that checking a config
imports no solver; a test keeps the two equal)."""
DEFAULT_RULES = RULE_NAMES[:4]
"""The rule policies a benchmark runs unless told otherwise; ``peak_avoidance`` is added on a
scenario with a grid and ``reserve_threshold`` on one with reserves
(:func:`hybridrl.evaluation.benchmark.build_policies`)."""
FORECASTER_NAMES = ("conditional_expectation", "persistence")
"""The keys of :data:`hybridrl.baselines.mpc.FORECASTERS` (a test keeps the two equal)."""
EXPERT_NAMES = RULE_NAMES + tuple(f"mpc_{name}" for name in FORECASTER_NAMES)
"""What ``imitation.expert`` may name: a rule policy or an MPC (``mpc_<forecaster>``); see
:func:`hybridrl.baselines.expert_policy`."""


@dataclass
class BenchmarkConfig:
    """Every policy on the same held-out paths; see ``experiments/benchmark.py``."""

    env: EnvConfig = field(default_factory=EnvConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seeds: int = _positive_int(32)
    """Number of held-out paths: seeds first_seed .. first_seed + seeds - 1."""
    first_seed: int = 0
    rules: list[str] = field(default_factory=lambda: list(DEFAULT_RULES))
    """Rule policies to run; on a scenario with a grid ``peak_avoidance`` is added if missing."""
    mpc: list[str] = field(default_factory=lambda: list(FORECASTER_NAMES))
    """Forecasters of the MPCs to run (90-day horizon, weekly re-plans)."""
    oracle: bool = True
    oracle_time_limit_s: float = field(default=30.0, metadata={"range": (lambda v: v > 0, "> 0")})
    runs: list[str] = field(default_factory=list)
    """Training run directories whose policies to benchmark."""
    run_model: str = "best"
    """``best`` (by validation) or ``final``."""
    train_on_the_fly: bool = False
    """Train ``train`` (on this scenario, into <output>/train) and benchmark it too."""
    train: TrainConfig = field(default_factory=TrainConfig)
    bootstrap: int = _positive_int(10_000)
    title: str = ""
    n_jobs: int = field(
        default=1, metadata={"range": (lambda v: v == -1 or v >= 1, ">= 1, or -1 for every core")}
    )
    """Processes for the oracle's per-path solves and the MPCs' paths (joblib); -1: every core.
    Results equal a serial run's, apart from what a time limit cuts differently."""

    def __post_init__(self) -> None:
        out = [(f"{k}", m) for k, m in _range_problems(self)]
        out += [(f"env.{k}", m) for k, m in self.env.problems()]
        out += [(f"logger.{k}", m) for k, m in self.logger.problems()]
        if not 0 <= self.first_seed < HELD_OUT_LIMIT - self.seeds:
            message = "held-out seeds must lie in [0, 2**32); training and validation paths use the rest"
            out.append(("first_seed", message))
        known = list(RULE_NAMES)
        out += [("rules", f"unknown rule {r!r}; known: {known}") for r in self.rules if r not in RULE_NAMES]
        out += [
            ("mpc", f"unknown forecaster {f!r}; known: {list(FORECASTER_NAMES)}")
            for f in self.mpc
            if f not in FORECASTER_NAMES
        ]
        if self.run_model not in ("best", "final"):
            out.append(("run_model", f"must be best or final, got {self.run_model!r}"))
        out += [
            ("runs", f"{r!r} is not a training run directory (no run.json)")
            for r in self.runs
            if not (Path(r) / RUN_FILE).is_file()
        ]
        if out:
            raise ConfigError(out)


@dataclass
class BacktestConfig(BenchmarkConfig):
    """Every policy on real network history; see ``experiments/backtest.py``. The seeds sample
    what the file lacks (power, GPU market, offers, outages): the network is the same on each."""

    data: str = ""
    """A daily history file in the Coin Metrics format (the project ships none)."""
    start: str = "2020-01-01"
    end: str = ""
    """Last day of the window (inclusive); empty: the file's last day."""

    def __post_init__(self) -> None:
        out = []
        if not self.data:
            out.append(("data", "a history file is needed: data=<file.csv> (Coin Metrics daily format)"))
        elif not Path(self.data).is_file():
            out.append(("data", f"{self.data!r} is not a file"))
        for key in ("start", "end"):
            value = getattr(self, key)
            if value or key == "start":
                try:
                    dt.date.fromisoformat(value)
                except ValueError:
                    out.append((key, f"expected a date YYYY-MM-DD, got {value!r}"))
        try:
            super().__post_init__()
        except ConfigError as err:
            out = list(err.problems) + out
        if out:
            raise ConfigError(out)


def _range_problems(obj: object) -> list[tuple[str, str]]:
    out = []
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        rule = f.metadata.get("range")
        value = getattr(obj, f.name)
        if rule is not None and not rule[0](value):
            out.append((f.name, f"must be {rule[1]}, got {value}"))
    return out


def config_problems(cfg: TrainConfig) -> list[tuple[str, str]]:
    """Every problem of ``cfg``, as (dotted key, message)."""
    out = [(k, m) for k, m in _range_problems(cfg)]
    if not 0 <= cfg.seed < RUN_SEED_LIMIT:
        out.append(("seed", f"must lie in [0, {RUN_SEED_LIMIT}), got {cfg.seed}"))
    if cfg.n_envs > ENVS_PER_RUN:
        out.append(("n_envs", f"must be at most {ENVS_PER_RUN}, got {cfg.n_envs}"))
    if cfg.device not in ("cpu", "cuda", "auto") and not cfg.device.startswith("cuda:"):
        out.append(("device", f"must be cpu, cuda, cuda:<n> or auto, got {cfg.device!r}"))
    if cfg.resume is not None and not (Path(cfg.resume) / RUN_CONFIG_FILE).is_file():
        out.append(("resume", f"{cfg.resume!r} is not a run directory (no {RUN_CONFIG_FILE} in it)"))
    parts = (("env", cfg.env), ("agent", cfg.agent), ("logger", cfg.logger), ("eval", cfg.eval))
    for prefix, part in (*parts, ("imitation", cfg.imitation)):
        out.extend((f"{prefix}.{k}", m) for k, m in part.problems())
    out += _mode_problems(cfg)
    agent = cfg.agent
    if isinstance(agent, PPOConfig) and agent.batch_size > agent.n_steps * cfg.n_envs:
        out.append(
            (
                "agent.batch_size",
                f"must be at most n_steps x n_envs = {agent.n_steps * cfg.n_envs}, got {agent.batch_size}",
            )
        )
    expected = AGENT_CONFIGS[agent.algo]
    if type(agent) is not expected:
        out.append(
            ("agent.algo", f"{agent.algo.value} needs a {expected.__name__}, got {type(agent).__name__}")
        )
    return out


def _mode_problems(cfg: TrainConfig) -> list[tuple[str, str]]:
    """What the decision-epoch mode and the imitation warm start need."""
    out = []
    if cfg.imitation.expert is not None and cfg.env.mode is EnvMode.greedy_hybrid:
        out.append(
            (
                "imitation.expert",
                "env.mode=greedy_hybrid starts at greedy (the zero action): nothing to clone",
            )
        )
    if cfg.imitation.expert is not None:
        if cfg.agent.algo not in (Algo.ppo, Algo.a2c):
            out.append(
                (
                    "imitation.expert",
                    f"cloning needs a Gaussian actor-critic (ppo, a2c), not {cfg.agent.algo.value}",
                )
            )
        if cfg.imitation.episodes + cfg.n_envs > ENVS_PER_RUN:
            out.append(("imitation.episodes", f"with n_envs, at most {ENVS_PER_RUN} paths per run"))
    return out


def check_config(cfg: TrainConfig) -> None:
    """Raise :class:`ConfigError` listing every problem of ``cfg``."""
    problems = config_problems(cfg)
    if problems:
        raise ConfigError(problems)


def register_configs() -> None:
    """Register the schemas with Hydra's ConfigStore (called by the entry points)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import MISSING, OmegaConf

    cs = ConfigStore.instance()
    schema = OmegaConf.structured(TrainConfig)
    schema.agent = MISSING  # filled by the agent group with its own schema (a subclass)
    cs.store(name="train_schema", node=schema)
    cs.store(name="benchmark_schema", node=BenchmarkConfig)
    cs.store(name="backtest_schema", node=BacktestConfig)
    from hybridrl.agents.tuning import TuneConfig

    tune_schema = OmegaConf.structured(TuneConfig)
    tune_schema.agent = MISSING
    cs.store(name="tune_schema", node=tune_schema)
    for algo, schema in AGENT_CONFIGS.items():
        cs.store(group="agent", name=f"{algo.value}_schema", node=schema)
