"""Gymnasium shell around the plant: one site, one exogenous path per episode."""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from hybridrl.env.encoding import (
    OBS_BOUND,
    ObservationEncoder,
    action_names,
    decode_action,
    observation_names,
)
from hybridrl.sim.exogenous import ExogenousPath, sample_paths
from hybridrl.sim.params import ScenarioParams, load_scenario
from hybridrl.sim.plant import CASH_FLOW_TERMS, NativeAction, Plant, PlantState, StepOutcome

PATH_BATCH = 16
"""Unseeded resets draw their paths from batches of this many, generated together."""
USD_PER_REWARD_UNIT = 1e6
"""Rewards are in millions of USD of net asset value."""


class PathStream:
    """The paths one environment draws: at ``next(seed)`` the path of ``seed``; at ``next()``
    the path of the next child (spawn key 1, 2, ...) of the last seed given (of fresh entropy
    if none was). Children are generated PATH_BATCH at a time in one vectorised call; row b of a
    batch is exactly the path its seed gives alone, so batching changes speed, never results."""

    def __init__(self, params: ScenarioParams) -> None:
        self.params = params
        self._root: np.random.SeedSequence | None = None
        self._pool: deque[ExogenousPath] = deque()
        self._episodes_since_seed = 0

    def next_seed(self, seed: int | None = None) -> np.random.SeedSequence:
        """The seed of the path :meth:`next` would give (for a caller that samples the paths of
        several streams in one batch; the stream's pool is left alone, so use one or the other)."""
        if seed is not None:
            self._root = np.random.SeedSequence(seed)
            self._episodes_since_seed = 0
            return self._root
        if self._root is None:
            self._root = np.random.SeedSequence()
        self._episodes_since_seed += 1
        return np.random.SeedSequence(self._root.entropy, spawn_key=(self._episodes_since_seed,))

    def next(self, seed: int | None = None) -> ExogenousPath:
        if seed is not None:
            self._root = np.random.SeedSequence(seed)
            self._episodes_since_seed = 0
            self._pool.clear()
            return sample_paths(self.params, [self._root])
        if self._root is None:
            self._root = np.random.SeedSequence()
        self._episodes_since_seed += 1
        if not self._pool:
            first = self._episodes_since_seed
            batch = sample_paths(
                self.params,
                [
                    np.random.SeedSequence(self._root.entropy, spawn_key=(k,))
                    for k in range(first, first + PATH_BATCH)
                ],
            )
            self._pool.extend(batch.rows(i) for i in range(PATH_BATCH))
        return self._pool.popleft()


def reset_info(nav: NDArray[np.float64], path: ExogenousPath, b: int) -> dict[str, Any]:
    """The ``info`` of row ``b``'s reset: its NAV at the start and the path's first date."""
    return {"nav_usd": float(nav[b]), "date": str(path.dates[0])}


def step_info(out: StepOutcome, nav: NDArray[np.float64], b: int, action_clip: float = 0.0) -> dict[str, Any]:
    """The ``info`` of row ``b`` of a plant step (the single env's, and the vector env's per row)."""
    clipped = {k: float(v[b]) for k, v in out.clipped.items() if float(v[b]) > 1e-9}
    if action_clip > 0:
        clipped["action"] = action_clip
    return {
        "reward_terms": {k: float(out.cash_flows_usd[k][b]) for k in CASH_FLOW_TERMS},
        "nav_usd": float(nav[b]),
        "cash_usd": float(out.state.cash_usd[b]),
        "btc_mined": float(out.btc_mined[b]),
        "power_mw": {
            "asic": float(out.asic_power_mw[b]),
            "gpu": float(out.gpu_power_mw[b]),
            "lease": float(out.lease_power_mw[b]),
            "curtailed": float(out.curtailed_mw[b]),
            "limit": float(out.power_limit_mw[b]),
        },
        "site_share_of_network": float(out.site_share_of_network[b]),
        "clipped": clipped,
        "bankrupt": bool(out.state.bankrupt[b]),
        "t": out.state.t,
    }


