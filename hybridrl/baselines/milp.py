"""A small sparse (MI)LP builder: vectorised variables and linear expressions, named
constraint families, solved by HiGHS (or by ``scipy.optimize.milp`` for cross-checks).

Variables come in numpy-shaped blocks of column indices. A :class:`Expr` is a vector of m
linear expressions kept as COO triplets (row, column, coefficient) plus a constant per row, so
a constraint family over thousands of time steps is built with a handful of array operations.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
INF = float("inf")


def concatenated_ranges(starts: ArrayLike, lengths: ArrayLike) -> IntArray:
    """range(starts[0], starts[0] + lengths[0]), then the next range, ... as one array."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets


_BANNER_SHOWN = False


def new_highs(verbose: bool = False) -> Any:
    """A ``highspy.Highs``; unless ``verbose``, without the banner its C++ constructor prints to
    standard output once per process, before any option can turn it off (stdout's file
    descriptor points at /dev/null for that one construction)."""
    import highspy

    global _BANNER_SHOWN
    if verbose or _BANNER_SHOWN:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _BANNER_SHOWN = True
    return h


class Expr:
    """m linear expressions: sum_j A[i, j] x_j + const[i], stored as triplets."""

    __slots__ = ("cols", "const", "m", "rows", "vals")

    def __init__(self, m: int, rows: IntArray, cols: IntArray, vals: FloatArray, const: FloatArray) -> None:
        self.m = m
        self.rows = rows
        self.cols = cols
        self.vals = vals
        self.const = const

    @staticmethod
    def zeros(m: int) -> Expr:
        empty = np.zeros(0, dtype=np.int64)
        return Expr(m, empty, empty, np.zeros(0), np.zeros(m))

    @staticmethod
    def const_(values: ArrayLike) -> Expr:
        c = np.asarray(values, dtype=np.float64).ravel()
        return Expr.zeros(c.size) + c

    @staticmethod
    def var(index: ArrayLike, coef: ArrayLike = 1.0) -> Expr:
        """One expression per element of ``index`` (a block of column indices): coef * x."""
        idx = np.asarray(index, dtype=np.int64).ravel()
        c = np.broadcast_to(np.asarray(coef, dtype=np.float64), np.shape(index)).ravel()
        return Expr(idx.size, np.arange(idx.size), idx, c.copy(), np.zeros(idx.size))

    def __add__(self, other: Expr | ArrayLike) -> Expr:
        if isinstance(other, Expr):
            if other.m != self.m:
                raise ValueError(f"adding expressions of {self.m} and {other.m} rows")
            return Expr(
                self.m,
                np.concatenate([self.rows, other.rows]),
                np.concatenate([self.cols, other.cols]),
                np.concatenate([self.vals, other.vals]),
                self.const + other.const,
            )
        add = np.broadcast_to(np.asarray(other, dtype=np.float64).ravel(), (self.m,))
        return Expr(self.m, self.rows, self.cols, self.vals, self.const + add)

    def __radd__(self, other: ArrayLike) -> Expr:
        return self + other

    def __neg__(self) -> Expr:
        return self * -1.0

    def __sub__(self, other: Expr | ArrayLike) -> Expr:
        return self + (-other if isinstance(other, Expr) else -np.asarray(other, dtype=np.float64))

    def __rsub__(self, other: ArrayLike) -> Expr:
        return (-self) + other

    def __mul__(self, scale: ArrayLike) -> Expr:
        """Scale each row (a scalar, or one factor per row)."""
        s = np.asarray(scale, dtype=np.float64).ravel()
        if s.size == 1:
            return Expr(self.m, self.rows, self.cols, self.vals * s[0], self.const * s[0])
        if s.size != self.m:
            raise ValueError(f"scaling {self.m} rows by {s.size} factors")
        return Expr(self.m, self.rows, self.cols, self.vals * s[self.rows], self.const * s)

    __rmul__ = __mul__

    def take(self, index: ArrayLike) -> Expr:
        """Rows ``index`` of this expression, in that order (rows may repeat)."""
        idx = np.asarray(index, dtype=np.int64).ravel()
        order = np.argsort(self.rows, kind="stable")
        starts = np.searchsorted(self.rows[order], np.arange(self.m + 1))
        counts = starts[idx + 1] - starts[idx]
        sel = order[concatenated_ranges(starts[idx], counts)]
        return Expr(
            idx.size, np.repeat(np.arange(idx.size), counts), self.cols[sel], self.vals[sel], self.const[idx]
        )

    def group_sum(self, group: ArrayLike, m: int) -> Expr:
        """Row i of the result = sum of rows r with group[r] == i."""
        g = np.asarray(group, dtype=np.int64).ravel()
        const = np.bincount(g, weights=self.const, minlength=m).astype(np.float64)
        return Expr(m, g[self.rows], self.cols, self.vals, const)

    def sum(self) -> Expr:
        return self.group_sum(np.zeros(self.m, dtype=np.int64), 1)

    def value(self, x: FloatArray) -> FloatArray:
        """Evaluate at a solution vector."""
        return np.bincount(self.rows, weights=self.vals * x[self.cols], minlength=self.m) + self.const


