"""When a layer fails: Redis down degrades with one warning, the cold store on S3 works through
boto3 against moto on loopback, and S3 errors end in one clear error after bounded retries."""

from __future__ import annotations

import logging
import time

import boto3
import pytest

import farm
from farm.cache import cache_stats, reset_cache
from farm.cache.chunks import DAY_MS
from farm.persist import StoreError
from tests.cache.conftest import DAY0, CountingSource


def setup_backtest(source: CountingSource) -> None:
    import strategies.sma_cross as sma

    farm.clear_registry()
    farm.add_exchange("x", source)
    farm.add_frame("f", "1m", "2024-01-02", "2024-01-04")
    farm.add_strategy("sma", "5m", sma.get_signal,
                      params={"fast": 10, "slow": 30, "tp_pct": 1.0, "sl_pct": 0.5, "lifetime": 240})


def run() -> list[dict]:
    return [r.model_dump() for r in farm.Backtest.run("BTC", strategy_name="sma", exchange_name="x", frame_name="f")]


def baseline(source: CountingSource, monkeypatch) -> list[dict]:
    with monkeypatch.context() as m:
        m.delenv("FARM_REDIS_URL", raising=False)
        m.delenv("FARM_S3_BUCKET", raising=False)
        setup_backtest(source)
        return run()


def test_redis_unavailable_warns_once_and_the_run_completes(source, monkeypatch, caplog, tmp_path):
    expected = baseline(source, monkeypatch)
    monkeypatch.setenv("FARM_REDIS_URL", "redis://127.0.0.1:1/0")
    setup_backtest(source)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="farm.cache"):
        assert run() == expected
    assert time.monotonic() - started < 20
    warnings = [r for r in caplog.records if r.name == "farm.cache"]
    assert len(warnings) == 1 and "Redis at redis://127.0.0.1:1/0 is unavailable" in warnings[0].getMessage()
    assert cache_stats()["redis_errors"] >= 1 and cache_stats()["source"] > 0
    # The cold store (files under FARM_DATA_DIR) still got the chunks: the next run reads them.
    assert list((tmp_path / ".farm" / "cache" / "candles" / "x").rglob("*.arrow"))
    reset_cache()
    setup_backtest(source)
    assert run() == expected
    assert cache_stats()["source"] == 0 and cache_stats()["store"] > 0


def test_s3_cold_store_round_trip(s3_bucket, s3_endpoint, source, monkeypatch):
    expected = baseline(source, monkeypatch)
    monkeypatch.setenv("FARM_S3_BUCKET", s3_bucket)
    monkeypatch.setenv("FARM_S3_PREFIX", "farm")
    monkeypatch.delenv("FARM_REDIS_URL", raising=False)
    setup_backtest(source)
    assert run() == expected
    listed = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=s3_bucket, Prefix="farm/candles/x/")
    names = sorted(o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", []))
    assert "2024-01-02.arrow" in names and all(n.endswith(".arrow") for n in names)
    reset_cache()
    source.client.delete(source.calls_key)
    setup_backtest(source)
    assert run() == expected
    assert source.total() == 0 and cache_stats()["store"] == len(names)


def test_a_missing_bucket_is_a_clear_error(s3_endpoint, source, monkeypatch):
    monkeypatch.setenv("FARM_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("FARM_S3_BUCKET", "no-such-bucket-here")
    monkeypatch.delenv("FARM_REDIS_URL", raising=False)
    setup_backtest(source)
    with pytest.raises(StoreError, match=r"candle cache: s3://no-such-bucket-here/.*cannot read 'candles/x/BTC/"
                                         r"1m/.*NoSuchBucket"):
        run()


def test_an_unreachable_s3_endpoint_fails_after_bounded_retries(source, monkeypatch):
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("FARM_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("FARM_S3_BUCKET", "farm")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("FARM_REDIS_URL", raising=False)
    c = farm.engine.exchange.ExchangeClient(farm.schemas.ExchangeSchema(exchange_name="x", get_candles=source))
    started = time.monotonic()
    with pytest.raises(StoreError, match=rf"candle cache: s3://farm/ \(endpoint http://127.0.0.1:{port}\): "
                                         r"cannot read .*Could not connect"):
        c.cache.chunks(c, "A", "1m", [DAY0 + DAY_MS])
    assert time.monotonic() - started < 60
    assert source.total() == 0  # the store is read before the exchange is asked


def test_redis_failing_mid_run_degrades_to_the_cold_store(redis_url, redis_prefix, source, monkeypatch, caplog):
    import redis as redis_lib

    from farm.engine.exchange import ExchangeClient
    from farm.schemas import ExchangeSchema

    monkeypatch.setenv("FARM_REDIS_URL", f"{redis_url}?prefix={redis_prefix}")
    c = ExchangeClient(ExchangeSchema(exchange_name="x", get_candles=source))
    days = [DAY0 + i * DAY_MS for i in range(3)]
    expected = c.cache.chunks(c, "A", "5m", days)
    reset_cache()
    c = ExchangeClient(ExchangeSchema(exchange_name="x", get_candles=source))
    cache = c.cache

    def down(*args, **kwargs):
        raise redis_lib.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(cache.redis.client, "pipeline", down)
    monkeypatch.setattr(cache.redis.client, "set", down)
    with caplog.at_level(logging.WARNING, logger="farm.cache"):
        got = cache.chunks(c, "A", "5m", days + [DAY0 + 3 * DAY_MS])
    assert [g.arrays.timestamp.tolist() for g in got[:3]] == [e.arrays.timestamp.tolist() for e in expected]
    stats = cache_stats()
    assert stats["store"] == 3 and stats["source"] == 1 and stats["redis_errors"] >= 1
    assert len([r for r in caplog.records if r.name == "farm.cache"]) == 1


def test_redis_and_s3_together(redis_url, redis_prefix, s3_bucket, s3_endpoint, source, monkeypatch):
    import redis as redis_lib

    from farm.engine.exchange import ExchangeClient
    from farm.schemas import ExchangeSchema

    monkeypatch.setenv("FARM_REDIS_URL", f"{redis_url}?prefix={redis_prefix}")
    monkeypatch.setenv("FARM_S3_BUCKET", s3_bucket)
    c = ExchangeClient(ExchangeSchema(exchange_name="x", get_candles=source))
    assert "redis" in c.cache.describe() and f"s3://{s3_bucket}/" in c.cache.describe()
    c.cache.chunks(c, "A", "5m", [DAY0, DAY0 + DAY_MS])
    listed = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=s3_bucket, Prefix="candles/x/A/5m/")
    assert [o["Key"] for o in listed["Contents"]] == ["candles/x/A/5m/2024-01-01.arrow", "candles/x/A/5m/2024-01-02.arrow"]
    r = redis_lib.Redis.from_url(redis_url)
    assert len(list(r.scan_iter(match=f"{redis_prefix}:candles/x/A/5m/*"))) == 2
