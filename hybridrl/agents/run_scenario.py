"""The world a training run belongs to.

A fresh run keeps a copy of its resolved scenario (``scenario.yaml``, self-contained, the same
hash as the parameters it trained on). Resuming, evaluating and exporting read that copy, so a
run trained on the user's own file needs nothing but its folder, and a scenario edited since the
run began cannot silently replace the world the policy learned.
"""

from __future__ import annotations

import json
from pathlib import Path

from hybridrl.agents.files import RUN_FILE, SCENARIO_FILE
from hybridrl.sim.params import ScenarioParams, list_scenarios, load_scenario, save_scenario


class RunScenarioError(ValueError):
    """A run's scenario cannot be found, or disagrees with the scenario it is used with."""


def save_run_scenario(params: ScenarioParams, run_dir: str | Path) -> Path:
    """Write the run's copy of its scenario (``<run_dir>/scenario.yaml``)."""
    return save_scenario(params, Path(run_dir) / SCENARIO_FILE)


def load_run_scenario(run_dir: str | Path) -> ScenarioParams:
    """The scenario the run in ``run_dir`` trained on: its copy; for a run written before copies
    existed, the scenario its ``run.json`` names, if that still has the recorded hash."""
    run_dir = Path(run_dir)
    copy = run_dir / SCENARIO_FILE
    if copy.is_file():
        return load_scenario(copy)
    meta_file = run_dir / RUN_FILE
    if not meta_file.is_file():
        raise RunScenarioError(f"{run_dir}: no {SCENARIO_FILE} and no {RUN_FILE}: not a training run")
    meta = json.loads(meta_file.read_text())
    name, recorded = meta.get("scenario"), meta.get("scenario_hash")
    params = load_scenario(str(name))
    if recorded is not None and params.scenario_hash != recorded:
        raise RunScenarioError(
            f"{run_dir} keeps no copy of its scenario ({SCENARIO_FILE}) and scenario {name!r} changed "
            "since it was trained (its hash differs): the world it learned on is gone"
        )
    return params


def refuse_catalogue_mismatch(params: ScenarioParams, run_dir: str | Path) -> None:
    """Refuse a run whose scenario carries a catalogue scenario's name but is another world (the
    catalogue changed since the run, or the user's file reused a catalogue name): anything
    recorded under that name would be misread."""
    if params.name not in list_scenarios():
        return
    catalogue = load_scenario(params.name)
    if catalogue.scenario_hash != params.scenario_hash:
        raise RunScenarioError(
            f"{run_dir} was trained on a scenario named {params.name!r} (hash {params.scenario_hash[:12]}), "
            f"but the catalogue's {params.name!r} is now a different world (hash "
            f"{catalogue.scenario_hash[:12]}); use a code version whose catalogue matches, or rename the "
            f"scenario in {Path(run_dir) / SCENARIO_FILE}"
        )


def refuse_changed_source(params: ScenarioParams, scenario: str, run_dir: str | Path) -> None:
    """Refuse to resume a run when the scenario its config names (a catalogue name or a file)
    now describes another world than the run's copy; a source that no longer exists is fine
    (the copy is the run's world)."""
    if scenario not in list_scenarios() and not Path(scenario).is_file():
        return
    now = load_scenario(scenario)
    if now.scenario_hash != params.scenario_hash:
        raise RunScenarioError(
            f"scenario {scenario!r} changed since {run_dir} started (hash {params.scenario_hash[:12]} "
            f"then, {now.scenario_hash[:12]} now): resuming would continue on another world and compare "
            f"against a stale reference; start a fresh run, or restore the scenario "
            f"(the run's own copy is {Path(run_dir) / SCENARIO_FILE})"
        )


__all__ = [
    "RunScenarioError",
    "load_run_scenario",
    "refuse_catalogue_mismatch",
    "refuse_changed_source",
    "save_run_scenario",
]
