"""Point 4: every job is bounded. A `get_signal` that sleeps in C (`time.sleep(10**6)`) is
stopped at the task's soft time limit, one that also masks the soft-limit signal is killed at
the hard limit and its pool process replaced; both jobs are recorded as failed with "timed
out", the next task runs, and the sweep ends by itself.

Before the fix no task had a time limit: the worker stayed blocked and the sweep never ended.
"""

from __future__ import annotations

import pytest

from farm.run.sweep import sweep
from tests.farm.conftest import store_at
from tests.farm.names import HELPERS, SMA_A
from tests.faults import stuck

JOB_TIME_LIMIT = 3


@pytest.fixture
def stuck_registered(registered, monkeypatch):
    monkeypatch.setenv("FARM_IMPORTS", f"{HELPERS},{stuck.MODULE}")
    stuck.register()


@pytest.mark.timeout(150)
def test_stuck_jobs_time_out_and_the_sweep_ends(stuck_registered, celery_app, worker_processes, fresh_queue,
                                                use_queue, tmp_path):
    worker = worker_processes("bounded", fresh_queue, pool="prefork", FARM_IMPORTS=f"{HELPERS},{stuck.MODULE}",
                              FARM_JOB_TIME_LIMIT=str(JOB_TIME_LIMIT))
    use_queue(fresh_queue)

    result = sweep(stuck.WALKER, ["ADA/BTC"], executor="celery", store=store_at(tmp_path / "store"),
                   out=tmp_path / "out", block_size=1)

    failed = {failure.strategy_name: failure.error for failure in result.failures}
    assert sorted(failed) == ["tf_asleep", "tf_deaf"], result.failures
    assert "timed out" in failed["tf_asleep"] and "soft time limit" in failed["tf_asleep"]
    assert "timed out" in failed["tf_deaf"] and "hard time limit" in failed["tf_deaf"]
    ran = result.walker_results["ADA/BTC"].strategies
    assert [entry.strategy_name for entry in ran if entry.stats is not None] == [SMA_A]
    assert worker.alive(), worker.log()
    assert worker.log().count("] received") == 3, worker.log()  # the killed task was not handed out again


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "pool"])
def test_a_job_asleep_in_c_times_out_on_the_local_executor(workers, stuck_registered, monkeypatch, tmp_path):
    """The local executor sends the soft-limit signal itself; it has no hard limit."""
    monkeypatch.setenv("FARM_JOB_TIME_LIMIT", "1")
    result = sweep(stuck.ASLEEP_WALKER, ["ADA/BTC"], executor="local", workers=workers,
                   store=store_at(tmp_path / "store"), out=tmp_path / "out", block_size=1)

    (failure,) = result.failures
    assert failure.strategy_name == "tf_asleep" and "timed out" in failure.error, result.failures
    ran = result.walker_results["ADA/BTC"].strategies
    assert [entry.strategy_name for entry in ran if entry.stats is not None] == [SMA_A]
