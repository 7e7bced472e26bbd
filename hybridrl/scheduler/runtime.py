"""The production runtime of an exported policy: numpy and onnxruntime only.

``Scheduler.load(dir)`` checks ``policy.json`` and ``policy.onnx`` against each other (sha256
of the ONNX file in the JSON; sha256 of the JSON's content in the ONNX metadata), the schema
and the environment version, and never unpickles anything. ``decide(state)`` validates the
named physical inputs (every problem listed in one error), runs the network and projects its
decision with the site rules the simulator applies (:mod:`hybridrl.site_rules`), so that the
site carries the decision out as it is.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from hybridrl.economics import best_asic_generation, margin_from_coefficients, newest_gpu_generation
from hybridrl.scheduler.features import compute_features
from hybridrl.site_rules import (
    EpochMarket,
    EpochOrders,
    EpochRequest,
    EpochSite,
    SiteLimits,
    accept_offers,
    commit_reserve,
    curtail_asics,
    epoch_orders,
    hpc_capacity_mw,
    offer_gpus,
    reserve_delivery,
    run_asics,
)

SUPPORTED_SCHEMA_VERSIONS = (2,)
"""2: per-generation on-order and resale fields, the site rules' limits (no version-1 file
carries what the shared rules read: re-export it)."""
SUPPORTED_ENV = ("hybridrl/HybridMine-v1", "v1")
ONNX_FILE = "policy.onnx"
JSON_FILE = "policy.json"
METADATA_HASH_KEY = "hybridrl_metadata_sha256"
FloatArray = NDArray[np.float64]


class PolicyFileError(ValueError):
    """The policy files are missing, tampered with, or made for another environment."""


class InvalidStateError(ValueError):
    """The state given to ``decide`` is invalid; ``problems`` lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid state:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Decision:
    """One decision in physical units, within the site's limits."""

    asic_mw: dict[str, float]
    """Facility MW to run per ASIC generation."""
    mining_mw: float
    own_gpu_mw: float
    """Facility MW of own GPU nodes offered for rent."""
    curtail_mw: float
    """ASIC MW held off for a demand-response call."""
    asic_sale_th: dict[str, float]
    asic_order_generation: str | None
    asic_order_th: float
    asic_order_usd: float
    gpu_order_generation: str | None
    gpu_order_nodes: int
    gpu_order_usd: float
    retrofit_blocks: int
    retrofit_usd: float
    accept_offer: bool
    reserve_commit_mw: float = 0.0
    """ASIC MW offered as reserve for the next block of hours (a scenario with reserves, at a
    block's start; within the installed ASIC MW)."""
    fallback: bool = False
    """True when the decision comes from the fallback rule, not the network."""
    adjusted: list[str] = field(default_factory=list)
    """What the safety projection cut back from the network's request."""
    problems: list[str] = field(default_factory=list)
    """Why the fallback was used."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MAX_JSON_BYTES = 16 * 2**20
"""The largest policy.json, state or batch file read (16 MiB)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (strict JSON has no NaN or Infinity)")


def read_json(raw: bytes, source: str) -> Any:
    """Parse strict JSON from bytes; every problem a ``ValueError`` naming ``source``: not UTF-8,
    too large, not JSON, ``NaN``/``Infinity`` literals, numbers of more than 4,300 digits,
    nesting deeper than the interpreter can parse."""
    if len(raw) > MAX_JSON_BYTES:
        raise ValueError(f"{source}: {len(raw):,} bytes; at most {MAX_JSON_BYTES:,} are read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{source}: not UTF-8 text (byte {err.start})") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{source}: not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise ValueError(f"{source}: nested too deeply") from None
    except ValueError as err:  # a number beyond the digit limit, or NaN / Infinity
        raise ValueError(f"{source}: {str(err)[:300]}") from None


def _as_number(value: Any) -> float | None:
    """The value as a float, or None when it is not a number or overflows a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def _neutral_value(f: Mapping[str, Any]) -> float:
    """A field's stand-in when no reading is usable: 0 clamped into its range."""
    return float(min(max(0.0, f["low"]), f["high"]))


