"""The Hydra apps behind the ``hybridrl-train``, ``hybridrl-benchmark`` and ``hybridrl-export``
commands (``experiments/*.py`` run the same apps from a checkout)."""

from __future__ import annotations

import sys
from typing import TypeVar

from omegaconf import DictConfig, OmegaConf

from hybridrl.agents.config import ConfigError

T = TypeVar("T")


def typed_config(cfg: DictConfig, kind: type[T]) -> T:
    """The app's config as its dataclass; a :class:`ConfigError` (every problem with its key)
    is printed and exits with status 2."""
    try:
        conf = OmegaConf.to_object(cfg)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    assert isinstance(conf, kind)
    return conf
