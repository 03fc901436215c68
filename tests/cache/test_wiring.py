"""Settings alone switch the cache on for sweeps on forked workers; `farm cache warm|stats`."""

from __future__ import annotations

import redis

import farm
from farm.cache import cache_stats
from farm.persist import open_store
from tests.cache.conftest import CountingSource
from tests.test_cli import farm_cli


def register(source: CountingSource) -> None:
    import strategies.sma_cross as sma

    farm.add_exchange("x", source)
    farm.add_frame("f", "1m", "2024-01-02", "2024-01-05")
    farm.add_strategy("sma", "5m", sma.get_signal,
                      params={"fast": 10, "slow": 30, "tp_pct": 1.0, "sl_pct": 0.5, "lifetime": 240})
    farm.add_walker("w", "x", "f", [farm.variant("sma", fast=5), farm.variant("sma", fast=10)])


def test_a_sweep_run_twice_against_a_warm_cache_calls_no_source(cache_env, source, tmp_path):
    register(source)
    first = farm.sweep("w", ["A", "B"], executor="local", workers=2, store=open_store(f"file://{tmp_path / 's1'}"))
    assert not first.failures and first.tasks_run == 4
    assert source.total() > 0  # filled by the forked workers, counted in Redis
    source.client.delete(source.calls_key)
    second = farm.sweep("w", ["A", "B"], executor="local", workers=2, store=open_store(f"file://{tmp_path / 's2'}"))
    assert second.tasks_run == 4 and not second.failures
    assert source.total() == 0
    for symbol, result in first.walker_results.items():
        assert second.walker_results[symbol].model_dump() == result.model_dump()


def test_cache_stats_is_public_and_counts_this_process_only(cache_env, source):
    register(source)
    list(farm.Backtest.run("A", strategy_name="sma", exchange_name="x", frame_name="f"))
    stats = farm.cache_stats()
    assert stats is not cache_stats() and stats == cache_stats()
    assert stats["source"] > 0 and stats["source"] == len(source.calls())
    assert {"lru", "redis", "store", "source"} <= set(stats)


MODULE = '''
import farm
from farm.data.sources import SyntheticSource
farm.add_exchange("syn", SyntheticSource(seed=3))
'''


def test_cli_warm_then_stats(cache_env, redis_url, tmp_path):
    (tmp_path / "my_ex.py").write_text(MODULE)
    env = {"FARM_REDIS_URL": f"{redis_url}?prefix={cache_env}", "FARM_DATA_DIR": str(tmp_path / ".farm")}
    args = ["cache", "warm", "--exchange", "syn", "--symbols", "A,B", "--interval", "5m", "--from", "2024-01-01",
            "--to", "2024-01-03", "--imports", "my_ex"]
    result = farm_cli(*args, cwd=tmp_path, env_extra=env)
    assert result.returncode == 0, result.stderr
    assert "6 day chunks, 1,728 candles: 6 fetched from the exchange" in result.stdout
    again = farm_cli(*args, cwd=tmp_path, env_extra=env)
    assert "0 fetched from the exchange (0 requests), 6 already hot" in again.stdout
    stats = farm_cli("cache", "stats", cwd=tmp_path, env_extra=env)
    assert stats.returncode == 0, stats.stderr
    assert "redis: 6 chunks" in stats.stdout and "MB (MEMORY USAGE)" in stats.stdout
    assert "farm-wide:" in stats.stdout and "source=6" in stats.stdout
    r = redis.Redis.from_url(redis_url)
    assert len(list(r.scan_iter(match=f"{cache_env}:candles/syn/*"))) == 6


def test_cli_bad_input_is_one_line(tmp_path, cache_env, redis_url):
    (tmp_path / "my_ex.py").write_text(MODULE)
    env = {"FARM_REDIS_URL": f"{redis_url}?prefix={cache_env}"}
    base = ["cache", "warm", "--symbols", "A", "--imports", "my_ex"]
    cases = [
        (["--exchange", "nope", "--from", "2024-01-01", "--to", "2024-01-02"], "exchange nope not found"),
        (["--exchange", "syn", "--from", "2024-01-09", "--to", "2024-01-02"], "--to 2024-01-02 is before --from"),
        (["--exchange", "syn", "--from", "soon", "--to", "2024-01-02"], "--from 'soon' is not a date"),
        (["--exchange", "syn", "--interval", "7m", "--from", "2024-01-01", "--to", "2024-01-02"], "'7m'"),
    ]
    for extra, message in cases:
        result = farm_cli(*base, *extra, cwd=tmp_path, env_extra=env)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    off = farm_cli("cache", "stats", cwd=tmp_path, env_extra={"FARM_REDIS_URL": "", "FARM_S3_BUCKET": ""})
    assert off.returncode == 2 and "the candle cache is off" in off.stderr


def test_the_redis_key_prefix_comes_from_the_url_or_a_setting(tmp_path):
    from farm.cache import build_cache
    from farm.config import FarmSettings
    from farm.persist.store import split_prefix

    assert split_prefix("redis://127.0.0.1:6379/3?prefix=p1&health_check_interval=5") == (
        "redis://127.0.0.1:6379/3?health_check_interval=5", "p1")
    assert split_prefix("redis://127.0.0.1:6379/3") == ("redis://127.0.0.1:6379/3", "farm")
    settings = FarmSettings(redis_url="redis://127.0.0.1:6379/13?prefix=p1", s3_bucket=None, s3_prefix="",
                            data_dir=tmp_path, broker_url="redis://127.0.0.1:6379/0")
    assert build_cache(settings).redis.prefix == "p1"
    cache = build_cache(settings.model_copy(update={"cache_prefix": "p2"}))
    assert cache.redis.prefix == "p2" and cache.redis.url == "redis://127.0.0.1:6379/13"
