"""Forecasters for the MPC: what the future path may look like, from what is known today.

A forecaster sees only a :class:`~hybridrl.sim.information.PathView` (the path up to today) and
the scenario model; it returns a one-row :class:`~hybridrl.sim.exogenous.ExogenousPath` whose
index 0 is today (equal to what is observed today) and whose offer steps are relative to today.
Hosting offers are never invented: the forecast holds only the offers that have arrived.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from hybridrl.sim import protocol
from hybridrl.sim.exogenous import ExogenousPath, break_even_hashrate_th_s, network_markup, sample_paths
from hybridrl.sim.information import HIDDEN_FIELDS, PathView
from hybridrl.sim.params import DAYS_PER_YEAR, ScenarioParams

SERIES = tuple(
    f.name
    for f in dataclasses.fields(ExogenousPath)
    if f.name not in ("dt_days", "start_date", *HIDDEN_FIELDS) and not f.name.startswith("offer_")
)
"""The time series a forecaster predicts (the hidden coincident peaks aside: :func:`_no_peaks`)."""


class Forecaster(Protocol):
    @property
    def name(self) -> str: ...

    def forecast(self, params: ScenarioParams, view: PathView, horizon_steps: int) -> ExogenousPath: ...


def _known_offers(view: PathView) -> dict[str, Any]:
    """The offers that have arrived, with their steps relative to today."""
    t = view.t
    out: dict[str, Any] = {}
    for f in dataclasses.fields(ExogenousPath):
        if f.name.startswith("offer_"):
            value = getattr(view, f.name)
            out[f.name] = value - t if f.name.endswith("_step") else value.copy()
    return out


def _today(view: PathView) -> dict[str, Any]:
    return {name: getattr(view, name)[:, -1] for name in SERIES}


def _no_peaks(horizon_steps: int) -> dict[str, Any]:
    """No coincident peak foreseen: which step will be a month's peak is not known (the MPC's
    dispatch prices the expected charge each step instead; :class:`~hybridrl.baselines.peaks.PeakRule`)."""
    return {"cp_peak": np.zeros((1, horizon_steps + 1))}


def _known_delay_only(today: dict[str, Any], horizon_steps: int) -> NDArray[np.int64]:
    """Retrofit delays: today's (known on its due date), none foreseen after (a delay is not
    known before the due date; the forecast plans on time)."""
    out = np.zeros((1, horizon_steps + 1), dtype=np.int64)
    out[:, 0] = today["retrofit_delay_epochs"]
    return out


def _start_date(params: ScenarioParams, view: PathView) -> np.datetime64:
    minutes = np.round(view.t * params.time.dt_days * 1440.0).astype("timedelta64[m]")
    return np.datetime64(params.time.start, "m") + minutes


class PersistenceForecaster:
    """Tomorrow looks like today: every series stays at today's value (so the halving, hashrate
    growth and GPU price declines are ignored), no DR calls, full availability, no tenant default
    beyond today's."""

    name = "persistence"

    def forecast(self, params: ScenarioParams, view: PathView, horizon_steps: int) -> ExogenousPath:
        today = _today(view)
        H = horizon_steps
        arrays: dict[str, Any] = {}
        for name, value in today.items():
            arrays[name] = np.repeat(value[:, None], H + 1, axis=1)
        arrays["blocks"] = np.full((1, H + 1), protocol.TARGET_BLOCKS_PER_DAY * params.time.dt_days)
        arrays["height"] = today["height"][:, None] + np.arange(H + 1) * protocol.TARGET_BLOCKS_PER_DAY * (
            params.time.dt_days
        )
        arrays["dr_call"] = np.zeros((1, H + 1), dtype=bool)
        arrays["dr_call"][:, 0] = today["dr_call"]
        arrays["availability"] = np.ones((1, H + 1))
        arrays["availability"][:, 0] = today["availability"]
        arrays["retrofit_delay_epochs"] = _known_delay_only(today, H)
        return ExogenousPath(
            dt_days=params.time.dt_days,
            start_date=_start_date(params, view),
            **arrays,
            **_known_offers(view),
            **_no_peaks(H),
        )


