"""Real network history as an exogenous path: the backtest's replay.

A daily file in the Coin Metrics community format (columns ``date, price_usd, hashrate_th_s,
fees_btc, issuance_btc, blocks``; the project ships no data) gives the BTC price, the fees,
the blocks found each day and the network's hashrate estimate. :func:`replay_paths` puts them
in place of the simulated network series of a scenario's paths:

- price and fees per block are the file's (fees of the day / blocks of the day);
- the blocks of each day are the file's; the height at the window's start comes from the
  halvings the file shows (the day the issuance per block drops holds block 210,000 k), so the
  subsidy follows the real height;
- difficulty is rebuilt by the retarget rule (:func:`hybridrl.sim.exogenous._chain` on the
  real blocks, Bitcoin's 2,016-block epochs and x4 clamp) from the epoch running at the
  window's start: its first block's time and its difficulty, implied by the file's hashrate
  (:meth:`NetworkHistory.implied_difficulty`; Coin Metrics' hashrate is the blocks found times
  the difficulty, so the implied one is the real one where no retarget falls in the day);
- the FPPS hashprice follows from those, and the ASIC prices from the hashprice, as in a
  simulated path.

Everything the file lacks (power, GPU market, hosting offers, outages, tenant defaults,
retrofit delays) is sampled from the scenario on each seed, so a backtest carries intervals.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hybridrl.sim import calibration, protocol
from hybridrl.sim.calibration import REQUIRED_COLUMNS
from hybridrl.sim.exogenous import (
    ExogenousPath,
    SeedLike,
    _chain,
    _row_inputs,
    _simulate,
    network_series,
    seed_sequences,
)
from hybridrl.sim.params import ScenarioParams

FloatArray = NDArray[np.float64]

COLUMNS = REQUIRED_COLUMNS
"""The columns a history file must have (others are ignored): the calibration's."""
MAX_FILE_BYTES = 64 * 2**20
"""Largest history file read (the 2010-2025 Coin Metrics file is about 0.5 MiB)."""


class HistoryFileError(ValueError):
    """A history file that cannot be used, with the file, the row and the column named."""


@dataclass(frozen=True, kw_only=True)
class NetworkHistory(calibration.NetworkHistory):
    """The calibration's daily history (its six series), checked to hold one entry per
    consecutive UTC day, with the file it came from and the halvings it shows."""

    source: str
    halvings: tuple[tuple[int, float, int], ...]
    """(day index, blocks that day before the halving, halving number) of each halving shown"""

    @property
    def n_days(self) -> int:
        return int(self.dates.size)

    def day_index(self, day: dt.date | str) -> int:
        """Index of ``day`` in the file; a clear error when the file does not cover it."""
        d = np.datetime64(day, "D")
        i = int((d - self.dates[0]).astype(int))
        if not 0 <= i < self.n_days:
            raise ValueError(
                f"{self.source}: {d} is outside the file's dates ({self.dates[0]} to {self.dates[-1]})"
            )
        return i

    def slice(self, first: int, stop: int) -> NetworkHistory:
        """Days ``first`` to ``stop`` - 1 (the halvings kept are those inside, re-indexed)."""
        series: dict[str, Any] = {f.name: getattr(self, f.name)[first:stop] for f in dataclasses.fields(self)}
        series["source"] = self.source
        series["halvings"] = tuple((d - first, n, k) for d, n, k in self.halvings if first <= d < stop)
        return NetworkHistory(**series)

    def extend_by_last_day(self) -> NetworkHistory:
        """The same days and one more that repeats the last (the time point after a window that
        ends on the file's last day)."""
        series: dict[str, Any] = {
            f.name: np.append(getattr(self, f.name), getattr(self, f.name)[-1:])
            for f in dataclasses.fields(self)
            if f.name not in ("source", "halvings", "dates")
        }
        series["dates"] = np.append(self.dates, self.dates[-1] + np.timedelta64(1, "D"))
        return NetworkHistory(source=self.source, halvings=self.halvings, **series)

    def height_at_start(self, near_day: int) -> FloatArray:
        """Height at the start of each day (the blocks found before it), anchored on the halving
        nearest to day index ``near_day``, so that a file whose daily block counts drift over
        the years stays right near the days that matter (on the Coin Metrics file the four
        halvings agree: each anchor gives the same heights)."""
        if not self.halvings:
            raise ValueError(f"{self.source}: no halving on these days to anchor the height on")
        day, n_before, number = min(self.halvings, key=lambda h: abs(h[0] - near_day))
        before = np.concatenate([[0.0], np.cumsum(self.blocks)[:-1]])
        return before + (protocol.HALVING_INTERVAL_BLOCKS * number - n_before - before[day])

    @property
    def fees_btc_per_block(self) -> FloatArray:
        return self.fees_btc / self.blocks

    def implied_difficulty(self) -> FloatArray:
        """Difficulty the file's hashrate implies each day: H x 86,400 / (blocks x 2^32) (the
        day's hashes per block found)."""
        return (
            self.hashrate_th_s
            * 1e12
            * protocol.SECONDS_PER_DAY
            / (self.blocks * protocol.HASHES_PER_DIFFICULTY)
        )

    def realised_usd_per_ph_day(self) -> FloatArray:
        """What one PH/s earned each day, by the file: (issuance + fees) x price / hashrate."""
        return (self.issuance_btc + self.fees_btc) * self.price_usd / (self.hashrate_th_s / 1e3)


