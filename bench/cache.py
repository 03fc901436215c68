"""The candle cache, measured in one run on this machine (issue #5 targets):

1. source calls per chunk when N worker processes miss the same chunks at once (target: exactly 1);
2. read throughput of 1M 1m candles (695 day chunks) through the cache from Redis and from the
   Arrow chunk files of the cold store, LRU off, decoded and concatenated as the engine gets them
   (target: >= 5M candles/s each);
3. Redis memory per million candles, the MEMORY USAGE of the chunk keys (target: <= 30 MB).

Candles are synthetic 1m candles (a pair trading around 2,000) on an exchange's grid: prices to
the cent, volumes to 1e-4, as exchanges publish them. Full-precision random floats are measured
too, for comparison: their low mantissa bits are incompressible noise, which real quotes are not.

Needs a Redis on 127.0.0.1:6379; uses db 11 under a fresh key prefix and deletes only that.

    python bench/cache.py [--workers 16] [--days 695]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/cache.py`, this directory comes first on sys.path, where bench/farm.py
# would shadow the `farm` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import redis  # noqa: E402

REDIS = "redis://127.0.0.1:6379/11"
DAY_MS = 86_400_000
START = 1_640_995_200_000  # 2022-01-01T00:00:00Z


class GridSource:
    """Synthetic 1m candles, optionally rounded to a price grid; counts its calls in Redis."""

    def __init__(self, calls_key: str, *, grid: bool = True, pause: float = 0.0):
        from farm.data.sources import SyntheticSource

        self.synthetic = SyntheticSource(seed=11, volatility=0.001)
        self.calls_key, self.grid, self.pause = calls_key, grid, pause

    def get_arrays(self, symbol: str, interval: str, since: Any, limit: int) -> Any:
        from farm.models import CandleArrays

        redis.Redis.from_url(REDIS).incr(self.calls_key)
        if self.pause:
            time.sleep(self.pause)
        a = self.synthetic.get_arrays(symbol, interval, since, limit)
        if not self.grid:
            return a
        prices = [np.round(getattr(a, k), 2) for k in ("open", "high", "low", "close")]
        return CandleArrays(a.timestamp.copy(), *prices, np.round(a.volume, 4))

    def __call__(self, symbol: str, interval: str, since: Any, limit: int) -> Any:
        from farm.data.candles import arrays_to_frame

        return arrays_to_frame(self.get_arrays(symbol, interval, since, limit))


def make_cache(prefix: str, root: str, *, use_redis: bool = True, lru: int = 0) -> Any:
    from farm.cache.cache import CandleCache
    from farm.cache.layers import RedisLayer, StoreLayer
    from farm.persist import open_store

    layer = RedisLayer(f"{REDIS}?prefix={prefix}", ttl_seconds=3600) if use_redis else None
    return CandleCache(store=StoreLayer(open_store(f"file://{root}")), redis=layer, lru_candles=lru)


def client_for(source: GridSource) -> Any:
    from farm.engine.exchange import ExchangeClient
    from farm.schemas import ExchangeSchema

    return ExchangeClient(ExchangeSchema(exchange_name="bench", get_candles=source))


def _worker(prefix: str, root: str, calls_key: str, days: list[int], barrier: Any) -> None:
    cache = make_cache(prefix, root)
    source = GridSource(calls_key, pause=0.05)  # an exchange answering in 50 ms
    barrier.wait()
    cache.chunks(client_for(source), "SF", "1m", days)


def single_flight(prefix: str, root: str, workers: int, n_days: int) -> tuple[int, int]:
    calls_key = f"{prefix}:bench/calls-sf"
    days = [START + i * DAY_MS for i in range(n_days)]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=_worker, args=(prefix, root, calls_key, days, barrier)) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"a worker failed (exit {p.exitcode})")
    return int(redis.Redis.from_url(REDIS).get(calls_key) or 0), n_days


def fill(prefix: str, root: str, symbol: str, days: list[int], grid: bool) -> int:
    cache = make_cache(prefix, root)
    client = client_for(GridSource(f"{prefix}:bench/calls-fill", grid=grid))
    n = 0
    for i in range(0, len(days), 30):
        n += sum(len(c) for c in cache.chunks(client, symbol, "1m", days[i : i + 30]))
    return n


def read_rate(prefix: str, root: str, symbol: str, days: list[int], *, use_redis: bool,
              repeat: int = 5) -> tuple[float, float]:
    """Candles/s of `read_range` (checked, decompressed, decoded day arrays: what the engine
    receives) and of the same plus one contiguous copy; best of `repeat`, a cold LRU each time."""
    from farm.cache.chunks import concat

    client = client_for(GridSource(f"{prefix}:bench/calls-read"))
    best = best_joined = float("inf")
    n = 0
    for _ in range(repeat):
        cache = make_cache(prefix, root, use_redis=use_redis)  # LRU off: every chunk is read and decoded
        started = time.perf_counter()
        pages, _ = cache.read_range(client, symbol, "1m", days[0], days[-1] + DAY_MS)
        read = time.perf_counter() - started
        n = len(concat(pages))
        best, best_joined = min(best, read), min(best_joined, time.perf_counter() - started)
    if int(redis.Redis.from_url(REDIS).get(f"{prefix}:bench/calls-read") or 0):
        raise SystemExit("a read went to the source: the cache was not warm")
    return n / best, n / best_joined


def memory_per_million(prefix: str, symbol: str, candles: int) -> float:
    r = redis.Redis.from_url(REDIS)
    keys = list(r.scan_iter(match=f"{prefix}:candles/bench/{symbol}/*", count=1000))
    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.memory_usage(k, samples=0)
    return sum(pipe.execute()) / candles * 1e6 / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=16, help="concurrent worker processes (single flight)")
    parser.add_argument("--days", type=int, default=695, help="day chunks read (695 x 1440 = 1,000,800 candles)")
    args = parser.parse_args()

    import farm

    farm.set_config(get_candles_retry_count=1, get_candles_retry_delay_ms=0, candle_page_limit=1440)
    prefix = f"bench-cache-{uuid.uuid4().hex[:8]}"
    r = redis.Redis.from_url(REDIS)
    days = [START + i * DAY_MS for i in range(args.days)]
    try:
        with tempfile.TemporaryDirectory() as root:
            calls, chunks = single_flight(prefix, root, args.workers, 10)
            print(f"single flight: {args.workers} processes missing the same {chunks} chunks at once -> "
                  f"{calls} source calls, {calls / chunks:.2f} per chunk (target exactly 1): "
                  f"{'met' if calls == chunks else 'NOT met'}")
            started = time.perf_counter()
            candles = fill(prefix, root, "GRID", days, grid=True)
            fill_s = time.perf_counter() - started
            print(f"filled {candles:,} candles ({args.days} day chunks) from the source in {fill_s:.1f} s")
            redis_rate, redis_joined = read_rate(prefix, root, "GRID", days, use_redis=True)
            file_rate, file_joined = read_rate(prefix, root, "GRID", days, use_redis=False)
            print(f"read {candles:,} candles through the cache, LRU off, best of 5: Redis {redis_rate / 1e6:.1f}M "
                  f"candles/s, Arrow chunk files {file_rate / 1e6:.1f}M candles/s (target >= 5M each): "
                  f"{'met' if min(redis_rate, file_rate) >= 5e6 else 'NOT met'}")
            print(f"  plus one contiguous copy of the arrays: Redis {redis_joined / 1e6:.1f}M/s, "
                  f"files {file_joined / 1e6:.1f}M/s")
            mb = memory_per_million(prefix, "GRID", candles)
            print(f"Redis memory (MEMORY USAGE of the chunk keys): {mb:.1f} MB per million candles "
                  f"(target <= 30 MB): {'met' if mb <= 30 else 'NOT met'}")
            raw = fill(prefix, root, "NOISE", days[:60], grid=False)
            print(f"  for comparison, full-precision random floats: "
                  f"{memory_per_million(prefix, 'NOISE', raw):.1f} MB per million candles (48 MB uncompressed)")
    finally:
        for k in r.scan_iter(match=f"{prefix}:*", count=1000):
            r.delete(k)


if __name__ == "__main__":
    main()
