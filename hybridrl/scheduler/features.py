"""Interpreter of the exported feature spec: physical fields -> the observation vector.

numpy only. The spec (``policy.json``'s ``features``) is written by
:func:`hybridrl.export.spec.feature_spec` from the environment encoder's own constants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def _operand(value: str | float, fields: Mapping[str, FloatArray]) -> FloatArray | float:
    return fields[value] if isinstance(value, str) else float(value)


def _linear(entry: Mapping[str, Any], fields: Mapping[str, FloatArray]) -> FloatArray:
    total: Any = float(entry.get("bias", 0.0))
    for name, weight in entry["terms"].items():
        total = total + float(weight) * fields[name]
    return np.asarray(total, dtype=np.float64)


def compute_features(
    spec: Sequence[Mapping[str, Any]], fields: Mapping[str, FloatArray]
) -> NDArray[np.float32]:
    """(B, n) float32 observation from (B,) physical fields."""
    columns = []
    for entry in spec:
        kind = entry["kind"]
        if kind == "linear":
            x = _linear(entry, fields)
        elif kind == "log_ratio":
            x = np.log(_operand(entry["num"], fields) / _operand(entry["den"], fields))
        elif kind == "share":
            a, b = fields[entry["x"]], fields[entry["y"]]
            x = a / (a + b)
        elif kind == "ratio":
            x = _linear(entry, fields) / fields[entry["den"]]
        elif kind == "halving":
            period = float(entry["period"])
            x = (period - np.mod(fields[entry["x"]], period)) / period
        elif kind in ("sin", "cos"):
            phase = 2 * np.pi * fields[entry["x"]] / float(entry["period"])
            x = np.sin(phase) if kind == "sin" else np.cos(phase)
        else:
            raise ValueError(f"unknown feature kind {kind!r} in the policy's feature spec")
        bound = float(entry["bound"])
        columns.append(np.clip(np.asarray(x, dtype=np.float64), -bound, bound))
    return np.stack(columns, axis=-1).astype(np.float32)
