"""Runs bound to what they were trained on: the run's copy of its scenario, export and benchmark
reading it, resume refusing conflicting settings and a changed scenario, no stray run folders,
an atomic ``best/`` repaired on resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

pytest.importorskip("stable_baselines3")

from hybridrl.agents.best import OLD_DIR, TMP_DIR, is_complete, repair_best, write_best
from hybridrl.agents.files import BEST_DIR, BEST_FILE, MODEL_FILE, SCENARIO_FILE
from hybridrl.agents.run_scenario import RunScenarioError, load_run_scenario
from hybridrl.agents.training import resume, train
from hybridrl.export.onnx_export import export_policy
from hybridrl.sim.params import list_scenarios, load_scenario, save_scenario

from .test_train import TINY, compose_train, run_cli

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "experiments" / "export.py"
BENCHMARK = ROOT / "experiments" / "benchmark.py"


def run_app(script: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "1", "WANDB_SILENT": "true"}
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def no_run_folders(cwd: Path) -> bool:
    outputs = cwd / "outputs" / "train"
    return not outputs.exists() or not list(outputs.iterdir())


@pytest.fixture(scope="module")
def user_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained on the user's own file (``mine.yaml``, extending the catalogue's tiny)."""
    root = tmp_path_factory.mktemp("user_run")
    mine = root / "mine.yaml"
    mine.write_text(
        "extends: tiny\nname: mine\ndescription: my own site\nfinance:\n  initial_cash_usd: 3.0e7\n"
    )
    train(compose_train([*TINY, f"env.scenario={mine}"]), root / "run")
    return root / "run"


# --------------------------------------------------------------------------- the run's scenario


@pytest.mark.parametrize("name", list_scenarios())
def test_a_saved_scenario_reads_back_as_the_same_world(name: str, tmp_path: Path) -> None:
    params = load_scenario(name)
    path = save_scenario(params, tmp_path / "copy.yaml")
    assert load_scenario(path).scenario_hash == params.scenario_hash
    text = path.read_text()
    assert "extends" not in text and "&id" not in text and "*id" not in text


def test_a_run_keeps_its_scenario_and_exports_from_the_users_own_file(user_run: Path, tmp_path: Path) -> None:
    copy = load_scenario(user_run / SCENARIO_FILE)
    assert copy.name == "mine" and copy.finance.initial_cash_usd == 3.0e7
    assert json.loads((user_run / "run.json").read_text())["scenario_hash"] == copy.scenario_hash
    (user_run.parent / "mine.yaml").unlink(missing_ok=False)  # the user's file is gone: the run is not
    try:
        meta = export_policy(user_run, tmp_path / "policy", which="final")
        assert meta["scenario"] == "mine" and meta["scenario_hash"] == copy.scenario_hash
    finally:
        (user_run.parent / "mine.yaml").write_text(
            "extends: tiny\nname: mine\ndescription: my own site\nfinance:\n  initial_cash_usd: 3.0e7\n"
        )


def test_policy_json_names_the_exported_models_own_step(user_run: Path, tmp_path: Path) -> None:
    best = json.loads((user_run / BEST_DIR / BEST_FILE).read_text())
    meta = export_policy(user_run, tmp_path / "best", which="best")
    assert meta["trained"]["num_timesteps"] == best["step"]
    final = export_policy(user_run, tmp_path / "final", which="final")
    assert (
        final["trained"]["num_timesteps"] == json.loads((user_run / "run.json").read_text())["num_timesteps"]
    )


def _copy_run_as_tiny_with_another_world(user_run: Path, target: Path) -> Path:
    shutil.copytree(user_run, target)
    data = yaml.safe_load((target / SCENARIO_FILE).read_text())
    data["name"] = "tiny"  # the catalogue's name, another world (its cash differs)
    (target / SCENARIO_FILE).write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def test_export_refuses_a_run_whose_catalogue_scenario_changed(user_run: Path, tmp_path: Path) -> None:
    run = _copy_run_as_tiny_with_another_world(user_run, tmp_path / "run")
    with pytest.raises(RunScenarioError, match="catalogue's 'tiny' is now a different world"):
        export_policy(run, tmp_path / "out", which="final")
    proc = run_app(EXPORT, [f"run_dir={run}", f"out={tmp_path}/out2"], cwd=tmp_path)
    assert proc.returncode == 2 and "different world" in proc.stderr and "Traceback" not in proc.stderr