class HybridMineEnv(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """A hybrid Bitcoin-mining / AI-compute site under a stochastic market.

    ## Description
    The site (interconnection, mining-ready and HPC-ready MW, ASIC fleets per generation, GPU
    nodes per generation, hosting leases, cash and a credit line) is steered through an
    exogenous path sampled at reset: BTC price (regime-switching jump diffusion), fees, network
    hashrate and difficulty (real 2,016-block retarget), halvings by height, FPPS hashprice,
    PPA + real-time power with spikes and demand-response calls, ASIC and GPU markets, hosting
    offers and outages. Dispatch happens every step; orders, sales and retrofits at decision
    epochs (weekly by default). See docs/model.md and ``envs/<scenario>.yaml``.

    ## Action Space
    ``Box(-1, 1, (2G + 6,), float32)`` with G ASIC generations (16 on ``default``; 2G + 7 with
    reserves, whose ``reserve`` component commits MW for the next block of hours); names in
    ``env.action_names``, mapping in :mod:`hybridrl.env.encoding`. Values outside [-1, 1] are
    clipped (reported in ``info["clipped"]["action"]``); NaN or infinity raises ``ValueError``.
    Requests that are infeasible (no cash, no room, not an epoch) are clipped to the feasible
    set by the plant, amounts in ``info["clipped"]``. ``step_native`` takes a
    :class:`~hybridrl.sim.plant.NativeAction` in physical units instead.

    ## Observation Space
    ``Box(-10, 10, (n,), float32)``, names in ``env.observation_names``:

    | group | features | unit / scale |
    |---|---|---|
    | market | log price vs start, 30-day log return, hashprice, fee share, log network hashrate vs start, subsidy vs start, blocks to halving | log, $/PH/day / 50, share, share of 210,000 |
    | power | real-time price, DR call, availability | $/MWh / 100, 0/1, share |
    | ASIC market (per generation) | on sale, new price, margin today | 0/1, $/TH / 20, $/TH/day x 100 |
    | GPU market (per generation) | on sale, spot price, utilisation, node capex | 0/1, $/GPU-h / 5, share, $ / 500k |
    | grid (scenarios with a ``grid`` section only) | hour sin/cos, weekend, charged month, month progress, day-ahead load forecast now, today's forecast peak, highest load so far this month | -1..1, 0/1, 0/1, share, GW / mean load |
    | reserves (scenarios with a ``reserves`` section only) | reserve price, deployment on, block progress; and last, MW committed now and for the next block | $/MW-h / 10, 0/1, share; shares of interconnection MW |
    | hosting offer (best open) | open, IT MW, price, term, months to ready-by | 0/1, MW / 50, $/kW-month / 150, months / 180, months / 24 |
    | site | mining-ready, HPC-ready, retrofit pipeline, ASIC MW per generation and on order, GPU MW per generation and on order, lease-reserved MW | shares of interconnection MW |
    | finance | cash, credit headroom, NAV | multiples of initial NAV |
    | calendar | episode progress, season sin/cos, decision epoch | share, -1..1, 0/1 |

    Only the past and present of the path are observed; the BTC regime is latent.

    ## Rewards
    Change in mark-to-market net asset value over the step, in millions of USD, where every
    asset is counted once: cash (negative when drawing on credit) + hardware at resale + halls at
    depreciated book, except that a hall under lease counts for the discounted margin of its
    lease plus its discounted residual book after the term, in place of its book
    (``Plant.nav_breakdown_usd`` gives the parts). Building a hall and signing a lease so moves
    NAV by the project's net present value. Rewards telescope: their sum is final NAV - initial
    NAV. ``info["reward_terms"]`` holds every cash-flow term in USD (they sum to the change in
    cash), ``info["nav_usd"]`` the NAV. With a grid, the transmission charge of a month's
    coincident peak (``transmission_charge_usd``) is booked at the month's last step (or the
    episode's), never at the peak itself: which step was the peak is known only then. With
    reserves, ``reserve_payment_usd`` and ``reserve_penalty_usd``.

    ## Episode End
    Terminated at the scenario's end date (``terminated=True``: the horizon is part of the
    MDP and observed through ``episode_progress``) or on bankruptcy (cash below minus the credit
    limit; ``info["bankrupt"]``), where the leases are forfeited and their halls count at book. Never
    truncated by the environment itself.

    ## Arguments
    :param scenario: catalogue name (``envs/<name>.yaml``), a path to a YAML file, or a
        :class:`~hybridrl.sim.params.ScenarioParams`.
    :param render_mode: None, or ``"ansi"``: ``render()`` returns one line (date, NAV, cash, MW by use).

    Actions outside [-1, 1] are clipped (the amount in ``info["clipped"]["action"]``); NaN or
    infinity is refused. ``step_native`` refuses an ``accept_offer`` that is not boolean (or 0/1).

    ``reset(seed=s)`` samples the path of seed ``s`` (the same path as
    ``sample_paths(params, [s])``, so every policy sees the same world for the same seed);
    later resets without a seed draw fresh paths from ``s``'s ``SeedSequence``.
    ``reset(options={"path": path})`` replays a given one-row :class:`ExogenousPath`.

    ## Version History
    * v1: NAV counts every asset once: a leased hall counts for the PV of its lease margin
      (price less serving cost and the hall's fixed opex) plus its discounted residual book, in
      place of its book (v0 added the lease's PV on top of the hall's book); the lease serving
      cost is a cash flow (``lease_serving_usd``). AI-side risks: tenant default, GPU nodes at
      all-in cost and opex, retrofit batches late by a delay revealed on their due date; lease
      prices escalate from their ready-by date, and tenants take their halls in ramp-up
      tranches. The
      world is calibrated to 2022-2025 history (``docs/model.md``). v0 no longer exists: its
      rewards were wrong. An optional ``grid`` section (system load, day-ahead forecast and
      the coincident-peak transmission charge; used by ``hourly_ops``) adds the grid features
      and the ``transmission_charge_usd`` term; worlds without it step exactly as before (the
      scenario hash tells the worlds apart). An optional ``reserves`` section (commitments
      a block of hours ahead, paid, delivered by running ASICs that switch off on a
      deployment) adds the ``reserve`` action component and features, likewise.
    * v0: initial release.
    """

    metadata: dict[str, Any] = {"render_modes": ["ansi"], "render_fps": 1}  # noqa: RUF012 - gymnasium convention

    def __init__(self, scenario: str | ScenarioParams = "default", render_mode: str | None = None) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.render_mode = render_mode
        self.params = scenario if isinstance(scenario, ScenarioParams) else load_scenario(scenario)
        self.plant = Plant(self.params)
        self.action_names = action_names(self.plant)
        self.observation_names = observation_names(self.plant)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (len(self.action_names),), np.float32)
        self.observation_space = gym.spaces.Box(
            -OBS_BOUND, OBS_BOUND, (len(self.observation_names),), np.float32
        )
        self._encoder = ObservationEncoder(self.plant)
        self._paths = PathStream(self.params)
        self.path: ExogenousPath | None = None
        self.state: PlantState | None = None
        self._nav0 = np.zeros(1)
        self._nav = np.zeros(1)
        self._exogenous_obs = np.zeros((0, 0), dtype=np.float32)

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"path"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; allowed: ['path']")
        if "path" in options:
            path = options["path"]
            if (
                not isinstance(path, ExogenousPath)
                or path.n_paths != 1
                or path.n_steps != self.params.time.n_steps
            ):
                raise ValueError(
                    f"options['path'] must be a one-row ExogenousPath of {self.params.time.n_steps} steps"
                )
        else:
            path = self._paths.next(seed)
        self.path = path
        self._exogenous_obs = self._encoder.exogenous(path, slice(None))[0]
        self.state = self.plant.initial_state(1)
        self._nav0 = self.plant.nav_usd(self.state, path)
        self._nav = self._nav0
        return self._observe(), reset_info(self._nav, path, 0)

    def step(
        self, action: NDArray[np.float32]
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        state, path = self._require_started()
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {a.shape}")
        if not np.isfinite(a).all():  # finite values out of [-1, 1] are clipped below
            raise ValueError(f"action contains NaN or infinity: {a}")
        clipped_a = np.minimum(np.maximum(a, -1.0), 1.0)
        native = decode_action(self.plant, state, path, clipped_a[None, :])
        excess = np.minimum(np.abs(a - clipped_a), np.finfo(np.float64).max / a.size)  # no overflow
        return self._advance(native, action_clip=float(excess.sum()))

    def step_native(
        self, action: NativeAction
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Step with a decision in physical units (batch of one, or unbatched arrays)."""
        self._require_started()

        def row(x: NDArray[Any]) -> NDArray[Any]:
            return np.asarray(x).reshape(1, -1)

        accept = row(action.accept_offer)
        if accept.dtype != bool and not np.isin(accept, (0, 1)).all():
            raise ValueError(f"accept_offer must hold booleans (or 0 and 1), got {accept.ravel()[:8]}")

        batched = NativeAction(
            asic_run_fraction=row(action.asic_run_fraction),
            gpu_offer_fraction=row(action.gpu_offer_fraction),
            asic_order_th=row(action.asic_order_th),
            gpu_order_nodes=row(action.gpu_order_nodes),
            retrofit_blocks=np.asarray(action.retrofit_blocks, dtype=np.float64).reshape(1),
            asic_sale_th=row(action.asic_sale_th),
            accept_offer=accept.astype(bool),
            curtail_mw=np.asarray(action.curtail_mw, dtype=np.float64).reshape(1),
            reserve_commit_mw=np.asarray(action.reserve_commit_mw, dtype=np.float64).reshape(1),
        )
        shapes = {
            "asic_run_fraction": self.plant.n_asic,
            "gpu_offer_fraction": self.plant.n_gpu,
            "asic_order_th": self.plant.n_asic,
            "gpu_order_nodes": self.plant.n_gpu,
            "asic_sale_th": self.plant.n_asic,
            "accept_offer": self.plant.n_offers,
        }
        wrong = [
            f"{k} needs {n} values, got {getattr(batched, k).shape[1]}"
            for k, n in shapes.items()
            if getattr(batched, k).shape[1] != n
        ]
        if wrong:
            raise ValueError("native action has wrong sizes: " + "; ".join(wrong))
        batched.check_finite()
        return self._advance(batched, action_clip=0.0)

    def render(self) -> str | None:
        """``render_mode="ansi"``: one line with the date, NAV, cash and MW by use; else None."""
        if self.render_mode != "ansi" or self.state is None or self.path is None:
            return None
        state, path = self.state, self.path
        t = min(state.t, path.n_steps)
        return (
            f"{str(path.dates[t])[:10]} NAV {float(self._nav[0]) / 1e6:,.1f} M$, cash "
            f"{float(state.cash_usd[0]) / 1e6:,.1f} M$, ASICs {float(self.plant.asic_installed_mw(state)[0]):.1f} MW, "
            f"GPUs {float(self.plant.gpu_installed_mw(state)[0]):.1f} MW, leases {int(state.lease_accepted.sum())}"
        )

    # ------------------------------------------------------------------ internals

    def _require_started(self) -> tuple[PlantState, ExogenousPath]:
        if self.state is None or self.path is None:
            raise RuntimeError("call reset() before step()")
        if self.state.t >= self.path.n_steps:
            raise RuntimeError("the episode has ended; call reset()")
        return self.state, self.path

    def _advance(
        self, native: NativeAction, action_clip: float, observe: bool = True
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Step the plant with a batch-of-one native action; ``observe=False`` skips encoding the
        observation (an empty array is returned in its place: the decision-epoch env observes
        only at its agent's steps)."""
        state, path = self._require_started()
        out = self.plant.step(state, native, path)
        self.state = out.state
        nav = self.plant.nav_usd(out.state, path)
        reward = float(nav[0] - self._nav[0]) / USD_PER_REWARD_UNIT
        self._nav = nav
        bankrupt = bool(out.state.bankrupt[0])
        terminated = bankrupt or out.state.t >= path.n_steps
        info = step_info(out, nav, 0, action_clip)
        obs = self._observe() if observe else np.zeros(0, dtype=np.float32)
        return obs, reward, terminated, False, info

    def _observe(self) -> NDArray[np.float32]:
        assert self.state is not None and self.path is not None
        t = self.state.t
        return self._encoder(self.state, self.path, self._nav, self._nav0, self._exogenous_obs[t])[0]
