"""What the kernel reads, loaded once per (symbol, frame) and shared by every variant of a
sweep: the frame's ticks, the base candles as flat arrays, and the engine config as numbers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from farm import registry
from farm.config import EngineConfig, get_config
from farm.engine import steps
from farm.engine.exchange import ExchangeClient
from farm.engine.frames import timeline
from farm.engine.strategy import GAP_TOLERANCE_STEPS
from farm.errors import FarmError
from farm.intervals import FRAME_INTERVALS, MINUTE_MS, interval_ms
from farm.models import CandleArrays, Candles

WARMUP_CANDLES = 1440
"""Base candles before the frame's start that the vectorised strategy sees (indicator warm-up),
as many as the per-tick engine's first bulk load."""


class KernelUnsupported(FarmError):
    """This run needs the per-tick engine: the kernel would not reproduce it exactly."""


@dataclass(frozen=True)
class KernelConfig:
    """The engine config as the kernel reads it: once per run (no callback can change it)."""

    n_avg: int
    await_ms: int
    tolerance_steps: int
    slippage_pct: float
    fee_pct: float
    min_tp: float
    min_sl: float
    max_sl: float
    max_life: float

    @classmethod
    def from_engine(cls, cfg: EngineConfig) -> KernelConfig:
        for name in ("avg_price_candles_count", "schedule_await_minutes", "max_signal_lifetime_minutes"):
            value = getattr(cfg, name)
            if not (math.isfinite(value) and float(value).is_integer() and value >= 0):
                raise KernelUnsupported(f"config {name}={value!r} is not a whole number")
        if cfg.avg_price_candles_count < 1:
            raise KernelUnsupported("config avg_price_candles_count must be at least 1")
        return cls(
            n_avg=int(cfg.avg_price_candles_count),
            await_ms=int(cfg.schedule_await_minutes) * MINUTE_MS,
            tolerance_steps=GAP_TOLERANCE_STEPS,
            slippage_pct=float(cfg.percent_slippage),
            fee_pct=float(cfg.percent_fee),
            min_tp=float(cfg.min_takeprofit_distance_percent),
            min_sl=float(cfg.min_stoploss_distance_percent),
            max_sl=float(cfg.max_stoploss_distance_percent),
            max_life=float(cfg.max_signal_lifetime_minutes),
        )


@dataclass(eq=False)
class Market:
    """One symbol's base candles around one frame, as flat arrays for the kernel."""

    frames: np.ndarray
    frame_step: int
    step: int
    arrays: CandleArrays
    signal_lo: int
    signal_hi: int
    """The bars the vectorised strategy is given: `arrays[signal_lo:signal_hi]`."""
    extend: Callable[[int], CandleArrays] | None = None
    """Loads candles up to a time (exclusive) and returns the series; None: fixed arrays."""
    bad: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    """Open times of candles that failed the exchange checks."""

    _tpv: tuple[CandleArrays, np.ndarray] | None = field(default=None, repr=False)

    def typical_volume(self) -> np.ndarray:
        """`steps.typical_volume` of the candles, computed once per candle arrays (a sweep runs
        many variants on one market)."""
        if self._tpv is None or self._tpv[0] is not self.arrays:
            a = self.arrays
            self._tpv = (a, steps.typical_volume(a.high, a.low, a.close, a.volume))
        return self._tpv[1]

    @property
    def signal_candles(self) -> Candles:
        return Candles(self.arrays, self.signal_lo, self.signal_hi)

    def ensure_horizon(self, lifetime_minutes: float, cfg: KernelConfig) -> None:
        """Make sure every candle a signal of up to `lifetime_minutes` may close on is loaded."""
        if not len(self.frames) or self.extend is None:
            return
        hi = (int(self.frames[-1]) + cfg.await_ms + int(math.ceil(lifetime_minutes)) * MINUTE_MS
              + (cfg.tolerance_steps + 2) * self.step)
        first = int(self.arrays.timestamp[self.signal_lo]) if self.signal_hi > self.signal_lo else None
        arrays = self.extend(hi)
        if arrays is not self.arrays:
            self.arrays = arrays
            if first is not None:  # the series only grows; keep the signal bars where they were
                shift = int(arrays.timestamp.searchsorted(first)) - self.signal_lo
                self.signal_lo += shift
                self.signal_hi += shift

    @classmethod
    def from_arrays(cls, arrays: CandleArrays, frames: np.ndarray, frame_step: int, step: int,
                    warmup_candles: int = WARMUP_CANDLES) -> Market:
        """A market over candles already in memory (benchmarks, tests): all of them are loaded."""
        frames = np.asarray(frames, dtype=np.int64)
        ts = arrays.timestamp
        lo = int(ts.searchsorted(int(frames[0]) - warmup_candles * step)) if len(frames) else 0
        hi = int(ts.searchsorted(int(frames[-1]))) if len(frames) else 0
        return cls(frames=frames, frame_step=frame_step, step=step, arrays=arrays, signal_lo=lo, signal_hi=hi)


def load_market(symbol: str, exchange_name: str, frame_name: str, *, warmup_candles: int = WARMUP_CANDLES,
                client: ExchangeClient | None = None) -> Market:
    """The frame's ticks and the base candles through the exchange (its retries, checks, cache),
    loaded as the per-tick engine's first bulk load does; the tail is loaded by `ensure_horizon`.

    `client`: the run's client of `exchange_name` (`RunState.exchange`), whose candle series
    the market reads and grows, so the run's per-tick code and later variants reuse them;
    None: a client of this market's own."""
    cfg = get_config()
    frames = timeline(frame_name)
    frame_step = interval_ms(registry.frames.get(frame_name, source="kernel").interval, FRAME_INTERVALS, "frame")
    if client is None:
        client = ExchangeClient(registry.exchanges.get(exchange_name, source="kernel"))
    series = client.series(symbol, cfg.base_interval)
    step = series.step
    if not len(frames):
        return Market(frames=frames, frame_step=frame_step, step=step, arrays=CandleArrays.empty(),
                      signal_lo=0, signal_hi=0)
    lo = int(frames[0]) - max(int(cfg.avg_price_candles_count), warmup_candles) * step
    series.ensure(lo, int(frames[-1]) + step)

    def extend(hi: int) -> CandleArrays:
        series.ensure(lo, hi)
        market.bad = np.array(sorted(series.bad), dtype=np.int64)
        return series.arrays

    ts = series.arrays.timestamp
    market = Market(
        frames=frames, frame_step=frame_step, step=step, arrays=series.arrays,
        signal_lo=int(ts.searchsorted(lo)), signal_hi=int(ts.searchsorted(int(frames[-1]))), extend=extend,
        bad=np.array(sorted(series.bad), dtype=np.int64),
    )
    return market


__all__ = ["WARMUP_CANDLES", "KernelConfig", "KernelUnsupported", "Market", "load_market"]
