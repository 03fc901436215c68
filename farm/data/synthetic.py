"""`SyntheticSource`: endless, reproducible candles for any symbol, with no data files.

Kept apart from the stored-series sources because its state is a seeded walk, not a table: the
price at any time is computed, never loaded. It keeps the same ``get_candles`` contract (see
`farm.data.sources`) and shares the frame helpers of `farm.data.candles`.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from farm.data.candles import (
    arrays_to_frame,
    check_limit,
    concat,
    head,
    iso,
    resample,
    since_to_ms,
    step_for,
)
from farm.errors import CandleDataError, SchemaError
from farm.intervals import interval_ms
from farm.models import CANDLE_FIELDS, CandleArrays

__all__ = ["ORIGIN_MS", "SyntheticSource", "stable_hash"]

ORIGIN_MS = 946_684_800_000
"""2000-01-01T00:00:00Z: where the synthetic walk starts counting. A midnight, so it lies on
every candle interval's grid."""

_BLOCK = 1024
"""Base candles generated together from one seeded generator."""
_CHUNK = 4096
"""Block log-returns drawn together; levels of far-away blocks cost one draw per chunk."""
_TAG_SUMS = 1
_TAG_BLOCK = 2
_WICK = 0.6
_VOLUME_SIGMA = 0.5
_BLOCK_CACHE = 128


def _zigzag(n: int) -> int:
    """A non-negative seed word for any integer (negative block indices exist before 2000)."""
    return 2 * n if n >= 0 else -2 * n - 1


def stable_hash(text: str) -> int:
    """A 64-bit hash that, unlike ``hash()``, is the same in every process and on every run."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class _Walk:
    """One symbol's block levels: log price at each block start, relative to the origin."""

    __slots__ = ("words", "sums", "levels", "offset")

    def __init__(self, words: tuple[int, int, int]):
        self.words = words
        self.sums: dict[int, np.ndarray] = {}  # chunk -> exclusive prefix sums, len _CHUNK + 1
        self.levels: dict[int, float] = {0: 0.0}  # chunk -> level at its first block
        self.offset: float | None = None


