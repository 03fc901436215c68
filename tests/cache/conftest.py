"""Fixtures of the candle-cache tests: a source that counts its calls where every process can
see them (a Redis hash, not memory), and the cache switched on through settings only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import redis

import farm
from farm.cache import reset_cache
from farm.cache.chunks import DAY_MS, day_name
from farm.data.sources import SyntheticSource
from farm.models import CANDLE_FIELDS, CandleArrays, datetime_to_ms

DAY0 = datetime_to_ms("2024-01-01")


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch) -> Iterator[None]:
    """No cache object or counters survive a test, and none comes from the developer's shell;
    one attempt, no retry delay."""
    for name in ("FARM_REDIS_URL", "FARM_S3_BUCKET", "FARM_S3_PREFIX", "FARM_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    reset_cache()
    farm.set_config(get_candles_retry_count=1, get_candles_retry_delay_ms=0)
    yield
    reset_cache()


class CountingSource:
    """Synthetic candles (a pure function of symbol and time) whose calls are counted per UTC day
    in a Redis hash, so calls made by forked processes are counted too. Optional: a pause per
    call, candles to spoil (open time → values), days without data."""

    def __init__(self, redis_url: str, prefix: str, *, seed: int = 5, pause: float = 0.0,
                 spoil: dict[int, dict[str, float]] | None = None, empty_days: tuple[int, ...] = ()):
        self.synthetic = SyntheticSource(seed=seed)
        self.redis_url = redis_url
        self.calls_key = f"{prefix}:test/calls"
        self.pause = pause
        self.spoil = spoil or {}
        self.empty_days = set(empty_days)
        self._client: redis.Redis | None = None

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(self.redis_url)
        return self._client

    def arrays(self, symbol: str, interval: str, since_ms: int, limit: int) -> CandleArrays:
        """What the source holds, with the spoiled candles and empty days applied."""
        a = self.synthetic.get_arrays(symbol, interval, since_ms, limit)
        cols = {k: np.array(getattr(a, k)) for k in CANDLE_FIELDS}
        keep = np.array([t // DAY_MS * DAY_MS not in self.empty_days for t in cols["timestamp"].tolist()], dtype=bool)
        for ts, values in self.spoil.items():
            hit = cols["timestamp"] == ts
            for k, v in values.items():
                cols[k][hit] = v
        return CandleArrays(*(cols[k][keep] for k in CANDLE_FIELDS))

    def __call__(self, symbol: str, interval: str, since: datetime, limit: int) -> pd.DataFrame:
        since_ms = datetime_to_ms(since)
        self.client.hincrby(self.calls_key, day_name(since_ms // DAY_MS * DAY_MS), 1)
        if self.pause:
            time.sleep(self.pause)
        a = self.arrays(symbol, interval, since_ms, limit)
        return pd.DataFrame({k: getattr(a, k) for k in CANDLE_FIELDS})

    def calls(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.client.hgetall(self.calls_key).items()}

    def total(self) -> int:
        return sum(self.calls().values())


@pytest.fixture
def cache_env(redis_url: str, redis_prefix: str, monkeypatch) -> str:
    """The cache on through settings alone: FARM_REDIS_URL with this test's key prefix (cold
    store: files under the test's FARM_DATA_DIR)."""
    monkeypatch.setenv("FARM_REDIS_URL", f"{redis_url}?prefix={redis_prefix}")
    monkeypatch.delenv("FARM_S3_BUCKET", raising=False)
    return redis_prefix


@pytest.fixture
def source(redis_url: str, redis_prefix: str) -> CountingSource:
    return CountingSource(redis_url, redis_prefix)


def same_bytes(a: CandleArrays, b: CandleArrays) -> bool:
    return all(getattr(a, k).tobytes() == getattr(b, k).tobytes() for k in CANDLE_FIELDS)
