"""The oracle's ASIC dispatch where reserve commitments couple the hours.

Without reserves the oracle needs no dispatch variables (each step's best use is closed-form).
A reserve commitment holds for a block of hours and obliges the site to keep the committed MW
running (to be curtailable) and to switch them off when the grid deploys reserves, so the
ASIC dispatch becomes variables here, one family per constraint, written from the plant's
constants and the path (operations scenarios only: installed ASIC TH/s is known at every step):

- r[t,g] facility MW of generation g running at step t, 0 <= r <= cap[t,g] = availability x
  installed TH/s x MW per TH/s;
- c[b] MW committed for block b, decided at the previous block's start, 0 <= c <= installed
  ASIC MW then (``site_rules.commit_reserve``); the blocks under way at the start hold the start
  state's commitments;
- m[t] >= 0 committed MW not delivered (``site_rules.reserve_delivery``):
  ``reserve-running``: sum_g r[t,g] + m[t] >= c(t) outside deployments;
  ``reserve-deployed``: sum_g (cap[t,g] - r[t,g]) + m[t] >= c(t) during them.

Cash flows per step [USD]: sum_g r[t,g] x margin per MW; the DR credit for the idle MW not held
for a deployment; c(t) x reserve price x hours; - m[t] x penalty x hours; and the transmission
charge of a coincident peak, - w_t x charge x sum_g r[t,g], booked at the month's settlement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from hybridrl import economics
from hybridrl.baselines.milp import Expr

if TYPE_CHECKING:
    from hybridrl.baselines.oracle import OracleModel

FloatArray = NDArray[np.float64]


class ReserveDispatch:
    """The variables and rows above, added to ``model``'s MILP."""

    def __init__(self, model: OracleModel) -> None:
        p, path, T, lp = model.plant, model.path, model.T, model.lp
        self.model = model
        G = p.n_asic
        steps = np.arange(T)
        th = model.A0[None, :] * p.asic_keep_per_step ** steps[:, None]  # PH/s installed (no investments)
        self.installed_mw = th @ model.mw_per_unit  # (T,)
        self.cap = model.avail[:, None] * th * model.mw_per_unit  # (T, G) MW
        self.r = lp.add_vars((T, G), upper=self.cap)
        self.block = p.reserve_block_steps
        self._commitments(model.start.t, T)
        self.deployed = path.reserve_deployed[0, :T]
        self.m = lp.add_vars(T, upper=np.where(self._can_commit, np.inf, 0.0))
        running = Expr.var(self.r).group_sum(np.repeat(steps, G), T)
        committed = self.committed()
        delivered = np.where(self.deployed, -1.0, 1.0)  # outside: running; during: cap - running
        capsum = self.cap.sum(axis=1)
        lhs = running * delivered + np.where(self.deployed, capsum, 0.0) + Expr.var(self.m) - committed
        rows = np.flatnonzero(self._can_commit)
        lp.add_constraints("reserve-delivered", lhs.take(rows), lower=0.0)

    def _commitments(self, t0: int, T: int) -> None:
        """Which block each step lies in, the start's commitments and the blocks decided here."""
        bs = self.block
        absolute = t0 + np.arange(T)
        block = absolute // bs
        first = t0 // bs
        start = self.model.start
        if t0 % bs == 0:  # the start's "next" commitment takes effect at t0
            known = {first: float(start.reserve_next_mw[0])}
        else:
            known = {first: float(start.reserve_mw[0]), first + 1: float(start.reserve_next_mw[0])}
        decided_at = np.flatnonzero(absolute % bs == 0)  # block starts within the horizon
        decides = block[decided_at] + 1  # each decides the next block
        self.decision_steps = decided_at
        self.c = self.model.lp.add_vars(decided_at.size, upper=self.installed_mw[decided_at])
        self._var_of_block = dict(zip(decides.tolist(), self.c.tolist(), strict=True))
        self._const = np.array([known.get(int(b), 0.0) for b in block])
        self._col = np.array([self._var_of_block.get(int(b), -1) for b in block])
        self._can_commit = (self._col >= 0) | (self._const > 0)

    def committed(self) -> Expr:
        """(T,) MW committed at each step: a start's commitment or a decision of the plan."""
        T = self.model.T
        rows = np.flatnonzero(self._col >= 0)
        return Expr(T, rows, self._col[rows], np.ones(rows.size), self._const.copy())

    def cash_flows(self) -> Expr:
        """(T,) the ASIC and reserve cash flows of each step [USD] (module docstring)."""
        model = self.model
        p, path, T = model.plant, model.path, model.T
        G = p.n_asic
        steps = np.arange(T)
        rt = path.power_rt_usd_per_mwh[0, :T]
        margin_th = economics.asic_margin_usd_per_th_step(
            p.economics, path.hashprice_usd_per_ph_day[0, :T], rt
        )
        per_mw = margin_th / p.asic_mw_per_th  # (T, G) USD per MW running
        dr = path.dr_call[0, :T] & (p.dr_credit_usd_per_mwh > 0)
        credit = np.where(dr, p.dr_credit_usd_per_mwh * p.hours_per_step, 0.0)  # per idle MW
        flows = (Expr.var(self.r, per_mw - credit[:, None])).group_sum(np.repeat(steps, G), T)
        held = np.where(self.deployed, 1.0, 0.0)  # MW held off for a deployment: c - m
        flows = (
            flows + credit * self.cap.sum(axis=1) - (self.committed() - Expr.var(self.m)) * (held * credit)
        )
        price = path.reserve_price_usd_per_mw_h[0, :T] * p.hours_per_step
        flows = (
            flows
            + self.committed() * price
            - Expr.var(self.m, p.reserve_penalty_usd_per_mwh * p.hours_per_step)
        )
        return flows + self._peak_charges()

    def _peak_charges(self) -> Expr:
        """grid-peak_charge for the ASICs: - w_t x charge x sum_g r[t,g] at the settlement step."""
        model = self.model
        p, T = model.plant, model.T
        peaks, at, _ = model.peak_settlements()
        if p.cp_charge_usd_per_mw == 0.0 or not peaks.size:
            return Expr.zeros(T)
        G = p.n_asic
        coef = -model.path.cp_peak[0, peaks] * p.cp_charge_usd_per_mw
        return Expr.var(self.r[peaks], np.repeat(coef[:, None], G, axis=1)).group_sum(np.repeat(at, G), T)

    def plan_values(self, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(run fractions (T, G), DR curtailment MW (T,), reserve MW committed at each step (T,))
        of a solution ``x``, as the plant reads them."""
        model = self.model
        p, T = model.plant, model.T
        r = np.clip(x[self.r], 0.0, self.cap)
        run = np.divide(r, self.cap, out=np.zeros_like(r), where=self.cap > 0)
        held = np.where(self.deployed, np.maximum(self.committed().value(x) - x[self.m], 0.0), 0.0)
        dr = model.path.dr_call[0, :T] & (p.dr_credit_usd_per_mwh > 0)
        curtail = np.where(dr, np.maximum(self.cap.sum(axis=1) - r.sum(axis=1) - held, 0.0), 0.0)
        commit = np.zeros(T)
        commit[self.decision_steps] = np.clip(x[self.c], 0.0, self.installed_mw[self.decision_steps])
        return np.clip(run, 0.0, 1.0), curtail, commit