class SyntheticSource:
    """A deterministic geometric random walk: endless candles for any symbol, no files.

    The candle opening at time t is a pure function of (constructor arguments, symbol, t):
    paging through time in any order or page size gives the same candles, and every process
    generates the same ones (``hash()`` is never used: it differs per process). Each 1024-candle block
    comes from a numpy Generator seeded with (seed, a stable hash of the symbol, block index);
    the block's total log-return comes from a separate per-chunk stream, so finding the price
    level of a block years after the origin costs a few thousand draws, not millions of
    candles. Within a block the path is a Gaussian bridge to the next block's level, which
    keeps each candle's log-return N(drift, volatility^2) and makes closes and the next opens
    equal exactly, across blocks too.

    `volatility` and `drift` are the standard deviation and mean of one base candle's log
    return. The price equals `start_price` at the open of the candle at `anchor` (default the
    origin, 2000-01-01): set `anchor` near the dates you backtest to keep prices near
    `start_price`, since a random walk wanders far over decades. Highs and lows extend past
    open/close by a random wick. `gap_probability` drops each candle independently (gaps, as
    in real data); the surviving candles are the same as without gaps. Bit-for-bit reproducible
    for a given numpy version on a given CPU family: numpy's vectorised ``exp`` may differ in the
    last bit between instruction sets (e.g. AVX-512 vs AVX2 machines).
    """

    def __init__(
        self,
        seed: int = 0,
        start_price: float = 100.0,
        volatility: float = 0.001,
        drift: float = 0.0,
        interval: str = "1m",
        volume: float = 100.0,
        gap_probability: float = 0.0,
        anchor: datetime | str | int | None = None,
    ):
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise SchemaError(f"seed must be an integer, got {seed!r}")

        def number(name: str, value: Any, lowest: float, rule: str, below: float = math.inf) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise SchemaError(f"{name} must be a number, got {value!r}")
            if not (math.isfinite(value) and lowest <= value < below):
                raise SchemaError(f"{name} must be {rule}, got {value!r}")
            return float(value)

        self.seed = int(seed)
        self.start_price = number("start_price", start_price, math.ulp(0.0), "a positive number")
        self.volatility = number("volatility", volatility, 0.0, "a non-negative number")
        self.drift = number("drift", drift, -math.inf, "finite")
        self.volume = number("volume", volume, 0.0, "a non-negative number")
        self.gap_probability = number("gap_probability", gap_probability, 0.0, "in [0, 1)", below=1.0)
        self.interval = interval
        self._base_step = interval_ms(interval)
        self.anchor_ms = None if anchor is None else since_to_ms(anchor)
        self._init_caches()

    def _init_caches(self) -> None:
        self._walks: dict[str, _Walk] = {}
        self._blocks: OrderedDict[tuple[str, int], CandleArrays] = OrderedDict()
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_walks", "_blocks", "_lock"):
            del state[key]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_caches()

    def identity(self, symbol: str) -> str:
        """What this source's candles are (for farm result keys): its parameters, which with the
        symbol (part of every key) and farm's code determine every candle."""
        params = (self.seed, self.start_price, self.volatility, self.drift, self.interval, self.volume,
                  self.gap_probability, self.anchor_ms)
        return "synthetic:" + ",".join(repr(p) for p in params)

    def __repr__(self) -> str:
        return (
            f"SyntheticSource(seed={self.seed}, start_price={self.start_price}, volatility={self.volatility}, "
            f"drift={self.drift}, interval={self.interval!r}, volume={self.volume}, "
            f"gap_probability={self.gap_probability})"
        )

    # -- the walk

    def _walk(self, symbol: str) -> _Walk:
        walk = self._walks.get(symbol)
        if walk is None:
            if not isinstance(symbol, str):
                raise SchemaError(f"symbol must be a string, got {symbol!r}")
            h = stable_hash(symbol)
            walk = self._walks[symbol] = _Walk((_zigzag(self.seed), h & 0xFFFFFFFF, h >> 32))
        return walk

    def _rng(self, walk: _Walk, tag: int, index: int) -> np.random.Generator:
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([*walk.words, tag, _zigzag(index)]))
        )

    def _chunk_prefix(self, walk: _Walk, chunk: int) -> np.ndarray:
        prefix = walk.sums.get(chunk)
        if prefix is None:
            z = self._rng(walk, _TAG_SUMS, chunk).standard_normal(_CHUNK)
            sums = self.drift * _BLOCK + self.volatility * math.sqrt(_BLOCK) * z
            prefix = np.empty(_CHUNK + 1)
            prefix[0] = 0.0
            np.cumsum(sums, out=prefix[1:])
            walk.sums[chunk] = prefix
        return prefix

    def _chunk_level(self, walk: _Walk, chunk: int) -> float:
        # Each level is defined from its neighbour nearer the origin by one fixed addition, so
        # the value never depends on which chunks happened to be computed first.
        levels = walk.levels
        if chunk in levels:
            return levels[chunk]
        if chunk > 0:
            c = max(k for k in levels if 0 <= k < chunk)
            while c < chunk:
                levels[c + 1] = levels[c] + float(self._chunk_prefix(walk, c)[_CHUNK])
                c += 1
        else:
            c = min(k for k in levels if chunk < k <= 0)
            while c > chunk:
                levels[c - 1] = levels[c] - float(self._chunk_prefix(walk, c - 1)[_CHUNK])
                c -= 1
        return levels[chunk]

    def _block_level(self, walk: _Walk, block: int) -> float:
        chunk, i = divmod(block, _CHUNK)
        return self._chunk_level(walk, chunk) + float(self._chunk_prefix(walk, chunk)[i])

    def _log_path(self, walk: _Walk, block: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
        """Log open and log close of each candle of `block` (origin level 0), and the rng after."""
        lo = self._block_level(walk, block)
        hi = self._block_level(walk, block + 1)
        rng = self._rng(walk, _TAG_BLOCK, block)
        z = rng.standard_normal(_BLOCK)
        steps = (hi - lo) / _BLOCK + self.volatility * (z - z.mean())
        log_close = lo + np.cumsum(steps)
        log_close[-1] = hi  # exact: the next block opens where this one closes
        log_open = np.empty(_BLOCK)
        log_open[0] = lo
        log_open[1:] = log_close[:-1]
        return rng, log_open, log_close

    def _offset(self, walk: _Walk) -> float:
        if walk.offset is None:
            if self.anchor_ms is None:
                walk.offset = 0.0
            else:
                k = (self.anchor_ms - ORIGIN_MS) // self._base_step
                block, i = divmod(k, _BLOCK)
                walk.offset = float(self._log_path(walk, block)[1][i])
        return walk.offset

    def _block(self, symbol: str, block: int) -> CandleArrays:
        key = (symbol, block)
        with self._lock:
            cached = self._blocks.get(key)
            if cached is not None:
                self._blocks.move_to_end(key)
                return cached
            walk = self._walk(symbol)
            offset = self._offset(walk)
            rng, log_open, log_close = self._log_path(walk, block)
            wicks = np.abs(rng.standard_normal((2, _BLOCK))) * (_WICK * self.volatility)
            noise = rng.standard_normal(_BLOCK)
            keep = rng.random(_BLOCK) >= self.gap_probability  # drawn always: gaps don't move prices
            with np.errstate(over="ignore", under="ignore"):  # checked below, with a better message
                o = self.start_price * np.exp(log_open - offset)
                c = self.start_price * np.exp(log_close - offset)
                h = np.maximum(o, c) * np.exp(wicks[0])
                lo = np.minimum(o, c) * np.exp(-wicks[1])
            v = self.volume * np.exp(_VOLUME_SIGMA * noise - _VOLUME_SIGMA**2 / 2)
            ts = ORIGIN_MS + (block * _BLOCK + np.arange(_BLOCK, dtype=np.int64)) * self._base_step
            if not (np.isfinite(h).all() and (lo > 0).all()):
                # Drift (or decades of volatility) from the anchor has left float range.
                raise CandleDataError(
                    f"synthetic prices for {symbol!r} near {iso(int(ts[0]))} leave the float range "
                    f"(log price {float(log_open[0] - offset):+.0f} from start_price at the anchor); "
                    "pass anchor= near the dates you request"
                )
            if not keep.all():
                ts, o, h, lo, c, v = (x[keep] for x in (ts, o, h, lo, c, v))
            arrays = CandleArrays(ts, o, h, lo, c, v)
            self._blocks[key] = arrays
            if len(self._blocks) > _BLOCK_CACHE:
                self._blocks.popitem(last=False)
            return arrays

    def _base_between(self, symbol: str, t0: int, t1: int) -> CandleArrays:
        """Base candles opening in [t0, t1)."""
        base = self._base_step
        k0 = (t0 - ORIGIN_MS) // base
        k1 = -(-(t1 - ORIGIN_MS) // base)
        parts = []
        for block in range(k0 // _BLOCK, (k1 - 1) // _BLOCK + 1):
            a = self._block(symbol, block)
            lo = int(np.searchsorted(a.timestamp, t0, side="left"))
            hi = int(np.searchsorted(a.timestamp, t1, side="left"))
            if hi > lo:
                parts.append(CandleArrays(*(getattr(a, f)[lo:hi] for f in CANDLE_FIELDS)))
        return concat(parts)

    # -- the get_candles contract

    def _step(self, interval: str) -> int:
        return step_for(self, interval)

    def get_arrays(self, symbol: str, interval: str, since: Any, limit: int) -> CandleArrays:
        """`get_candles` without the DataFrame."""
        step = self._step(interval)
        since_ms = since_to_ms(since)
        limit = check_limit(limit)
        t = -(-since_ms // step) * step  # first bucket opening at or after since
        parts: list[CandleArrays] = []
        got = 0
        while got < limit:
            t_end = t + (limit - got) * step
            base = self._base_between(symbol, t, t_end)
            arrays = base if step == self._base_step else resample(base, step)
            parts.append(arrays)
            got += len(arrays)
            t = t_end
        return head(concat(parts), limit)

    def get_candles(self, symbol: str, interval: str, since: Any, limit: int) -> pd.DataFrame:
        """First `limit` candles opening at or after `since` (the contract is in `farm.data.sources`)."""
        return arrays_to_frame(self.get_arrays(symbol, interval, since, limit))

    __call__ = get_candles
