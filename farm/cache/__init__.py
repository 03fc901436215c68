"""The shared candle cache, switched on by settings alone.

With FARM_REDIS_URL and/or FARM_S3_BUCKET set, every exchange's candles of closed UTC days go
through `CandleCache` (in-process LRU → Redis → S3 or files under FARM_DATA_DIR → the exchange);
with neither, `candle_cache()` is None and the engine pages the exchange exactly as before.

Settings (FarmSettings, FARM_CACHE_*):
`cache_ttl_seconds` (604800: a Redis chunk not read for a week expires), `cache_lock_ttl_ms`
(30000: how long a crashed fetcher's lock blocks the others), `cache_lock_wait_seconds` (300:
the longest a caller waits for another's fetch before fetching itself), `cache_lru_candles`
(1000000: decoded candles kept per process), `cache_prefix` (the Redis key prefix; else a
`?prefix=P` on FARM_REDIS_URL, as for `open_store`; else `farm`).

This module imports neither pyarrow nor redis: a run without a cache pays nothing for it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farm.config import FarmSettings, get_settings

if TYPE_CHECKING:
    from farm.cache.cache import CandleCache

CACHE_SETTINGS = ("cache_ttl_seconds", "cache_lock_ttl_ms", "cache_lock_wait_seconds", "cache_lru_candles",
                  "cache_prefix")

_memo: tuple[tuple[Any, ...], CandleCache] | None = None
_memo_lock = threading.Lock()


def cache_key(settings: FarmSettings) -> tuple[Any, ...] | None:
    """What a cache is built from; None when the settings switch the cache off."""
    if not settings.redis_url and not settings.s3_bucket:
        return None
    return (
        os.getpid(), settings.redis_url, settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url,
        str(Path(settings.data_dir).resolve()), settings.broker_url, *(getattr(settings, n) for n in CACHE_SETTINGS),
    )


def _switched_on() -> bool:
    """Whether the environment could switch the cache on (pydantic-settings matches names in any
    case): tells a run without a cache so in microseconds instead of parsing every setting."""
    return any(v and k.upper() in ("FARM_REDIS_URL", "FARM_S3_BUCKET") for k, v in os.environ.items())


def candle_cache(settings: FarmSettings | None = None) -> CandleCache | None:
    """The process's cache for the current settings (built once per settings and per process:
    a forked worker gets its own connections, locks and counters), or None when it is off."""
    global _memo
    if settings is None:
        if not _switched_on():
            return None
        settings = get_settings()
    key = cache_key(settings)
    if key is None:
        return None
    with _memo_lock:
        if _memo is not None and _memo[0] == key:
            return _memo[1]
        cache = build_cache(settings)
        _memo = (key, cache)
        return cache


def build_cache(settings: FarmSettings) -> CandleCache:
    from farm.cache.cache import CandleCache
    from farm.cache.layers import RedisLayer, StoreLayer
    from farm.persist import open_store

    if settings.s3_bucket:
        store = open_store(f"s3://{settings.s3_bucket}/{settings.s3_prefix}")
    else:
        store = open_store(f"file://{Path(settings.data_dir).resolve() / 'cache'}")
    redis = None
    if settings.redis_url:
        redis = RedisLayer(settings.redis_url, ttl_seconds=settings.cache_ttl_seconds,
                           broker_url=settings.broker_url, prefix=settings.cache_prefix)
    return CandleCache(
        store=StoreLayer(store), redis=redis, lru_candles=settings.cache_lru_candles,
        lock_ttl_ms=settings.cache_lock_ttl_ms,
        lock_wait_seconds=settings.cache_lock_wait_seconds,
    )


def cache_stats() -> dict[str, int]:
    """This process's cache counters: chunks served per layer (`lru`, `redis`, `store`), chunks
    filled from the exchange (`source`) and the get_candles requests that took
    (`source_requests`), plus `waited`, `corrupt`, `redis_errors` and `forming`."""
    from farm.cache.stats import STATS

    return STATS.snapshot()


def reset_cache() -> None:
    """Forget the process's cache object and counters (tests; settings changes are seen anyway)."""
    global _memo
    from farm.cache.stats import STATS

    with _memo_lock:
        _memo = None
    STATS.reset()


__all__ = ["cache_stats", "candle_cache", "reset_cache"]
