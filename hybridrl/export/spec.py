"""What an exported policy reads and writes, in physical units (numpy only, no torch).

The production scheduler receives named physical fields (:func:`state_fields`), turns them
into the environment's observation with a declarative feature spec (:func:`feature_spec`,
interpreted by :mod:`hybridrl.scheduler.features`), runs the ONNX network, and projects its
decision onto the site's limits (:func:`site_limits`). The spec is written from the same
constants as :class:`~hybridrl.env.encoding.ObservationEncoder`; a test checks, on thousands of
environment states, that the spec applied to :func:`physical_state` reproduces the encoder.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hybridrl.action_layout import decision_values
from hybridrl.economics import asic_margin_coefficients
from hybridrl.env.encoding import (
    OBS_BOUND,
    ObservationEncoder,
    action_layout,
    best_offer,
    grid_calendar,
    observation_names,
)
from hybridrl.sim.exogenous import ExogenousPath
from hybridrl.sim.information import PathView
from hybridrl.sim.params import DAYS_PER_YEAR
from hybridrl.sim.plant import Plant, PlantState
from hybridrl.sim.protocol import HALVING_INTERVAL_BLOCKS

INF = float("inf")


def state_fields(plant: Plant) -> list[dict[str, Any]]:
    """The scheduler's inputs in order: name, unit, physical range [low, high], meaning."""
    ic = plant.interconnection_mw
    asic = [g.name for g in plant.params.asic_market.generations]
    gpu = [g.name for g in plant.params.gpu_market.generations]

    def f(name: str, unit: str, low: float, high: float, doc: str) -> dict[str, Any]:
        return {"name": name, "unit": unit, "low": low, "high": high, "doc": doc}

    flag = ("0 or 1", 0.0, 1.0)
    return [
        f("btc_price_usd", "USD/BTC", 1e-6, INF, "BTC price now"),
        f("btc_price_30d_ago_usd", "USD/BTC", 1e-6, INF, "BTC price 30 days ago"),
        f("hashprice_usd_per_ph_day", "USD/(PH/s)/day", 0.0, INF, "FPPS hashprice now"),
        f("fees_btc_per_block", "BTC", 0.0, INF, "mean transaction fees per block"),
        f("block_subsidy_btc", "BTC", 0.0, 50.0, "block subsidy now"),
        f("network_hashrate_th_s", "TH/s", 1e-6, INF, "network hashrate"),
        f("block_height", "blocks", 0.0, INF, "chain height"),
        f("power_rt_usd_per_mwh", "USD/MWh", -1e4, 1e5, "real-time power price"),
        f("dr_call", *flag, "a demand-response call is on"),
        f("availability", "share", 0.0, 1.0, "share of the interconnection usable now"),
        *(
            x
            for g in asic
            for x in (
                f(f"asic_{g}_on_sale", *flag, f"{g} machines can be ordered"),
                f(f"asic_{g}_price_usd_per_th", "USD/(TH/s)", 0.0, INF, f"{g} price"),
                f(f"asic_{g}_resale_usd_per_th", "USD/(TH/s)", 0.0, INF, f"{g} resale price"),
            )
        ),
        *(
            x
            for g in gpu
            for x in (
                f(f"gpu_{g}_on_sale", *flag, f"{g} nodes can be ordered"),
                f(f"gpu_{g}_spot_usd_per_gpu_hour", "USD/GPU-hour", 0.0, INF, f"{g} rental price"),
                f(f"gpu_{g}_utilisation", "share", 0.0, 1.0, f"{g} rented share of hours"),
                f(f"gpu_{g}_node_capex_usd", "USD/node", 0.0, INF, f"{g} node price"),
            )
        ),
        *(_grid_fields(f, flag) if plant.params.grid is not None else ()),
        *(
            [f("dr_notice", *flag, "a demand-response call is announced for the next hours")]
            if plant.params.power.dr_notice_hours
            else []
        ),
        f("offer_open", *flag, "a hosting offer is open (the fields below describe the best one, 0 if none)"),
        f("offer_it_mw", "MW (IT)", 0.0, ic, "IT load of the offer"),
        f("offer_price_usd_per_kw_month", "USD/kW-month", 0.0, INF, "offered price"),
        f("offer_term_months", "months", 0.0, 600.0, "lease term"),
        f("offer_ready_in_months", "months", 0.0, 600.0, "months until the tenant needs the capacity"),
        f("mining_ready_mw", "MW", 0.0, ic, "facility MW fitted for ASICs"),
        f("hpc_ready_mw", "MW", 0.0, ic, "facility MW fitted for GPUs / hosting"),
        f("retrofit_on_order_mw", "MW", 0.0, ic, "MW being converted from mining to HPC"),
        *(f(f"asic_{g}_th", "TH/s", 0.0, INF, f"installed {g} hashrate") for g in asic),
        *(f(f"asic_{g}_on_order_th", "TH/s", 0.0, INF, f"{g} ordered, not yet delivered") for g in asic),
        *(f(f"gpu_{g}_nodes", "nodes", 0.0, INF, f"installed {g} nodes") for g in gpu),
        *(
            f(f"gpu_{g}_on_order_nodes", "nodes", 0.0, INF, f"{g} nodes ordered, not yet delivered")
            for g in gpu
        ),
        f("lease_reserved_mw", "MW", 0.0, ic, "facility MW promised to accepted leases"),
        f("cash_usd", "USD", -INF, INF, "cash (negative when drawing credit)"),
        f("nav_usd", "USD", -INF, INF, "net asset value now"),
        f("nav_reference_usd", "USD", 1.0, INF, "NAV at the start of the planning horizon"),
        f("horizon_progress", "share", 0.0, 1.0, "share of the planning horizon elapsed"),
        f("day_of_year", "days", 0.0, 366.0, "days since 1 January"),
        f("decision_epoch", *flag, "investments and offers may be decided today"),
        *(_reserve_fields(f, flag, ic) if plant.reserve_block_steps else []),
    ]


