"""Parity helpers between a running environment and the production scheduler.

:func:`scheduler_state` gives the scheduler's input for the env's current step, and
:func:`native_action` the plant action a scheduler :class:`~hybridrl.scheduler.Decision` means
for that env, so that a test (or a user checking a policy before deploying it) can step the
simulator with what the scheduler decided and see the plant carry it out unchanged.
"""

from __future__ import annotations

import numpy as np

from hybridrl.env.encoding import best_offer
from hybridrl.env.hybrid_mine import HybridMineEnv
from hybridrl.export.spec import physical_state
from hybridrl.scheduler.runtime import Decision
from hybridrl.sim.plant import NativeAction


def _running(env: HybridMineEnv) -> HybridMineEnv:
    if env.state is None or env.path is None:
        raise ValueError("the environment has not been reset")
    return env


def scheduler_state(env: HybridMineEnv) -> dict[str, float]:
    """The scheduler's input fields (``policy.json``'s ``state_fields``) for ``env`` now: what
    the site's systems would report at this step, before it is taken."""
    env = _running(env)
    assert env.state is not None and env.path is not None
    values = physical_state(env.plant, env.state, env.path, env._nav, env._nav0, env._encoder)
    return {name: float(v[0]) for name, v in values.items()}


def native_action(env: HybridMineEnv, decision: Decision) -> NativeAction:
    """The :class:`NativeAction` (a batch of one) that ``decision`` means for ``env`` now: run
    fractions and the GPU offer fraction that give the decision's MW on the fleet the plant
    will dispatch (after today's deliveries and sales), the orders and sales as decided, and
    acceptance of the best open offer (the one the scheduler's state describes)."""
    env = _running(env)
    plant, state, path = env.plant, env.state, env.path
    assert state is not None and path is not None
    t = state.t
    asic = [g.name for g in plant.params.asic_market.generations]
    gpu = [g.name for g in plant.params.gpu_market.generations]
    sale = np.array([[decision.asic_sale_th[g] for g in asic]])
    if plant.is_decision_epoch(t):
        delivered = plant.delivery_phase(state, path)
        asic_th, gpu_nodes = delivered.asic_th - sale, delivered.gpu_nodes
    else:
        asic_th, gpu_nodes = state.asic_th, state.gpu_nodes
    avail = path.availability[:, t]
    full_mw = asic_th * plant.asic_mw_per_th * avail[:, None]
    asic_mw = np.array([[decision.asic_mw[g] for g in asic]])
    run = np.minimum(np.divide(asic_mw, full_mw, out=np.zeros_like(full_mw), where=full_mw > 0), 1.0)
    gpu_full_mw = float((gpu_nodes @ plant.gpu_node_mw * avail)[0])
    offer = min(decision.own_gpu_mw / gpu_full_mw, 1.0) if gpu_full_mw > 0 else 0.0
    asic_order = np.zeros((1, plant.n_asic))
    if decision.asic_order_generation is not None:
        asic_order[0, asic.index(decision.asic_order_generation)] = decision.asic_order_th
    gpu_order = np.zeros((1, plant.n_gpu))
    if decision.gpu_order_generation is not None:
        gpu_order[0, gpu.index(decision.gpu_order_generation)] = decision.gpu_order_nodes
    accept = np.zeros((1, plant.n_offers), dtype=bool)
    if decision.accept_offer:
        k, has = best_offer(plant.open_offers(state, path), path.offer_price_usd_per_kw_month)
        accept[0, k[0]] = has[0]
    return NativeAction(
        asic_run_fraction=run,
        gpu_offer_fraction=np.full((1, plant.n_gpu), offer),
        asic_order_th=asic_order,
        gpu_order_nodes=gpu_order,
        retrofit_blocks=np.array([float(decision.retrofit_blocks)]),
        asic_sale_th=sale,
        accept_offer=accept,
        curtail_mw=np.array([decision.curtail_mw]),
        reserve_commit_mw=np.array([decision.reserve_commit_mw]),
    )
