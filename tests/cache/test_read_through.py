"""Read-through by day: byte-equal to the source, layer by layer, flags kept, damage repaired,
the forming day never frozen — all against a real Redis and real files (S3 has its own module)."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
import redis

import farm
from farm.cache import cache_stats, candle_cache, reset_cache
from farm.cache.chunks import DAY_MS, concat, day_name
from farm.engine import exchange as exchange_mod
from farm.engine.exchange import ExchangeClient
from farm.errors import CandleDataError
from farm.persist import keys
from farm.schemas import ExchangeSchema
from tests.cache.conftest import DAY0, CountingSource, same_bytes

MIN = 60_000


def client(source: CountingSource, name: str = "x") -> ExchangeClient:
    return ExchangeClient(ExchangeSchema(exchange_name=name, get_candles=source))


def chunk_keys(r: redis.Redis, prefix: str) -> list[str]:
    return sorted(k.decode() for k in r.scan_iter(match=f"{prefix}:candles/*"))


def test_cached_candles_are_byte_equal_to_the_source(cache_env, redis_url, source):
    source.empty_days = {DAY0 + 2 * DAY_MS}
    c = client(source)
    cache = c.cache
    assert cache is not None
    start, end = DAY0 + 17 * MIN, DAY0 + 4 * DAY_MS - 5 * MIN
    pages, problems = cache.read_range(c, "BTC/USDT", "1m", start, end)
    got = concat(pages)
    expected = concat([source.arrays("BTC/USDT", "1m", d, 1440) for d in range(DAY0, DAY0 + 4 * DAY_MS, DAY_MS)])
    keep = (expected.timestamp >= start) & (expected.timestamp < end)
    assert same_bytes(got, type(got)(*(getattr(expected, k)[keep] for k in ("timestamp", "open", "high", "low",
                                                                              "close", "volume"))))
    assert problems == {}
    # Read back from Redis by a fresh process-level cache: still byte-equal.
    reset_cache()
    pages2, _ = client(source).cache.read_range(c, "BTC/USDT", "1m", start, end)
    assert same_bytes(concat(pages2), got)
    assert cache_stats()["redis"] == 4 and cache_stats()["source"] == 0


def test_layers_in_order_lru_redis_store_source(cache_env, redis_url, source):
    r = redis.Redis.from_url(redis_url)
    days = [DAY0, DAY0 + DAY_MS]
    c = client(source)
    cache = c.cache
    cache.chunks(c, "ETH", "5m", days)
    assert cache_stats()["source"] == 2 and source.total() == 2  # 288 candles a day: one request each
    cache.chunks(c, "ETH", "5m", days)
    assert cache_stats()["lru"] == 2
    reset_cache()
    client(source).cache.chunks(c, "ETH", "5m", days)
    assert cache_stats()["redis"] == 2
    for k in chunk_keys(r, cache_env):
        assert 0 < r.ttl(k) <= 604_800  # every cache key expires: nothing for an eviction to fight over
        r.delete(k)
    reset_cache()
    cache = client(source).cache
    cache.chunks(c, "ETH", "5m", days)
    assert cache_stats()["store"] == 2 and source.total() == 2
    assert len(chunk_keys(r, cache_env)) == 2  # promoted back to Redis
    assert not list(r.scan_iter(match=f"{cache_env}:locks/*"))  # every lock released


def test_a_backtest_through_the_cache_gives_the_same_trades_and_a_rerun_calls_no_source(
        cache_env, source, monkeypatch):
    import strategies.sma_cross as sma

    def setup() -> None:
        farm.clear_registry()
        farm.add_exchange("x", source)
        farm.add_frame("f", "1m", "2024-01-02", "2024-01-06")
        farm.add_strategy("sma", "5m", sma.get_signal,
                          params={"fast": 10, "slow": 30, "tp_pct": 1.0, "sl_pct": 0.5, "lifetime": 240})

    def run() -> list[dict]:
        return [r.model_dump() for r in farm.Backtest.run("BTC", strategy_name="sma", exchange_name="x",
                                                           frame_name="f")]

    monkeypatch.delenv("FARM_REDIS_URL")
    setup()
    plain = run()
    assert plain and source.total() > 0
    source.client.delete(source.calls_key)
    monkeypatch.setenv("FARM_REDIS_URL", f"{source.redis_url}?prefix={cache_env}")
    setup()
    assert run() == plain
    assert cache_stats()["source"] > 0
    reset_cache()
    source.client.delete(source.calls_key)
    setup()
    assert run() == plain
    assert source.total() == 0 and cache_stats()["source"] == 0 and cache_stats()["redis"] > 0


def test_flagged_candles_keep_their_flags_through_the_cache(cache_env, source):
    bad = DAY0 + DAY_MS + 600 * MIN
    source.spoil = {bad: {"low": 0.0}, bad + 5 * MIN: {"volume": np.nan}}
    c = client(source)
    _, problems = c.cache.read_range(c, "A", "1m", DAY0, DAY0 + 2 * DAY_MS)
    assert set(problems) == {bad, bad + 5 * MIN}
    reset_cache()
    fresh = client(source)  # served from Redis: the flags come from the chunk's metadata
    with pytest.raises(CandleDataError, match="zero or negative"):
        fresh.window("A", "1m", bad + 3 * MIN, 10)
    with pytest.raises(CandleDataError, match="invalid numeric"):
        fresh.window("A", "1m", bad + 8 * MIN, 3)
    assert len(fresh.window("A", "1m", bad, 10)) == 10  # windows not touching them are fine
    assert cache_stats()["source"] == 0
    chunk = fresh.cache.chunks(fresh, "A", "1m", [DAY0 + DAY_MS])[0]
    assert np.isnan(chunk.arrays.volume[605]) and chunk.arrays.low[600] == 0.0


def test_a_corrupted_chunk_in_redis_is_dropped_and_refetched(cache_env, redis_url, source, caplog):
    r = redis.Redis.from_url(redis_url)
    c = client(source)
    expected = c.cache.chunks(c, "A", "5m", [DAY0])[0]
    key = f"{cache_env}:{keys.candle_chunk('x', 'A', '5m', day_name(DAY0))}"
    good = r.get(key)
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    r.set(key, bytes(damaged))
    reset_cache()
    with caplog.at_level(logging.WARNING, logger="farm.cache"):
        got = client(source).cache.chunks(c, "A", "5m", [DAY0])[0]
    assert same_bytes(got.arrays, expected.arrays)
    assert cache_stats()["corrupt"] == 1 and cache_stats()["store"] == 1  # refilled from the cold store
    assert "checksum mismatch" in caplog.text
    assert r.get(key) == good


def test_a_chunk_corrupted_everywhere_is_fetched_from_the_source_again(cache_env, redis_url, source, tmp_path):
    r = redis.Redis.from_url(redis_url)
    c = client(source)
    expected = c.cache.chunks(c, "A", "5m", [DAY0])[0]
    ckey = keys.candle_chunk("x", "A", "5m", day_name(DAY0))
    r.set(f"{cache_env}:{ckey}", b"garbage")
    (tmp_path / ".farm" / "cache" / ckey).write_bytes(b"FCK1" + b"\0" * 40)
    reset_cache()
    got = client(source).cache.chunks(c, "A", "5m", [DAY0])[0]
    assert same_bytes(got.arrays, expected.arrays)
    assert cache_stats()["corrupt"] == 2 and cache_stats()["source"] == 1 and source.total() == 2


def test_the_forming_day_is_never_cached(cache_env, redis_url, source, monkeypatch, tmp_path):
    r = redis.Redis.from_url(redis_url)
    now = DAY0 + 3 * DAY_MS + 12 * 60 * MIN  # 2024-01-04 12:00
    monkeypatch.setattr(exchange_mod, "now_ms", lambda: now)
    c = client(source)
    s = c.series("A", "1m")
    s.ensure(DAY0 + DAY_MS, now)
    assert s.covered_hi >= now and now - MIN in s.arrays.timestamp.tolist()
    cached = {k.rsplit("/", 1)[1] for k in chunk_keys(r, cache_env)}
    assert cached == {"2024-01-02.arrow", "2024-01-03.arrow"}
    assert not (tmp_path / ".farm" / "cache" / keys.candle_chunk("x", "A", "1m", "2024-01-04")).exists()
    assert cache_stats()["forming"] == 1
    # A fresh run asks the source for the forming day again, and only for it.
    reset_cache()
    source.client.delete(source.calls_key)
    client(source).series("A", "1m").ensure(DAY0 + DAY_MS, now)
    assert set(source.calls()) == {"2024-01-04"}


def test_just_after_midnight_yesterday_is_still_forming(cache_env, redis_url, source, monkeypatch):
    r = redis.Redis.from_url(redis_url)
    now = DAY0 + DAY_MS + 30_000  # 00:00:30: the last 1m candle of yesterday may not be final yet
    monkeypatch.setattr(exchange_mod, "now_ms", lambda: now)
    client(source).series("A", "1m").ensure(DAY0, DAY0 + DAY_MS)
    assert chunk_keys(r, cache_env) == []


def test_threads_of_one_process_fetch_a_chunk_once_without_redis(s3_bucket, source, monkeypatch):
    monkeypatch.delenv("FARM_REDIS_URL", raising=False)
    monkeypatch.setenv("FARM_S3_BUCKET", s3_bucket)
    source.pause = 0.3
    c = client(source)
    cache = c.cache
    assert cache is not None and cache.redis is None
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.chunks(c, "A", "5m", [DAY0])[0]))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert source.calls() == {"2024-01-01": 1}
    assert all(same_bytes(x.arrays, results[0].arrays) for x in results)


def test_neither_setting_means_no_cache_at_all(monkeypatch, source):
    monkeypatch.delenv("FARM_REDIS_URL", raising=False)
    monkeypatch.delenv("FARM_S3_BUCKET", raising=False)
    assert candle_cache() is None
    c = client(source)
    assert c.cache is None
    c.series("A", "1m").ensure(DAY0, DAY0 + DAY_MS)
    assert all(v == 0 for v in farm.cache_stats().values())


def test_asking_the_cache_itself_for_a_forming_day_is_refused(cache_env, source):
    import time

    c = client(source)
    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    with pytest.raises(ValueError, match="not closed yet"):
        c.cache.chunks(c, "A", "1m", [today])
    assert source.total() == 0
