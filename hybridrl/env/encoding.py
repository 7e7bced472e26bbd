"""Mapping between the RL-facing spaces and the plant: normalised actions -> native actions,
plant state + path (up to now) -> bounded observation vector. Batched over B paths.

Actions: ``Box(-1, 1, (2G + 6,))`` (G = ASIC generations), laid out by
:data:`hybridrl.action_layout.ACTION_FIELDS` (:func:`action_layout` gives a scenario's
layout: names, indices, decision fields):

| field | components | mapping to native units |
|---|---|---|
| ``run_<gen>`` | G | run fraction (a + 1) / 2 of that generation's TH/s |
| ``sell_<gen>`` | G | sell max(a, 0) x that generation's TH/s (decision epochs) |
| ``gpu_offer`` | 1 | offer fraction (a + 1) / 2 of every GPU node |
| ``asic_order`` | 1 | order max(a, 0) x max MW per epoch of the most efficient generation on sale |
| ``gpu_order`` | 1 | order floor(max(a, 0) x max nodes per epoch) of the newest generation on sale |
| ``retrofit`` | 1 | start round(max(a, 0) x max blocks per epoch) retrofit blocks |
| ``accept_offers`` | 1 | a > 0 accepts every open hosting offer that fits (decision epochs) |
| ``curtail`` | 1 | during a DR call, hold max(a, 0) x available ASIC MW off (caps run fractions) |
| ``reserve`` | 1 | with reserves: at a block's start, commit max(a, 0) x installed ASIC MW (next block) |

Half of each order dimension (a <= 0) means "no order", so a random or untrained policy does
not spend the site's cash by accident.
"""

from __future__ import annotations

import functools
import weakref

import numpy as np
from numpy.typing import NDArray

from hybridrl import economics
from hybridrl.action_layout import ACTION_FIELDS, RESERVE_FIELD, ActionLayout
from hybridrl.sim.exogenous import ExogenousPath, calendar
from hybridrl.sim.information import PathView
from hybridrl.sim.params import DAYS_PER_MONTH, DAYS_PER_YEAR
from hybridrl.sim.plant import NativeAction, Plant, PlantState
from hybridrl.sim.protocol import HALVING_INTERVAL_BLOCKS, block_subsidy_btc

FloatArray = NDArray[np.float64]
OBS_BOUND = 10.0
"""Observations are clipped to [-OBS_BOUND, OBS_BOUND]; normal values lie within about [-3, 3]."""


_LAYOUTS: weakref.WeakKeyDictionary[Plant, ActionLayout] = weakref.WeakKeyDictionary()


def action_layout(plant: Plant) -> ActionLayout:
    """The action layout of ``plant``'s scenario (built once per plant)."""
    layout = _LAYOUTS.get(plant)
    if layout is None:
        limits = plant.limits
        layout = _LAYOUTS[plant] = ActionLayout(
            asic_generations=tuple(g.name for g in plant.params.asic_market.generations),
            scales={
                "max_asic_order_mw": limits.max_asic_order_mw,
                "max_gpu_order_nodes": limits.max_gpu_order_nodes,
                "max_retrofit_blocks": limits.max_retrofit_blocks,
            },
            fields=ACTION_FIELDS + ((RESERVE_FIELD,) if plant.reserve_block_steps else ()),
        )
    return layout


def action_names(plant: Plant) -> tuple[str, ...]:
    """Every action component's name, in order."""
    return action_layout(plant).names


