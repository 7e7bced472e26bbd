"""A built wheel works anywhere: installed into a fresh venv and run outside any checkout, it
finds its scenario catalogue and Hydra configs, and its commands train, benchmark, export and tune.

The fresh venv takes the wheel's dependencies from the test's own environment (a ``.pth`` line)
so that the test needs no network; hybridrl itself comes only from the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYBRIDRL_ENVS_DIR")}
    env.update({"CI": "1", "WANDB_SILENT": "true", "WANDB_MODE": "offline"})
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the freshly built wheel installed; returns its bin/ folder."""
    base = tmp_path_factory.mktemp("wheel")
    wheels = base / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
        ],
        cwd=base,
    )
    (wheel,) = wheels.glob("hybridrl-*.whl")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=base)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], cwd=base)
    return venv / "bin"


def test_the_wheel_runs_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    py = str(installed / "python")
    probe = (
        "import json, gymnasium as gym, hybridrl; from hybridrl.sim import list_scenarios\n"
        "names = list_scenarios()\n"
        "for n in names:\n"
        "    env = gym.make(hybridrl.ENV_ID, scenario=n)\n"
        "    env.reset(seed=0)\n"
        "    env.step(env.action_space.sample())\n"
        "print(json.dumps({'file': hybridrl.__file__, 'scenarios': names}))\n"
    )
    out = json.loads(_run([py, "-c", probe], cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert not out["file"].startswith(str(ROOT)), out["file"]  # the wheel, not the checkout
    assert {"default", "tiny", "bear_market", "ai_boom", "hourly_ops"} <= set(out["scenarios"])

    run = tmp_path / "run"
    _run(
        [str(installed / "hybridrl-train"), "experiment=smoke", "logger=none", f"hydra.run.dir={run}"],
        cwd=tmp_path,
    )
    assert (run / "run.json").is_file()
    bench = tmp_path / "bench"
    _run(
        [
            str(installed / "hybridrl-benchmark"),
            "preset=smoke",
            "train_on_the_fly=false",
            f"runs=[{run}]",
            "mpc=[]",
            "logger=none",
            f"hydra.run.dir={bench}",
        ],
        cwd=tmp_path,
    )
    assert (bench / "summary.md").is_file()
    exported = tmp_path / "exported"
    _run(
        [
            str(installed / "hybridrl-export"),
            f"run_dir={run}",
            f"out={exported}",
            f"hydra.run.dir={tmp_path / 'x'}",
        ],
        cwd=tmp_path,
    )
    study = tmp_path / "study"
    _run(
        [str(installed / "hybridrl-tune"), "experiment=smoke", "tune.n_trials=1", f"hydra.run.dir={study}"],
        cwd=tmp_path,
    )
    assert (study / "study.db").is_file() and (study / "best_preset.yaml").is_file()
    load = f"from hybridrl.scheduler import Scheduler; s = Scheduler.load({str(exported)!r}); print('ok')"
    assert _run([py, "-c", load], cwd=tmp_path).stdout.strip().endswith("ok")
