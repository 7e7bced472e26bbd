"""Which exogenous paths each stage may see: training, validation and held-out paths are
disjoint by construction.

A path is fixed by its ``SeedSequence``: an integer seed ``s`` gives ``SeedSequence(s)`` (what
:func:`~hybridrl.evaluation.evaluate` and ``env.reset(seed=s)`` use), and an environment's later
episodes use children ``SeedSequence(s, spawn_key=(k,))`` with k >= 1, which never equal the
path of any integer seed below 2**128 (a non-empty spawn key changes the assembled entropy).

- held-out (benchmarks, reports): integer seeds in [0, 2**32);
- validation (evaluation during training): [2**32, 2**32 + n);
- training: environment i of a run with seed r starts from 2**40 + r * 2**16 + i, then its
  children; r < 2**16 and i < 2**16 are enforced by the training config. An imitation warm
  start records its expert on the last seeds of the same block (:func:`imitation_seeds`).
"""

from __future__ import annotations

HELD_OUT_LIMIT = 2**32
VALIDATION_OFFSET = 2**32
TRAINING_OFFSET = 2**40
RUN_SEED_LIMIT = 2**16
"""Run seeds lie in [0, RUN_SEED_LIMIT)."""
ENVS_PER_RUN = 2**16
"""At most this many training environments per run (their first seeds must not reach the next run's)."""


def training_seeds(run_seed: int, n_envs: int) -> list[int]:
    """The first-episode path seeds of a run's ``n_envs`` training environments."""
    if not 0 <= run_seed < RUN_SEED_LIMIT or not 1 <= n_envs <= ENVS_PER_RUN:
        raise ValueError(f"run seed must lie in [0, {RUN_SEED_LIMIT}) and n_envs in [1, {ENVS_PER_RUN}]")
    base = TRAINING_OFFSET + run_seed * ENVS_PER_RUN
    return [base + i for i in range(n_envs)]


def imitation_seeds(run_seed: int, n: int) -> list[int]:
    """The paths of a run's expert demonstrations: the last ``n`` seeds of its training block
    (disjoint from its environments' first seeds while n + n_envs <= ENVS_PER_RUN, and like them
    never a validation or held-out path)."""
    base = training_seeds(run_seed, 1)[0]
    return [base + ENVS_PER_RUN - n + i for i in range(n)]


def validation_seeds(n: int) -> list[int]:
    """The paths evaluated during training (the same for every run, so runs compare)."""
    return [VALIDATION_OFFSET + i for i in range(n)]


def check_held_out(seeds: list[int], training: list[int] | None = None) -> None:
    """Raise ValueError unless every seed is a held-out seed and none was trained on."""
    bad = [s for s in seeds if not 0 <= s < HELD_OUT_LIMIT]
    if bad:
        raise ValueError(f"held-out seeds must lie in [0, 2**32); these do not: {bad[:10]}")
    overlap = sorted(set(seeds) & set(training or []))
    if overlap:
        raise ValueError(f"held-out seeds overlap the run's training seeds: {overlap[:10]}")