def _reserve_fields(f: Any, flag: tuple[str, float, float], ic: float) -> list[dict[str, Any]]:
    """The scheduler's inputs of a site that offers reserves."""
    return [
        f("reserve_price_usd_per_mw_h", "USD/MW-hour", 0.0, INF, "price of a MW of reserve for an hour"),
        f("reserve_deployed", *flag, "the grid deploys reserves now"),
        f("reserve_block_progress", "share", 0.0, 1.0, "share of the block of reserve hours elapsed"),
        f("reserve_block_start", *flag, "a block of reserve commitments starts (commit for the next)"),
        f("reserve_in_force_mw", "MW", 0.0, ic, "reserve MW committed for now"),
        f("reserve_next_mw", "MW", 0.0, ic, "reserve MW committed for the next block"),
    ]


def _grid_fields(f: Any, flag: tuple[str, float, float]) -> list[dict[str, Any]]:
    """The scheduler's inputs of a site on a grid with a coincident-peak charge."""
    return [
        f("hour_of_day", "hours", 0.0, 24.0, "local time of day"),
        f("weekend", *flag, "today is a Saturday or a Sunday"),
        f("charged_month", *flag, "this month's coincident peak sets a transmission charge"),
        f("month_progress", "share", 0.0, 1.0, "share of the calendar month elapsed"),
        f("load_forecast_gw", "GW", 0.0, INF, "the grid's day-ahead load forecast for now"),
        f("load_day_peak_forecast_gw", "GW", 0.0, INF, "the highest day-ahead load forecast of today"),
        f("load_month_high_gw", "GW", 0.0, INF, "the highest system load so far this month (0 at its start)"),
    ]


def _grid_spec(plant: Plant, lin: Any) -> list[dict[str, Any]]:
    """The features of :data:`~hybridrl.env.encoding.GRID_FEATURES`, from :func:`_grid_fields`."""
    grid = plant.params.grid
    if grid is None:
        return []
    per_gw = 1.0 / grid.load_mean_gw
    return [
        {"kind": "sin", "x": "hour_of_day", "period": 24.0},
        {"kind": "cos", "x": "hour_of_day", "period": 24.0},
        lin({"weekend": 1.0}),
        lin({"charged_month": 1.0}),
        lin({"month_progress": 1.0}),
        lin({"load_forecast_gw": per_gw}),
        lin({"load_day_peak_forecast_gw": per_gw}),
        lin({"load_month_high_gw": per_gw}),
    ]