def test_benchmark_refuses_a_run_trained_on_another_world_of_the_same_name(
    user_run: Path, tmp_path: Path
) -> None:
    run = _copy_run_as_tiny_with_another_world(user_run, tmp_path / "run")
    args = ["preset=smoke", "env=tiny", f"runs=[{run}]", "mpc=[]", "oracle=false", "logger=none"]
    proc = run_app(BENCHMARK, [*args, f"hydra.run.dir={tmp_path}/bench"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "not the one benchmarked here" in proc.stderr and "Traceback" not in proc.stderr


def test_a_run_without_a_copy_falls_back_to_its_recorded_hash(user_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "old_run"
    shutil.copytree(user_run, run)
    (run / SCENARIO_FILE).unlink()
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "scenario": "tiny"}))
    with pytest.raises(RunScenarioError, match="changed since it was trained"):
        load_run_scenario(run)
    tiny = load_scenario("tiny")
    (run / "run.json").write_text(
        json.dumps({**meta, "scenario": "tiny", "scenario_hash": tiny.scenario_hash})
    )
    assert load_run_scenario(run).scenario_hash == tiny.scenario_hash


# --------------------------------------------------------------------------- resume


def test_resume_refuses_a_changed_scenario(user_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(user_run, run)
    mine = user_run.parent / "mine.yaml"
    original = mine.read_text()
    mine.write_text(original.replace("3.0e7", "4.0e7"))
    try:
        with pytest.raises(RunScenarioError, match="changed since"):
            resume(run)
        proc = run_cli([f"resume={run}", f"hydra.run.dir={tmp_path}/launch"], cwd=tmp_path)
        assert proc.returncode == 2 and "changed since" in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "launch").exists()
    finally:
        mine.write_text(original)


