"""The Hydra apps behind the ``hybridrl-train``, ``hybridrl-benchmark`` and ``hybridrl-export``
commands (``experiments/*.py`` run the same apps from a checkout)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from omegaconf import DictConfig, OmegaConf

from hybridrl.agents.config import ConfigError

T = TypeVar("T")

HYDRA_OWN_FILES = (".hydra",)
"""What Hydra writes into a job's output folder before the app runs (plus ``*.log``)."""


def hydra_output_dir() -> Path | None:
    """This Hydra job's output folder (None outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return Path(HydraConfig.get().runtime.output_dir)


def holds_only_hydra_files(folder: Path) -> bool:
    """True when ``folder`` holds nothing the app wrote (only Hydra's record and log)."""
    return folder.is_dir() and all(p.name in HYDRA_OWN_FILES or p.suffix == ".log" for p in folder.iterdir())


def discard_unused_output() -> None:
    """Remove this job's output folder if the app wrote nothing into it (a config error must not
    leave a misleadingly named run folder behind)."""
    folder = hydra_output_dir()
    if folder is not None and holds_only_hydra_files(folder):
        shutil.rmtree(folder, ignore_errors=True)


def fail(message: object) -> NoReturn:
    """Print ``error: message``, discard the unused output folder and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    discard_unused_output()
    sys.exit(2)


def typed_config(cfg: DictConfig, kind: type[T]) -> T:
    """The app's config as its dataclass; a :class:`ConfigError` (every problem with its key)
    is printed and exits with status 2."""
    try:
        conf = OmegaConf.to_object(cfg)
    except ConfigError as err:
        fail(err)
    assert isinstance(conf, kind)
    return conf


def run_report_app(
    cfg: DictConfig,
    kind: type[T],
    run: Callable[[T, str, Callable[[str], None]], object],
    files: str,
) -> None:
    """The body of the benchmark and backtest apps: the typed config, ``run`` into the job's
    output folder (a ValueError, e.g. a bad file or held-out seeds a run trained on, exits with
    status 2), then the summary table and where the report's ``files`` are."""
    typed = typed_config(cfg, kind)
    out = str(hydra_output_dir())
    try:
        run(typed, out, lambda line: print(line, flush=True))
    except ValueError as err:
        fail(err)
    print()
    print(Path(out, "summary.md").read_text())
    print(f"report and plots: {out} ({files})")
