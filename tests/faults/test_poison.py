"""Point 3: garbage pushed raw onto the farm queue is refused, logged once and dead-lettered
(`<queue>.dead`), and the worker runs the next valid task.

Before the fix 3 of these 5 stopped the worker ("Unrecoverable error"), and the empty body
went back to the queue and stopped every worker started after it.
"""

from __future__ import annotations

import pytest

from farm.persist import keys as K
from farm.persist import open_store
from farm.run.sweep import plan_sweep
from tests.farm.conftest import BROKER_URL, wait_for
from tests.faults.raw import poison, task_message
from workers.deadletter import dead_letters, dead_queue


@pytest.mark.timeout(120)
def test_garbage_is_dead_lettered_and_the_worker_goes_on(broker_redis, registered, worker_processes,
                                                          fresh_queue, tmp_path):
    garbage = poison(fresh_queue)
    for entry in garbage.values():
        broker_redis.lpush(fresh_queue, entry)
    (job,) = plan_sweep("tf-clean", ["ADA/BTC"]).jobs[:1]
    broker_redis.lpush(fresh_queue, task_message(fresh_queue, "farm.run_job", [job.model_dump(mode="json"), None],
                                                 task_id=job.key))
    data_dir = tmp_path / "worker-data"
    store = open_store(f"file://{data_dir / 'store'}")
    # The first worker meets all the garbage; a second one started later must find nothing left.
    first = worker_processes("poisoned", fresh_queue, FARM_DATA_DIR=str(data_dir))

    wait_for(lambda: store.exists(K.result(job.key)) or not first.alive(), 60,
             lambda: f"the valid task never ran:\n{first.log()}")
    assert first.alive(), first.log()
    assert store.exists(K.result(job.key)), first.log()
    letters = dead_letters(BROKER_URL, fresh_queue)
    assert len(letters) == len(garbage) == 5, letters
    assert broker_redis.llen(fresh_queue) == 0
    log = first.log()
    assert log.count("refused a message") == 5, log
    assert "Unrecoverable error" not in log
    reasons = [letter["reason"] for letter in letters]
    assert any("not JSON" in r for r in reasons) and any("unknown task 'no.such.task'" in r for r in reasons)
    assert any("content type" in r for r in reasons) and any("[args, kwargs, embed]" in r for r in reasons)

    second = worker_processes("after", fresh_queue, FARM_DATA_DIR=str(data_dir))
    wait_for(lambda: "ready." in second.log() or not second.alive(), 60, lambda: second.log())
    assert second.alive() and "refused" not in second.log()
    broker_redis.delete(dead_queue(fresh_queue))
