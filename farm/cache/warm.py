"""Pre-filling the cache (`farm cache warm`) and reporting on it (`farm cache stats`).

Warming is the same read-through as a backtest's, day by day: a chunk already cached costs one
Redis read, a missing one is fetched once farm-wide (the locks apply to warmers too), so warming
while workers run, or from several machines at once, is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from farm import registry
from farm.cache import candle_cache
from farm.cache.cache import CandleCache
from farm.cache.chunks import DAY_MS, closed_until, day_name, day_start
from farm.cache.stats import STATS
from farm.errors import ConfigError, SchemaError
from farm.intervals import CANDLE_INTERVALS, interval_ms
from farm.models import datetime_to_ms
from farm.redact import mask_text

BATCH_DAYS = 31
"""Days asked for together: one Redis round trip (or one parallel round of S3 reads) finds
which of them are already cached; small enough for a lively progress bar."""


@dataclass
class WarmReport:
    chunks: int = 0
    candles: int = 0
    skipped_forming: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


def require_cache() -> CandleCache:
    cache = candle_cache()
    if cache is None:
        raise ConfigError("the candle cache is off: set FARM_REDIS_URL and/or FARM_S3_BUCKET")
    return cache


def parse_day(value: str | datetime | int, what: str) -> int:
    try:
        return day_start(datetime_to_ms(value))
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"{what} {value!r} is not a date (use YYYY-MM-DD): {exc}") from None


@dataclass
class WarmPlan:
    cache: CandleCache
    client: Any
    symbols: list[str]
    interval: str
    days: list[int]
    skipped_forming: list[str]

    @property
    def total(self) -> int:
        return len(self.days) * len(self.symbols)


def plan(exchange_name: str, symbols: list[str], interval: str, start: str | datetime | int,
         end: str | datetime | int, *, now: int | None = None) -> WarmPlan:
    """Check every input (before anything is drawn or fetched) and list the closed days."""
    from farm.engine.exchange import ExchangeClient, now_ms

    if interval not in CANDLE_INTERVALS:
        raise SchemaError(f"unknown candle interval {interval!r}; expected one of {', '.join(CANDLE_INTERVALS)}")
    if not symbols:
        raise SchemaError("no symbols given")
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    if last < first:
        raise SchemaError(f"--to {day_name(last)} is before --from {day_name(first)}")
    schema = registry.exchanges.get(exchange_name, source="cache warm")
    cache = require_cache()
    closed = closed_until(interval_ms(interval), now_ms() if now is None else now)
    every = range(first, last + DAY_MS, DAY_MS)
    return WarmPlan(cache, ExchangeClient(schema), list(symbols), interval,
                    [d for d in every if d + DAY_MS <= closed],
                    [day_name(d) for d in every if d + DAY_MS > closed])


def run(p: WarmPlan, on_progress: Callable[[int, int], Any] | None = None) -> WarmReport:
    """Fill the planned chunks; `on_progress(done, total)` after each batch of days."""
    report = WarmReport(skipped_forming=p.skipped_forming)
    before = STATS.snapshot()
    done = 0
    if on_progress:
        on_progress(0, p.total)
    for symbol in p.symbols:
        for i in range(0, len(p.days), BATCH_DAYS):
            batch = p.days[i : i + BATCH_DAYS]
            for chunk in p.cache.chunks(p.client, symbol, p.interval, batch):
                report.chunks += 1
                report.candles += len(chunk)
            done += len(batch)
            if on_progress:
                on_progress(done, p.total)
    after = STATS.snapshot()
    report.stats = {k: after[k] - before[k] for k in after}
    if p.cache.redis is not None:
        p.cache.redis.flush_stats()
    return report


def warm(exchange_name: str, symbols: list[str], interval: str, start: str | datetime | int,
         end: str | datetime | int, *, on_progress: Callable[[int, int], Any] | None = None,
         now: int | None = None) -> WarmReport:
    """Fill the cache with the days `start`..`end` (inclusive, UTC) of each symbol; days not yet
    closed are skipped (they are never cached)."""
    return run(plan(exchange_name, symbols, interval, start, end, now=now), on_progress)


def usage() -> dict[str, Any]:
    """What the cache holds: its layers and, with Redis, the chunk keys and their memory."""
    cache = require_cache()
    out: dict[str, Any] = {"layers": cache.describe()}
    if cache.redis is not None:
        cache.redis.flush_stats()
        import redis as redis_lib

        try:
            out.update(cache.redis.usage())
        except redis_lib.RedisError as exc:
            out["redis_error"] = mask_text(str(exc))
    return out
