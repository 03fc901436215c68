"""Point 2: a task message cannot choose where a worker writes. A worker writes to its own
configured store; a message naming any other store (a Redis of the sender's choice, a folder
elsewhere) is refused and dead-lettered, and nothing is written there.

Before the fix the store URL in the message was opened as given: anyone who could publish to
the broker made a worker write into any folder or connect to any Redis.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import redis

from farm.persist import keys as K
from farm.persist import open_store
from farm.persist.known import store_name
from farm.run.sweep import plan_sweep, sweep
from tests.conftest import REDIS_HOST, REDIS_PORT
from tests.farm.conftest import BROKER_URL, store_at, wait_for
from workers.deadletter import dead_letters, dead_queue

HIJACK_DB = 5


@pytest.mark.timeout(120)
def test_a_message_naming_a_foreign_store_writes_nothing_there(broker_redis, celery_app, registered,
                                                               worker_processes, fresh_queue, tmp_path):
    jobs = plan_sweep("tf-clean", ["ADA/BTC"]).jobs
    hijack_prefix = f"hijack-{fresh_queue}"
    hijack_redis = f"redis://{REDIS_HOST}:{REDIS_PORT}/{HIJACK_DB}?prefix={hijack_prefix}"
    elsewhere = Path(tempfile.mkdtemp(prefix="farm-hijack-"))  # outside every store the worker knows
    data_dir = tmp_path / "worker-data"
    own = open_store(f"file://{data_dir / 'store'}")
    worker = worker_processes("guarded", fresh_queue, FARM_DATA_DIR=str(data_dir), FARM_STORES="")

    payload = [job.model_dump(mode="json") for job in jobs]
    celery_app.send_task("farm.run_job", [payload[0], hijack_redis], queue=fresh_queue)
    celery_app.send_task("farm.run_block", [payload, f"file://{elsewhere}"], queue=fresh_queue)
    # Then the worker's own store, by name and by default: both run.
    celery_app.send_task("farm.run_job", [payload[0], store_name(own)], queue=fresh_queue, task_id=jobs[0].key)
    celery_app.send_task("farm.run_job", [payload[1], None], queue=fresh_queue, task_id=jobs[1].key)

    # The tasks run in order: once the third has stored its result, the first two are settled.
    wait_for(lambda: own.exists(K.result(jobs[0].key)) or not worker.alive(), 60,
             lambda: f"the worker's own task did not run:\n{worker.log()}")
    hijacked = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=HIJACK_DB)
    written = list(hijacked.scan_iter(match=f"{hijack_prefix}*"))
    if written:
        hijacked.delete(*written)  # db 5 is shared: leave nothing behind
    assert written == [], "a message made the worker write into a Redis of its choice"
    assert list(elsewhere.rglob("*")) == [], "a message made the worker write into a folder of its choice"
    wait_for(lambda: own.exists(K.result(jobs[1].key)) or not worker.alive(), 60,
             lambda: f"the worker's default-store task did not run:\n{worker.log()}")
    letters = dead_letters(BROKER_URL, fresh_queue)
    assert [letter["task"] for letter in letters] == ["farm.run_job", "farm.run_block"], letters
    assert all("not one of this worker's stores" in letter["reason"] for letter in letters)
    assert worker.alive()
    broker_redis.delete(dead_queue(fresh_queue))
    elsewhere.rmdir()


@pytest.mark.timeout(120)
def test_a_sweep_whose_store_no_worker_knows_ends_with_every_job_refused(celery_app, registered, worker_processes,
                                                                         fresh_queue, use_queue, tmp_path):
    """The coordinator finds its refused tasks in the dead letters and records their jobs as
    failed with the worker's reason: the sweep ends, every job accounted for, none run."""
    worker = worker_processes("strict", fresh_queue, FARM_DATA_DIR=str(tmp_path / "worker-data"), FARM_STORES="")
    use_queue(fresh_queue)
    store = store_at(tmp_path / "coordinator-store")

    result = sweep("tf-clean", ["ADA/BTC", "ETH/BTC"], executor="celery", store=store, out=tmp_path / "out")

    assert result.tasks_run == 4 and len(result.failures) == 4
    assert all("refused by worker strict@" in f.error and "not one of this worker's stores" in f.error
               for f in result.failures), result.failures
    assert not (tmp_path / "worker-data").exists()
    assert "Task farm.run_job" not in worker.log()  # refused on receipt, never run
