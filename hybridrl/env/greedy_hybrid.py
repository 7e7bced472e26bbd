"""The greedy-hybrid action: a network sets greedy's parameters per path and investment epoch.

A hybrid policy in the learned-policies sense: at decision time it runs the greedy rule
(:class:`~hybridrl.baselines.rules.Greedy`), whose investments are those of its parameters, and
the network chooses those parameters from what the site knows today. Each component ``u`` in
[-1, 1] scales one parameter around greedy's default, so that ``u = 0`` (an untrained Gaussian
policy's mean) is greedy itself:

- ``payback_months``: default x 3**u (4 to 36 months at the default of 12);
- ``mining_horizon_months``: default x 4**u (1.5 to 24 months at the default of 6);
- ``reserve_usd``: default x (1 + u) (0 to 40 M$ at the default of 20 M$);
- ``offer_hurdle``: 2**u (an offer is taken when its value exceeds 0.5 to 2 times its cost).

Dispatch at every step is the economics rule's, as in the decision-epoch mode.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from hybridrl.baselines.rules import Greedy
from hybridrl.sim.information import PathView
from hybridrl.sim.plant import NativeAction, Plant, PlantState

FloatArray = NDArray[np.float64]

GREEDY_PARAMETER_NAMES = ("payback_months", "mining_horizon_months", "reserve_usd", "offer_hurdle")
"""The action's components, in order."""
_DEFAULT = Greedy()


def greedy_parameters(u: FloatArray) -> dict[str, FloatArray]:
    """(B, 4) components in [-1, 1] -> greedy's parameters, one (B,) array each."""
    u = np.clip(np.asarray(u, dtype=np.float64), -1.0, 1.0)
    if u.ndim != 2 or u.shape[1] != len(GREEDY_PARAMETER_NAMES):
        raise ValueError(
            f"greedy-hybrid actions must have shape (B, {len(GREEDY_PARAMETER_NAMES)}), got {u.shape}"
        )
    return {
        "payback_months": float(_DEFAULT.payback_months) * 3.0 ** u[:, 0],
        "mining_horizon_months": float(_DEFAULT.mining_horizon_months) * 4.0 ** u[:, 1],
        "reserve_usd": float(_DEFAULT.reserve_usd) * (1.0 + u[:, 2]),
        "offer_hurdle": float(_DEFAULT.offer_hurdle) * 2.0 ** u[:, 3],
    }


def decode_greedy_hybrid_action(
    plant: Plant, state: PlantState, view: PathView, u: FloatArray
) -> NativeAction:
    """Greedy's action today with the parameters of ``u`` (:func:`greedy_parameters`)."""
    return Greedy(**greedy_parameters(u)).act(plant, state, view)  # type: ignore[arg-type]
