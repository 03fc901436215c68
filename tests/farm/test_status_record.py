"""The sweep status record in Redis: written by whoever stores a task, readable by any client."""

from __future__ import annotations

import redis

import farm
from farm.run import status
from farm.run.sweep import sweep_status
from tests.conftest import MIN, T0, flat_candles, register_table, set_candle


def test_a_sweep_writes_a_status_record_any_client_can_read(reference_config, redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("FARM_REDIS_URL", redis_url)
    df = flat_candles(T0 - 30 * MIN, 100)
    set_candle(df, T0 + 4 * MIN, high=101.5)
    register_table(df)
    farm.add_frame("f", "1m", T0, T0 + 10 * MIN)
    farm.add_strategy("s", "1m", lambda symbol, when: None, params={"k": 1})
    farm.add_walker("w", "x", "f", farm.grid("s", k=[1, 2, 3]))
    client = redis.Redis.from_url(redis_url)
    try:
        result = farm.sweep("w", ["A", "B"], workers=1)
        record = client.hgetall(status.key(result.sweep_id))
        assert record[b"total"] == b"6" and record[b"walker"] == b"w"
        assert client.scard(f"{status.key(result.sweep_id)}:done") == 6
        assert status.read(result.sweep_id) == (6, 6, 0)
        assert sweep_status(result.sweep_id).done == 6
        again = farm.sweep("w", ["A", "B"], workers=1)  # a re-run: nothing runs, the record stays exact
        assert again.tasks_run == 0 and status.read(result.sweep_id) == (6, 6, 0)
    finally:
        for k in client.scan_iter(match="farm:sweep:w-*"):
            client.delete(k)


def test_without_redis_the_status_comes_from_the_store(reference_config, monkeypatch):
    monkeypatch.delenv("FARM_REDIS_URL", raising=False)
    assert status.read("anything") is None