def decode_action(
    plant: Plant, state: PlantState, path: ExogenousPath | PathView, action: FloatArray
) -> NativeAction:
    """(B, 2G+6) actions in [-1, 1] -> native action in physical units."""
    col = action_layout(plant).columns
    G = plant.n_asic
    t = state.t
    a = action
    B = a.shape[0]
    run = (a[:, col["run"]] + 1.0) * 0.5
    dr = path.dr_call[:, t]
    if np.count_nonzero(dr):
        curtail_frac = np.maximum(a[:, col["curtail"]][:, 0], 0.0) * dr
        run = np.minimum(run, 1.0 - curtail_frac[:, None])
        curtail_mw = curtail_frac * (plant.asic_installed_mw(state) * path.availability[:, t])
    else:
        curtail_mw = np.zeros(B)
    if plant.is_decision_epoch(t):
        zeros_g = np.zeros((B, G))
        zeros_gg = np.zeros((B, plant.n_gpu))
        rows = np.arange(B)
        sell = np.maximum(a[:, col["sell"]], 0.0) * state.asic_th
        # most efficient ASIC generation on sale, newest GPU generation on sale
        best = economics.best_asic_generation(path.asic_available[:, t], plant.asic_efficiency_j_per_th)
        asic_order = zeros_g
        asic_order[rows, best] = (
            np.maximum(a[:, col["asic_order"]][:, 0], 0.0)
            * plant.max_asic_order_mw
            / plant.asic_mw_per_th[best]
        )
        on_sale = path.gpu_available[:, t]
        newest = economics.newest_gpu_generation(on_sale)
        gpu_order = zeros_gg.copy()
        gpu_order[rows, newest] = np.floor(
            np.maximum(a[:, col["gpu_order"]][:, 0], 0.0) * plant.max_gpu_order_nodes
        )
        gpu_order *= on_sale
        retrofit = np.round(np.maximum(a[:, col["retrofit"]][:, 0], 0.0) * plant.max_retrofit_blocks)
    else:
        sell, asic_order, gpu_order, retrofit = plant.no_orders(B)
    wants = a[:, col["accept_offers"]][:, 0] > 0.0
    if np.count_nonzero(wants) and plant.is_decision_epoch(t):
        accept = wants[:, None] & plant.open_offers(state, path)
    else:
        accept = plant.no_acceptance(B)
    gpu_offer = (a[:, col["gpu_offer"]][:, 0] + 1.0) * 0.5
    return NativeAction(
        asic_run_fraction=run,
        gpu_offer_fraction=gpu_offer[:, None].repeat(plant.n_gpu, axis=1),
        asic_order_th=asic_order,
        gpu_order_nodes=gpu_order,
        retrofit_blocks=retrofit,
        asic_sale_th=sell,
        accept_offer=accept,
        curtail_mw=curtail_mw,
        reserve_commit_mw=_reserve_commit_mw(plant, state, a, col),
    )


NO_REQUEST = -0.5
"""Where an encoded action asks nothing of a field that reads max(a, 0): a margin below 0."""


def encode_dispatch(plant: Plant, state: PlantState, view: PathView, native: NativeAction) -> FloatArray:
    """(B, A) an action in [-1, 1] that :func:`decode_action` reads as ``native``'s dispatch:
    run fractions, GPU offer (the largest of the generations'), DR curtailment (as a share of the
    available ASIC MW, where no generation it would cap runs), reserve commitment (at a block's
    start); every investment field asks nothing. For cloning a rule policy in an operations
    scenario (no investments); ``native``'s investments are not encoded."""
    layout = action_layout(plant)
    col = layout.columns
    B = state.n_paths
    a = np.full((B, layout.size), -1.0)
    run = np.clip(native.asic_run_fraction, 0.0, 1.0)
    a[:, col["run"]] = 2.0 * run - 1.0
    a[:, col["gpu_offer"]] = (
        2.0 * np.clip(native.gpu_offer_fraction, 0.0, 1.0).max(axis=1, initial=0.0)[:, None] - 1.0
    )
    available = plant.asic_installed_mw(state) * view.now("availability")
    share = np.divide(native.curtail_mw, available, out=np.zeros(B), where=available > 0)
    share = np.where(view.now("dr_call") & (run.max(axis=1, initial=0.0) <= 1.0 - share + 1e-12), share, 0.0)
    a[:, col["curtail"]] = np.where(share > 0, np.clip(share, 0.0, 1.0), NO_REQUEST)[:, None]
    if plant.reserve_block_steps:
        installed = plant.asic_installed_mw(state)
        commit = np.divide(native.reserve_commit_mw, installed, out=np.zeros(B), where=installed > 0)
        a[:, col["reserve"]] = np.where(commit > 0, np.clip(commit, 0.0, 1.0), NO_REQUEST)[:, None]
    return a


