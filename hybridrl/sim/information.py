"""What a decision-maker knows at step t: the exogenous path up to t, and nothing after.

Policies and forecasters never receive an :class:`ExogenousPath`. A :class:`PathReveal` owns
copies of the path's arrays that it fills one time index at a time; :meth:`PathReveal.view`
hands out read-only slices of those copies cut at t. The future is not in memory that a view
can reach (not even through ``ndarray.base``): it is simply not there yet. Hosting offers appear
when they arrive; until then their slot reads as empty.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hybridrl.sim.exogenous import ExogenousPath

OFFER_FIELDS = tuple(f.name for f in dataclasses.fields(ExogenousPath) if f.name.startswith("offer_"))
HIDDEN_FIELDS = ("cp_peak",)
"""Fields never revealed: which step was a month's coincident peak is known only after the month,
and the plant books its charge then (a forecaster estimates it; it cannot read it)."""
TIME_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(ExogenousPath)
    if f.name not in OFFER_FIELDS and f.name not in ("dt_days", "start_date") and f.name not in HIDDEN_FIELDS
)


def _blank(a: NDArray[Any]) -> NDArray[Any]:
    if a.dtype == bool:
        return np.zeros_like(a)
    if np.issubdtype(a.dtype, np.integer):
        return np.full_like(a, -1)
    return np.full_like(a, np.nan)


class PathView:
    """The path as known at step ``t`` (read-only). Time series are (B, t+1[, n]): index -1 is now.

    Offer fields are (B, K); a slot whose offer has not arrived reads as empty (arrival and
    expiry after the episode, zero MW and price).
    """

    def __init__(self, t: int, n_steps: int, dt_days: float, arrays: dict[str, NDArray[Any]]) -> None:
        self._t = t
        self._arrays = arrays
        self.n_steps = n_steps
        self.dt_days = dt_days

    @property
    def t(self) -> int:
        return self._t

    @property
    def n_paths(self) -> int:
        return int(self._arrays["btc_price_usd"].shape[0])

    def __getattr__(self, name: str) -> NDArray[Any]:
        arrays = self.__dict__.get("_arrays")
        if arrays is None or name not in arrays:
            raise AttributeError(f"PathView has no field {name!r}")
        return arrays[name]

    def now(self, name: str) -> NDArray[Any]:
        """The field's value at step t, (B[, n])."""
        return self._arrays[name][:, -1]


class PathReveal:
    """Reveals an exogenous path one step at a time (for rollouts of policies that must not peek)."""

    def __init__(self, path: ExogenousPath) -> None:
        self._path = path
        self._known = {name: _blank(getattr(path, name)) for name in TIME_FIELDS}
        self._offers = {name: self._empty_offer(name) for name in OFFER_FIELDS}
        self._empty_offers = {name: self._empty_offer(name) for name in OFFER_FIELDS}
        self._revealed = -1
        self._offer_key: bytes | None = None  # no key yet (b"" is the key of a scenario without offers)
        self._offer_arrays: dict[str, NDArray[Any]] = {}

    def _empty_offer(self, name: str) -> NDArray[Any]:
        a = getattr(self._path, name)
        if name in ("offer_arrival_step", "offer_expiry_step", "offer_ready_step"):
            return np.full_like(a, self._path.n_steps + 1)
        if name == "offer_end_step":
            return np.full_like(a, float(self._path.n_steps + 1))
        return np.zeros_like(a)

    def view(self, t: int) -> PathView:
        """What is known at step ``t`` (reveals indices up to t if not yet revealed)."""
        if not 0 <= t <= self._path.n_steps:
            raise ValueError(f"t must lie in [0, {self._path.n_steps}], got {t}")
        path = self._path
        for s in range(self._revealed + 1, t + 1):
            for name, known in self._known.items():
                known[:, s] = getattr(path, name)[:, s]
            arrived = path.offer_arrival_step == s
            if arrived.any():
                for name, known in self._offers.items():
                    known[arrived] = getattr(path, name)[arrived]
        self._revealed = max(self._revealed, t)
        arrays: dict[str, NDArray[Any]] = {}
        for name, known in self._known.items():
            cut = known[:, : t + 1]
            cut.flags.writeable = False
            arrays[name] = cut
        arrays.update(self._offers_known_at(t))
        return PathView(t, path.n_steps, path.dt_days, arrays)

    def _offers_known_at(self, t: int) -> dict[str, NDArray[Any]]:
        """The offer fields as known at ``t`` (offers revealed later than t are hidden again for
        an earlier view); rebuilt only when the set of arrived offers changes."""
        arrived = self._path.offer_arrival_step <= t
        key = arrived.tobytes()
        if key != self._offer_key:
            self._offer_arrays = {}
            for name, known in self._offers.items():
                current = np.where(arrived, known, self._empty_offers[name])
                current.flags.writeable = False
                self._offer_arrays[name] = current
            self._offer_key = key
        return self._offer_arrays