def feature_spec(plant: Plant) -> list[dict[str, Any]]:
    """One entry per observation feature, in the environment's order: how to compute it from
    :func:`state_fields`. Kinds: ``linear`` (sum of weight x field + bias), ``log_ratio``
    (log(num / den)), ``share`` (x / (x + y)), ``ratio`` ((sum of weight x field + bias) / den),
    ``halving`` ((P - x mod P) / P), ``sin`` / ``cos`` (of 2 pi x / P). Every feature is then
    clipped to [-bound, bound]."""
    enc = ObservationEncoder(plant)
    p = plant.params
    ic = plant.interconnection_mw
    asic = [g.name for g in p.asic_market.generations]
    gpu = [g.name for g in p.gpu_market.generations]

    def lin(terms: dict[str, float], bias: float = 0.0) -> dict[str, Any]:
        return {"kind": "linear", "terms": terms, "bias": bias}

    per_hashprice, per_power = asic_margin_coefficients(plant.economics)
    spec: list[dict[str, Any]] = [
        {"kind": "log_ratio", "num": "btc_price_usd", "den": float(np.exp(enc.log_price0))},
        {"kind": "log_ratio", "num": "btc_price_usd", "den": "btc_price_30d_ago_usd"},
        lin({"hashprice_usd_per_ph_day": 1 / 50.0}),
        {"kind": "share", "x": "fees_btc_per_block", "y": "block_subsidy_btc"},
        {"kind": "log_ratio", "num": "network_hashrate_th_s", "den": float(np.exp(enc.log_hash0))},
        lin({"block_subsidy_btc": 1.0 / enc.subsidy0}),
        {"kind": "halving", "x": "block_height", "period": float(HALVING_INTERVAL_BLOCKS)},
        lin({"power_rt_usd_per_mwh": 1 / 100.0}),
        lin({"dr_call": 1.0}),
        lin({"availability": 1.0}),
    ]
    for i, g in enumerate(asic):
        spec += [
            lin({f"asic_{g}_on_sale": 1.0}),
            lin({f"asic_{g}_price_usd_per_th": 1 / 20.0}),
            lin(
                {
                    "hashprice_usd_per_ph_day": 100.0 * per_hashprice,
                    "power_rt_usd_per_mwh": -100.0 * float(per_power[i]),
                }
            ),
        ]
    for g in gpu:
        spec += [
            lin({f"gpu_{g}_on_sale": 1.0}),
            lin({f"gpu_{g}_spot_usd_per_gpu_hour": 1 / 5.0}),
            lin({f"gpu_{g}_utilisation": 1.0}),
            lin({f"gpu_{g}_node_capex_usd": 1 / 5e5}),
        ]
    spec += _grid_spec(plant, lin)
    if plant.reserve_block_steps:
        spec += [
            lin({"reserve_price_usd_per_mw_h": 0.1}),
            lin({"reserve_deployed": 1.0}),
            lin({"reserve_block_progress": 1.0}),
        ]
    if p.power.dr_notice_hours:
        spec.append(lin({"dr_notice": 1.0}))
    spec += [
        lin({"offer_open": 1.0}),
        lin({"offer_it_mw": 1 / 50.0}),
        lin({"offer_price_usd_per_kw_month": 1 / 150.0}),
        lin({"offer_term_months": 1 / 180.0}),
        lin({"offer_ready_in_months": 1 / 24.0}),
        lin({"mining_ready_mw": 1 / ic}),
        lin({"hpc_ready_mw": 1 / ic}),
        lin({"retrofit_on_order_mw": 1 / ic}),
        *(lin({f"asic_{g}_th": float(plant.asic_mw_per_th[i]) / ic}) for i, g in enumerate(asic)),
        lin({f"asic_{g}_on_order_th": float(plant.asic_mw_per_th[i]) / ic for i, g in enumerate(asic)}),
        *(lin({f"gpu_{g}_nodes": float(plant.gpu_node_mw[i]) / ic}) for i, g in enumerate(gpu)),
        lin({f"gpu_{g}_on_order_nodes": float(plant.gpu_node_mw[i]) / ic for i, g in enumerate(gpu)}),
        lin({"lease_reserved_mw": 1 / ic}),
        {"kind": "ratio", "terms": {"cash_usd": 1.0}, "bias": 0.0, "den": "nav_reference_usd"},
        {
            "kind": "ratio",
            "terms": {"cash_usd": 1.0},
            "bias": plant.credit_limit_usd,
            "den": "nav_reference_usd",
        },
        {"kind": "ratio", "terms": {"nav_usd": 1.0}, "bias": 0.0, "den": "nav_reference_usd"},
        lin({"horizon_progress": 1.0}),
        {"kind": "sin", "x": "day_of_year", "period": DAYS_PER_YEAR},
        {"kind": "cos", "x": "day_of_year", "period": DAYS_PER_YEAR},
        lin({"decision_epoch": 1.0}),
    ]
    if plant.reserve_block_steps:
        spec += [lin({"reserve_in_force_mw": 1 / ic}), lin({"reserve_next_mw": 1 / ic})]
    names = observation_names(plant)
    if len(spec) != len(names):
        raise AssertionError(f"feature spec has {len(spec)} entries for {len(names)} observations")
    for entry, name in zip(spec, names, strict=True):
        entry["name"] = name
        entry["bound"] = OBS_BOUND
    return spec


