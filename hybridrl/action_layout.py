"""The layout of the environment's action vector, declared once (numpy only).

Every component of an action in [-1, 1] belongs to one :class:`ActionField` of
:data:`ACTION_FIELDS`, in that order; a field marked ``per_asic_generation`` has one component
per ASIC generation. The names of the components, the environment's decoding
(:func:`hybridrl.env.encoding.decode_action`), the exported policy's decision fields and the
tests' indices all derive from this list. A component ``a`` reads as a decision through its
field's ``kind`` (:func:`decision_values`):

- ``fraction``: (a + 1) / 2;
- ``positive``: max(a, 0) x scale;
- ``floor``: floor(max(a, 0) x scale);
- ``round``: round(max(a, 0) x scale);
- ``flag``: 1 if a > 0 else 0.

Half of each order axis (a <= 0) means "no order", so an untrained policy does not spend the
site's cash by accident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
KINDS = ("fraction", "positive", "floor", "round", "flag")


@dataclass(frozen=True)
class ActionField:
    """One field of the action vector.

    :param name: the component's name (``<name>_<generation>`` per ASIC generation).
    :param kind: how a component in [-1, 1] reads as a decision (module docstring).
    :param native: the :class:`~hybridrl.sim.plant.NativeAction` field it drives.
    :param decision: the exported decision field's name (``{gen}`` for the generation).
    :param unit: the decision's unit.
    :param scale: the :class:`~hybridrl.site_rules.SiteLimits` attribute that scales it (1 if None).
    :param per_asic_generation: one component per ASIC generation.
    """

    name: str
    kind: str
    native: str
    decision: str
    unit: str
    scale: str | None = None
    per_asic_generation: bool = False


ACTION_FIELDS: tuple[ActionField, ...] = (
    ActionField(
        "run", "fraction", "asic_run_fraction", "asic_{gen}_run_fraction", "share of installed TH/s",
        per_asic_generation=True,
    ),
    ActionField(
        "sell", "positive", "asic_sale_th", "asic_{gen}_sell_fraction", "share of installed TH/s",
        per_asic_generation=True,
    ),
    ActionField("gpu_offer", "fraction", "gpu_offer_fraction", "gpu_offer_fraction", "share of GPU nodes"),
    ActionField(
        "asic_order", "positive", "asic_order_th", "asic_order_mw", "MW of the most efficient ASICs on sale",
        scale="max_asic_order_mw",
    ),
    ActionField(
        "gpu_order", "floor", "gpu_order_nodes", "gpu_order_nodes", "nodes of the newest GPUs on sale",
        scale="max_gpu_order_nodes",
    ),
    ActionField(
        "retrofit", "round", "retrofit_blocks", "retrofit_blocks", "blocks to convert from mining to HPC",
        scale="max_retrofit_blocks",
    ),
    ActionField("accept_offers", "flag", "accept_offer", "accept_offer", "1 = accept the open offer"),
    ActionField(
        "curtail", "positive", "curtail_mw", "curtail_fraction", "share of ASIC MW held off in a DR call"
    ),
)  # fmt: skip
"""The action vector's fields, in order."""

RESERVE_FIELD = ActionField(
    "reserve", "positive", "reserve_commit_mw", "reserve_commit_fraction",
    "share of installed ASIC MW offered as reserve for the next block",
)  # fmt: skip
"""Appended to :data:`ACTION_FIELDS` in a scenario with reserves
(:class:`~hybridrl.sim.params.ReserveParams`): read at the start of each block of hours."""

EPOCH_ACTION_FIELDS: tuple[ActionField, ...] = tuple(
    f for f in ACTION_FIELDS if f.name in ("sell", "asic_order", "gpu_order", "retrofit", "accept_offers")
)
"""The fields the decision-epoch environment leaves to the agent (the investment decisions);
dispatch (run, GPU offer, curtailment) follows the economics rule there."""


@dataclass(frozen=True)
class ActionLayout:
    """The action vector of one scenario: its ASIC generations and the scales of its fields."""

    asic_generations: tuple[str, ...]
    scales: Mapping[str, float]
    """scale per :attr:`ActionField.scale` name"""
    fields: tuple[ActionField, ...] = ACTION_FIELDS

    @cached_property
    def _start(self) -> dict[str, int]:
        start, out = 0, {}
        for f in self.fields:
            out[f.name] = start
            start += self._width(f)
        out[""] = start
        return out

    def _width(self, field: ActionField) -> int:
        return len(self.asic_generations) if field.per_asic_generation else 1

    @cached_property
    def columns(self) -> dict[str, slice]:
        """Field name -> its components (a slice of width 1 for a single-component field)."""
        return {f.name: slice(self._start[f.name], self._start[f.name] + self._width(f)) for f in self.fields}

    def field(self, name: str) -> ActionField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"no action field {name!r}; fields: {[f.name for f in self.fields]}")

    @property
    def size(self) -> int:
        """Number of components."""
        return self._start[""]

    def slice(self, name: str) -> slice:
        """The components of field ``name``."""
        return self.columns[self.field(name).name]

    def index(self, name: str, generation: str | None = None) -> int:
        """The component of field ``name`` (of ASIC ``generation`` for a per-generation field)."""
        f = self.field(name)
        if f.per_asic_generation:
            if generation not in self.asic_generations:
                raise KeyError(f"field {name!r} needs one of the generations {list(self.asic_generations)}")
            return self._start[name] + self.asic_generations.index(generation)
        if generation is not None:
            raise KeyError(f"field {name!r} has one component, not one per generation")
        return self._start[name]

    @property
    def names(self) -> tuple[str, ...]:
        """Every component's name, in order."""
        return tuple(name for _, name, _ in self._components())

    def _components(self) -> list[tuple[ActionField, str, str | None]]:
        out: list[tuple[ActionField, str, str | None]] = []
        for f in self.fields:
            if f.per_asic_generation:
                out += [(f, f"{f.name}_{g}", g) for g in self.asic_generations]
            else:
                out.append((f, f.name, None))
        return out

    def decision_fields(self) -> list[dict[str, Any]]:
        """One decision per component, in order (``policy.json``'s ``decision_fields``): name,
        unit, the component's index, kind and scale."""
        return [
            {
                "name": f.decision.format(gen=gen),
                "unit": f.unit,
                "index": i,
                "kind": f.kind,
                "scale": float(self.scales[f.scale]) if f.scale else 1.0,
            }
            for i, (f, _, gen) in enumerate(self._components())
        ]


def decision_values(fields: Sequence[Mapping[str, Any]], action: FloatArray) -> FloatArray:
    """(B, A) actions in [-1, 1] (clipped to it) -> (B, D) decisions, each field through its
    ``kind`` and ``scale`` (the numpy reference of the exported ONNX graph)."""
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    cols = []
    for f in fields:
        x = a[:, f["index"]]
        kind = f["kind"]
        if kind == "fraction":
            cols.append((x + 1.0) * 0.5)
        elif kind == "positive":
            cols.append(np.maximum(x, 0.0) * f["scale"])
        elif kind == "floor":
            cols.append(np.floor(np.maximum(x, 0.0) * f["scale"]))
        elif kind == "round":
            cols.append(np.round(np.maximum(x, 0.0) * f["scale"]))
        elif kind == "flag":
            cols.append((x > 0.0).astype(np.float64))
        else:
            raise ValueError(f"unknown decision kind {kind!r}")
    return np.stack(cols, axis=1)
