"""Exchange client: candle fetch with retry and checks, a cached series per (symbol, interval),
look-ahead-proof windows (D1) and the VWAP "current price" (SPEC §3).

The reference calls the exchange for every window; a backtest here pages the exchange into a
series once and serves windows as numpy views, which is what makes per-tick strategies cheap.
"""

from __future__ import annotations

import logging
import os
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from farm.cache import candle_cache
from farm.config import get_config
from farm.engine import steps
from farm.engine.anomaly import check_candles
from farm.errors import CandleDataError, CandleFetchError, FarmError, NoCandlesError, is_permanent
from farm.intervals import CANDLE_INTERVALS, MINUTE_MS, interval_ms
from farm.models import CANDLE_FIELDS, CandleArrays, Candles
from farm.schemas import ExchangeSchema

if TYPE_CHECKING:
    from farm.cache.cache import CandleCache

log = logging.getLogger("farm.exchange")

MAX_SERIES = 16
"""Candle series kept per exchange client (each symbol × interval is one)."""


def now_ms() -> int:
    return int(time.time() * 1000)


def arrays_from_raw(raw: Any, where: str) -> CandleArrays:
    """Whatever a user's get_candles returned → column arrays (no row is dropped silently).
    The shape is checked the way the built-in sources check theirs (`farm.data.candles.extract`):
    a missing column or a string price is a `PermanentDataError` naming the fix."""
    if isinstance(raw, Candles):
        return CandleArrays(*(getattr(raw, k).copy() for k in CANDLE_FIELDS))
    from farm.data.candles import extract

    cols = extract(raw, where)
    return CandleArrays(*(np.ascontiguousarray(cols[k]) for k in CANDLE_FIELDS))


