"""Names of the files and folders in a training run directory (one place for every reader and
writer: training, callbacks, evaluator, benchmark, export)."""

from __future__ import annotations

from pathlib import Path

RUN_CONFIG_FILE = "config.yaml"
"""The resolved configuration, written at the top of every run directory."""
SCENARIO_FILE = "scenario.yaml"
"""The run's own copy of its resolved scenario (self-contained, same hash), written first."""
RUN_FILE = "run.json"
"""What was trained, on which seeds, how fast; written when training ends."""
MODEL_FILE = "model.zip"
NORMALIZER_FILE = "vecnormalize.json"
"""VecNormalize's observation statistics as JSON (read without unpickling)."""
VECNORMALIZE_FILE = "vecnormalize.pkl"
"""SB3's own VecNormalize pickle, to resume training."""
CHECKPOINT_DIR = "checkpoints"
BEST_DIR = "best"
STATE_FILE = "state.json"
BEST_FILE = "best.json"
"""In ``best/``: the step and validation NAV change of the model beside it, written last (a
``best/`` without it is incomplete)."""
REPLAY_BUFFER_FILE = "replay_buffer.pkl"
EVAL_FILE = "eval.csv"
MODELS = ("best", "final")


def model_folder(run_dir: str | Path, which: str) -> Path:
    """Where a run keeps the model ``which``: ``final`` (the run directory), ``best`` (best by
    validation), or any other folder given as a path (a checkpoint)."""
    run_dir = Path(run_dir)
    return {"final": run_dir, "best": run_dir / BEST_DIR}.get(which, Path(which))