def physical_state(
    plant: Plant,
    state: PlantState,
    path: ExogenousPath | PathView,
    nav_usd: np.ndarray,
    nav0_usd: np.ndarray,
    encoder: ObservationEncoder | None = None,
) -> dict[str, np.ndarray]:
    """The scheduler's input fields for every row of a simulated state, (B,) each: what a site's
    systems would report, read off the simulator (for tests, parity checks and benchmarks).
    ``encoder``: the plant's observation encoder, if the caller holds one (built otherwise)."""
    t = state.t
    p = plant.params
    enc = ObservationEncoder(plant) if encoder is None else encoder
    lag = path.btc_price_usd[:, max(t - enc.lag_30d, 0)]
    out: dict[str, np.ndarray] = {
        "btc_price_usd": path.btc_price_usd[:, t],
        "btc_price_30d_ago_usd": lag,
        "hashprice_usd_per_ph_day": path.hashprice_usd_per_ph_day[:, t],
        "fees_btc_per_block": path.fees_btc_per_block[:, t],
        "block_subsidy_btc": path.subsidy_btc[:, t],
        "network_hashrate_th_s": path.network_hashrate_th_s[:, t],
        "block_height": path.height[:, t].astype(float),
        "power_rt_usd_per_mwh": path.power_rt_usd_per_mwh[:, t],
        "dr_call": path.dr_call[:, t].astype(float),
        "availability": path.availability[:, t],
    }
    for i, g in enumerate(p.asic_market.generations):
        out[f"asic_{g.name}_on_sale"] = path.asic_available[:, t, i].astype(float)
        out[f"asic_{g.name}_price_usd_per_th"] = path.asic_price_usd_per_th[:, t, i]
        out[f"asic_{g.name}_resale_usd_per_th"] = path.asic_resale_usd_per_th[:, t, i]
    for i, gg in enumerate(p.gpu_market.generations):
        out[f"gpu_{gg.name}_on_sale"] = path.gpu_available[:, t, i].astype(float)
        out[f"gpu_{gg.name}_spot_usd_per_gpu_hour"] = path.gpu_spot_usd_per_gpu_hour[:, t, i]
        out[f"gpu_{gg.name}_utilisation"] = path.gpu_utilisation[:, t, i]
        out[f"gpu_{gg.name}_node_capex_usd"] = path.gpu_node_capex_usd[:, t, i]
    B = state.n_paths
    if p.grid is not None:
        out.update(_grid_state(plant, path, t, B))
    if p.power.dr_notice_hours:
        out["dr_notice"] = np.asarray(path.dr_notice[:, t], dtype=np.float64)
    rows = np.arange(B)
    if plant.n_offers == 0:  # a scenario without hosting offers
        k, has = np.zeros(B, dtype=int), np.zeros(B)
        path_offer: dict[str, np.ndarray] = {n: np.zeros((B, 1)) for n in ("it", "price", "term", "ready")}
    else:
        k, is_open = best_offer(plant.open_offers(state, path), path.offer_price_usd_per_kw_month)
        has = is_open.astype(float)
        path_offer = {
            "it": path.offer_it_mw,
            "price": path.offer_price_usd_per_kw_month,
            "term": path.offer_term_months,
            "ready": path.offer_ready_step - t,
        }
    steps_per_month = enc.steps_per_month
    out["offer_open"] = has
    out["offer_it_mw"] = path_offer["it"][rows, k] * has
    out["offer_price_usd_per_kw_month"] = path_offer["price"][rows, k] * has
    out["offer_term_months"] = path_offer["term"][rows, k] * has
    out["offer_ready_in_months"] = np.maximum(path_offer["ready"][rows, k], 0) / steps_per_month * has
    out["mining_ready_mw"] = state.mining_ready_mw
    out["hpc_ready_mw"] = state.hpc_ready_mw
    out["retrofit_on_order_mw"] = state.retrofit_on_order_mw
    for i, g in enumerate(p.asic_market.generations):
        out[f"asic_{g.name}_th"] = state.asic_th[:, i]
    for i, g in enumerate(p.asic_market.generations):
        out[f"asic_{g.name}_on_order_th"] = state.asic_on_order_th[:, i]
    for i, gg in enumerate(p.gpu_market.generations):
        out[f"gpu_{gg.name}_nodes"] = state.gpu_nodes[:, i].astype(float)
    for i, gg in enumerate(p.gpu_market.generations):
        out[f"gpu_{gg.name}_on_order_nodes"] = state.gpu_on_order_nodes[:, i].astype(float)
    out["lease_reserved_mw"] = plant.lease_reserved_mw(state, path)
    out["cash_usd"] = state.cash_usd
    out["nav_usd"] = nav_usd
    out["nav_reference_usd"] = nav0_usd
    full = np.ones(B)
    out["horizon_progress"] = full * t / path.n_steps
    out["day_of_year"] = full * ((enc.start_day_of_year + t * p.time.dt_days) % DAYS_PER_YEAR)
    out["decision_epoch"] = full * float(plant.is_decision_epoch(t))
    if plant.reserve_block_steps:
        bs = plant.reserve_block_steps
        out["reserve_price_usd_per_mw_h"] = np.asarray(path.reserve_price_usd_per_mw_h[:, t])
        out["reserve_deployed"] = np.asarray(path.reserve_deployed[:, t], dtype=np.float64)
        out["reserve_block_progress"] = full * (t % bs) / bs
        out["reserve_block_start"] = full * float(plant.is_reserve_block_start(t))
        out["reserve_in_force_mw"] = plant.reserve_in_force(state)
        out["reserve_next_mw"] = state.reserve_next_mw
    return out


