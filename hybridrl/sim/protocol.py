"""Bitcoin consensus rules that drive miner revenue.

Only the three rules a miner's economics depend on: the block subsidy schedule, the
difficulty retarget with its factor-of-four clamp, and the FPPS hashprice that follows from
difficulty. Sources: Bitcoin Core ``src/kernel/chainparams.cpp`` (``nSubsidyHalvingInterval``,
``nPowTargetTimespan``, ``nPowTargetSpacing``), ``src/validation.cpp`` (``GetBlockSubsidy``) and
``src/pow.cpp`` (``CalculateNextWorkRequired``).

Every function accepts numpy arrays as well as scalars, so the batched path generator and
the tests call the very same code.
"""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import NDArray

INITIAL_SUBSIDY_BTC = 50.0
HALVING_INTERVAL_BLOCKS = 210_000
RETARGET_INTERVAL_BLOCKS = 2_016
TARGET_BLOCK_SPACING_S = 600.0
TARGET_TIMESPAN_S = RETARGET_INTERVAL_BLOCKS * TARGET_BLOCK_SPACING_S  # two weeks
TARGET_BLOCKS_PER_DAY = 86_400.0 / TARGET_BLOCK_SPACING_S  # 144
RETARGET_CLAMP = 4.0
TIMED_SHARE_OF_EPOCH = (RETARGET_INTERVAL_BLOCKS - 1) / RETARGET_INTERVAL_BLOCKS
"""Share of an epoch's 2,016 block intervals the retarget times: ``CalculateNextWorkRequired``
measures from the epoch's first block to its last, 2,015 intervals, against 2,016 x 600 s (the
off-by-one of ``src/pow.cpp``). Left out, a replay of 2020-2025 on the real blocks drifts 0.05 %
a retarget, 8 % below the real difficulty by 2025."""
HASHES_PER_DIFFICULTY = 2.0**32
SECONDS_PER_DAY = 86_400.0

FloatArray = NDArray[np.float64]


@overload
def block_subsidy_btc(height: int | float) -> float: ...
@overload
def block_subsidy_btc(height: NDArray[np.generic]) -> FloatArray: ...
def block_subsidy_btc(height: int | float | NDArray[np.generic]) -> float | FloatArray:
    """Block subsidy in BTC at block ``height``: 50 · 2^(−⌊height / 210,000⌋).

    Mirrors ``GetBlockSubsidy``: the subsidy becomes zero after 64 halvings.
    """
    halvings = np.floor_divide(np.asarray(height, dtype=np.float64), HALVING_INTERVAL_BLOCKS)
    if np.any(halvings < 0):
        raise ValueError("block height must be non-negative")
    subsidy = np.where(halvings >= 64, 0.0, INITIAL_SUBSIDY_BTC * np.exp2(-np.minimum(halvings, 64)))
    return float(subsidy) if subsidy.ndim == 0 else subsidy


def retarget_difficulty(
    old_difficulty: FloatArray | float, actual_seconds: FloatArray | float
) -> FloatArray | float:
    """Difficulty after a 2,016-block epoch that took ``actual_seconds``.

    D_new = D_old · clamp(1,209,600 s / actual_seconds, 1/4, 4): a fast epoch raises
    difficulty, a slow one lowers it, by at most a factor of four either way.
    """
    actual = np.asarray(actual_seconds, dtype=np.float64)
    if np.any(~(actual > 0)):
        raise ValueError("actual_seconds must be positive")
    factor = np.clip(TARGET_TIMESPAN_S / actual, 1.0 / RETARGET_CLAMP, RETARGET_CLAMP)
    new = np.asarray(old_difficulty, dtype=np.float64) * factor
    return float(new) if new.ndim == 0 else new


def hashprice_usd_per_ph_day(
    subsidy_btc: FloatArray | float,
    fees_btc_per_block: FloatArray | float,
    price_usd: FloatArray | float,
    difficulty: FloatArray | float,
) -> FloatArray | float:
    """FPPS hashprice in USD per PH/s per day.

    (subsidy + fees per block) · price · 86,400 · 10¹⁵ / (D · 2³²): the expected reward of one
    PH/s over a day, which a full-pay-per-share pool pays whatever luck the network had.
    """
    value = (
        (np.asarray(subsidy_btc) + np.asarray(fees_btc_per_block))
        * np.asarray(price_usd)
        * SECONDS_PER_DAY
        * 1e15
        / (np.asarray(difficulty) * HASHES_PER_DIFFICULTY)
    )
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)
