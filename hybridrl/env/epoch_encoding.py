"""The decision-epoch action: the investment decisions only, centred on "change nothing".

In the decision-epoch mode (:class:`hybridrl.env.epoch_env.DecisionEpochEnv`) the agent acts
once per investment epoch; dispatch at every step, the epoch's own included, follows the
economics rule (:func:`hybridrl.baselines.rules.rule_dispatch`), the same rule every rule
policy and the oracle's dispatch bound use. Its action holds the fields of
:data:`hybridrl.action_layout.EPOCH_ACTION_FIELDS` (one sale component per ASIC generation,
then ASIC order, GPU order, retrofit, accept), each ``u`` in [-1, 1] read through a dead zone:

    a = (u - DEAD_ZONE) / (1 - DEAD_ZONE)  if u > DEAD_ZONE,  else  a = -1 (nothing)

and ``a`` then decodes as in the full environment (:func:`hybridrl.env.encoding.decode_action`:
sell a x TH/s, order a x the epoch's maximum, accept when a > 0). So ``u = 0``, the mean of an
untrained Gaussian policy, changes nothing, and an order needs a deliberate push past the dead
zone; in the full layout half of every order axis orders something.

Its observation is the full environment's followed by what greedy's investment rule weighs
today (:func:`hybridrl.baselines.rules.decision_features`: paybacks, the best offer's value
against its cost, the blocks it lacks, the retrofit gain, free MW, the capex budget).
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np
from numpy.typing import NDArray

from hybridrl.action_layout import EPOCH_ACTION_FIELDS, ActionLayout
from hybridrl.baselines.rules import DECISION_FEATURE_NAMES, decision_features, rule_dispatch
from hybridrl.env.encoding import OBS_BOUND, action_layout, decode_action, observation_names
from hybridrl.sim.information import PathView
from hybridrl.sim.plant import NativeAction, Plant, PlantState

FloatArray = NDArray[np.float64]
DEAD_ZONE = 0.5
"""Components at or below this value decide nothing."""
NOTHING_BELOW = 1e-9
"""A decision smaller than this share of its field's maximum encodes as nothing (rounding dust)."""

_LAYOUTS: weakref.WeakKeyDictionary[Plant, ActionLayout] = weakref.WeakKeyDictionary()


def epoch_layout(plant: Plant) -> ActionLayout:
    """The decision-epoch action layout of ``plant``'s scenario (the full layout's generations
    and scales, the investment fields only)."""
    layout = _LAYOUTS.get(plant)
    if layout is None:
        full = action_layout(plant)
        layout = _LAYOUTS[plant] = ActionLayout(full.asic_generations, full.scales, EPOCH_ACTION_FIELDS)
    return layout


def full_action(plant: Plant, u: FloatArray) -> FloatArray:
    """(B, epoch size) components in [-1, 1] -> (B, full size) actions of the full layout, the
    dead zone applied; the dispatch components are left at 0 (the rule replaces them)."""
    epoch, full = epoch_layout(plant), action_layout(plant)
    u = np.clip(np.asarray(u, dtype=np.float64), -1.0, 1.0)
    a = np.where(u > DEAD_ZONE, (u - DEAD_ZONE) / (1.0 - DEAD_ZONE), -1.0)
    out = np.zeros((u.shape[0], full.size))
    for f in epoch.fields:
        out[:, full.slice(f.name)] = a[:, epoch.slice(f.name)]
    return out


def decode_epoch_action(plant: Plant, state: PlantState, view: PathView, u: FloatArray) -> NativeAction:
    """The native action of a decision-epoch step: the rule's dispatch, and the investments of
    ``u`` (:func:`full_action`, then :func:`~hybridrl.env.encoding.decode_action`)."""
    dispatch = rule_dispatch(plant, state, view)
    invest = decode_action(plant, state, view, full_action(plant, u))
    return dataclasses.replace(
        invest,
        asic_run_fraction=dispatch.asic_run_fraction,
        gpu_offer_fraction=dispatch.gpu_offer_fraction,
        curtail_mw=dispatch.curtail_mw,
    )


