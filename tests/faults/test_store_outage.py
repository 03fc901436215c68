"""Point 6 of issue 14 (an S3 outage): with the result store unreachable (moto's S3 behind the
fault proxy, refusing connections) for longer than a worker's retries last, no job is lost. The
workers put their blocks back on the queue until the store answers, the coordinator says so and
keeps following, and the sweep completes by itself with reports identical to a clean run.

Before the fix the coordinator stopped at its first failed HEAD, and a worker gave up after 3
retries without being able to write even a failure record: those jobs had no record at all.
"""

from __future__ import annotations

import threading
from urllib.parse import urlparse

import boto3
import pytest

from farm.run.sweep import plan_sweep, sweep
from tests.farm.conftest import report_bytes, store_at, wait_for
from tests.farm.names import SYMBOLS
from tests.faults.proxy import FaultProxy
from workers.executor import CeleryExecutor

PREFIX = "outage"


@pytest.mark.timeout(240)
def test_an_s3_outage_loses_no_job(s3_endpoint, s3_bucket, registered, celery_app, broker_redis, worker_processes,
                                   fresh_queue, use_queue, monkeypatch, tmp_path):
    sweep("tf-clean", SYMBOLS, executor="local", workers=1, store=store_at(tmp_path / "clean-store"),
          out=tmp_path / "clean")
    endpoint = urlparse(s3_endpoint)
    with FaultProxy((endpoint.hostname, endpoint.port)) as proxy:
        settings = {"FARM_S3_ENDPOINT_URL": proxy.url("http"), "FARM_S3_BUCKET": s3_bucket,
                    "FARM_S3_PREFIX": PREFIX, "FARM_RETRY_BACKOFF": "0.5", "FARM_S3_MAX_ATTEMPTS": "1"}
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        use_queue(fresh_queue)
        done: dict[str, object] = {}
        coordinator = threading.Thread(target=lambda: done.update(result=sweep(
            "tf-clean", SYMBOLS, executor="celery", out=tmp_path / "celery")), daemon=True)
        coordinator.start()
        tasks = len(CeleryExecutor(celery_app).blocks(plan_sweep("tf-clean", SYMBOLS).jobs))
        wait_for(lambda: broker_redis.llen(fresh_queue) == tasks, 60, f"the sweep's {tasks} tasks were not queued")

        proxy.mode = "refuse"  # S3 goes away with every task still queued
        proxy.cut()
        worker = worker_processes("patient", fresh_queue, **settings)
        # Past the point where a worker used to give up: the 4th retry of a block failed too.
        wait_for(lambda: "retry 5 in" in worker.log() or "giving up" in worker.log() or not coordinator.is_alive(),
                 120, lambda: f"the worker never retried 5 times:\n{worker.log()}")
        assert "giving up" not in worker.log()
        proxy.mode = "pass"  # S3 is back

        coordinator.join(150)
        assert not coordinator.is_alive(), f"the sweep did not end after S3 came back:\n{worker.log()}"
    result = done.get("result")
    assert result is not None, "the coordinator stopped during the outage"
    assert result.failures == [] and result.tasks_run == 6
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    stored = [obj["Key"] for obj in client.list_objects_v2(Bucket=s3_bucket, Prefix=f"{PREFIX}/results/")
              .get("Contents", [])]
    assert len(stored) == 6
    assert report_bytes(tmp_path / "celery") == report_bytes(tmp_path / "clean")
