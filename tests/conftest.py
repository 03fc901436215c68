"""Shared fixtures: every test starts with an empty registry, default config, no listeners."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings as hypothesis_settings

import farm
from farm import config as farm_config
from farm import events

# CI draws the same examples every run (a property test that finds a new case fails a developer's
# run, where it can be looked at, not a submission's); locally every run explores new ones.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
MIN = 60_000

# The reference test-suite's config (SPEC §1.1), with no retry delay.
REFERENCE_TEST_CONFIG = dict(
    percent_slippage=0.1,
    percent_fee=0.1,
    min_takeprofit_distance_percent=0,
    min_stoploss_distance_percent=0,
    max_stoploss_distance_percent=100,
    max_signal_lifetime_minutes=999999,
    get_candles_retry_count=1,
    get_candles_retry_delay_ms=0,
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch) -> Iterator[None]:
    farm.clear_registry()
    farm_config.reset_config()
    events.clear_listeners()
    # A developer's shell settings must not route the tests through a shared cache or store.
    for name in ("FARM_REDIS_URL", "FARM_S3_BUCKET", "FARM_S3_ENDPOINT_URL", "FARM_IMPORTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FARM_DUMP_DIR", str(tmp_path / "dump"))
    monkeypatch.setenv("FARM_DATA_DIR", str(tmp_path / ".farm"))
    yield
    farm.clear_registry()
    farm_config.reset_config()
    events.clear_listeners()


@pytest.fixture
def reference_config() -> None:
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG)


def flat_candles(start: int, count: int, price: float = 100.0, volume: float = 100.0, step: int = MIN) -> pd.DataFrame:
    ts = start + np.arange(count, dtype=np.int64) * step
    return pd.DataFrame(
        {"timestamp": ts, "open": price, "high": price, "low": price, "close": price, "volume": volume}
    )


def set_candle(df: pd.DataFrame, ts: int, **values: float) -> pd.DataFrame:
    """Change one candle (by open time) in place; keeps the table readable in tests."""
    idx = df.index[df["timestamp"] == ts]
    assert len(idx) == 1, f"no candle at {ts}"
    for key, value in values.items():
        df.loc[idx, key] = value
    return df


class TableExchange:
    """A get_candles over a DataFrame (count-based: the first `limit` candles at/after since),
    recording every call so tests can assert what the engine asked for."""

    def __init__(self, df: pd.DataFrame):
        self.df = df.sort_values("timestamp").reset_index(drop=True)
        self.calls: list[tuple[str, str, int, int]] = []

    def __call__(self, symbol: str, interval: str, since: datetime, limit: int) -> pd.DataFrame:
        since_ms = int(since.timestamp() * 1000)
        self.calls.append((symbol, interval, since_ms, limit))
        ts = self.df["timestamp"].to_numpy()
        i = int(np.searchsorted(ts, since_ms))
        return self.df.iloc[i : i + limit]


def register_table(df: pd.DataFrame, name: str = "x") -> TableExchange:
    exchange = TableExchange(df)
    farm.add_exchange(name, exchange)
    return exchange


def run(symbol: str = "A", strategy: str = "s", exchange: str = "x", frame: str = "f") -> list:
    return list(farm.Backtest.run(symbol, strategy_name=strategy, exchange_name=exchange, frame_name=frame))


def signal_every_5(symbol: str, when: datetime) -> dict | None:
    """A long signal (TP 110, SL 90, 3 minutes) on every tick whose minute is a multiple of 5."""
    if when.minute % 5 == 0:
        return {"position": "long", "price_take_profit": 110, "price_stop_loss": 90, "minute_estimated_time": 3}
    return None


def minutes(ms_values: Sequence[int]) -> list[int]:
    """Timestamps as minutes after T0 (readable assertions)."""
    return [(v - T0) // MIN for v in ms_values]


# ---- real services on loopback (Redis, S3 via moto's server) -------------------------------

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis on loopback (CI starts one); tests use db 13 with their own key prefix."""
    import redis

    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/13"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"no Redis answers at {REDIS_HOST}:{REDIS_PORT} ({exc}); .ci/run starts one")
    return url


@pytest.fixture
def redis_prefix(redis_url: str, request) -> Iterator[str]:
    """A key prefix unique to the test; every key under it is deleted afterwards."""
    import uuid

    import redis

    prefix = f"test-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, reached through boto3 over real HTTP."""
    import os
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch) -> str:
    """A fresh bucket per test on the loopback S3 endpoint."""
    import uuid

    import boto3

    monkeypatch.setenv("FARM_S3_ENDPOINT_URL", s3_endpoint)
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return bucket
