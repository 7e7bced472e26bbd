"""Pure-numpy core: parameters, exogenous paths, Bitcoin rules, plant and accounting."""

from hybridrl.sim.exogenous import ExogenousPath, sample_paths
from hybridrl.sim.params import ScenarioError, ScenarioParams, list_scenarios, load_scenario
from hybridrl.sim.plant import CASH_FLOW_TERMS, NativeAction, Plant, PlantState, StepOutcome

__all__ = [
    "CASH_FLOW_TERMS",
    "ExogenousPath",
    "NativeAction",
    "Plant",
    "PlantState",
    "ScenarioError",
    "ScenarioParams",
    "StepOutcome",
    "list_scenarios",
    "load_scenario",
    "sample_paths",
]
