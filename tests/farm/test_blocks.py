"""Variant blocks (issue #6): several variants of one strategy on one symbol in one farm task.

Jobs stay the unit of results (one record per job key), so the block size must change nothing a
user reads: records, reports, re-runs, progress. What it changes is the number of tasks and
that a block's jobs share the candles its first job loaded.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import farm
from farm.data.sample import sample_source
from farm.identity import FrameSpan
from farm.persist import keys as K
from farm.run.blocks import JobBlock, effective_block_size, plan_blocks
from farm.run.execute import execute_block_and_store
from farm.run.executors import LocalExecutor
from farm.run.jobs import BacktestJob, TaskFailure, TaskResult, job_payload_key
from farm.run.sweep import plan_sweep, sweep
from tests.farm.conftest import report_bytes, store_at
from tests.farm.names import BOOM_SYMBOL, EXCHANGE, FRAME, SYMBOLS

GRID_JOBS_PER_SYMBOL = 10
"""tf-grid: 8 tf_sma variants (one block), tf_boom (alone), the tf_risky risk group (one job)."""


def record(store, key: str) -> dict:
    """A stored result without what differs between two runs of the same job: its timing, its
    host, and why it ran per tick (a Celery worker's progress listener is one more reason)."""
    data = json.loads(store.read(K.result(key)))
    for outcome in data["outcomes"]:
        outcome.pop("path_reason", None)
    return {k: v for k, v in data.items() if k not in ("elapsed_seconds", "worker")}


# ---- planning -------------------------------------------------------------------------------


def test_blocks_group_one_strategys_variants_per_symbol(registered):
    jobs = plan_sweep("tf-grid", SYMBOLS).jobs
    blocks = plan_blocks(jobs, 50)

    assert [len(b.jobs) for b in blocks] == [8, 1, 1] * len(SYMBOLS)
    assert [job for b in blocks for job in b.jobs] == jobs  # every job once, in the walker's order
    for block in blocks:
        assert len({(j.symbol, j.exchange_name, j.frame_name, j.code_version) for j in block.jobs}) == 1
    risk_group = blocks[2].jobs[0]
    assert risk_group.strategies == ("tf_risky(fast=5)", "tf_risky(fast=8)")
    assert blocks[0].label == "tf_sma x8 ADA/BTC [tf_sma(fast=3,slow=20) .. tf_sma(fast=13,slow=30)]"
    assert blocks[1].label == "tf_boom ADA/BTC"
    # Deterministic: the same jobs give the same blocks and task ids in any process.
    assert [b.key for b in plan_blocks(list(jobs), 50)] == [b.key for b in blocks]
    assert blocks[1].key == blocks[1].jobs[0].key  # a one-job block is the job's own task
    assert len({b.key for b in blocks}) == len(blocks)
    # block size 1 is one task per job, as without blocks
    assert [b.jobs for b in plan_blocks(jobs, 1)] == [(job,) for job in jobs]


def test_blocks_are_even_and_shrink_to_keep_workers_busy():
    def job(i: int) -> BacktestJob:
        return BacktestJob(strategies=(f"s(fast={i})",), symbol="X/Y", exchange_name="e", frame_name="f",
                           frame=FrameSpan(interval="1m", start_ms=0, end_ms=60_000), data="d", config={},
                           code_version="v")

    jobs = [job(i) for i in range(1000)]
    sizes = [len(b.jobs) for b in plan_blocks(jobs, 64)]
    assert len(sizes) == 16 and set(sizes) == {62, 63} and sum(sizes) == 1000
    assert len(plan_blocks(jobs, 50)) == 20
    # 2 local processes want at least 8 tasks: 1,000 jobs by 50 are 20 already
    assert len(plan_blocks(jobs, 50, min_tasks=8)) == 20
    # 40 jobs by 50 would be one task for 2 processes: shrunk to 8 tasks of 5
    assert [len(b.jobs) for b in plan_blocks(jobs[:40], 50, min_tasks=8)] == [5] * 8
    assert effective_block_size(3, 50, 16) == 1
    with pytest.raises(ValueError, match="block size must be a positive integer, got 0"):
        effective_block_size(10, 0, 0)


def test_block_size_setting(monkeypatch):
    from farm.config import get_settings

    assert (get_settings().block_size, get_settings().block_min_tasks) == (50, 0)
    monkeypatch.setenv("FARM_BLOCK_SIZE", "7")
    assert get_settings().block_size == 7
    monkeypatch.setenv("FARM_BLOCK_SIZE", "0")
    with pytest.raises(ValueError, match="block_size"):
        get_settings()


def test_payload_key_is_the_job_key(registered):
    for job in plan_sweep("tf-grid", SYMBOLS[:1]).jobs:
        assert job_payload_key(json.loads(json.dumps(job.model_dump(mode="json")))) == job.key
    assert job_payload_key(["not", "a", "job"]) is None


# ---- the same sweep whatever the block size -----------------------------------------------------


def test_block_size_changes_no_record_and_no_report_byte(registered, tmp_path, monkeypatch):
    monkeypatch.setenv("FARM_BLOCK_MIN_TASKS", "1")  # blocks as large as the setting allows
    single = sweep("tf-grid", SYMBOLS, executor="local", workers=2, block_size=1,
                   store=store_at(tmp_path / "s1"), out=tmp_path / "out1")
    seen = []
    store = store_at(tmp_path / "s50")
    blocked = sweep("tf-grid", SYMBOLS, executor="local", workers=2, block_size=50, store=store,
                    out=tmp_path / "out50", on_progress=seen.append)

    total = GRID_JOBS_PER_SYMBOL * len(SYMBOLS)
    assert LocalExecutor(2, block_size=50).blocks(plan_sweep("tf-grid", SYMBOLS).jobs).__len__() == 9
    assert blocked.tasks_total == blocked.tasks_run == single.tasks_run == total
    assert blocked.walker_results == single.walker_results and blocked.heatmap == single.heatmap
    assert blocked.errors == single.errors and [e.symbol for e in blocked.errors] == [BOOM_SYMBOL]
    assert blocked.failures == single.failures == []
    assert sorted(store.list("results/")) == sorted(store_at(tmp_path / "s1").list("results/"))
    for job in plan_sweep("tf-grid", SYMBOLS).jobs:
        assert record(store, job.key) == record(store_at(tmp_path / "s1"), job.key)
    reports = report_bytes(tmp_path / "out50")
    assert reports and reports == report_bytes(tmp_path / "out1")
    # progress counts jobs, one by one, whatever the task they ran in
    assert [p.done for p in seen] == list(range(total + 1)) and seen[-1].total == total

    again = sweep("tf-grid", SYMBOLS, executor="local", workers=2, block_size=50, store=store,
                  out=tmp_path / "again")
    assert (again.tasks_run, again.tasks_skipped) == (0, total)
    assert report_bytes(tmp_path / "again") == reports


@pytest.mark.parametrize("executor", ["local", "celery"])
def test_a_failing_variant_fails_alone_in_its_block(executor, registered, tmp_path, monkeypatch, request):
    """A variant this worker cannot build fails with its traceback; its block's other jobs are stored."""
    from farm.run.executors import get_executor

    if executor == "celery":
        request.getfixturevalue("celery_worker")
    monkeypatch.setenv("FARM_BLOCK_MIN_TASKS", "1")
    good = plan_sweep("tf-grid", [BOOM_SYMBOL]).jobs[:2]
    bad = good[0].model_copy(update={"strategies": ("tf_sma(fast=7,nope=1)",)})
    jobs = [good[0], bad, good[1]]
    assert [len(b.jobs) for b in plan_blocks(jobs, 50)] == [3]  # one block, the bad job in its middle
    store = store_at(tmp_path / "store")

    get_executor(executor, workers=2).run("s", jobs, store)

    failure = TaskFailure.model_validate_json(store.read(K.failure(bad.key)))
    assert failure.error == "SchemaError: strategy tf_sma has no parameter nope; declared params: fast, slow"
    assert "Traceback (most recent call last)" in failure.traceback and "get_strategy" in failure.traceback
    assert not store.exists(K.result(bad.key))
    clean = store_at(tmp_path / "clean")
    execute_block_and_store(good, clean)
    for job in good:
        assert TaskResult.model_validate_json(store.read(K.result(job.key))).outcomes[0].stats.total_signals > 0
        assert record(store, job.key) == record(clean, job.key)
        assert not store.exists(K.failure(job.key))


# ---- a block loads its candles once ---------------------------------------------------------------


def _register_vectorised() -> str:
    """sma_cross in both forms on 5m candles: the kernel path where it is wired (`backtest_path`
    auto), the per-tick one otherwise; the candles come through the exchange either way."""
    from strategies import sma_cross

    farm.add_strategy("tf_vec", "5m", sma_cross.get_signal, params=dict(sma_cross.PARAMS),
                      signals=sma_cross.vectorised_signals)
    return "tf_vec"


class CountingSource:
    """A candle source that counts the calls the engine makes to it."""

    def __init__(self) -> None:
        self.source = sample_source("5m")
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        return self.source(*args, **kwargs)


@pytest.mark.parametrize("form", ["per-tick", "vectorised"])
def test_a_block_loads_its_candles_once(form, registered, tmp_path):
    """The block's jobs share its exchange clients: ten variants ask the source for no more
    candles than one does. Nothing survives the block: a second block loads them again."""
    base = "tf_sma" if form == "per-tick" else _register_vectorised()
    sources = {}
    for name in ("tf-count-block", "tf-count-lone"):
        sources[name] = CountingSource()
        farm.add_exchange(name, sources[name])
        farm.add_walker(name, name, FRAME, farm.grid(base, fast=list(range(3, 13))))
    block = plan_sweep("tf-count-block", ["ETH/BTC"]).jobs
    lone = plan_sweep("tf-count-lone", ["ETH/BTC"]).jobs[:1]
    assert len(plan_blocks(block, 50)) == 1 and len(block) == 10
    store = store_at(tmp_path / "store")

    # The lone job has the key of the block's first (same data, frame, code: keys hold no exchange
    # name), so it gets a store of its own, or it would be found stored and not run.
    statuses = execute_block_and_store(block, store) + execute_block_and_store(lone, store_at(tmp_path / "lone"))

    assert {status for _, status in statuses} == {"ok"}
    fetches_block = sources["tf-count-block"].calls
    fetches_lone = sources["tf-count-lone"].calls
    assert fetches_block == fetches_lone > 0, (fetches_block, fetches_lone)
    again = plan_sweep("tf-count-block", ["ETH/BTC"]).jobs[:1]
    execute_block_and_store(again, store_at(tmp_path / "again"))
    assert sources["tf-count-block"].calls == 2 * fetches_block  # the first block kept nothing
    paths = {TaskResult.model_validate_json(store.read(K.result(j.key))).outcomes[0].model_dump().get("path")
             for j in block}
    assert len(paths) == 1  # every variant took the same path (reported once the kernel is wired)


def test_a_block_skips_the_jobs_already_stored(registered, tmp_path):
    """What a retried or redelivered block does: stored jobs are not run again (not rewritten)."""
    jobs = plan_sweep("tf-grid", SYMBOLS[:1]).jobs[:3]
    store = store_at(tmp_path / "store")
    execute_block_and_store(jobs[:1], store)
    first = Path(tmp_path / "store" / K.result(jobs[0].key))
    inode = first.stat().st_ino
    seen: list[tuple[str, str]] = []

    statuses = execute_block_and_store(jobs, store, on_job=lambda key, status: seen.append((key, status)))

    assert statuses == seen == [(job.key, "ok") for job in jobs]
    assert first.stat().st_ino == inode, "a stored job was run and written again"
    assert all(store.exists(K.result(job.key)) for job in jobs)


# ---- blocks on Celery ---------------------------------------------------------------------------


def test_block_messages_are_json_and_readable_in_flower(celery_app, registered, tmp_path, broker_redis, fresh_queue,
                                                        use_queue, monkeypatch):
    from workers.executor import CeleryExecutor

    monkeypatch.setenv("FARM_BLOCK_MIN_TASKS", "1")
    use_queue(fresh_queue)  # no worker consumes it
    manifest = plan_sweep("tf-grid", SYMBOLS[:1])
    store = store_at(tmp_path / "store")
    blocks = CeleryExecutor().submit(manifest.sweep_id, manifest.jobs, store)

    raw = broker_redis.lrange(fresh_queue, 0, -1)
    assert len(raw) == len(blocks) == 3
    by_key = {block.key: block for block in blocks}
    for item in raw:
        envelope = json.loads(item)
        assert envelope["content-type"] == "application/json"
        args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        headers = envelope["headers"]
        block = by_key.pop(headers["id"])
        assert headers["argsrepr"] == block.label and kwargs == {"sweep_id": manifest.sweep_id}
        if len(block.jobs) == 1:
            assert headers["task"] == "farm.run_job" and args == [block.jobs[0].model_dump(mode="json"), store.url]
        else:
            assert headers["task"] == "farm.run_block"
            assert args == [[job.model_dump(mode="json") for job in block.jobs], store.url]
            assert headers["argsrepr"].startswith("tf_sma x8 ADA/BTC [")
    assert by_key == {}


def test_celery_blocks_equal_local_jobs_and_a_rerun_runs_nothing(celery_worker, registered, tmp_path, monkeypatch,
                                                                  counter):
    local = sweep("tf-grid", SYMBOLS, executor="local", workers=2, block_size=1, store=store_at(tmp_path / "l"),
                  out=tmp_path / "local")
    monkeypatch.setenv("FARM_BLOCK_MIN_TASKS", "1")
    store = store_at(tmp_path / "c")
    seen = []
    remote = sweep("tf-grid", SYMBOLS, executor="celery", store=store, out=tmp_path / "celery",
                   on_progress=seen.append)

    blocks = plan_blocks(plan_sweep("tf-grid", SYMBOLS).jobs, 50)
    assert sorted(counter.run) == sorted(b.key for b in blocks) and len(counter.run) == 9
    assert remote.tasks_run == GRID_JOBS_PER_SYMBOL * len(SYMBOLS)
    assert remote.walker_results == local.walker_results and remote.errors == local.errors
    assert report_bytes(tmp_path / "celery") == report_bytes(tmp_path / "local")
    assert seen[-1].done == remote.tasks_total and [p.done for p in seen] == sorted(p.done for p in seen)
    counter.run.clear(), counter.published.clear()

    again = sweep("tf-grid", SYMBOLS, executor="celery", store=store, out=tmp_path / "again")
    assert (again.tasks_run, again.tasks_skipped) == (0, remote.tasks_total)
    assert counter.published == [] and counter.run == []
    assert report_bytes(tmp_path / "again") == report_bytes(tmp_path / "celery")


def test_job_block_key_is_stable_and_distinct(registered):
    jobs = plan_sweep("tf-grid", SYMBOLS[:1]).jobs[:8]
    assert JobBlock(tuple(jobs)).key == JobBlock(tuple(jobs)).key
    assert JobBlock(tuple(jobs)).key != JobBlock(tuple(reversed(jobs))).key
    assert JobBlock(tuple(jobs)).key not in {job.key for job in jobs}


def test_block_progress_events_count_jobs(registered):
    """What Flower gets from a block of 4 jobs: progress over the whole block, and the job count."""
    from farm.models import BacktestProgress
    from workers.progress import ProgressForwarder

    sent: list[tuple[str, dict]] = []
    now = {"t": 0.0}
    forwarder = ProgressForwarder(lambda type_, **fields: sent.append((type_, fields)), "ETH/BTC",
                                  ["tf_sma(fast=3)", "tf_sma(fast=5)"], min_interval=1.0, clock=lambda: now["t"],
                                  jobs_total=4)

    def frame(strategy: str, progress: float) -> None:
        now["t"] += 1.0
        forwarder(BacktestProgress(exchange_name=EXCHANGE, strategy_name=strategy, symbol="ETH/BTC",
                                   total_frames=100, processed_frames=int(progress * 100), progress=progress))

    with forwarder:
        frame("tf_sma(fast=3)", 0.5)
        now["t"] += 1.0
        forwarder.job_done("k1", "ok")
        frame("tf_sma(fast=5)", 0.5)
        forwarder.job_done("k2", "failed")  # within min_interval of the last event: not sent
        frame("tf_sma(fast=8)", 0.5)  # not a strategy of this block
        frame("tf_sma(fast=3)", 0.25)  # the next job's frames (its strategy name is only a label)
    assert [fields for _, fields in sent] == [
        {"progress": 0.125, "symbol": "ETH/BTC", "strategy": "tf_sma(fast=3)", "jobs_done": 0, "jobs_total": 4,
         "result": "progress 12% · job 1 of 4 · tf_sma(fast=3) ETH/BTC"},
        {"progress": 0.25, "symbol": "ETH/BTC", "jobs_done": 1, "jobs_total": 4,
         "result": "progress 25% · job 2 of 4 · ETH/BTC"},
        {"progress": 0.375, "symbol": "ETH/BTC", "strategy": "tf_sma(fast=5)", "jobs_done": 1, "jobs_total": 4,
         "result": "progress 38% · job 2 of 4 · tf_sma(fast=5) ETH/BTC"},
        {"progress": 0.5625, "symbol": "ETH/BTC", "strategy": "tf_sma(fast=3)", "jobs_done": 2, "jobs_total": 4,
         "result": "progress 56% · job 3 of 4 · tf_sma(fast=3) ETH/BTC"},
    ]  # `result` is the line Flower shows while the block runs
    assert {type_ for type_, _ in sent} == {"task-progress"}


def test_a_vectorised_block_is_not_kept_off_the_kernel_by_its_progress_listener(registered):
    """Per-frame progress listeners are per-tick Python: a task whose strategy has a vectorised
    form reports progress per job instead, and the engine sees no listener."""
    from farm import events
    from workers.progress import ProgressForwarder

    name = _register_vectorised()
    with ProgressForwarder(lambda *a, **k: None, "ETH/BTC", [f"{name}(fast=3)"], jobs_total=2):
        assert not events.backtest_progress.has_listeners
    with ProgressForwarder(lambda *a, **k: None, "ETH/BTC", ["tf_sma(fast=3)"], jobs_total=2):
        assert events.backtest_progress.has_listeners
    assert not events.backtest_progress.has_listeners