@pytest.mark.parametrize(
    ("overrides", "keys"),
    [
        (["env=default"], ["env.scenario"]),
        (["agent=sac"], ["agent.algo"]),
        (["seed=3"], ["seed"]),
        (["eval.episodes=4", "agent.learning_rate=0.01"], ["agent.learning_rate", "eval.episodes"]),
        (["experiment=smoke", "n_envs=3"], ["n_envs"]),
    ],
)
def test_resume_refuses_settings_that_differ_from_the_saved_run(
    user_run: Path, tmp_path: Path, overrides: list[str], keys: list[str]
) -> None:
    proc = run_cli([f"resume={user_run}", *overrides], cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for key in keys:
        assert f"  {key}: the run was trained with" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert no_run_folders(tmp_path)


def test_resume_accepts_the_saved_values_and_files_its_record_in_the_run(
    user_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(user_run, run)
    saved = json.loads((run / "run.json").read_text())
    proc = run_cli([f"resume={run}", "seed=0", "logger=none", "progress_bar=false"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"trained {saved['num_timesteps']} steps" in proc.stdout
    assert no_run_folders(tmp_path)
    (record,) = (run / "resumes").iterdir()
    assert (record / ".hydra" / "overrides.yaml").is_file()


def test_a_config_error_leaves_no_run_folder(tmp_path: Path) -> None:
    proc = run_cli(["agent.learning_rate=-1"], cwd=tmp_path)
    assert proc.returncode == 2 and "agent.learning_rate" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: tiny\nname: bad\nbtc_price:\n  initial_usd: 1.0e308\n")
    proc = run_cli([f"env.scenario={bad}"], cwd=tmp_path)
    assert proc.returncode == 2 and "initial_usd" in proc.stderr and "Traceback" not in proc.stderr
    assert no_run_folders(tmp_path)


# --------------------------------------------------------------------------- best/


def _save_fake_model(folder: Path, text: str = "weights") -> None:
    with zipfile.ZipFile(folder / MODEL_FILE, "w") as archive:
        archive.writestr("data", text * 100)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_new_best_is_swapped_in_whole(tmp_path: Path) -> None:
    write_best(tmp_path, _save_fake_model, {"step": 10, "nav_change_usd": 1.0})
    write_best(tmp_path, lambda f: _save_fake_model(f, "newer"), {"step": 20, "nav_change_usd": 2.0})
    assert json.loads((tmp_path / BEST_DIR / BEST_FILE).read_text())["step"] == 20
    assert is_complete(tmp_path / BEST_DIR)
    assert not (tmp_path / TMP_DIR).exists() and not (tmp_path / OLD_DIR).exists()


def test_repair_discards_a_truncated_best_and_promotes_a_complete_one(tmp_path: Path) -> None:
    write_best(tmp_path, _save_fake_model, {"step": 10, "nav_change_usd": 1.0})
    assert repair_best(tmp_path) == "intact"
    _truncate(tmp_path / BEST_DIR / MODEL_FILE)
    assert not is_complete(tmp_path / BEST_DIR)
    assert repair_best(tmp_path) == "discarded"
    assert not (tmp_path / BEST_DIR).exists()
    # killed between the two renames: best/ gone, the new one complete in .best_tmp
    write_best(tmp_path, _save_fake_model, {"step": 30, "nav_change_usd": 3.0})
    (tmp_path / BEST_DIR).rename(tmp_path / TMP_DIR)
    assert repair_best(tmp_path) == "promoted"
    assert json.loads((tmp_path / BEST_DIR / BEST_FILE).read_text())["step"] == 30
    # killed while the new one was written: its best.json is missing, the previous one is kept
    (tmp_path / BEST_DIR).rename(tmp_path / OLD_DIR)
    (tmp_path / TMP_DIR).mkdir()
    _save_fake_model(tmp_path / TMP_DIR)
    assert repair_best(tmp_path) == "promoted"
    assert json.loads((tmp_path / BEST_DIR / BEST_FILE).read_text())["step"] == 30


def test_a_truncated_best_is_refused_clearly_and_repaired_by_resume(user_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(user_run, run)
    _truncate(run / BEST_DIR / MODEL_FILE)
    with pytest.raises(ValueError, match="incomplete"):
        export_policy(run, tmp_path / "out", which="best")
    proc = run_app(EXPORT, [f"run_dir={run}", f"out={tmp_path}/out2"], cwd=tmp_path)
    assert proc.returncode == 2 and "incomplete" in proc.stderr and "Traceback" not in proc.stderr
    (run / "model.zip").unlink()  # killed before the end: resume trains on and evaluates again
    (run / "run.json").unlink()
    shutil.rmtree(sorted((run / "checkpoints").glob("step_*"))[-1])
    resume(run, progress_bar=False)
    assert is_complete(run / BEST_DIR)
    assert export_policy(run, tmp_path / "out3", which="best")["trained"]["num_timesteps"] is not None


# --------------------------------------------------------------------------- quiet tools


def test_export_and_the_oracle_print_no_banner_or_info_lines_unless_verbose(
    user_run: Path, tmp_path: Path
) -> None:
    proc = run_app(EXPORT, [f"run_dir={user_run}", f"out={tmp_path}/quiet", "which=final"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "[INFO]" not in out and "[torch.onnx]" not in out and "torchvision" not in out, out
    assert out.count("\n") <= 3, out
    loud = run_app(
        EXPORT, [f"run_dir={user_run}", f"out={tmp_path}/loud", "which=final", "verbose=true"], cwd=tmp_path
    )
    assert loud.returncode == 0 and "[torch.onnx]" in loud.stdout + loud.stderr
    code = "from hybridrl.evaluation import evaluate_oracle; evaluate_oracle('tiny', [0], time_limit_s=5)"
    oracle = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert oracle.returncode == 0, oracle.stderr
    assert "HiGHS" not in oracle.stdout + oracle.stderr


def test_the_template_state_is_the_scenarios_start_and_decides_cleanly(
    user_run: Path, tmp_path: Path
) -> None:
    from hybridrl.export.spec import start_state
    from hybridrl.scheduler import Scheduler
    from hybridrl.sim.plant import Plant

    export_policy(user_run, tmp_path / "policy", which="final")
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "hybridrl-schedule"),
            "--policy",
            str(tmp_path / "policy"),
            "--template",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    template = json.loads(proc.stdout)
    assert template == pytest.approx(start_state(Plant(load_run_scenario(user_run))))
    scheduler = Scheduler.load(tmp_path / "policy")
    assert scheduler.problems(template) == []
    assert not scheduler.decide(template).fallback
