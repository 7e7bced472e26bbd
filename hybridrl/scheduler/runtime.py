"""The production runtime of an exported policy: numpy and onnxruntime only.

``Scheduler.load(dir)`` checks ``policy.json`` and ``policy.onnx`` against each other (sha256
of the ONNX file in the JSON; sha256 of the JSON's content in the ONNX metadata), the schema
and the environment version, and never unpickles anything. ``decide(state)`` validates the
named physical inputs (every problem listed in one error), runs the network and projects its
decision onto the site's limits: power (interconnection x availability, ready MW, leases),
cash and credit for orders, decision epochs for investments and offers.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from hybridrl.scheduler.features import compute_features

SUPPORTED_SCHEMA_VERSIONS = (1,)
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
    """

    def __init__(self, meta: dict[str, Any], session: ort.InferenceSession, fallback: bool = False) -> None:
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
            _, raw = self.session.run(None, {"observation": obs})
            for j, i in enumerate(valid):
                results[i] = self.project(raw[j].astype(np.float64), {k: float(v[j]) for k, v in x.items()})
        return [r for r in results if r is not None]

    def fallback_decision(self, state: Mapping[str, Any], problems: list[str]) -> Decision:
        """A safe rule when the input is invalid: run the ASIC generations whose margin is
        positive (all of them when the margin cannot be computed), offer every GPU node, no
        orders, sales or acceptances; within the limits computable from the valid fields (zero
        power when they are not)."""
        clean = {}
        for f in self.fields:
            fv = _as_number(state.get(f["name"]))
            if fv is not None and math.isfinite(fv) and f["low"] <= fv <= f["high"]:
                clean[f["name"]] = fv
        G = len(self.asic_gens)
        raw = np.zeros(len(self.decision_fields))
        run = np.ones(G)
        if "hashprice_usd_per_ph_day" in clean and "power_rt_usd_per_mwh" in clean:
            cost = np.array(self.limits["asic_margin_cost_usd_per_th_day_per_usd_mwh"])
            margin = (
                clean["hashprice_usd_per_ph_day"] * (1 - self.limits["pool_fee"]) / 1e3
                - cost * clean["power_rt_usd_per_mwh"]
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
        """The fields the power limits are computed from: with these valid, the fallback can
        still dispatch (no investment reads the others)."""
        return [
            "availability",
            "dr_call",
            "mining_ready_mw",
            "hpc_ready_mw",
            "lease_reserved_mw",
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

    def project(self, raw: FloatArray, s: Mapping[str, float], allow_investment: bool = True) -> Decision:
        """The network's decision (``decision_fields`` order) cut back to the site's limits."""
        L = self.limits
        col = self._col
        adjusted: list[str] = []
        if not np.all(np.isfinite(raw)):
            adjusted.append("the network returned NaN or infinity: those requests are treated as zero")
            raw = np.where(np.isfinite(raw), raw, 0.0)

        def take(name: str, low: float = 0.0, high: float = math.inf) -> float:
            v = float(raw[col[name]])
            c = min(max(v, low), high)
            if c != v:
                adjusted.append(f"{name} {v:g} clipped to [{low:g}, {high:g}]")
            return c

        asic_mw_per_th = np.array(L["asic_mw_per_th"])
        gpu_node_mw = np.array(L["gpu_node_mw"])
        th = np.array([s[f"asic_{g}_th"] for g in self.asic_gens])
        nodes = np.array([s[f"gpu_{g}_nodes"] for g in self.gpu_gens])
        avail_mw = L["interconnection_mw"] * s["availability"]
        reserved = s["lease_reserved_mw"]

        # --- power: own GPUs first (their MW is HPC space), then mining in what is left
        gpu_installed = float(nodes @ gpu_node_mw)
        gpu_room = max(min(s["hpc_ready_mw"], avail_mw) - reserved, 0.0)
        own_gpu_mw = take("gpu_offer_fraction", 0.0, 1.0) * gpu_installed
        if own_gpu_mw > gpu_room:
            adjusted.append(f"own GPU MW {own_gpu_mw:.3f} cut to the HPC room {gpu_room:.3f}")
            own_gpu_mw = gpu_room
        run = np.array([take(f"asic_{g}_run_fraction", 0.0, 1.0) for g in self.asic_gens])
        curtail_fraction = take("curtail_fraction", 0.0, 1.0) if s["dr_call"] > 0.5 else 0.0
        run = np.minimum(run, 1.0 - curtail_fraction)
        asic_full_mw = th * asic_mw_per_th * s["availability"]
        asic_mw = run * asic_full_mw
        mining_room = max(min(s["mining_ready_mw"], avail_mw - reserved - own_gpu_mw), 0.0)
        if asic_mw.sum() > mining_room:
            adjusted.append(f"mining MW {asic_mw.sum():.3f} cut to the room {mining_room:.3f}")
            asic_mw = asic_mw * (mining_room / asic_mw.sum())
        curtail_mw = float(curtail_fraction * asic_full_mw.sum())

        # --- investments, sales, offers: decision epochs only, within cash + credit
        epoch = s["decision_epoch"] > 0.5 and bool(L["investments_enabled"]) and allow_investment
        sale = np.zeros(len(self.asic_gens))
        order_gen: str | None = None
        gpu_gen: str | None = None
        order_th = order_usd = gpu_usd = retro_usd = 0.0
        gpu_order = retro = 0
        accept = False
        if epoch:
            sale = np.array([take(f"asic_{g}_sell_fraction", 0.0, 1.0) for g in self.asic_gens]) * th
            on_sale = [i for i, g in enumerate(self.asic_gens) if s[f"asic_{g}_on_sale"] > 0.5]
            order_mw = take("asic_order_mw", 0.0, L["max_asic_order_mw"])
            space_mw = max(
                s["mining_ready_mw"]
                - float(th @ asic_mw_per_th)
                - s["asic_on_order_mw"]
                - s["retrofit_on_order_mw"],
                0.0,
            )
            if order_mw > space_mw:
                adjusted.append(
                    f"ASIC order {order_mw:.3f} MW cut to the free mining space {space_mw:.3f} MW"
                )
                order_mw = space_mw
            if on_sale and order_mw > 0:
                best = min(on_sale, key=lambda i: asic_mw_per_th[i])
                order_gen = self.asic_gens[best]
                order_th = order_mw / asic_mw_per_th[best]
                order_usd = order_th * s[f"asic_{order_gen}_price_usd_per_th"]
            gpu_on_sale = [i for i, g in enumerate(self.gpu_gens) if s[f"gpu_{g}_on_sale"] > 0.5]
            gpu_order = int(take("gpu_order_nodes", 0.0, L["max_gpu_order_nodes"]))
            if gpu_on_sale and gpu_order > 0:
                newest = max(gpu_on_sale)
                gpu_gen = self.gpu_gens[newest]
                hpc_space = max(
                    s["hpc_ready_mw"]
                    + s["retrofit_on_order_mw"]
                    - reserved
                    - gpu_installed
                    - s["gpu_on_order_mw"],
                    0.0,
                )
                fit = int(hpc_space // gpu_node_mw[newest])
                if gpu_order > fit:
                    adjusted.append(f"GPU order {gpu_order} nodes cut to the free HPC space ({fit} nodes)")
                    gpu_order = fit
                gpu_usd = gpu_order * s[f"gpu_{gpu_gen}_node_capex_usd"]
            else:
                gpu_order = 0
            retro = int(take("retrofit_blocks", 0.0, L["max_retrofit_blocks"]))
            convertible = int(
                max(s["mining_ready_mw"] - s["retrofit_on_order_mw"], 0.0) // L["retrofit_block_mw"]
            )
            if retro > convertible:
                adjusted.append(
                    f"retrofit {retro} blocks cut to the convertible mining MW ({convertible} blocks)"
                )
                retro = convertible
            retro_usd = retro * L["retrofit_capex_usd_per_block"]
            budget = max(s["cash_usd"] + L["credit_limit_usd"] - L["min_liquidity_usd"], 0.0)
            total = order_usd + gpu_usd + retro_usd
            if total > budget:
                adjusted.append(
                    f"orders of {total:,.0f} USD cut to the cash and credit available ({budget:,.0f} USD)"
                )
                k = budget / total
                order_th *= k
                order_usd *= k
                gpu_order = math.floor(gpu_order * k)
                retro = math.floor(retro * k)
                gpu_usd = gpu_order * (s[f"gpu_{gpu_gen}_node_capex_usd"] if gpu_gen else 0.0)
                retro_usd = retro * L["retrofit_capex_usd_per_block"]
            if order_th == 0:
                order_gen = None
            if gpu_order == 0:
                gpu_gen = None
            if take("accept_offer", 0.0, 1.0) > 0.5 and s["offer_open"] > 0.5:
                room = (
                    s["hpc_ready_mw"] + s["retrofit_on_order_mw"] + retro * L["retrofit_block_mw"] - reserved
                )
                need = s["offer_it_mw"] * L["lease_mw_per_it_mw"]
                if need <= room - gpu_installed - s["gpu_on_order_mw"] - gpu_order * (
                    gpu_node_mw[self.gpu_gens.index(gpu_gen)] if gpu_gen else 0.0
                ):
                    accept = True
                else:
                    adjusted.append(f"offer of {need:.3f} facility MW declined: no HPC room for it")
        return Decision(
            asic_mw={g: float(v) for g, v in zip(self.asic_gens, asic_mw, strict=True)},
            mining_mw=float(asic_mw.sum()),
            own_gpu_mw=float(own_gpu_mw),
            curtail_mw=curtail_mw,
            asic_sale_th={g: float(v) for g, v in zip(self.asic_gens, sale, strict=True)},
            asic_order_generation=order_gen,
            asic_order_th=float(order_th),
            asic_order_usd=float(order_usd),
            gpu_order_generation=gpu_gen,
            gpu_order_nodes=int(gpu_order),
            gpu_order_usd=float(gpu_usd),
            retrofit_blocks=int(retro),
            retrofit_usd=float(retro_usd),
            accept_offer=accept,
            adjusted=adjusted,
        )