@dataclasses.dataclass
class ConditionalExpectationForecaster:
    """Monte Carlo conditional expectation under the scenario model: ``n_samples`` paths of the
    scenario's processes started from today's observed BTC price, fees, network hashrate,
    difficulty, height and GPU prices (the BTC regime is latent: the scenario's prior is used),
    averaged step by step. Generation releases stay uncertain (released if more likely than not).
    The samples use the forecaster's own seeds, never the path's.

    :param n_samples: Monte Carlo paths per forecast.
    :param seed: root of the forecaster's own random stream.
    """

    n_samples: int = 32
    seed: int = 12345
    name: str = "conditional_expectation"

    def forecast(self, params: ScenarioParams, view: PathView, horizon_steps: int) -> ExogenousPath:
        today = _today(view)
        H = horizon_steps
        start = params.time.start + dt.timedelta(days=view.t * params.time.dt_days)
        n = params.network
        frontier = float(
            np.where(
                today["asic_available"][0],
                [g.efficiency_j_per_th for g in params.asic_market.generations],
                np.inf,
            ).min()
        )
        hashrate = float(today["network_hashrate_th_s"][0])
        level = break_even_hashrate_th_s(
            n,
            today["btc_price_usd"][0],
            today["fees_btc_per_block"][0],
            protocol.block_subsidy_btc(float(today["height"][0])),
            frontier,
        )
        years = view.t * params.time.dt_days / DAYS_PER_YEAR
        gap = float(level) / (network_markup(params, years) * hashrate)
        released = today["gpu_available"][0]
        gpus = tuple(
            dataclasses.replace(
                g,
                spot_usd_per_gpu_hour=float(today["gpu_spot_usd_per_gpu_hour"][0, j]),
                node_capex_usd=float(today["gpu_node_capex_usd"][0, j]),
                release=start,
            )
            if released[j]
            else g
            for j, g in enumerate(params.gpu_market.generations)
        )
        conditional = dataclasses.replace(
            params,
            time=dataclasses.replace(
                params.time, start=start, end=start + dt.timedelta(days=(H + 1) * params.time.dt_days - 1)
            ),
            btc_price=dataclasses.replace(params.btc_price, initial_usd=float(today["btc_price_usd"][0])),
            fees=dataclasses.replace(
                params.fees, initial_btc_per_block=float(today["fees_btc_per_block"][0])
            ),
            network=dataclasses.replace(
                n,
                initial_hashrate_eh_s=hashrate / 1e6,
                initial_height=int(today["height"][0]),
                initial_difficulty=float(today["difficulty"][0]),
                equilibrium_gap_at_start=max(gap, 1e-6),
            ),
            gpu_market=dataclasses.replace(params.gpu_market, generations=gpus),
            offers=dataclasses.replace(params.offers, rate_per_year=0.0),
        )
        seeds = np.random.SeedSequence([self.seed, view.t]).spawn(self.n_samples)
        paths = sample_paths(conditional, seeds)
        steps = min(paths.n_steps, H)
        arrays: dict[str, Any] = {}
        for name in SERIES:
            mean = getattr(paths, name)[:, : steps + 1].mean(axis=0, keepdims=True)
            if getattr(paths, name).dtype == bool:
                mean = mean >= 0.5
            arrays[name] = mean
            arrays[name][:, 0] = today[name]
        arrays["dr_call"][:, 1:] = False
        arrays["regime"] = np.rint(arrays["regime"]).astype(np.int8)
        # the known offers' tenants: no default foreseen beyond today's (the valuation prices the risk)
        arrays["tenant_defaulted"] = np.repeat(today["tenant_defaulted"][:, None], steps + 1, axis=1)
        arrays["retrofit_delay_epochs"] = _known_delay_only(today, steps)
        return ExogenousPath(
            dt_days=params.time.dt_days,
            start_date=_start_date(params, view),
            **arrays,
            **_known_offers(view),
            **_no_peaks(steps),
        )


class PerfectForecaster:
    """Reads the true future: for tests and diagnostics only (an MPC with it and a horizon
    covering the episode must match the oracle)."""

    name = "perfect"

    def __init__(self, path: ExogenousPath) -> None:
        self._path = path

    def forecast(self, params: ScenarioParams, view: PathView, horizon_steps: int) -> ExogenousPath:
        end = min(self._path.n_steps, view.t + horizon_steps)
        return self._path.window(view.t, end)
