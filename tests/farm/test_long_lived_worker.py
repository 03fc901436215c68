"""One long-lived Celery worker process, started once, runs one sweep after another as fresh
processes would (issue #10): the first sweep's frame, config and candles leave nothing behind
that the second could read."""

from __future__ import annotations

import json
import threading

import farm
from farm.persist import keys as K
from farm.run.sweep import plan_sweep, sweep
from tests.farm.conftest import store_at
from tests.farm.names import HELPERS
from tests.run import dirty


def record(store, key: str) -> dict:
    """A stored result without what differs between two runs of the same job (timing, host)."""
    data = json.loads(store.read(K.result(key)))
    return {k: v for k, v in data.items() if k not in ("elapsed_seconds", "worker")}


def test_one_long_lived_worker_gives_what_fresh_processes_give(worker_processes, registered, tmp_path, fresh_queue,
                                                               use_queue, monkeypatch):
    imports = f"{HELPERS},tests.run.dirty"
    monkeypatch.setenv("FARM_IMPORTS", imports)
    dirty.register()
    use_queue(fresh_queue)
    worker = worker_processes("long-lived", fresh_queue, FARM_IMPORTS=imports)
    store = store_at(tmp_path / "worker")
    saved = farm.get_config()
    plans = []
    for walker, config in ((dirty.EARLY, dirty.ANOMALY), (dirty.LATE, {})):
        farm.set_config(unsafe=True, **{**saved.model_dump(), **config})
        plans.append((walker, config, plan_sweep(walker, [dirty.SYMBOL]).jobs))
        result = _sweep_within(120, walker, store, worker)
        assert result.tasks_run == len(plans[-1][2]) and result.failures == [], worker.log()
    farm.set_config(unsafe=True, **saved.model_dump())
    assert worker.alive()

    for walker, config, jobs in plans:
        fresh = tmp_path / f"fresh-{walker}"
        statuses = dirty.in_fresh_process(f"dirty.fresh_sweep({walker!r}, {config!r}, {str(fresh)!r})")
        assert [key for key, _ in statuses] == [job.key for job in jobs]
        for job in jobs:
            assert record(store, job.key) == record(store_at(fresh), job.key), (walker, job.strategies)


def _sweep_within(seconds: float, walker: str, store, worker) -> object:
    done: dict[str, object] = {}
    thread = threading.Thread(target=lambda: done.update(result=sweep(
        walker, [dirty.SYMBOL], executor="celery", store=store)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"sweep {walker} did not finish; worker log:\n{worker.log()}"
    return done["result"]
