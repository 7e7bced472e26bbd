"""Where the scenario catalogue and the Hydra configs live.

The top-level ``envs/`` and ``configs/`` folders of the repository are the source of truth. A
built wheel carries copies of both inside the package (``hybridrl/_resources/``, written by the
build hook in ``setup.py``), so that an installed hybridrl works outside any checkout. A
checkout (or an editable install) reads the top-level folders directly.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED = PACKAGE_DIR / "_resources"
"""The copies a wheel ships (absent in a checkout)."""
CHECKOUT = PACKAGE_DIR.parent
"""The repository root, when the package runs from a checkout."""


def _resource(name: str, env_var: str) -> Path:
    override = os.environ.get(env_var)
    if override:
        return Path(override)
    packaged = PACKAGED / name
    return packaged if packaged.is_dir() else CHECKOUT / name


def envs_dir() -> Path:
    """The scenario catalogue: ``$HYBRIDRL_ENVS_DIR``, the wheel's copy, or the checkout's ``envs/``."""
    return _resource("envs", "HYBRIDRL_ENVS_DIR")


def configs_dir() -> Path:
    """The Hydra configs: ``$HYBRIDRL_CONFIGS_DIR``, the wheel's copy, or the checkout's ``configs/``."""
    return _resource("configs", "HYBRIDRL_CONFIGS_DIR")
