"""The Celery executor against a real Redis broker (127.0.0.1, db 14) and real workers: an
in-process one for most tests, separate `celery worker` processes where a worker must die or
import differently. Every wait is bounded and says what it waited for.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from pathlib import Path

import pytest

from farm.config import get_settings
from farm.errors import FarmError
from farm.persist import keys as K
from farm.run.blocks import JobBlock
from farm.run.execute import TransientJobError
from farm.run.sweep import plan_sweep, sweep
from tests.farm.conftest import BROKER_URL, INPROC_QUEUE, REPORT_SUFFIXES, report_bytes, store_at, wait_for
from tests.farm.names import BOOM_SYMBOL, HELPERS, SLOW_MARKER_ENV, SMA_A, SMA_B, SYMBOLS


def stats_of(result, symbol: str, strategy: str):
    (entry,) = [s for s in result.walker_results[symbol].strategies if s.strategy_name == strategy]
    return entry.stats


def numbers(stats) -> tuple:
    """Statistics without the strategy names inside the signal rows."""
    return (stats.model_dump(exclude={"signal_list"}),
            [(s.signal.position, s.pnl.pnl_percentage, s.close_reason) for s in stats.signal_list])


# ---- a. the same sweep on Celery and on the local pool --------------------------------------


def test_celery_sweep_equals_local_sweep(celery_worker, registered, tmp_path, counter):
    local = sweep("tf-boom", SYMBOLS, executor="local", store=store_at(tmp_path / "local-store"),
                  out=tmp_path / "local")
    seen = []
    remote = sweep("tf-boom", SYMBOLS, executor="celery", store=store_at(tmp_path / "celery-store"),
                   out=tmp_path / "celery", on_progress=seen.append)

    assert remote.tasks_total == remote.tasks_run == 9 and remote.tasks_skipped == 0
    assert sorted(counter.run) == sorted(job.key for job in plan_sweep("tf-boom", SYMBOLS).jobs)
    assert remote.walker_results == local.walker_results
    assert remote.heatmap == local.heatmap
    assert remote.matrix == local.matrix
    assert remote.errors == local.errors and remote.failures == local.failures == []
    local_reports, remote_reports = report_bytes(tmp_path / "local"), report_bytes(tmp_path / "celery")
    assert {Path(name).suffix for name in remote_reports} == set(REPORT_SUFFIXES)
    assert remote_reports.keys() == local_reports.keys()
    for name, data in remote_reports.items():
        assert data == local_reports[name], f"report {name} differs between the celery and the local run"
    assert seen[0].done == 0 and seen[-1].done == 9 and seen[-1].pending == 0
    assert [p.done for p in seen] == sorted(p.done for p in seen)


# ---- b. a re-run executes nothing and reproduces the reports --------------------------------


def test_rerun_executes_no_task(celery_worker, registered, tmp_path, counter):
    store = store_at(tmp_path / "store")
    first = sweep("tf-clean", SYMBOLS, executor="celery", store=store, out=tmp_path / "first")
    assert first.tasks_run == 6 and len(counter.run) == 6
    counter.run.clear(), counter.published.clear()

    again = sweep("tf-clean", SYMBOLS, executor="celery", store=store, out=tmp_path / "again")

    assert (again.tasks_run, again.tasks_skipped, again.tasks_total) == (0, 6, 6)
    assert counter.published == [] and counter.run == []
    assert again.walker_results == first.walker_results
    assert report_bytes(tmp_path / "again") == report_bytes(tmp_path / "first")


# ---- c. everything on the broker is JSON ----------------------------------------------------


def test_messages_on_the_broker_are_json(celery_app, registered, tmp_path, broker_redis, fresh_queue,
                                         use_queue):
    from workers.executor import CeleryExecutor

    for setting in ("task_serializer", "result_serializer", "event_serializer"):
        assert celery_app.conf[setting] == "json"
    assert list(celery_app.conf.accept_content) == ["json"]

    use_queue(fresh_queue)  # no worker consumes it: the messages stay on the broker to be read
    manifest = plan_sweep("tf-clean", SYMBOLS[:2])
    store = store_at(tmp_path / "store")
    CeleryExecutor().submit(manifest.sweep_id, manifest.jobs, store)

    raw = broker_redis.lrange(fresh_queue, 0, -1)
    assert len(raw) == len(manifest.jobs) == 4
    by_key = {job.key: job for job in manifest.jobs}
    for item in raw:
        envelope = json.loads(item)
        assert envelope["content-type"] == "application/json", envelope["content-type"]
        assert "pickle" not in item.decode()
        assert envelope["properties"]["body_encoding"] == "base64"
        args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        headers = envelope["headers"]
        assert headers["task"] == "farm.run_job"
        job = by_key.pop(headers["id"])  # the task id is the job's content hash
        assert args == [job.model_dump(mode="json"), store.url]
        assert kwargs == {"sweep_id": manifest.sweep_id}
        assert headers["argsrepr"] == f"{job.strategies[0]} {job.symbol}"  # readable in Flower
    assert by_key == {}


# ---- d. a get_signal that raises: that task's errors, the others untouched --------------------


def test_raising_get_signal_is_listed_in_errors(celery_worker, registered, tmp_path):
    noisy = sweep("tf-boom", SYMBOLS, executor="celery", store=store_at(tmp_path / "boom"))
    clean = sweep("tf-clean", SYMBOLS, executor="celery", store=store_at(tmp_path / "clean"))

    assert noisy.failures == [] and clean.failures == [] and clean.errors == []
    (errors,) = noisy.errors
    boom_job = next(j for j in plan_sweep("tf-boom", SYMBOLS).jobs
                    if j.symbol == BOOM_SYMBOL and j.strategies == ("tf_boom",))
    assert (errors.task_key, errors.symbol, errors.strategy_name) == (boom_job.key, BOOM_SYMBOL, "tf_boom")
    assert errors.messages and all(f"RuntimeError: boom on {BOOM_SYMBOL}" in m for m in errors.messages)
    for symbol in SYMBOLS:
        for name in (SMA_A, SMA_B):
            assert stats_of(noisy, symbol, name) == stats_of(clean, symbol, name), (symbol, name)
        if symbol != BOOM_SYMBOL:  # tf_boom is tf_sma(fast=5) wherever it does not raise
            assert numbers(stats_of(noisy, symbol, "tf_boom")) == numbers(stats_of(clean, symbol, SMA_A))


# ---- e. a task that cannot run at all: listed in failures, the sweep completes ----------------


def test_job_naming_a_module_outside_farm_imports_fails(celery_worker, registered, tmp_path):
    from tests.farm import unlisted

    unlisted.register()
    result = sweep("tf-unlisted", SYMBOLS, executor="celery", store=store_at(tmp_path / "store"),
                   out=tmp_path / "out")

    assert result.tasks_total == 6
    refused = [f for f in result.failures if f.strategy_name == "tf_unlisted"]
    assert sorted(f.symbol for f in refused) == sorted(SYMBOLS)
    for failure in refused:
        assert "JobError: module 'tests.farm.unlisted' is not in this worker's FARM_IMPORTS" in failure.error
    assert "tests.farm.unlisted" in (tmp_path / "out" / "README.md").read_text()


def test_only_the_tasks_needing_the_module_fail(celery_worker, registered, tmp_path):
    from tests.farm import unlisted

    unlisted.register()
    result = sweep("tf-unlisted", SYMBOLS, executor="celery", store=store_at(tmp_path / "store"))
    assert {f.strategy_name for f in result.failures} == {"tf_unlisted"}


def test_no_worker_is_reported_not_waited_for_silently(celery_app, registered, tmp_path, fresh_queue, use_queue,
                                                       broker_redis, caplog):
    from workers.executor import CeleryExecutor

    use_queue(fresh_queue)  # nobody consumes it
    manifest = plan_sweep("tf-clean", SYMBOLS[:1])
    executor = CeleryExecutor(redrive_after=0, stall_notice=0.5, stall_timeout=1.6)
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="workers.executor"):
        executor.run(manifest.sweep_id, manifest.jobs, store_at(tmp_path / "store"))
    assert time.monotonic() - started < 5
    notices = [r.getMessage() for r in caplog.records if "no task finished" in r.getMessage()]
    assert notices and f"is a worker consuming queue '{fresh_queue}' at {BROKER_URL}?" in notices[0]
    assert "stopped following" in notices[-1]
    assert broker_redis.llen(fresh_queue) == 2


# ---- the task itself: retries, progress events, payloads it cannot read ------------------------


def test_transient_errors_retry_the_block_then_are_recorded(celery_worker, registered, tmp_path, monkeypatch,
                                                            counter):
    """One block of both tf_sma variants: a transient error in the second job retries the block,
    and the retry skips the job the first attempt stored."""
    from farm.run import execute as ex

    real = ex.execute
    calls: dict[str, int] = {}
    flaky_until = {"n": 1}
    monkeypatch.setenv("FARM_BLOCK_MIN_TASKS", "1")
    jobs = plan_sweep("tf-clean", SYMBOLS[:1]).jobs
    first, second = (job.key for job in jobs)

    def flaky(job, **kwargs):
        calls[job.key] = calls.get(job.key, 0) + 1
        if (job.key == second or flaky_until["n"] > 1) and calls[job.key] <= flaky_until["n"]:
            raise TransientJobError("ConnectionError: the data source refused the connection")
        return real(job, **kwargs)

    monkeypatch.setattr(ex, "execute", flaky)
    monkeypatch.setenv("FARM_RETRY_BACKOFF", "0.05")

    recovered = sweep("tf-clean", SYMBOLS[:1], executor="celery", store=store_at(tmp_path / "a"))
    assert recovered.failures == [] and calls == {first: 1, second: 2}
    assert counter.run == [JobBlock(tuple(jobs)).key] * 2  # one block task, run twice

    calls.clear()
    flaky_until["n"] = 99
    store = store_at(tmp_path / "b")
    gave_up = sweep("tf-clean", SYMBOLS[:1], executor="celery", store=store)
    assert calls == {first: 4}  # the run and its 3 retries, each stopped by the first job
    assert len(gave_up.failures) == 2
    for failure in gave_up.failures:
        assert failure.error == "TransientJobError: ConnectionError: the data source refused the connection"
        assert store.exists(K.failure(failure.task_key)) and not store.exists(K.result(failure.task_key))


def test_progress_events_for_flower(celery_worker, celery_app, registered, tmp_path):
    events: list[dict] = []
    with celery_app.connection_for_read() as conn:
        receiver = celery_app.events.Receiver(conn, handlers={"*": events.append})
        thread = threading.Thread(target=receiver.capture, kwargs={"limit": None, "timeout": None,
                                                                   "wakeup": False}, daemon=True)
        thread.start()
        try:
            with celery_app.events.default_dispatcher() as dispatcher:
                def listening() -> bool:
                    dispatcher.send("farm-test-ready")
                    return any(e["type"] == "farm-test-ready" for e in events)

                wait_for(listening, 10, "the event receiver never saw an event", interval=0.1)
            result = sweep("tf-progress", ["ADA/BTC"], executor="celery", store=store_at(tmp_path / "store"))
            (job,) = plan_sweep("tf-progress", ["ADA/BTC"]).jobs
            wait_for(lambda: any(e["type"] == "task-succeeded" and e.get("uuid") == job.key for e in events), 10,
                     "no task-succeeded event for the task")
        finally:
            receiver.should_stop = True
            thread.join(10)
    assert result.failures == []
    mine = [e for e in events if e.get("uuid") == job.key]
    received = next(e for e in mine if e["type"] == "task-received")
    assert received["name"] == "farm.run_job" and received["args"] == "tf_slowish ADA/BTC"
    progress = [e for e in mine if e["type"] == "task-progress"]
    assert len(progress) >= 2, f"expected progress events during a ~2 s backtest, got {progress}"
    for event in progress:
        assert event["symbol"] == "ADA/BTC" and event["strategy"] == "tf_slowish" and 0 <= event["progress"] <= 1
    gaps = [b["timestamp"] - a["timestamp"] for a, b in zip(progress, progress[1:], strict=False)]
    assert min(gaps) >= 0.95, f"progress events closer than 1 s apart: {gaps}"
    assert [e["progress"] for e in progress] == sorted(e["progress"] for e in progress)


def test_a_payload_the_worker_cannot_read_is_recorded(celery_worker, celery_app, tmp_path):
    store = store_at(tmp_path / "store")
    key = "0123456789abcdef0123456789abcdef01234567"
    celery_app.send_task("farm.run_job", args=[{"strategies": [], "bogus": 1}, store.url], task_id=key,
                         queue=INPROC_QUEUE)
    wait_for(lambda: store.exists(K.failure(key)), 10, "no failure record for an unreadable job")
    record = json.loads(store.read(K.failure(key)))
    assert record["status"] == "failed" and record["error"].startswith("invalid job for this worker")


# ---- separate worker processes: a broken import, a SIGKILL -------------------------------------


def test_module_failing_to_import_on_the_worker(worker_processes, registered, tmp_path, fresh_queue, use_queue,
                                                monkeypatch):
    from tests.farm import broken

    broken.register()
    imports = f"{HELPERS},tests.farm.broken"
    monkeypatch.setenv("FARM_IMPORTS", imports)
    use_queue(fresh_queue)
    worker = worker_processes("broken", fresh_queue, FARM_IMPORTS=imports, FARM_TEST_BREAK_IMPORT="1")

    done: dict[str, object] = {}
    thread = threading.Thread(target=lambda: done.update(result=sweep(
        "tf-broken", SYMBOLS[:1], executor="celery", store=store_at(tmp_path / "store"))), daemon=True)
    thread.start()
    thread.join(40)
    assert not thread.is_alive(), f"the sweep did not finish within 40 s; worker log:\n{worker.log()}"

    result = done["result"]
    assert result.tasks_total == 2
    assert {f.strategy_name for f in result.failures} >= {"tf_broken"}
    for failure in result.failures:
        assert ("module 'tests.farm.broken' failed to import: RuntimeError: tests.farm.broken is broken on "
                "this worker") in failure.error
    assert worker.alive(), f"the worker died of a broken FARM_IMPORTS module:\n{worker.log()}"
    assert "FARM_IMPORTS: module 'tests.farm.broken' failed to import" in worker.log()


@pytest.mark.parametrize(("how", "visibility_timeout", "redrive_after", "walker"), [
    ("broker redelivery after the visibility timeout", 5, 0, "tf-slow"),
    ("coordinator re-drive", 3600, 3, "tf-slow"),
    ("a block: broker redelivery", 5, 0, "tf-slow-block"),
    ("a block: coordinator re-drive", 3600, 3, "tf-slow-block"),
])
def test_sigkilled_worker_task_is_stored_exactly_once(how, visibility_timeout, redrive_after, walker,
                                                      worker_processes, registered, tmp_path, fresh_queue, use_queue,
                                                      monkeypatch, counter):
    """The worker dies while a task runs. In "tf-slow" the task is one job; in "tf-slow-block"
    it is a block of three tf_napper variants killed in its second job, after its first one was
    stored: the rerun of the block skips that one (its record is not even rewritten)."""
    from workers.executor import CeleryExecutor

    blocked = walker == "tf-slow-block"
    marker = tmp_path / "slow.marker"
    marker.touch()
    monkeypatch.setenv(SLOW_MARKER_ENV, str(marker))
    monkeypatch.setenv("FARM_REDRIVE_AFTER", str(redrive_after))
    monkeypatch.setenv("FARM_BLOCK_MIN_TASKS", "1")
    use_queue(fresh_queue)
    worker_env = {"FARM_VISIBILITY_TIMEOUT": str(visibility_timeout)}
    store = store_at(tmp_path / "store")
    jobs = plan_sweep(walker, SYMBOLS[:2]).jobs
    tasks = CeleryExecutor().blocks(jobs)
    killed = tasks[0]  # the first task queued blocks while the marker exists
    if blocked:
        assert len(tasks) == 2 and [len(t.jobs) for t in tasks] == [3, 3]
        done_before, sleeper = killed.jobs[0], killed.jobs[1]
        assert sleeper.strategies == ("tf_napper(nap=1)",)
    else:
        done_before, sleeper = None, killed.jobs[0]
        assert sleeper.strategies == ("tf_sleepy",)

    first = worker_processes("doomed", fresh_queue, **worker_env)
    done: dict[str, object] = {}
    started = time.monotonic()
    thread = threading.Thread(target=lambda: done.update(result=sweep(
        walker, SYMBOLS[:2], executor="celery", store=store, out=tmp_path / "out")), daemon=True)
    thread.start()
    wait_for(lambda: Path(f"{marker}.started").exists(), 30,
             lambda: f"the slow task never started on the first worker; its log:\n{first.log()}")
    first.kill()
    assert not store.exists(K.result(sleeper.key))
    if done_before is not None:
        assert store.exists(K.result(done_before.key)), "the block's first job was not stored before the kill"
        inode = (tmp_path / "store" / K.result(done_before.key)).stat().st_ino
    marker.unlink()  # from now on the slow strategy is fast
    second = worker_processes("rescuer", fresh_queue, **worker_env)
    thread.join(45)
    assert not thread.is_alive(), (f"{how}: the sweep did not finish within 45 s of the kill; second worker "
                                   f"log:\n{second.log()}")
    elapsed = time.monotonic() - started

    result = done["result"]
    assert result.failures == [], result.failures
    task_name = "farm.run_block" if blocked else "farm.run_job"
    assert f"{task_name}[{killed.key}]" in second.log(), "the killed task never reached the second worker"
    if redrive_after:
        assert killed.key in counter.published[len(tasks):], "the coordinator never re-queued the killed task"
    else:
        assert sorted(counter.published) == sorted(t.key for t in tasks), "queued once: the broker redelivered"
    stored = sorted(store.list("results/"))
    assert stored == sorted(K.result(job.key) for job in jobs), f"{how}: one result per job expected"
    assert list(store.list("failures/")) == []
    if done_before is not None:
        assert (tmp_path / "store" / K.result(done_before.key)).stat().st_ino == inode, \
            "the redelivered block ran its stored job again"
    local = sweep(walker, SYMBOLS[:2], executor="local", store=store_at(tmp_path / "local"))
    assert result.walker_results == local.walker_results
    assert elapsed < 45


# ---- g. no broker: a clear error within seconds ----------------------------------------------


def test_unreachable_broker_fails_fast(celery_app, registered, tmp_path, monkeypatch):
    from workers.app import configure

    url = "redis://127.0.0.1:1/0"
    monkeypatch.setenv("FARM_BROKER_URL", url)
    configure(celery_app)
    try:
        started = time.monotonic()
        with pytest.raises(FarmError, match=re.escape(url)) as caught:
            sweep("tf-clean", SYMBOLS, executor="celery", store=store_at(tmp_path / "store"))
        assert time.monotonic() - started < 10
        assert "Celery broker" in str(caught.value)
    finally:
        monkeypatch.setenv("FARM_BROKER_URL", BROKER_URL)
        configure(celery_app)
    assert celery_app.conf.broker_url == BROKER_URL == get_settings().broker_url


def test_a_module_imported_by_a_configured_module_is_allowed_but_nothing_else():
    """The allow-list is FARM_IMPORTS plus what those modules loaded at worker start-up."""
    import sys

    from farm.run import execute as ex

    before = set(sys.modules)
    sys.modules.setdefault("pretend_strategy_pkg_for_test", sys.modules["json"])  # "loaded by" a configured module
    try:
        ex.mark_configured_imports(before)
        ex.import_job_modules(["pretend_strategy_pkg_for_test"], allowed=["configured_mod"])
        with pytest.raises(ex.JobError, match="module 'json' is not in this worker's FARM_IMPORTS"):
            ex.import_job_modules(["json"], allowed=["configured_mod"])  # loaded, but not by configured code
    finally:
        sys.modules.pop("pretend_strategy_pkg_for_test", None)
        ex._loaded_by_configured.discard("pretend_strategy_pkg_for_test")
