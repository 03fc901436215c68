"""Point 8 of issue 14 (in part): `farm status` tells the truth of the store. The Redis status
record is a view: a set evicted or marks lost while Redis was away never show finished jobs as
unfinished, stale failures of an earlier run never show, and reading the status repairs the
record from the store.

Before the fix `farm status` trusted the record whenever it existed: 0/6 done once the `:done`
set was evicted while the store held 6 results.
"""

from __future__ import annotations

import redis
from typer.testing import CliRunner

from farm.cli import app as cli
from farm.run import status
from farm.run.sweep import plan_sweep, sweep
from tests.conftest import REDIS_HOST, REDIS_PORT
from tests.farm.names import SYMBOLS

STATUS_DB = 6


def farm_status(sweep_id: str) -> str:
    done = CliRunner().invoke(cli, ["status", sweep_id])
    assert done.exit_code == 0, done.output
    return done.output.strip()


def test_status_counts_what_the_store_holds(registered, monkeypatch):
    monkeypatch.setenv("FARM_REDIS_URL", f"redis://{REDIS_HOST}:{REDIS_PORT}/{STATUS_DB}")
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=STATUS_DB)
    result = sweep("tf-clean", SYMBOLS, executor="local", workers=1)
    record = status.key(result.sweep_id)
    keys = [job.key for job in plan_sweep("tf-clean", SYMBOLS).jobs]
    try:
        assert farm_status(result.sweep_id) == f"sweep {result.sweep_id}: 6/6 done, 0 failed, 0 pending"

        client.delete(f"{record}:done")  # evicted
        client.sadd(f"{record}:failed", *keys[:2])  # stale failures of an earlier run
        assert farm_status(result.sweep_id) == f"sweep {result.sweep_id}: 6/6 done, 0 failed, 0 pending"
        assert client.scard(f"{record}:done") == 6 and client.scard(f"{record}:failed") == 0  # repaired

        client.srem(f"{record}:done", *keys[3:])  # marks lost while Redis was away
        assert farm_status(result.sweep_id) == f"sweep {result.sweep_id}: 6/6 done, 0 failed, 0 pending"
    finally:
        for suffix in ("", ":done", ":failed"):
            client.delete(f"{record}{suffix}")
