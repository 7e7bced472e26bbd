"""Behaviour cloning of an expert (``imitation.expert``): its investment decisions in the
decision-epoch mode, or its dispatch step by step in an operations scenario (no investments).

The expert is a rule policy, which sees only the path so far (cloning the perfect-foresight
oracle would teach actions conditioned on the future). Its decisions at each investment epoch
are encoded as the epoch environment's actions
(:func:`~hybridrl.env.epoch_encoding.encode_epoch_decision`); the network's mean action is
fitted to them, its value head to the expert's discounted returns (in VecNormalize's reward
scale), and VecNormalize's statistics are set from the demonstrations, so that RL starts from
the expert with a critic that already knows what its decisions are worth.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hybridrl.agents.policy import NetworkPolicy
from hybridrl.baselines.rules import Policy
from hybridrl.env.encoding import encode_dispatch
from hybridrl.env.epoch_encoding import DEAD_ZONE, encode_epoch_decision
from hybridrl.env.hybrid_mine import USD_PER_REWARD_UNIT
from hybridrl.sim.exogenous import sample_paths
from hybridrl.sim.information import PathReveal
from hybridrl.sim.params import ScenarioParams
from hybridrl.sim.plant import Plant

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Demonstrations:
    """An expert's epochs on E paths, epoch-major: arrays (T, E, ...) with T epochs."""

    observations: NDArray[np.float32]
    """(T, E, n) the epoch environment's observations, not normalised"""
    actions: FloatArray
    """(T, E, A) the expert's decisions as epoch actions"""
    rewards: FloatArray
    """(T, E) NAV change over the epoch, in reward units (M$)"""
    alive: NDArray[np.bool_]
    """(T, E) the epoch belongs to the episode (False after a bankruptcy)"""

    @property
    def n_samples(self) -> int:
        return int(self.alive.sum())


def record_demonstrations(
    params: ScenarioParams, expert: Policy, seeds: list[int], n_jobs: int = 1, epoch_mode: bool = True
) -> Demonstrations:
    """Roll a fresh copy of ``expert`` out on the paths of ``seeds`` and record each epoch: one
    batch, or with ``n_jobs`` other than 1 as many slices of the seeds in separate processes
    (joblib), joined in the seeds' order. A path's epochs do not depend on the others', so the
    result is the same apart from what an MPC's solver time limit may cut differently."""
    from hybridrl.evaluation.rollout import run_parallel

    workers = len(seeds) if n_jobs == -1 else max(1, min(n_jobs, len(seeds)))
    slices = [list(part) for part in np.array_split(np.asarray(seeds), workers)]
    parts = run_parallel(_record_batch, [(params, expert, part, epoch_mode) for part in slices], n_jobs)
    return Demonstrations(
        **{
            f.name: np.concatenate([getattr(p, f.name) for p in parts], axis=1)
            for f in fields(Demonstrations)
        }
    )


def _record_batch(
    params: ScenarioParams, expert: Policy, seeds: list[int], epoch_mode: bool
) -> Demonstrations:
    """One batch of :func:`record_demonstrations` (the expert copied: an MPC keeps plans per row):
    every decision epoch in epoch mode, else every step (an operations scenario: the full
    environment's observation and :func:`~hybridrl.env.encoding.encode_dispatch`)."""
    expert = copy.deepcopy(expert)
    seeds = [int(s) for s in seeds]
    plant = Plant(params)
    path = sample_paths(params, seeds)
    reveal = PathReveal(path)
    observer = NetworkPolicy("observer", lambda obs, starts: obs, epoch_mode=epoch_mode)
    state = plant.initial_state(len(seeds))
    nav = plant.nav_usd(state, path)
    alive = np.ones(len(seeds), dtype=bool)
    obs, acts, alive_at, navs = [], [], [], []
    while state.t < path.n_steps:
        view = reveal.view(state.t)
        native = expert.act(plant, state, view)
        if not epoch_mode:
            obs.append(observer.observe(plant, state, view))
            acts.append(encode_dispatch(plant, state, view, native))
            alive_at.append(alive.copy())
            navs.append(nav.copy())
        elif plant.is_decision_epoch(state.t):
            obs.append(observer.observe(plant, state, view))
            acts.append(encode_epoch_decision(plant, state, native))
            alive_at.append(alive.copy())
            navs.append(nav.copy())
        state = plant.step(state, native, path).state
        nav = np.where(alive, plant.nav_usd(state, path), nav)  # a bankrupt row's NAV stops there
        alive &= ~state.bankrupt
    navs.append(nav)
    nav_at = np.stack(navs)
    return Demonstrations(
        observations=np.stack(obs).astype(np.float32),
        actions=np.stack(acts),
        rewards=np.diff(nav_at, axis=0) / USD_PER_REWARD_UNIT,
        alive=np.stack(alive_at),
    )


