"""Point 11 of issue 14: a hung (not dead) cache Redis, one that accepts connections and never
answers, costs each process one timeout per service per 30 s, not one per job: the candle cache
and the sweep status record skip it behind a circuit breaker (`farm.breaker`), and the sweep's
results are those of a run without it.

Before the fix the status record had no breaker: every job's status mark waited out its 2 s
timeout on a fresh connection (a throughput cut of about 8x on small jobs).
"""

from __future__ import annotations

import logging

from farm.run.sweep import plan_sweep, sweep
from tests.conftest import REDIS_HOST, REDIS_PORT
from tests.farm.conftest import report_bytes, store_at
from tests.farm.names import SYMBOLS
from tests.faults.proxy import FaultProxy

CACHE_DB = 6


def test_a_hung_cache_redis_is_tried_once_per_service(registered, monkeypatch, caplog, tmp_path):
    sweep("tf-clean", SYMBOLS, executor="local", workers=1, store=store_at(tmp_path / "clean-store"),
          out=tmp_path / "clean")
    jobs = len(plan_sweep("tf-clean", SYMBOLS).jobs)
    with FaultProxy((REDIS_HOST, REDIS_PORT), mode="stall") as proxy:
        monkeypatch.setenv("FARM_REDIS_URL", proxy.url("redis", f"/{CACHE_DB}?prefix=hung"))
        with caplog.at_level(logging.WARNING):
            result = sweep("tf-clean", SYMBOLS, executor="local", workers=1, store=store_at(tmp_path / "store"),
                           out=tmp_path / "hung")
        attempts = proxy.accepted

    assert result.failures == []
    assert report_bytes(tmp_path / "hung") == report_bytes(tmp_path / "clean")
    # At most one attempt per service (the status record, the candle cache) in this process.
    assert attempts <= 2, f"{attempts} connections to the hung Redis for {jobs} jobs"
    unavailable = [r.getMessage() for r in caplog.records if "is unavailable" in r.getMessage()]
    assert 1 <= len(unavailable) == len(set(unavailable)) <= 2, unavailable  # each said once
