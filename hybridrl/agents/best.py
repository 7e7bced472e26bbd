"""The run's ``best/`` folder (the best model by validation NAV change, with the statistics it
was evaluated with): written atomically, checked before use, repaired on resume.

A new best is written into ``.best_tmp/`` with ``best.json`` last, then swapped in by two
renames (``best`` -> ``.best_old``, ``.best_tmp`` -> ``best``). A run killed at any point
leaves either the previous complete ``best/``, or a complete ``.best_tmp/`` or ``.best_old/``
that :func:`repair_best` promotes back.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hybridrl.agents.files import BEST_DIR, BEST_FILE, MODEL_FILE, NORMALIZER_FILE, model_folder

TMP_DIR = ".best_tmp"
OLD_DIR = ".best_old"


def write_best(run_dir: Path, save: Callable[[Path], None], record: dict[str, Any]) -> Path:
    """Write a new ``best/``: ``save(folder)`` writes the model and statistics, ``record`` (with
    ``step``) goes to ``best.json`` last, then the folder is swapped in."""
    tmp, old, best = run_dir / TMP_DIR, run_dir / OLD_DIR, run_dir / BEST_DIR
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save(tmp)
    (tmp / BEST_FILE).write_text(json.dumps(record))
    shutil.rmtree(old, ignore_errors=True)
    if best.exists():
        best.rename(old)
    tmp.rename(best)
    shutil.rmtree(old, ignore_errors=True)
    return best


def is_complete(folder: Path) -> bool:
    """A model folder whose model archive is whole (and whose statistics, if any, parse); a
    folder written by :func:`write_best` also needs its ``best.json``."""
    model = folder / MODEL_FILE
    try:
        with zipfile.ZipFile(model) as archive:
            if archive.testzip() is not None:
                return False
        stats = folder / NORMALIZER_FILE
        if stats.exists():
            json.loads(stats.read_text())
        marker = folder / BEST_FILE
        if marker.exists():
            int(json.loads(marker.read_text())["step"])
    except (OSError, zipfile.BadZipFile, ValueError, KeyError, TypeError):
        return False
    return True


def best_record(run_dir: Path) -> dict[str, Any] | None:
    """``best/best.json`` (step, validation NAV change) if ``best/`` is complete and has one."""
    best = run_dir / BEST_DIR
    if not is_complete(best) or not (best / BEST_FILE).is_file():
        return None
    record: dict[str, Any] = json.loads((best / BEST_FILE).read_text())
    return record


def repair_best(run_dir: Path) -> str:
    """Bring ``best/`` back to a complete state after a kill; says what it did: ``"intact"``
    (complete, or never written), ``"promoted"`` (a complete new or previous best renamed into
    place) or ``"discarded"`` (nothing complete left: the next evaluation writes a new best)."""
    tmp, old, best = run_dir / TMP_DIR, run_dir / OLD_DIR, run_dir / BEST_DIR
    if is_complete(best) or not (best.exists() or tmp.exists() or old.exists()):
        outcome = "intact"
    else:
        shutil.rmtree(best, ignore_errors=True)
        outcome = "discarded"
        for candidate in (tmp, old):
            if is_complete(candidate) and (candidate / BEST_FILE).is_file():
                candidate.rename(best)
                outcome = "promoted"
                break
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return outcome


def usable_best(run_dir: Path) -> Path:
    """``best/`` if it is complete; otherwise a clear error (export and evaluation read it)."""
    best = run_dir / BEST_DIR
    if not best.exists():
        raise ValueError(f"{run_dir} has no best model yet ({BEST_DIR}/ is missing); use which=final")
    if not is_complete(best):
        raise ValueError(
            f"{best} is incomplete (a run killed while writing it?): resume the run to repair it, "
            "or use which=final"
        )
    return best


def model_step(run_dir: Path, which: str, meta_run: dict[str, Any]) -> int | None:
    """The training step of a run's model ``which``: ``best`` from ``best/best.json`` (for runs
    written before it, run.json's ``best.best_step``), ``final`` from run.json."""
    if which == "best":
        record = best_record(run_dir)
        if record is not None:
            return int(record["step"])
        step = (meta_run.get("best") or {}).get("best_step")
        return None if step is None else int(step)
    steps = meta_run.get("num_timesteps")
    return None if steps is None else int(steps)


def model_dir(run_dir: str | Path, which: str) -> Path:
    """The folder of a run's model ``which`` (``best``, ``final`` or a checkpoint path), refused
    with a clear message when it is missing or incomplete."""
    run_dir = Path(run_dir)
    folder = usable_best(run_dir) if which == "best" else model_folder(run_dir, which)
    if which != "best" and not is_complete(folder):
        raise ValueError(f"{folder} holds no complete model ({MODEL_FILE})")
    return folder