@dataclass
class SolveResult:
    status: str
    """"optimal", "time_limit", "infeasible", "unbounded" or another HiGHS model status"""
    objective: float
    x: FloatArray | None
    seconds: float
    mip_gap: float
    dual_bound: float

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"


@dataclass
class LinearModel:
    """Maximise or minimise cost . x subject to named families of row constraints."""

    maximize: bool = True
    lower: list[FloatArray] = field(default_factory=list)
    upper: list[FloatArray] = field(default_factory=list)
    objective: list[Expr] = field(default_factory=list)
    integer: list[NDArray[np.bool_]] = field(default_factory=list)
    n: int = 0
    row_parts: list[Expr] = field(default_factory=list)
    row_lower: list[FloatArray] = field(default_factory=list)
    row_upper: list[FloatArray] = field(default_factory=list)
    row_names: list[str] = field(default_factory=list)
    families: dict[str, IntArray] = field(default_factory=dict)
    objective_offset: float = 0.0
    m: int = 0

    def add_vars(
        self,
        shape: int | tuple[int, ...],
        lower: ArrayLike = 0.0,
        upper: ArrayLike = INF,
        integer: bool = False,
    ) -> IntArray:
        """A block of variables; returns their column indices with ``shape``."""
        size = int(np.prod(shape))
        idx = np.arange(self.n, self.n + size).reshape(shape)
        self.lower.append(np.broadcast_to(np.asarray(lower, dtype=np.float64), idx.shape).ravel().copy())
        self.upper.append(np.broadcast_to(np.asarray(upper, dtype=np.float64), idx.shape).ravel().copy())
        self.integer.append(np.full(size, integer))
        self.n += size
        return idx

    def add_objective(self, expr: Expr) -> None:
        """Add the sum of ``expr``'s rows to the objective."""
        self.objective.append(expr)
        self.objective_offset += float(expr.const.sum())

    def add_constraints(
        self,
        name: str,
        expr: Expr,
        lower: ArrayLike = -INF,
        upper: ArrayLike = INF,
        labels: ArrayLike | None = None,
    ) -> IntArray:
        """Rows lower <= expr <= upper, named ``name[label]``."""
        lo = np.broadcast_to(np.asarray(lower, dtype=np.float64).ravel(), (expr.m,)) - expr.const
        hi = np.broadcast_to(np.asarray(upper, dtype=np.float64).ravel(), (expr.m,)) - expr.const
        idx = np.arange(self.m, self.m + expr.m)
        self.row_parts.append(Expr(expr.m, expr.rows + self.m, expr.cols, expr.vals, np.zeros(expr.m)))
        self.row_lower.append(lo)
        self.row_upper.append(hi)
        tags = np.arange(expr.m) if labels is None else np.asarray(labels).ravel()
        self.row_names.extend(f"{name}[{tag}]" for tag in tags)
        self.families[name] = idx
        self.m += expr.m
        return idx

    # ------------------------------------------------------------------ assembly and solvers

    def _columns(self) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_]]:
        lower = np.concatenate(self.lower) if self.lower else np.zeros(0)
        upper = np.concatenate(self.upper) if self.upper else np.zeros(0)
        cost = np.zeros(self.n)
        for expr in self.objective:
            cost += np.bincount(expr.cols, weights=expr.vals, minlength=self.n)
        integer = np.concatenate(self.integer) if self.integer else np.zeros(0, dtype=bool)
        return lower, upper, cost, integer

    def matrix(self) -> sparse.csr_matrix:
        rows = (
            np.concatenate([p.rows for p in self.row_parts])
            if self.row_parts
            else np.zeros(0, dtype=np.int64)
        )
        cols = (
            np.concatenate([p.cols for p in self.row_parts])
            if self.row_parts
            else np.zeros(0, dtype=np.int64)
        )
        vals = np.concatenate([p.vals for p in self.row_parts]) if self.row_parts else np.zeros(0)
        return sparse.csr_matrix((vals, (rows, cols)), shape=(self.m, self.n))

    def solve_highs(
        self,
        time_limit_s: float = 60.0,
        mip_rel_gap: float = 1e-4,
        threads: int = 1,
        verbose: bool = False,
        start: tuple[IntArray, FloatArray] | None = None,
        relax: IntArray | None = None,
        fix: tuple[IntArray, FloatArray] | None = None,
    ) -> SolveResult:
        """Solve with HiGHS. ``start``: (columns, values) of a partial solution, which HiGHS
        completes (fixing the given integers, solving for the rest) into a first incumbent.
        ``relax``: integer columns to treat as continuous in this solve (a relaxation: its dual
        bound bounds the model's optimum). ``fix``: (columns, values) held at those values."""
        import highspy

        t0 = time.perf_counter()
        lower, upper, cost, integer = self._columns()
        if relax is not None:
            integer[np.asarray(relax, dtype=np.int64).ravel()] = False
        if fix is not None:
            lower, upper = lower.copy(), upper.copy()
            lower[fix[0]] = upper[fix[0]] = fix[1]
        a = self.matrix()
        lp = highspy.HighsLp()
        lp.num_col_ = self.n
        lp.num_row_ = self.m
        lp.col_cost_ = cost
        lp.col_lower_ = np.where(np.isinf(lower), -highspy.kHighsInf, lower)
        lp.col_upper_ = np.where(np.isinf(upper), highspy.kHighsInf, upper)
        row_lower = np.concatenate(self.row_lower) if self.row_lower else np.zeros(0)
        row_upper = np.concatenate(self.row_upper) if self.row_upper else np.zeros(0)
        lp.row_lower_ = np.where(np.isinf(row_lower), -highspy.kHighsInf, row_lower)
        lp.row_upper_ = np.where(np.isinf(row_upper), highspy.kHighsInf, row_upper)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = a.indptr
        lp.a_matrix_.index_ = a.indices
        lp.a_matrix_.value_ = a.data
        lp.a_matrix_.num_col_ = self.n
        lp.a_matrix_.num_row_ = self.m
        lp.sense_ = highspy.ObjSense.kMaximize if self.maximize else highspy.ObjSense.kMinimize
        lp.offset_ = self.objective_offset
        if integer.any():
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in integer
            ]
        h = new_highs(verbose)
        h.setOptionValue("output_flag", verbose)
        h.setOptionValue("time_limit", float(time_limit_s))
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        h.setOptionValue("threads", int(threads))
        h.passModel(lp)
        if start is not None:
            cols, vals = start
            h.setSolution(len(cols), np.asarray(cols, dtype=np.int32), np.asarray(vals, dtype=np.float64))
        h.run()
        status = h.modelStatusToString(h.getModelStatus()).lower()
        info = h.getInfo()
        has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
        x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_solution else None
        key = {"optimal": "optimal", "time limit reached": "time_limit", "infeasible": "infeasible"}.get(
            status, status
        )
        gap = float(info.mip_gap) if integer.any() else 0.0
        bound = float(info.mip_dual_bound) if integer.any() else float(info.objective_function_value)
        objective = float(info.objective_function_value) if x is not None else float("nan")
        return SolveResult(key, objective, x, time.perf_counter() - t0, gap, bound)

    def solve_scipy(self, time_limit_s: float = 60.0) -> SolveResult:
        """The same model by ``scipy.optimize.milp`` (HiGHS inside SciPy; an independent code path)."""
        from scipy.optimize import Bounds, LinearConstraint, milp

        start = time.perf_counter()
        lower, upper, cost, integer = self._columns()
        sign = -1.0 if self.maximize else 1.0
        res = milp(
            c=sign * cost,
            integrality=integer.astype(int),
            bounds=Bounds(lower, upper),
            constraints=LinearConstraint(
                self.matrix(), np.concatenate(self.row_lower), np.concatenate(self.row_upper)
            ),
            options={"time_limit": time_limit_s},
        )
        x = None if res.x is None else np.asarray(res.x)
        objective = float(cost @ x + self.objective_offset) if x is not None else float("nan")
        status = {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "unbounded"}.get(res.status, "other")
        return SolveResult(status, objective, x, time.perf_counter() - start, float("nan"), float("nan"))