def _reserve_commit_mw(plant: Plant, state: PlantState, a: FloatArray, col: dict[str, slice]) -> FloatArray:
    """(B,) reserve MW asked for the next block: max(a, 0) x the installed ASIC MW, at the start
    of a block (0 otherwise, and without reserves)."""
    if not plant.is_reserve_block_start(state.t):
        return plant.no_orders(a.shape[0])[3]
    return np.maximum(a[:, col["reserve"]][:, 0], 0.0) * plant.asic_installed_mw(state)


GRID_FEATURES = (
    "grid_hour_sin",
    "grid_hour_cos",
    "grid_weekend",
    "grid_charged_month",
    "grid_month_progress",
    "grid_load_forecast_vs_mean",
    "grid_day_peak_forecast_vs_mean",
    "grid_month_high_vs_mean",
)
"""Observation features of a scenario with a grid (:class:`~hybridrl.sim.params.GridParams`):
time of day, weekend, whether the month's coincident peak is charged and how far the month has
gone, the day-ahead load forecast now and its daily peak, and the highest load so far this month,
loads in units of the mean load."""


RESERVE_FEATURES = ("reserve_price_usd_per_mw_h_div10", "reserve_deployed", "reserve_block_progress")
"""Observation features of a scenario with reserves (after the grid's): the reserve price, a
deployment on, the share of the block of hours elapsed."""
RESERVE_STATE_FEATURES = ("reserve_in_force_mw_share", "reserve_next_mw_share")
"""The commitments (last in the observation, shares of the interconnection): the MW to deliver
now and the MW committed for the next block."""


@functools.lru_cache(maxsize=8)
def grid_calendar(plant: Plant, n_points: int) -> FloatArray:
    """(n_points, 4) hour of the day, weekend flag, charged-month flag and month progress of the
    episode's first ``n_points`` time points: the calendar inputs of :data:`GRID_FEATURES`
    (read-only, kept for the last few plants and lengths asked)."""
    cal = calendar(plant.params, n_points)
    table: FloatArray = np.stack(
        [
            cal["hour"],
            (cal["weekday"] >= 5).astype(np.float64),
            cal["charged_month"].astype(np.float64),
            cal["month_progress"],
        ],
        axis=1,
    )
    table.flags.writeable = False
    return table


def observation_names(plant: Plant) -> tuple[str, ...]:
    asic = [g.name for g in plant.params.asic_market.generations]
    gpu = [g.name for g in plant.params.gpu_market.generations]
    return (
        # market
        "btc_log_price_vs_start",
        "btc_log_return_30d",
        "hashprice_usd_per_ph_day_div50",
        "fee_share_of_reward",
        "network_log_hashrate_vs_start",
        "subsidy_vs_start",
        "blocks_to_halving_div210k",
        # power
        "power_rt_usd_per_mwh_div100",
        "dr_call",
        "availability",
        # ASIC market, per generation
        *(
            f"asic_{g}_{f}"
            for g in asic
            for f in ("on_sale", "price_usd_per_th_div20", "margin_usd_per_th_day_x100")
        ),
        # GPU market, per generation
        *(
            f"gpu_{g}_{f}"
            for g in gpu
            for f in ("on_sale", "spot_usd_per_gpu_hour_div5", "utilisation", "capex_usd_div500k")
        ),
        # the grid, with a grid only; reserves, with reserves only
        *(GRID_FEATURES if plant.params.grid is not None else ()),
        *(RESERVE_FEATURES if plant.reserve_block_steps else ()),
        *(("dr_notice",) if plant.params.power.dr_notice_hours else ()),
        # best open hosting offer
        "offer_open",
        "offer_it_mw_div50",
        "offer_price_usd_per_kw_month_div150",
        "offer_term_months_div180",
        "offer_ready_months_div24",
        # site, in shares of the interconnection
        "site_mining_ready_share",
        "site_hpc_ready_share",
        "site_retrofit_pipeline_share",
        *(f"site_asic_{g}_mw_share" for g in asic),
        "site_asic_pipeline_mw_share",
        *(f"site_gpu_{g}_mw_share" for g in gpu),
        "site_gpu_pipeline_mw_share",
        "site_lease_reserved_mw_share",
        # finance, in units of the initial NAV
        "cash_vs_nav0",
        "credit_headroom_vs_nav0",
        "nav_vs_nav0",
        # calendar
        "episode_progress",
        "season_sin",
        "season_cos",
        "decision_epoch",
        *(RESERVE_STATE_FEATURES if plant.reserve_block_steps else ()),
    )