def read_network_history(path: str | Path) -> NetworkHistory:
    """Read and check a daily history file; refuse it, naming the file, the row (the file's line
    number) and the column, when a column is missing, a value is empty, not a number, negative
    or not finite, a price or block count is not positive, or the dates are not consecutive
    days in increasing order."""
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise HistoryFileError(f"{name}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise HistoryFileError(
            f"{name}: {size:,} bytes, more than the {MAX_FILE_BYTES:,} a history file may have"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise HistoryFileError(f"{name}: not UTF-8 text ({e})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise HistoryFileError(f"{name}: empty file")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise HistoryFileError(f"{name}: missing column(s) {', '.join(missing)} (found: {', '.join(header)})")
    where = {c: header.index(c) for c in COLUMNS}
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise HistoryFileError(f"{name}: no data rows")
    dates = _dates(name, body, where["date"])
    values = {c: _column(name, body, c, where[c]) for c in COLUMNS[1:]}
    halvings = _halvings(name, dates, values["issuance_btc"], values["blocks"])
    return NetworkHistory(source=name, dates=dates, halvings=halvings, **values)


def _line(i: int) -> int:
    """The file's line number of data row i (the header is line 1)."""
    return i + 2


def _dates(name: str, body: list[list[str]], col: int) -> NDArray[np.datetime64]:
    out = np.empty(len(body), dtype="datetime64[D]")
    for i, row in enumerate(body):
        cell = row[col].strip() if col < len(row) else ""
        try:
            out[i] = np.datetime64(dt.date.fromisoformat(cell), "D")
        except ValueError:
            raise HistoryFileError(
                f"{name}, row {_line(i)}, column date: {cell[:40]!r} is not a date (YYYY-MM-DD)"
            ) from None
        if i and out[i] != out[i - 1] + np.timedelta64(1, "D"):
            gap = int((out[i] - out[i - 1]).astype(int))
            what = f"{gap - 1} day(s) missing" if gap > 1 else "not after the previous row's date"
            raise HistoryFileError(
                f"{name}, row {_line(i)}, column date: {out[i]} follows {out[i - 1]}: {what} "
                "(the file must hold consecutive days in increasing order)"
            )
    return out


def _column(name: str, body: list[list[str]], column: str, col: int) -> FloatArray:
    out = np.empty(len(body))
    positive = column in ("price_usd", "blocks", "hashrate_th_s")
    for i, row in enumerate(body):
        cell = row[col].strip() if col < len(row) else ""
        try:  # a long cell is no number we could use (and float() of it would be slow)
            value = float(cell) if len(cell) <= 64 else None
        except ValueError:
            value = None
        bad = (
            "empty"
            if not cell
            else "not a number"
            if value is None
            else "not finite"
            if not math.isfinite(value)
            else "negative"
            if value < 0
            else "zero (must be positive)"
            if positive and value == 0
            else ""
        )
        if bad:
            raise HistoryFileError(f"{name}, row {_line(i)}, column {column}: {cell[:40]!r} is {bad}")
        out[i] = value
    return out


def _halvings(
    name: str, dates: NDArray[np.datetime64], issuance: FloatArray, blocks: FloatArray
) -> tuple[tuple[int, float, int], ...]:
    """(day index, blocks found that day before the halving, halving number) of each halving the
    file shows: the first day whose issuance per block falls below the day before's holds block
    210,000 x n, and how many of its blocks came before is read from the day's issuance (a day
    that straddles a halving shows a mixed issuance per block, the next day the new subsidy)."""
    per_block = issuance / blocks
    drops = np.flatnonzero(per_block[1:] < 0.99 * per_block[:-1])
    if drops.size == 0:
        raise HistoryFileError(
            f"{name}: no halving in the file ({dates[0]} to {dates[-1]}): the chain's height cannot be "
            "anchored (a history file must span a halving)"
        )
    out = []
    for first in drops[np.r_[True, np.diff(drops) > 1]]:
        day = int(first) + 1
        halvings_before = round(math.log2(protocol.INITIAL_SUBSIDY_BTC / per_block[day - 1]))
        hi = protocol.INITIAL_SUBSIDY_BTC * 2.0**-halvings_before
        lo = hi / 2.0
        n_before = float(np.clip(np.rint((issuance[day] - lo * blocks[day]) / (hi - lo)), 0.0, blocks[day]))
        out.append((day, n_before, halvings_before + 1))
    return tuple(out)


def replay_paths(
    params: ScenarioParams,
    history: NetworkHistory,
    seeds: Sequence[SeedLike] | SeedLike,
) -> ExogenousPath:
    """One path per seed over ``params.time`` (daily steps, a window the file covers): the real
    network in place of the simulated one, everything else sampled from ``params`` on each seed
    (row b depends only on ``seeds[b]``)."""
    if params.time.dt_days != 1.0:
        raise ValueError(
            f"a replay of daily history needs daily steps (time.dt_days: 1), got {params.time.dt_days}"
        )
    first = history.day_index(params.time.start)
    T = params.time.n_steps
    if first + T > history.n_days:
        raise ValueError(
            f"{history.source}: the window {params.time.start} to {params.time.end} runs past the file's "
            f"last day ({history.dates[-1]})"
        )
    seqs = seed_sequences(seeds)
    if not seqs:
        raise ValueError("at least one seed is needed")
    draws = [_row_inputs(params, s) for s in seqs]
    stacked = {k: np.stack([d[k] for d in draws]) for k in draws[0]}
    network = replayed_network(params, history, len(seqs))
    return _simulate(params, stacked, network)


def _current_epoch(history: NetworkHistory, heights: FloatArray, first: int) -> tuple[float, float]:
    """(start in seconds from the start of day ``first``, difficulty) of the retarget epoch
    running at the start of day ``first``: when its first block was found (blocks spread evenly
    over their day), and its difficulty, the median of the difficulty the
    file's hashrate implies on the days wholly inside it before ``first`` (the epoch's first
    day when there is none). Timing the epoch from the file matters: a start estimated from
    the day's block rate moved the first retarget, and with it every later difficulty, by 5 %
    on a 2024 window."""
    boundary = (
        np.floor(heights[first] / protocol.RETARGET_INTERVAL_BLOCKS) * protocol.RETARGET_INTERVAL_BLOCKS
    )
    day = int(np.searchsorted(heights, boundary, side="right")) - 1
    if day < 0:
        raise ValueError(
            f"{history.source}: the retarget epoch running on {history.dates[first]} began before the "
            f"file's first day ({history.dates[0]})"
        )
    within_s = (boundary - heights[day]) / history.blocks[day] * protocol.SECONDS_PER_DAY
    begin_s = (day - first) * protocol.SECONDS_PER_DAY + within_s
    inside = (
        history.implied_difficulty()[day + 1 : first]
        if first > day + 1
        else history.implied_difficulty()[day : day + 1]
    )
    return float(begin_s), float(np.median(inside))


def replayed_network(params: ScenarioParams, history: NetworkHistory, n_paths: int) -> dict[str, np.ndarray]:
    """The network series of :func:`replay_paths` (B, T+1) over ``params.time``'s window."""
    first = history.day_index(params.time.start)
    T = params.time.n_steps
    # T days and the time point after the last: its price and fees are the last day's when the
    # file ends there (its blocks are never used)
    w = history.slice(first, first + T + 1)
    if w.n_days == T:
        w = w.extend_by_last_day()
    heights = history.height_at_start(first)
    begin_s, level = _current_epoch(history, heights, first)
    start = dataclasses.replace(params.network, initial_height=int(heights[first]), initial_difficulty=level)
    chain_params = dataclasses.replace(params, network=start)
    rows = np.ones((n_paths, 1))
    blocks = rows * np.concatenate([w.blocks[:T], [0.0]])
    hashrate = rows * w.hashrate_th_s
    chain = _chain(
        hashrate, chain_params, np.zeros((n_paths, T + 1)), found_blocks=blocks, epoch_begin_s=begin_s
    )
    regime = np.zeros((n_paths, T + 1), dtype=np.int8)
    return network_series(rows * w.price_usd, regime, rows * w.fees_btc_per_block, hashrate, chain)