def discounted(rewards: FloatArray, alive: NDArray[np.bool_], gamma: float) -> tuple[FloatArray, FloatArray]:
    """(running returns as VecNormalize accumulates them, returns-to-go), both (T, E)."""
    r = np.where(alive, rewards, 0.0)
    running = np.zeros_like(r)
    acc = np.zeros(r.shape[1])
    for t in range(r.shape[0]):
        acc = acc * gamma + r[t]
        running[t] = acc
    to_go = np.zeros_like(r)
    acc = np.zeros(r.shape[1])
    for t in reversed(range(r.shape[0])):
        acc = r[t] + gamma * acc
        to_go[t] = acc
    return running, to_go


def clone_expert(
    model: Any, vecnorm: Any, demos: Demonstrations, gamma: float, epochs: int, learning_rate: float,
    log_std: float, seed: int, epoch_mode: bool = True,
) -> dict[str, float]:  # fmt: skip
    """Fit ``model``'s actor mean to the expert's actions (:func:`action_loss` in epoch mode, the
    mean squared error on dispatch) and its critic to the expert's discounted returns; set
    ``vecnorm``'s statistics (None: no normalisation) from the demonstrations; set the actor's log
    std. Returns how well the fit went."""
    import torch

    keep = demos.alive
    running, to_go = discounted(demos.rewards, keep, gamma)
    x = demos.observations[keep].astype(np.float64)
    scale = 1.0
    if vecnorm is not None:
        vecnorm.obs_rms.mean, vecnorm.obs_rms.var, vecnorm.obs_rms.count = x.mean(0), x.var(0), float(len(x))
        vecnorm.ret_rms.mean, vecnorm.ret_rms.var = 0.0, float(np.var(running[keep]))
        vecnorm.ret_rms.count = float(keep.sum())
        x = vecnorm.normalize_obs(x)
        scale = float(np.sqrt(vecnorm.ret_rms.var + vecnorm.epsilon))
    policy = model.policy
    obs_t = torch.as_tensor(x, dtype=torch.float32)
    act_t = torch.as_tensor(demos.actions[keep], dtype=torch.float32)
    value_t = torch.as_tensor(to_go[keep] / scale, dtype=torch.float32)
    optimiser = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in torch.randperm(len(obs_t), generator=generator).split(256):
            mean = policy.get_distribution(obs_t[batch]).distribution.mean
            value = policy.predict_values(obs_t[batch]).squeeze(-1)
            fit_actions = action_loss if epoch_mode else torch.nn.functional.mse_loss
            loss = fit_actions(mean, act_t[batch]) + torch.nn.functional.mse_loss(value, value_t[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    with torch.no_grad():
        policy.log_std.fill_(log_std)
        mean = policy.get_distribution(obs_t).distribution.mean
        value_mse = float(torch.nn.functional.mse_loss(policy.predict_values(obs_t).squeeze(-1), value_t))
        if epoch_mode:
            fit = decision_agreement(mean.numpy(), act_t.numpy())
        else:
            fit = {"action_mse": float(torch.nn.functional.mse_loss(mean.clamp(-1.0, 1.0), act_t))}
    return {**fit, "value_mse": value_mse, "samples": float(len(obs_t))}


def action_loss(mean: Any, target: Any) -> Any:
    """Where the expert decided something (target above the dead zone): squared error plus a
    hinge keeping the mean a margin past the dead zone's edge (a small order would otherwise flip
    to nothing at the slightest error), weighted up by how rare decisions are. Where it decided
    nothing: only a mean within the margin of the edge is penalised (any value below decodes to
    nothing, so the fit need not spend capacity pulling it to 0)."""
    import torch

    decided = target > DEAD_ZONE
    weight = (~decided).sum() / decided.sum().clamp(min=1)
    margin = (1.0 - DEAD_ZONE) / 4  # a decision's mean is pushed this far past the dead zone
    on = (((mean - target) ** 2 + torch.relu(DEAD_ZONE + margin - mean) ** 2) * decided).sum()
    on = on * weight.clamp(max=100.0)
    off = (torch.relu(mean - (DEAD_ZONE - margin)) ** 2 * ~decided).sum() * 4.0
    return (on + off) / target.numel()


def decision_agreement(mean: NDArray[Any], target: NDArray[Any]) -> dict[str, float]:
    """How often the cloned mean decides as the expert: share of the expert's decisions it also
    takes (recall) and share of its no-decisions where it decides something (false alarms)."""
    decided, acts = target > DEAD_ZONE, mean > DEAD_ZONE
    return {
        "decisions": float(decided.sum()),
        "recall": float((acts & decided).sum() / max(decided.sum(), 1)),
        "false_alarm_rate": float((acts & ~decided).sum() / max((~decided).sum(), 1)),
    }