def best_offer(
    open_offers: NDArray[np.bool_], price: FloatArray
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """(B,) slot of the highest-priced open offer of each row, and whether the row has one (the
    offer the observation describes)."""
    k = np.where(open_offers, price, -1.0).argmax(axis=1)
    return k, open_offers[np.arange(k.size), k]


class ObservationEncoder:
    """Builds the observation vector; scales come from the scenario, never from the path's future.

    The exogenous columns (market, power, ASIC and GPU markets) at time t depend only on the path
    up to t; :meth:`exogenous` computes them for one time index or for all at once (the single
    environment precomputes them at reset). The rest (offer, site, finance, calendar) depends on
    the plant state and is computed each step.
    """

    def __init__(self, plant: Plant) -> None:
        p = plant.params
        self.plant = plant
        self.names = observation_names(plant)
        self.log_price0 = float(np.log(p.btc_price.initial_usd))
        self.log_hash0 = float(np.log(p.network.initial_hashrate_eh_s * 1e6))
        self.subsidy0 = block_subsidy_btc(p.network.initial_height)
        self.lag_30d = max(1, round(30.0 / p.time.dt_days))
        self.inv_ic = 1.0 / p.site.interconnection_mw
        self.start_day_of_year = (p.time.start - p.time.start.replace(month=1, day=1)).days
        self.season_phase0 = 2 * np.pi * self.start_day_of_year / DAYS_PER_YEAR
        self.season_step = 2 * np.pi * p.time.dt_days / DAYS_PER_YEAR
        self.steps_per_month = DAYS_PER_MONTH / p.time.dt_days
        self.n_exogenous = 10 + 3 * plant.n_asic + 4 * plant.n_gpu
        self.grid = p.grid
        if self.grid is not None:
            self.n_exogenous += len(GRID_FEATURES)
        self.reserve_block = plant.reserve_block_steps
        if self.reserve_block:
            self.n_exogenous += len(RESERVE_FEATURES)
        self.dr_notice = bool(p.power.dr_notice_hours)
        self.n_exogenous += int(self.dr_notice)
        self._grid_calendar: FloatArray = np.zeros((0, 5))
        """(T+1, 5) hour sin and cos, weekend, charged month, month progress (:func:`grid_calendar`)"""
        self.n_features = len(self.names)
        self._window_path: ExogenousPath | PathView | None = None
        self._window: NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._windows: dict[int, tuple[ExogenousPath | PathView, NDArray[np.bool_]]] = {}
        self._reserved_key: tuple[object, object, int, int] | None = None
        self._reserved: FloatArray = np.zeros(0)
        self._calendar_table: FloatArray = np.zeros((0, 4))

    def _calendar(self, n_steps: int) -> FloatArray:
        """(T+1, 4) episode progress, season sin and cos, decision-epoch flag for every step."""
        if self._calendar_table.shape[0] != n_steps + 1:
            t = np.arange(n_steps + 1)
            phase = self.season_phase0 + self.season_step * t
            epoch = np.array([self.plant.is_decision_epoch(int(s)) for s in t], dtype=np.float64)
            self._calendar_table = np.stack([t / n_steps, np.sin(phase), np.cos(phase), epoch], axis=1)
        return self._calendar_table

    def _offer_window(self, path: ExogenousPath | PathView) -> NDArray[np.bool_]:
        """(T+1,) whether any row has an offer inside its window at step t (cached per path)."""
        if self._window_path is not path:
            kept = self._windows.get(id(path))
            if kept is not None and kept[0] is path:
                self._window = kept[1]
            else:
                steps = np.arange(path.n_steps + 1)[:, None, None]
                inside = (path.offer_arrival_step <= steps) & (steps < path.offer_expiry_step)
                self._window = np.asarray(inside.any(axis=(1, 2)), dtype=bool)
                if len(self._windows) >= 8:  # a vector env steps a few paths in turn
                    self._windows.pop(next(iter(self._windows)))
                self._windows[id(path)] = (path, self._window)
            self._window_path = path
        return self._window

    def _reserved_mw(self, state: PlantState, path: ExogenousPath | PathView) -> FloatArray:
        """Lease-reserved MW, recomputed only when acceptances change or a lease ends (its term or
        its tenant's default)."""
        accepted = state.lease_accepted
        key = self._reserved_key
        defaults = (
            int((accepted & self.plant.tenant_defaulted_now(path, state.t)).sum())
            if np.count_nonzero(accepted)
            else 0
        )
        if (
            key is None
            or key[0] is not accepted
            or key[1] is not path
            or state.t >= key[2]
            or defaults != key[3]
        ):
            ends = path.offer_end_step[accepted & (path.offer_end_step > state.t)]
            until = int(min(np.ceil(ends.min()), path.n_steps + 1)) if ends.size else path.n_steps + 1
            self._reserved = (
                self.plant.lease_reserved_mw(state, path)
                if np.count_nonzero(accepted)
                else np.zeros(state.n_paths)
            )
            self._reserved_key = (accepted, path, until, defaults)
        return self._reserved

    def exogenous(self, path: ExogenousPath, t: int | slice) -> NDArray[np.float32]:
        """(B, n_exo) at step ``t``, or (B, T+1, n_exo) for ``t = slice(None)``."""
        plant = self.plant
        price = path.btc_price_usd[:, t]
        if isinstance(t, slice):
            idx = np.arange(path.n_steps + 1)[t]
            lagged = path.btc_price_usd[:, np.maximum(idx - self.lag_30d, 0)]
        else:
            lagged = path.btc_price_usd[:, max(t - self.lag_30d, 0)]
        hp = path.hashprice_usd_per_ph_day[:, t]
        fees = path.fees_btc_per_block[:, t]
        sub = path.subsidy_btc[:, t]
        rt = path.power_rt_usd_per_mwh[:, t]
        margin = economics.asic_margin_usd_per_th_day(plant.economics, hp, rt)
        asic = np.stack(
            [path.asic_available[:, t], path.asic_price_usd_per_th[:, t] / 20.0, margin * 100.0], axis=-1
        )
        gpu = np.stack(
            [
                path.gpu_available[:, t],
                path.gpu_spot_usd_per_gpu_hour[:, t] / 5.0,
                path.gpu_utilisation[:, t],
                path.gpu_node_capex_usd[:, t] / 5e5,
            ],
            axis=-1,
        )
        scalars = np.stack(
            [
                np.log(price) - self.log_price0,
                np.log(price / lagged),
                hp / 50.0,
                fees / (fees + sub),
                np.log(path.network_hashrate_th_s[:, t]) - self.log_hash0,
                sub / self.subsidy0,
                (HALVING_INTERVAL_BLOCKS - path.height[:, t] % HALVING_INTERVAL_BLOCKS)
                / HALVING_INTERVAL_BLOCKS,
                rt / 100.0,
                path.dr_call[:, t],
                path.availability[:, t],
            ],
            axis=-1,
        )
        parts = [scalars, asic.reshape(*asic.shape[:-2], -1), gpu.reshape(*gpu.shape[:-2], -1)]
        if self.grid is not None:
            parts.append(self._grid_columns(path, t))
        if self.reserve_block:
            parts.append(self._reserve_columns(path, t))
        if self.dr_notice:
            parts.append(path.dr_notice[:, t][..., None])
        cols = np.concatenate(parts, axis=-1)
        return np.clip(cols, -OBS_BOUND, OBS_BOUND).astype(np.float32)

    def _reserve_columns(self, path: ExogenousPath, t: int | slice) -> FloatArray:
        """(B[, T+1], 3) the :data:`RESERVE_FEATURES` at step ``t`` (all steps for a slice)."""
        price = path.reserve_price_usd_per_mw_h[:, t]
        steps = np.arange(path.n_steps + 1)[t]
        progress = np.broadcast_to((steps % self.reserve_block) / self.reserve_block, price.shape)
        return np.stack([price / 10.0, path.reserve_deployed[:, t], progress], axis=-1)

    def _grid_columns(self, path: ExogenousPath, t: int | slice) -> FloatArray:
        """(B[, T+1], 8) the :data:`GRID_FEATURES` at step ``t`` (all steps for a slice)."""
        assert self.grid is not None
        mean = self.grid.load_mean_gw
        loads = np.stack(
            [
                path.load_forecast_gw[:, t],
                path.load_day_peak_forecast_gw[:, t],
                path.load_month_high_gw[:, t],
            ],
            axis=-1,
        )
        if self._grid_calendar.shape[0] != path.n_steps + 1:
            cal = grid_calendar(self.plant, path.n_steps + 1)
            phase = 2 * np.pi * cal[:, 0] / 24.0
            self._grid_calendar = np.column_stack([np.sin(phase), np.cos(phase), cal[:, 1:]])
        cal = self._grid_calendar[t]
        return np.concatenate(
            [np.broadcast_to(cal, loads.shape[:-1] + cal.shape[-1:]), loads / mean], axis=-1
        )

    def __call__(
        self,
        state: PlantState,
        path: ExogenousPath,
        nav_usd: FloatArray,
        nav0_usd: FloatArray,
        exogenous: NDArray[np.float32] | None = None,
    ) -> NDArray[np.float32]:
        """(B, n) observation at the state's time; ``exogenous`` = precomputed columns at that time."""
        plant = self.plant
        t = state.t
        B = state.n_paths
        out = np.empty((B, self.n_features))
        n = self.n_exogenous
        out[:, :n] = self.exogenous(path, t) if exogenous is None else exogenous
        open_offers = plant.open_offers(state, path) if self._offer_window(path)[t] else None
        if open_offers is not None and np.count_nonzero(open_offers):
            k, has = best_offer(open_offers, path.offer_price_usd_per_kw_month)
            rows = np.arange(B)
            out[:, n] = has
            out[:, n + 1] = path.offer_it_mw[rows, k] / 50.0 * has
            out[:, n + 2] = path.offer_price_usd_per_kw_month[rows, k] / 150.0 * has
            out[:, n + 3] = path.offer_term_months[rows, k] / 180.0 * has
            out[:, n + 4] = (
                np.maximum(path.offer_ready_step[rows, k] - t, 0) / self.steps_per_month / 24.0 * has
            )
        else:
            out[:, n : n + 5] = 0.0
        n += 5
        inv_ic = self.inv_ic
        G, Gg = plant.n_asic, plant.n_gpu
        out[:, n] = state.mining_ready_mw * inv_ic
        out[:, n + 1] = state.hpc_ready_mw * inv_ic
        out[:, n + 2] = state.retrofit_on_order_mw * inv_ic
        n += 3
        out[:, n : n + G] = state.asic_th * (plant.asic_mw_per_th * inv_ic)
        n += G
        out[:, n] = state.asic_on_order_th @ plant.asic_mw_per_th * inv_ic
        n += 1
        out[:, n : n + Gg] = state.gpu_nodes * (plant.gpu_node_mw * inv_ic)
        n += Gg
        out[:, n] = state.gpu_on_order_nodes @ plant.gpu_node_mw * inv_ic
        out[:, n + 1] = self._reserved_mw(state, path) * inv_ic
        out[:, n + 2] = state.cash_usd / nav0_usd
        out[:, n + 3] = (state.cash_usd + plant.credit_limit_usd) / nav0_usd
        out[:, n + 4] = nav_usd / nav0_usd
        out[:, n + 5 : n + 9] = self._calendar(path.n_steps)[t]
        if self.reserve_block:
            out[:, n + 9] = plant.reserve_in_force(state) * inv_ic
            out[:, n + 10] = state.reserve_next_mw * inv_ic
        np.minimum(out, OBS_BOUND, out=out)
        np.maximum(out, -OBS_BOUND, out=out)
        return out.astype(np.float32)