def _unbounded_as_inf(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """policy.json writes an unbounded ``low``/``high`` as null (strict JSON)."""
    return [
        {
            **f,
            "low": -math.inf if f["low"] is None else f["low"],
            "high": math.inf if f["high"] is None else f["high"],
        }
        for f in fields
    ]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def metadata_digest(meta: Mapping[str, Any]) -> str:
    """sha256 of ``policy.json``'s content without its two hash fields (canonical JSON); the
    exporter writes it into the JSON and into the ONNX file's metadata."""
    core = {k: v for k, v in meta.items() if k not in ("onnx_sha256", "metadata_sha256")}
    return hashlib.sha256(json.dumps(core, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Scheduler:
    """Decides with an exported policy. Build it with :meth:`load`.

    :param fallback: on invalid input, return the fallback rule's decision (flagged
        ``fallback=True``, with the problems) instead of raising :class:`InvalidStateError`.

    Built without an ONNX ``session`` (from ``policy.json``'s content or
    :func:`hybridrl.export.spec.site_metadata`), it can :meth:`project` decisions but not
    :meth:`decide`.
    """

    def __init__(
        self, meta: dict[str, Any], session: ort.InferenceSession | None = None, fallback: bool = False
    ) -> None:
        self.meta = meta
        self.session = session
        self.fallback = fallback
        self.fields: list[dict[str, Any]] = _unbounded_as_inf(meta["state_fields"])
        self.field_names = [f["name"] for f in self.fields]
        self.features = meta["features"]
        self.decision_fields = meta["decision_fields"]
        self.limits = meta["site_limits"]
        self.asic_gens: list[str] = self.limits["asic_generations"]
        self.gpu_gens: list[str] = self.limits["gpu_generations"]
        self._col = {f["name"]: i for i, f in enumerate(self.decision_fields)}
        self.rules = SiteLimits.from_site_limits(self.limits)
        """the site rules' constants, from ``site_limits``"""
        self._efficiency = np.asarray(self.limits["asic_efficiency_j_per_th"], dtype=np.float64)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls, directory: str | Path, fallback: bool = False, public_key: str | Path | None = None
    ) -> Scheduler:
        """Load and check an exported policy. With ``public_key`` (an Ed25519 PEM file), the
        files must carry a valid signature by its private key (:mod:`hybridrl.scheduler.signing`):
        unsigned or changed files are refused. Without it, the hashes catch accidents only."""
        d = Path(directory)
        json_path, onnx_path = d / JSON_FILE, d / ONNX_FILE
        for p in (json_path, onnx_path):
            if not p.is_file():
                raise PolicyFileError(f"{p} is missing")
        if public_key is not None:
            from hybridrl.scheduler.signing import SignatureError, verify_policy

            try:
                verify_policy(d, public_key)
            except SignatureError as err:
                raise PolicyFileError(str(err)) from None
        try:
            meta = read_json(json_path.read_bytes(), str(json_path))
        except ValueError as err:
            raise PolicyFileError(str(err)) from None
        if not isinstance(meta, dict):
            raise PolicyFileError(f"{json_path} must hold a JSON object, got {type(meta).__name__}")
        if meta.get("schema_version") not in SUPPORTED_SCHEMA_VERSIONS:
            raise PolicyFileError(
                f"{json_path}: schema version {meta.get('schema_version')!r} is not supported "
                f"(supported: {list(SUPPORTED_SCHEMA_VERSIONS)})"
            )
        env = (meta.get("env_id"), meta.get("env_version"))
        if env != SUPPORTED_ENV:
            raise PolicyFileError(
                f"{json_path}: made for environment {env[0]} {env[1]}, this scheduler runs "
                f"{SUPPORTED_ENV[0]} {SUPPORTED_ENV[1]}"
            )
        if meta.get("metadata_sha256") != metadata_digest(meta):
            raise PolicyFileError(f"{json_path} was modified after export (its content hash does not match)")
        actual = _sha256(onnx_path)
        if actual != meta.get("onnx_sha256"):
            raise PolicyFileError(
                f"{onnx_path} does not match {json_path}: sha256 {actual}, expected {meta.get('onnx_sha256')}"
            )
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        bound = session.get_modelmeta().custom_metadata_map.get(METADATA_HASH_KEY)
        if bound != meta["metadata_sha256"]:
            raise PolicyFileError(
                f"{onnx_path} was exported with another {JSON_FILE} (metadata hash differs)"
            )
        return cls(meta, session, fallback=fallback)

    def template_state(self) -> dict[str, float]:
        """A state with every input field: the example ``policy.json`` carries (the scenario's
        start), or, for files exported before examples, the field's lower bound clamped to 0;
        edit it into the site's real readings."""
        out: dict[str, float] = {}
        for f in self.fields:
            example = f.get("example")
            out[f["name"]] = float(example) if example is not None else _neutral_value(f)
        return out

    # ------------------------------------------------------------------ validation

    def problems(self, state: Mapping[str, Any]) -> list[str]:
        """Every problem of ``state``: missing, unknown, non-numeric, NaN/infinite or out of range."""
        out = [f"missing field {name!r}" for name in self.field_names if name not in state]
        known = set(self.field_names)
        out += [f"unknown field {name!r}" for name in state if name not in known]
        for f in self.fields:
            name = f["name"]
            if name not in state:
                continue
            value = state[name]
            v = _as_number(value)
            if v is None:
                shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80] + "..."
                out.append(f"{name} must be a number ({f['unit']}) that fits a float, got {shown}")
                continue
            if not math.isfinite(v):
                out.append(f"{name} is {v} ({f['unit']}); it must be finite")
            elif not f["low"] <= v <= f["high"]:
                out.append(f"{name} = {v} is outside [{f['low']}, {f['high']}] {f['unit']}")
        cash = _as_number(state.get("cash_usd"))
        if cash is not None and math.isfinite(cash) and cash < -self.limits["credit_limit_usd"]:
            floor = -self.limits["credit_limit_usd"]
            out.append(
                f"cash_usd = {cash:,.0f} is below minus the credit limit ({floor:,.0f} USD): "
                "the site is bankrupt, there is nothing to decide"
            )
        return out

    # ------------------------------------------------------------------ deciding

    def decide(self, state: Mapping[str, Any]) -> Decision:
        """The decision for one site state (named fields in physical units)."""
        return self.decide_batch([state])[0]

    def decide_batch(self, states: Sequence[Mapping[str, Any]]) -> list[Decision]:
        """Decisions for many states in one network call."""
        results: list[Decision | None] = [None] * len(states)
        valid: list[int] = []
        for i, state in enumerate(states):
            problems = self.problems(state)
            if not problems:
                valid.append(i)
            elif self.fallback:
                results[i] = self.fallback_decision(state, problems)
            else:
                raise InvalidStateError(
                    problems if len(states) == 1 else [f"state {i}: {p}" for p in problems]
                )
        if valid:
            x = {name: np.array([float(states[i][name]) for i in valid]) for name in self.field_names}
            obs = compute_features(self.features, x)
            if self.session is None:
                raise RuntimeError("this Scheduler has no ONNX session: build it with Scheduler.load(dir)")
            _, raw = self.session.run(None, {"observation": obs})
            for j, i in enumerate(valid):
                results[i] = self.project(raw[j].astype(np.float64), {k: float(v[j]) for k, v in x.items()})
        return [r for r in results if r is not None]

    def fallback_decision(self, state: Mapping[str, Any], problems: list[str]) -> Decision:
        """A safe rule when the input is invalid: run the ASIC generations whose margin is
        positive (all of them when the margin cannot be computed), offer every GPU node, no
        orders, sales or acceptances; within the site rules when the fields the dispatch reads
        are valid (zero power when they are not)."""
        clean = {}
        for f in self.fields:
            fv = _as_number(state.get(f["name"]))
            if fv is not None and math.isfinite(fv) and f["low"] <= fv <= f["high"]:
                clean[f["name"]] = fv
        raw = np.zeros(len(self.decision_fields))
        run = np.ones(len(self.asic_gens))
        if "hashprice_usd_per_ph_day" in clean and "power_rt_usd_per_mwh" in clean:
            margin = margin_from_coefficients(
                self.limits, clean["hashprice_usd_per_ph_day"], clean["power_rt_usd_per_mwh"]
            )
            run = (margin > 0).astype(float)
        for g, r in zip(self.asic_gens, run, strict=True):
            raw[self._col[f"asic_{g}_run_fraction"]] = r
        raw[self._col["gpu_offer_fraction"]] = 1.0
        if all(name in clean for name in self.dispatch_fields()):
            neutral = {f["name"]: _neutral_value(f) for f in self.fields}
            decision = self.project(raw, {**neutral, **clean}, allow_investment=False)
        else:
            decision = self._idle_decision()
        return Decision(**{**asdict(decision), "fallback": True, "problems": list(problems)})

    def dispatch_fields(self) -> list[str]:
        """The fields the dispatch is computed from: with these valid, the fallback can still
        dispatch (no investment reads the others)."""
        return [
            "availability",
            "dr_call",
            *(f"asic_{g}_th" for g in self.asic_gens),
            *(f"gpu_{g}_nodes" for g in self.gpu_gens),
        ]

    def _idle_decision(self) -> Decision:
        return Decision(
            asic_mw={g: 0.0 for g in self.asic_gens},
            mining_mw=0.0,
            own_gpu_mw=0.0,
            curtail_mw=0.0,
            asic_sale_th={g: 0.0 for g in self.asic_gens},
            asic_order_generation=None,
            asic_order_th=0.0,
            asic_order_usd=0.0,
            gpu_order_generation=None,
            gpu_order_nodes=0,
            gpu_order_usd=0.0,
            retrofit_blocks=0,
            retrofit_usd=0.0,
            accept_offer=False,
            adjusted=["fields needed for the site's limits are invalid: everything held at zero"],
        )

    # ------------------------------------------------------------------ the projection

    def project(self, raw: FloatArray, state: Mapping[str, float], allow_investment: bool = True) -> Decision:
        """The decision the site carries out for the network's output ``raw`` (one value per
        ``decision_fields`` entry, in physical units) at ``state`` (every input field, valid).

        Each value is first read within its field's range (fractions in [0, 1], orders in [0,
        the per-epoch cap], whole blocks and nodes; NaN or infinity as 0), then granted by the
        site rules the simulator applies (:mod:`hybridrl.site_rules`), in the same order: at a
        decision epoch, sales, retrofit, GPU orders, ASIC orders (within cash + credit - the
        minimum liquidity, plus the sale proceeds), then the offer; every step, the ASICs left
        after the sales run, curtail during a DR call, and the GPU nodes are offered. What the
        rules cut back is listed in ``adjusted``. Machines due for delivery today count as on
        order: the scheduler never relies on them, so the plant grants the decision as it is.
        ``allow_investment=False`` orders, sells and accepts nothing (the fallback)."""
        adjusted: list[str] = []
        d = self._requested(raw, adjusted)
        site = reported_site(state, self.asic_gens, self.gpu_gens)
        availability = float(state["availability"])
        epoch = (
            state["decision_epoch"] > 0.5 and bool(self.limits["investments_enabled"]) and allow_investment
        )
        dr = state["dr_call"] > 0.5
        curtail_fraction = d["curtail_fraction"] if dr else 0.0
        run_request = np.minimum(
            per_generation(d, "asic_{g}_run_fraction", self.asic_gens), 1.0 - curtail_fraction
        )
        curtail_request = curtail_fraction * float(site.asic_th[0] @ self.rules.asic_mw_per_th) * availability
        orders: EpochOrders | None = None
        accept = False
        th = site.asic_th
        if epoch:
            orders = self._epoch_orders(d, state, site, adjusted)
            th = th - orders.asic_sale_th
            accept = self._accept(d, state, site, orders, adjusted)
        avail = np.array([availability])
        _, run_th = run_asics(run_request[None, :], th, avail)
        asic_mw = (run_th * self.rules.asic_mw_per_th)[0]
        available_mw = th @ self.rules.asic_mw_per_th * avail
        held_off = np.zeros(1)
        if "reserve_in_force_mw" in state:  # MW switched off for a reserve deployment are not DR's
            held_off, _ = reserve_delivery(
                np.array([float(state["reserve_in_force_mw"])]),
                available_mw,
                run_th @ self.rules.asic_mw_per_th,
                np.array([state["reserve_deployed"] > 0.5]),
            )
        _, curtail = curtail_asics(
            np.array([curtail_request]),
            available_mw - held_off,
            run_th @ self.rules.asic_mw_per_th,
            np.array([dr]),
        )
        if curtail[0] < curtail_request - 1e-9:
            adjusted.append(f"curtailment {curtail_request:.3f} MW cut to the idle ASIC MW {curtail[0]:.3f}")
        offer_fraction = np.full((1, len(self.gpu_gens)), d["gpu_offer_fraction"])
        _, offered = offer_gpus(offer_fraction, site.gpu_nodes, avail)
        decision = self._decision(
            asic_mw, float((offered @ self.rules.gpu_node_mw)[0]), float(curtail[0]), orders, accept, adjusted
        )
        if "reserve_commit_fraction" in d and state.get("reserve_block_start", 0.0) > 0.5:
            installed = site.asic_th @ self.rules.asic_mw_per_th
            granted = commit_reserve(np.array([d["reserve_commit_fraction"]]) * installed, installed)
            decision = replace(decision, reserve_commit_mw=float(granted[0]))
        return decision

    def _requested(self, raw: FloatArray, adjusted: list[str]) -> dict[str, float]:
        """Each decision field read within its range: NaN/infinity as 0, fractions and flags in
        [0, 1], orders in [0, the per-epoch cap]."""
        values = np.asarray(raw, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            adjusted.append("the network returned NaN or infinity: those requests are treated as zero")
            values = np.where(np.isfinite(values), values, 0.0)
        out = {}
        for f, v in zip(self.decision_fields, values.tolist(), strict=True):
            high = 1.0 if f["kind"] in ("fraction", "flag") or f["scale"] == 1.0 else float(f["scale"])
            c = min(max(v, 0.0), high)
            if c != v:
                adjusted.append(f"{f['name']} {v:g} clipped to [0, {high:g}]")
            out[f["name"]] = c
        return out

    def _epoch_orders(
        self, d: Mapping[str, float], state: Mapping[str, float], site: EpochSite, adjusted: list[str]
    ) -> EpochOrders:
        """Sales, retrofit, GPU and ASIC orders granted by :func:`hybridrl.site_rules.epoch_orders`."""
        G, Gg = len(self.asic_gens), len(self.gpu_gens)
        market = EpochMarket(
            asic_resale_usd_per_th=_row(state, "asic_{g}_resale_usd_per_th", self.asic_gens),
            asic_price_usd_per_th=_row(state, "asic_{g}_price_usd_per_th", self.asic_gens),
            asic_available=_row(state, "asic_{g}_on_sale", self.asic_gens) > 0.5,
            gpu_node_capex_usd=_row(state, "gpu_{g}_node_capex_usd", self.gpu_gens),
            gpu_available=_row(state, "gpu_{g}_on_sale", self.gpu_gens) > 0.5,
        )
        asic_order = np.zeros((1, G))
        best = int(best_asic_generation(market.asic_available, self._efficiency)[0])
        asic_order[0, best] = d["asic_order_mw"] / self.rules.asic_mw_per_th[best]
        gpu_order = np.zeros((1, Gg))
        newest = int(newest_gpu_generation(market.gpu_available)[0])
        gpu_order[0, newest] = d["gpu_order_nodes"] * market.gpu_available[0, newest]
        request = EpochRequest(
            asic_sale_th=per_generation(d, "asic_{g}_sell_fraction", self.asic_gens)[None, :] * site.asic_th,
            retrofit_blocks=np.array([np.round(d["retrofit_blocks"])]),
            gpu_order_nodes=np.floor(gpu_order),
            asic_order_th=asic_order,
        )
        orders = epoch_orders(site, market, request, self.rules)
        for name, asked, granted in (
            ("ASIC sales (TH/s)", request.asic_sale_th.sum(), orders.asic_sale_th.sum()),
            ("retrofit blocks", orders.requested.retrofit_blocks.sum(), orders.retrofit_blocks.sum()),
            ("GPU order (nodes)", orders.requested.gpu_order_nodes.sum(), orders.gpu_order_nodes.sum()),
            ("ASIC order (TH/s)", orders.requested.asic_order_th.sum(), orders.asic_order_th.sum()),
        ):
            if granted < asked * (1 - 1e-12) - 1e-12:
                adjusted.append(
                    f"{name} {asked:,.6g} cut to {granted:,.6g} by the site's room, cash and caps"
                )
        return orders

    def _accept(
        self,
        d: Mapping[str, float],
        state: Mapping[str, float],
        site: EpochSite,
        orders: EpochOrders,
        adjusted: list[str],
    ) -> bool:
        """Whether the offer described is accepted (:func:`hybridrl.site_rules.accept_offers`,
        within the HPC capacity after today's orders)."""
        if d["accept_offer"] <= 0.5 or state["offer_open"] <= 0.5:
            return False
        need = state["offer_it_mw"] * self.rules.lease_mw_per_it_mw
        capacity = hpc_capacity_mw(
            np.array([state["hpc_ready_mw"]]),
            state["retrofit_on_order_mw"] + orders.retrofit_mw,
            site.gpu_nodes,
            site.gpu_on_order_nodes + orders.gpu_order_nodes,
            self.rules,
        )
        ok = accept_offers(
            np.array([[True]]), np.array([[need]]), np.array([state["lease_reserved_mw"]]), capacity
        )
        if not ok[0, 0]:
            adjusted.append(f"offer of {need:.3f} facility MW declined: no HPC room for it")
        return bool(ok[0, 0])

    def _decision(
        self,
        asic_mw: FloatArray,
        own_gpu_mw: float,
        curtail_mw: float,
        orders: EpochOrders | None,
        accept: bool,
        adjusted: list[str],
    ) -> Decision:
        sale = np.zeros(len(self.asic_gens)) if orders is None else orders.asic_sale_th[0]
        asic_th = 0.0 if orders is None else float(orders.asic_order_th.sum())
        gpu_nodes = 0 if orders is None else int(orders.gpu_order_nodes.sum())
        blocks = 0 if orders is None else int(orders.retrofit_blocks[0])
        asic_gen = gpu_gen = None
        if orders is not None and asic_th > 0:
            asic_gen = self.asic_gens[int(np.argmax(orders.asic_order_th[0]))]
        if orders is not None and gpu_nodes > 0:
            gpu_gen = self.gpu_gens[int(np.argmax(orders.gpu_order_nodes[0]))]
        return Decision(
            asic_mw={g: float(v) for g, v in zip(self.asic_gens, asic_mw, strict=True)},
            mining_mw=float(asic_mw.sum()),
            own_gpu_mw=own_gpu_mw,
            curtail_mw=curtail_mw,
            asic_sale_th={g: float(v) for g, v in zip(self.asic_gens, sale, strict=True)},
            asic_order_generation=asic_gen,
            asic_order_th=asic_th,
            asic_order_usd=0.0 if orders is None else -float(orders.asic_capex_usd[0]),
            gpu_order_generation=gpu_gen,
            gpu_order_nodes=gpu_nodes,
            gpu_order_usd=0.0 if orders is None else -float(orders.gpu_capex_usd[0]),
            retrofit_blocks=blocks,
            retrofit_usd=0.0 if orders is None else -float(orders.retrofit_capex_usd[0]),
            accept_offer=accept,
            adjusted=adjusted,
        )


def per_generation(values: Mapping[str, float], template: str, gens: list[str]) -> FloatArray:
    """(G,) the named fields ``template.format(g=g)`` of each generation, in order."""
    return np.array([float(values[template.format(g=g)]) for g in gens])


def _row(values: Mapping[str, float], template: str, gens: list[str]) -> FloatArray:
    """:func:`per_generation` as a batch of one, (1, G)."""
    return per_generation(values, template, gens)[None, :]


def reported_site(state: Mapping[str, float], asic: list[str], gpu: list[str]) -> EpochSite:
    """The site as its state reports it, in the site rules' (1, ...) arrays."""
    return EpochSite(
        cash_usd=np.array([float(state["cash_usd"])]),
        asic_th=_row(state, "asic_{g}_th", asic),
        asic_on_order_th=_row(state, "asic_{g}_on_order_th", asic),
        gpu_nodes=_row(state, "gpu_{g}_nodes", gpu),
        gpu_on_order_nodes=_row(state, "gpu_{g}_on_order_nodes", gpu),
        mining_ready_mw=np.array([float(state["mining_ready_mw"])]),
        hpc_ready_mw=np.array([float(state["hpc_ready_mw"])]),
    )
