"""Build hook: copy the scenario catalogue (``envs/``) and the Hydra configs (``configs/``) into
the package as ``hybridrl/_resources/`` so that a wheel works outside the checkout. Everything
else is in pyproject.toml. The top-level folders stay the source of truth."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
RESOURCES = ("envs", "configs")


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "hybridrl" / "_resources"
        for name in RESOURCES:
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildWithResources})