def encode_epoch_decision(plant: Plant, state: PlantState, native: NativeAction) -> FloatArray:
    """(B, epoch size) components whose decoding is (close to) ``native``'s investments: the
    targets for cloning an expert. A decision of nothing encodes as 0, the dead zone's centre;
    an amount ``x`` of its field's maximum as DEAD_ZONE + (1 - DEAD_ZONE) x. Orders decode to the
    most efficient ASIC and newest GPU on sale, so an expert that orders another generation is
    read as ordering that one; acceptance is one flag for every open offer that fits."""
    layout = epoch_layout(plant)
    B = state.n_paths
    a = np.zeros((B, layout.size))
    installed = np.maximum(state.asic_th, 1e-12)
    a[:, layout.slice("sell")] = np.where(state.asic_th > 0, native.asic_sale_th / installed, 0.0)
    order_mw = native.asic_order_th @ plant.asic_mw_per_th
    a[:, layout.index("asic_order")] = order_mw / max(plant.max_asic_order_mw, 1e-12)
    nodes = native.gpu_order_nodes.sum(axis=1)
    a[:, layout.index("gpu_order")] = np.where(
        nodes > 0, (nodes + 0.5) / max(plant.max_gpu_order_nodes, 1), 0.0
    )
    a[:, layout.index("retrofit")] = native.retrofit_blocks / max(plant.max_retrofit_blocks, 1)
    a[:, layout.index("accept_offers")] = native.accept_offer.any(axis=1)
    a = np.clip(a, 0.0, 1.0)
    return np.where(a > NOTHING_BELOW, DEAD_ZONE + (1.0 - DEAD_ZONE) * a, 0.0)


def epoch_observation_names(plant: Plant) -> tuple[str, ...]:
    """The decision-epoch observation's names: the full environment's, then the decision features."""
    return (*observation_names(plant), *DECISION_FEATURE_NAMES)


def epoch_observation(
    plant: Plant, state: PlantState, view: PathView, observation: NDArray[np.float32], nav0_usd: FloatArray
) -> NDArray[np.float32]:
    """(B, n + 7) the full environment's ``observation`` followed by the decision features,
    clipped to the observation bound."""
    features = np.clip(decision_features(plant, state, view, nav0_usd), -OBS_BOUND, OBS_BOUND)
    return np.concatenate([observation, features.astype(np.float32)], axis=1)


EPOCH_ACTIONS = ("investments", "greedy_parameters")
"""What an agent step of the decision-epoch mode decides: the epoch's ``investments`` (this
module's layout) or ``greedy_parameters``, the greedy rule's parameters for the epoch (a hybrid:
:mod:`hybridrl.env.greedy_hybrid`)."""


def _check_epoch_action(action: str) -> None:
    if action not in EPOCH_ACTIONS:
        raise ValueError(f"unknown epoch action {action!r}; known: {list(EPOCH_ACTIONS)}")


def epoch_action_names(plant: Plant, action: str = "investments") -> tuple[str, ...]:
    """The action components of ``action`` (:data:`EPOCH_ACTIONS`)."""
    _check_epoch_action(action)
    if action == "greedy_parameters":
        from hybridrl.env.greedy_hybrid import GREEDY_PARAMETER_NAMES

        return GREEDY_PARAMETER_NAMES
    return epoch_layout(plant).names


def decode_epoch(
    plant: Plant, state: PlantState, view: PathView, u: FloatArray, action: str = "investments"
) -> NativeAction:
    """The native action of an agent step of kind ``action`` (:data:`EPOCH_ACTIONS`)."""
    _check_epoch_action(action)
    if action == "greedy_parameters":
        from hybridrl.env.greedy_hybrid import decode_greedy_hybrid_action

        return decode_greedy_hybrid_action(plant, state, view, u)
    return decode_epoch_action(plant, state, view, u)