class CandleSeries:
    """All candles fetched so far for one (exchange, symbol, interval), sorted, with the time
    range `[covered_lo, covered_hi)` known to be complete (gaps inside it are real gaps)."""

    def __init__(self, client: ExchangeClient, symbol: str, interval: str):
        self.client = client
        self.symbol = symbol
        self.interval = interval
        self.step = interval_ms(interval)
        self.arrays = CandleArrays.empty()
        self.covered_lo = 0
        self.covered_hi = 0
        self.prefetch_until = 0
        """A hint from the run: extend forward at least this far when extending at all."""
        self.bad: dict[int, str] = {}
        """Open time → problem, for candles that failed the checks (used only if touched)."""
        self._bad_ts = np.empty(0, dtype=np.int64)
        self._tpv_arr = np.empty(0, dtype=np.float64)
        """`steps.typical_volume` of the candles: the VWAP's terms, computed once per series."""
        self._ts: list[int] = []
        """Open times as a Python list: `bisect` on it is several times cheaper than a scalar
        numpy `searchsorted`, and windows are looked up on every tick."""

    # -- loading ---------------------------------------------------------------------------

    def ensure(self, lo: int, hi: int) -> None:
        """Make `[lo, hi)` covered (clamped to the wall clock: no candle opens in the future)."""
        step = self.step
        lo = lo // step * step
        hi = min(-(-hi // step) * step, now_ms() // step * step + step)
        if self.covered_hi > self.covered_lo and lo >= self.covered_lo and hi <= self.covered_hi:
            return
        if hi <= lo:
            return
        before: list[CandleArrays] = []
        after: list[CandleArrays] = []
        if self.covered_hi <= self.covered_lo:  # nothing yet
            target = max(hi, min(self.prefetch_until, now_ms() // step * step + step))
            after, self.covered_hi = self._page(lo, target)
            self.covered_lo = lo
        else:
            if lo < self.covered_lo:
                before, _ = self._page(lo, self.covered_lo)
                before = [_slice_before(p, self.covered_lo) for p in before]
                self.covered_lo = lo
            if hi > self.covered_hi:
                span = self.covered_hi - self.covered_lo
                target = max(hi, min(self.covered_hi + span, max(hi, self.prefetch_until)))
                target = min(target, now_ms() // step * step + step)
                target = max(target, hi)
                start = self.covered_hi
                after, self.covered_hi = self._page(start, target)
                after = [_slice_from(p, start) for p in after]
        if before or after:
            self._set(_concat([*before, self.arrays, *after]))

    def _page(self, start: int, end: int) -> tuple[list[CandleArrays], int]:
        cache = self.client.cache
        if cache is not None:
            return self._page_cached(cache, start, end)
        return self._page_source(start, end)

    def _page_cached(self, cache: CandleCache, start: int, end: int) -> tuple[list[CandleArrays], int]:
        """Closed UTC days through the shared cache (whole-day chunks, sliced); the day still
        forming straight from the exchange, as without a cache."""
        closed = cache.closed_until(self.step, now_ms())
        pages, problems = cache.read_range(self.client, self.symbol, self.interval, start, min(end, closed))
        if problems:
            self.bad.update(problems)
            self._bad_ts = np.array(sorted(self.bad), dtype=np.int64)
        if end <= closed:
            return pages, end
        cache.note_forming()
        more, hi = self._page_source(max(start, closed), end)
        return pages + more, hi

    def _page_source(self, start: int, end: int) -> tuple[list[CandleArrays], int]:
        cfg = get_config()
        limit = cfg.candle_page_limit
        pages: list[CandleArrays] = []
        since = start
        while since < end:
            page, problems = self.client.fetch_checked(self.symbol, self.interval, since, limit)
            page = _slice_from(page, since)
            if problems:
                self.bad.update(problems)
                self._bad_ts = np.array(sorted(self.bad), dtype=np.int64)
            if len(page) == 0:
                since += limit * self.step
                continue
            pages.append(page)
            since = int(page.timestamp[-1]) + self.step
        return pages, max(since, end)

    def _set(self, arrays: CandleArrays) -> None:
        self.arrays = arrays
        self._tpv_arr = steps.typical_volume(arrays.high, arrays.low, arrays.close, arrays.volume)
        self._ts = arrays.timestamp.tolist()

    # -- reading ---------------------------------------------------------------------------

    def check_clean(self, i0: int, i1: int) -> None:
        """Raise the problem of the first bad candle among `[i0, i1)`, if any."""
        if not len(self._bad_ts) or i1 <= i0:
            return
        ts = self.arrays.timestamp
        k = int(self._bad_ts.searchsorted(ts[i0]))
        if k < len(self._bad_ts) and self._bad_ts[k] <= ts[i1 - 1]:
            raise CandleDataError(self.bad[int(self._bad_ts[k])])

    @property
    def tpv(self) -> np.ndarray:
        """`steps.typical_volume` of the candles (the VWAP's terms), for the compiled steps."""
        return self._tpv_arr

    def hint(self, t: int) -> int:
        """Where a candle opening at `t` would sit without gaps: a start for `steps.seek`."""
        return (t - self._ts[0]) // self.step if self._ts else 0

    def vwap_ending(self, j: int, n: int) -> float:
        """The current price once candle `j` has closed (`steps.vwap_ending`)."""
        a = self.arrays
        if len(self._bad_ts):
            self.check_clean(steps.ending_start(a.timestamp, j, n, self.step), j + 1)
        return steps.vwap_ending(a.timestamp, self._tpv_arr, a.volume, a.close, j, n, self.step)

    def vwaps_ending(self, i0: int, i1: int, n: int) -> np.ndarray:
        """`vwap_ending(j, n)` for every j in `[i0, i1)` (`steps.vwaps_ending`)."""
        a = self.arrays
        if i1 > i0 and len(self._bad_ts):
            self.check_clean(steps.ending_start(a.timestamp, i0, n, self.step), i1)
        return steps.vwaps_ending(a.timestamp, self._tpv_arr, a.volume, a.close, i0, i1, n, self.step)


def _slice_from(arrays: CandleArrays, start: int) -> CandleArrays:
    i = int(arrays.timestamp.searchsorted(start))
    if i == 0:
        return arrays
    return CandleArrays(*(getattr(arrays, k)[i:] for k in CANDLE_FIELDS))


def _slice_before(arrays: CandleArrays, end: int) -> CandleArrays:
    i = int(arrays.timestamp.searchsorted(end))
    if i == len(arrays):
        return arrays
    return CandleArrays(*(getattr(arrays, k)[:i] for k in CANDLE_FIELDS))


def _concat(parts: list[CandleArrays]) -> CandleArrays:
    parts = [p for p in parts if len(p)]
    if not parts:
        return CandleArrays.empty()
    if len(parts) == 1:
        return parts[0]
    out = CandleArrays(*(np.concatenate([getattr(p, k) for p in parts]) for k in CANDLE_FIELDS))
    ts = out.timestamp
    if len(ts) > 1 and (np.diff(ts) <= 0).any():
        raise CandleDataError("candle pages overlap or are out of order; the exchange's get_candles "
                              "must return candles with open time >= since, sorted")
    return out


class ExchangeClient:
    """One per exchange per run: owns the candle series and the retrying fetch."""

    def __init__(self, schema: ExchangeSchema, *, sleep: Callable[[float], None] = time.sleep):
        self.schema = schema
        self.name = schema.exchange_name
        self._series: OrderedDict[tuple[str, str], CandleSeries] = OrderedDict()
        self._sleep = sleep
        self.fetch_calls = 0
        self._cache: CandleCache | None = None
        self._cache_pid = -1
        self._permanent: dict[tuple[str, str], BaseException] = {}
        """(symbol, interval) → the permanent error its source gave (a missing symbol, malformed
        candles): raised again without asking the source, so a job's ticks and a block's jobs
        sharing this client cost one call, not one per tick and per retry."""
        # The built-in sources can hand over column arrays directly (same contract, no DataFrame).
        self._get_arrays: Callable[..., CandleArrays] | None = getattr(schema.get_candles, "get_arrays", None)

    @property
    def cache(self) -> CandleCache | None:
        """The shared candle cache when FARM_REDIS_URL or FARM_S3_BUCKET configure one, else None
        (looked up once per process: a forked worker must not reuse its parent's connections)."""
        pid = os.getpid()
        if self._cache_pid != pid:
            self._cache = candle_cache()
            self._cache_pid = pid
        return self._cache

    def series(self, symbol: str, interval: str) -> CandleSeries:
        """The series of (symbol, interval); the least recently used beyond MAX_SERIES are
        dropped, so a worker sweeping many symbols keeps a bounded memory."""
        key = (symbol, interval)
        s = self._series.get(key)
        if s is not None:
            self._series.move_to_end(key)
        if s is None:
            while len(self._series) >= MAX_SERIES:
                self._series.popitem(last=False)
            if interval not in CANDLE_INTERVALS:
                raise CandleDataError(
                    f"unknown time adjust: interval {interval!r} is not one of {', '.join(CANDLE_INTERVALS)}"
                )
            s = self._series[key] = CandleSeries(self, symbol, interval)
        return s

    def loaded(self, symbol: str, interval: str) -> CandleSeries | None:
        """The series of (symbol, interval) if this client has one (no fetch)."""
        return self._series.get((symbol, interval))

    def fetch(self, symbol: str, interval: str, since_ms: int, limit: int) -> CandleArrays:
        """One request that must be clean (SPEC §3.2): a bad candle raises."""
        arrays, problems = self.fetch_checked(symbol, interval, since_ms, limit)
        if problems:
            raise CandleDataError(next(iter(problems.values())))
        return arrays

    def fetch_checked(self, symbol: str, interval: str, since_ms: int, limit: int) -> tuple[CandleArrays, dict[int, str]]:
        """One request, attempted up to `get_candles_retry_count` times (SPEC §3.2). A page whose
        candles still fail the checks after the last attempt is kept with those candles marked,
        so the failure surfaces exactly where a window or a signal touches them. A permanent
        error (`farm.errors.is_permanent`: a missing symbol, malformed candles) is raised at once,
        never retried, and remembered for (symbol, interval)."""
        known = self._permanent.get((symbol, interval))
        if known is not None:
            raise known
        cfg = get_config()
        attempts = cfg.get_candles_retry_count
        where = f"exchange {self.name} {symbol} {interval}"
        since = datetime.fromtimestamp(since_ms / 1000, tz=UTC)
        last_error: BaseException | None = None
        for attempt in range(attempts):
            try:
                self.fetch_calls += 1
                if self._get_arrays is not None:
                    arrays = self._get_arrays(symbol, interval, since, limit)
                else:
                    arrays = arrays_from_raw(self.schema.get_candles(symbol, interval, since, limit), where)
                problems = check_candles(
                    arrays,
                    factor=cfg.get_candles_price_anomaly_threshold_factor,
                    min_for_median=cfg.get_candles_min_candles_for_median,
                    where=where,
                )
            except Exception as exc:  # noqa: BLE001 - every other failure of user code is retried
                if is_permanent(exc):
                    log.warning("get_candles failed for good (not retried): %s", exc)
                    self._permanent[(symbol, interval)] = exc
                    raise
                last_error = exc
                log.warning("get_candles attempt %d/%d failed: %s", attempt + 1, attempts, exc)
                self._sleep(cfg.get_candles_retry_delay_ms / 1000)
                continue
            if problems:
                log.warning("get_candles attempt %d/%d: %s", attempt + 1, attempts, next(iter(problems.values())))
                self._sleep(cfg.get_candles_retry_delay_ms / 1000)
                if attempt + 1 < attempts:
                    continue
            on_data = self.schema.callbacks.get("on_candle_data")
            if on_data is not None:
                on_data(symbol, interval, since, limit, Candles(arrays))
            return arrays, problems
        if last_error is None:
            raise FarmError(f"{where}: get_candles_retry_count is 0, no attempt was made")
        if isinstance(last_error, FarmError):
            raise last_error
        raise CandleFetchError(f"{where}: get_candles failed after {attempts} attempt(s): {last_error}") from last_error

    # -- what strategies see ---------------------------------------------------------------

    def window(self, symbol: str, interval: str, when: int, limit: int) -> Candles:
        """The `limit` most recent closed candles at `when` (D1): open times in
        `[a − limit·step, a)` with `a = floor(when/step)·step`; fewer where the data has gaps.
        Called on every tick, so the common case is one function with no intermediate calls."""
        if limit.__class__ is not int or limit < 1:
            raise CandleDataError(f"get_candles limit must be a positive integer, got {limit!r}")
        s = self._series.get((symbol, interval)) or self.series(symbol, interval)
        step = s.step
        hi = when // step * step
        lo = hi - limit * step
        if lo < s.covered_lo or hi > s.covered_hi:
            s.ensure(lo, hi)
        ts = s._ts
        i0 = bisect_left(ts, lo)
        i1 = bisect_left(ts, hi, i0)
        if len(s._bad_ts):
            s.check_clean(i0, i1)
        return Candles(s.arrays, i0, i1)

    def average_price(self, symbol: str, when: int) -> float:
        """The current price at `when` (D1, `steps.average_price`): the VWAP of the last N base
        candles closed by then, open times in `[a − N·step, a)` with `a = floor(when/step)·step`
        — off the candle grid the candle still forming at `when` is not one of them."""
        cfg = get_config()
        s = self._series.get((symbol, cfg.base_interval)) or self.series(symbol, cfg.base_interval)
        n = int(cfg.avg_price_candles_count)
        step = s.step
        hi = when // step * step
        lo = hi - n * step
        if lo < s.covered_lo or hi > s.covered_hi:
            s.ensure(lo, hi)
        a = s.arrays
        i0, i1, price = steps.average_price(a.timestamp, s._tpv_arr, a.volume, a.close, when, n, step, s.hint(hi))
        if i1 <= i0:
            raise NoCandlesError(
                f"no candles data for {symbol} on exchange {self.name} in the "
                f"{cfg.avg_price_candles_count} {cfg.base_interval} candles before {_iso(when)}"
            )
        if len(s._bad_ts):
            s.check_clean(i0, i1)
        return price

    def format_price(self, symbol: str, price: float) -> str:
        fn = self.schema.format_price
        return fn(symbol, price) if fn is not None else f"{price:.8f}".rstrip("0").rstrip(".")

    def format_quantity(self, symbol: str, quantity: float) -> str:
        fn = self.schema.format_quantity
        return fn(symbol, quantity) if fn is not None else f"{quantity:.8f}".rstrip("0").rstrip(".")


def _iso(ms: int) -> str:
    from farm.models import iso_ms

    return iso_ms(ms)


__all__ = ["CandleSeries", "ExchangeClient", "MINUTE_MS", "arrays_from_raw", "now_ms"]