def _grid_state(plant: Plant, path: ExogenousPath | PathView, t: int, B: int) -> dict[str, np.ndarray]:
    """The :func:`_grid_fields` of a simulated state at step ``t``."""
    cal = grid_calendar(plant, path.n_steps + 1)[t]
    full = np.ones(B)
    return {
        "hour_of_day": full * cal[0],
        "weekend": full * cal[1],
        "charged_month": full * cal[2],
        "month_progress": full * cal[3],
        "load_forecast_gw": np.asarray(path.load_forecast_gw[:, t]),
        "load_day_peak_forecast_gw": np.asarray(path.load_day_peak_forecast_gw[:, t]),
        "load_month_high_gw": np.asarray(path.load_month_high_gw[:, t]),
    }


def start_state(plant: Plant, seed: int = 0) -> dict[str, float]:
    """The scheduler's input at the start of the scenario on path ``seed`` (a realistic example
    for each field: ``policy.json`` carries it, ``hybridrl-schedule --template`` prints it)."""
    from hybridrl.sim.exogenous import sample_paths

    path = sample_paths(plant.params, [seed])
    state = plant.initial_state(1)
    nav = plant.nav_usd(state, path)
    values = physical_state(plant, state, path, nav, nav)
    return {name: float(v[0]) for name, v in values.items()}


def state_fields_with_examples(plant: Plant) -> list[dict[str, Any]]:
    """:func:`state_fields`, each with its ``example`` value from :func:`start_state`."""
    example = start_state(plant)
    return [{**f, "example": example[f["name"]]} for f in state_fields(plant)]


