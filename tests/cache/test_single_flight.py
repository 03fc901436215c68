"""Single flight across processes (fork): one source call per chunk however many workers miss it
at once, and a holder killed mid-fetch blocks the others only until its lock expires."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import time
from typing import Any

import redis

from farm.cache.chunks import DAY_MS, day_name
from farm.engine.exchange import ExchangeClient
from farm.models import CANDLE_FIELDS
from farm.persist import keys
from farm.schemas import ExchangeSchema
from tests.cache.conftest import DAY0, CountingSource

CTX = multiprocessing.get_context("fork")


def digest(chunks: list[Any]) -> str:
    h = hashlib.blake2b()
    for c in chunks:
        for k in CANDLE_FIELDS:
            h.update(getattr(c.arrays, k).tobytes())
    return h.hexdigest()


def fetch(source: CountingSource, days: list[int], barrier: Any, out: Any, lock_ttl_ms: int | None = None) -> None:
    """A worker process: its own cache (built from the inherited settings), then one request."""
    client = ExchangeClient(ExchangeSchema(exchange_name="x", get_candles=source))
    cache = client.cache
    assert cache is not None and cache.redis is not None
    if lock_ttl_ms is not None:
        cache.lock_ttl_ms = lock_ttl_ms
    if barrier is not None:
        barrier.wait(timeout=30)
    out.put(digest(cache.chunks(client, "A", "5m", days)))


def test_16_processes_missing_the_same_chunks_call_the_source_once_per_chunk(cache_env, redis_url, source):
    source.pause = 0.2  # a slow exchange: everybody misses while the first fetch is in flight
    days = [DAY0 + i * DAY_MS for i in range(4)]
    barrier, out = CTX.Barrier(16), CTX.Queue()
    procs = [CTX.Process(target=fetch, args=(source, days, barrier, out)) for _ in range(16)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert source.calls() == {day_name(d): 1 for d in days}
    assert len(set(results)) == 1
    r = redis.Redis.from_url(redis_url)
    assert not list(r.scan_iter(match=f"{cache_env}:locks/*"))


def hold(source: CountingSource, out: Any) -> None:
    fetch(source, [DAY0], None, out, lock_ttl_ms=1000)


def test_a_lock_holder_killed_mid_fetch_is_taken_over_after_the_lock_ttl(cache_env, redis_url, source):
    r = redis.Redis.from_url(redis_url)
    lock = f"{cache_env}:locks/{keys.candle_chunk('x', 'A', '5m', day_name(DAY0))}"
    slow = CountingSource(redis_url, cache_env, pause=120)  # the holder never returns on its own
    out = CTX.Queue()
    holder = CTX.Process(target=hold, args=(slow, out))
    holder.start()
    deadline = time.monotonic() + 20
    while source.total() == 0:  # the holder is inside the exchange call, holding the lock
        assert time.monotonic() < deadline, "the holder never reached the source"
        time.sleep(0.02)
    assert r.exists(lock)
    waiter = CTX.Process(target=fetch, args=(source, [DAY0], None, out))
    waiter.start()
    time.sleep(1.5)  # longer than the lock TTL: the holder's renewals keep it
    assert waiter.is_alive() and r.exists(lock)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    killed_at = time.monotonic()
    waiter.join(timeout=20)
    assert waiter.exitcode == 0
    assert time.monotonic() - killed_at < 5
    assert out.get(timeout=5)
    assert source.calls() == {"2024-01-01": 2}  # the killed holder's call and the waiter's
    assert r.get(f"{cache_env}:{keys.candle_chunk('x', 'A', '5m', day_name(DAY0))}") is not None
    assert not r.exists(lock)