def site_limits(plant: Plant) -> dict[str, Any]:
    """Constants the scheduler's projection (:class:`hybridrl.site_rules.SiteLimits`) and its
    fallback (:func:`hybridrl.economics.margin_from_coefficients`) need (units in the names)."""
    p = plant.params
    per_hashprice, per_power = asic_margin_coefficients(plant.economics)
    return {
        "interconnection_mw": plant.interconnection_mw,
        "asic_generations": [g.name for g in p.asic_market.generations],
        "asic_mw_per_th": plant.asic_mw_per_th.tolist(),
        "asic_efficiency_j_per_th": plant.asic_efficiency_j_per_th.tolist(),
        "asic_margin_usd_per_th_day_per_hashprice": per_hashprice,
        "asic_margin_usd_per_th_day_per_usd_mwh": per_power.tolist(),
        "gpu_generations": [g.name for g in p.gpu_market.generations],
        "gpu_node_mw": plant.gpu_node_mw.tolist(),
        "credit_limit_usd": plant.credit_limit_usd,
        "min_liquidity_usd": p.finance.min_liquidity_usd,
        "max_asic_order_mw": plant.max_asic_order_mw,
        "retrofit_capex_usd_per_mw": plant.retrofit_capex_usd_per_mw,
        "max_gpu_order_nodes": plant.max_gpu_order_nodes,
        "max_retrofit_blocks": plant.max_retrofit_blocks,
        "retrofit_block_mw": plant.retrofit_block_mw,
        "retrofit_capex_usd_per_block": plant.retrofit_capex_usd_per_block,
        "lease_mw_per_it_mw": plant.lease_mw_per_it_mw,
        "investments_enabled": plant.investments_enabled,
    }


def site_metadata(plant: Plant) -> dict[str, Any]:
    """The parts of ``policy.json`` that describe the site, not the network: the state fields
    (with examples), the feature spec, the decision fields and the site limits. A
    :class:`~hybridrl.scheduler.Scheduler` built on them alone (no ONNX session) can
    :meth:`~hybridrl.scheduler.Scheduler.project` any decision."""
    return {
        "state_fields": strict_bounds(state_fields_with_examples(plant)),
        "features": feature_spec(plant),
        "decision_fields": decision_fields(plant),
        "site_limits": site_limits(plant),
    }


def strict_bounds(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unbounded ``low``/``high`` as None (JSON null): ``policy.json`` is strict JSON."""
    return [
        {
            **f,
            "low": None if f["low"] == -math.inf else f["low"],
            "high": None if f["high"] == math.inf else f["high"],
        }
        for f in fields
    ]


def decision_fields(plant: Plant) -> list[dict[str, Any]]:
    """The network's decision in physical units, in order (:meth:`ActionLayout.decision_fields`
    of the scenario's :func:`~hybridrl.env.encoding.action_layout`): each field reads action
    component ``index`` (in [-1, 1]) through ``kind`` and ``scale``
    (:func:`hybridrl.action_layout.decision_values`), as the environment decodes it. The
    scheduler then projects it onto the site's limits."""
    return action_layout(plant).decision_fields()


map_action = decision_values
"""(B, A) actions in [-1, 1] -> (B, D) decision fields (:func:`hybridrl.action_layout.decision_values`)."""


def simulated_states(scenario: str, n: int, seed: int = 0) -> tuple[list[dict[str, float]], np.ndarray]:
    """``n`` scheduler inputs read off the simulator under uniformly random actions, with the
    environment's observation of each (for parity tests and latency benchmarks)."""
    from hybridrl.env import HybridMineEnv

    env = HybridMineEnv(scenario)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    fields: list[dict[str, float]] = []
    observations = []
    while len(fields) < n:
        assert env.state is not None and env.path is not None
        values = physical_state(env.plant, env.state, env.path, env._nav, env._nav0, env._encoder)
        fields.append({k: float(v[0]) for k, v in values.items()})
        observations.append(obs)
        obs, _, terminated, truncated, _ = env.step(
            rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        )
        if terminated or truncated:
            obs, _ = env.reset()
    return fields, np.stack(observations)
