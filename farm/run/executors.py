"""Where jobs run: `local` (a process pool on this machine, the embedded default) or `celery`
(the app in `workers/`, looked up lazily so the library never needs Celery to import)."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from farm.config import get_settings
from farm.errors import FarmError
from farm.persist import Store
from farm.run.blocks import TASKS_PER_WORKER, JobBlock, plan_blocks
from farm.run.execute import execute_block_and_store, record_unfinished
from farm.run.jobs import BacktestJob
from farm.run.limits import JobTimedOut, JobTimeoutError, soft_limit, soft_limit_message, time_limits
from farm.run.shutdown import ignore_in_pool_process
from farm.run.sweep import SweepProgress

ProgressFn = Callable[[SweepProgress], Any]
PROGRESS_POLL = 0.1
"""Seconds between looks at the pool's per-job outcomes while blocks run."""


class Executor(Protocol):
    def run(self, sweep_id: str, jobs: Sequence[BacktestJob], store: Store, *,
            on_progress: ProgressFn | None = None, skipped: int = 0) -> None: ...

    def submit(self, sweep_id: str, jobs: Sequence[BacktestJob], store: Store) -> Any: ...


_progress: Any = None
"""In a pool process: the queue per-job outcomes go to, for the parent's progress bar."""
_store: Store | None = None
"""In a pool process: its own copy of the sweep's store (own connections, same keys)."""


def _init_child(progress: Any, store_pickle: bytes) -> None:
    """The store comes pickled: a store pickles as its configuration, so the child opens its
    own client to the same place (the parent's sockets are never shared across a fork), with
    whatever endpoint the parent's store was given, not only the one in the settings."""
    global _progress, _store
    _progress = progress
    ignore_in_pool_process()
    _store = pickle.loads(store_pickle)  # noqa: S301 - pickled by our own parent process


def _run_in_child(jobs_json: str, sweep_id: str) -> list[tuple[str, str]]:
    """A pool process runs one block: the registrations came with fork; records go straight to
    the store, each job's outcome to the parent as it ends."""
    assert _store is not None, "pool process started without _init_child"
    jobs = [BacktestJob.model_validate(job) for job in json.loads(jobs_json)]
    on_job = None if _progress is None else (lambda key, status: _progress.put((key, status)))
    return run_bounded(jobs, _store, sweep_id=sweep_id, on_job=on_job)


def run_bounded(jobs: Sequence[BacktestJob], store: Store, *, sweep_id: str,
                on_job: Callable[[str, str], Any] | None = None) -> list[tuple[str, str]]:
    """A block under its soft time limit (`farm.run.limits`): past it, the block's jobs without a
    record are recorded as failed with "timed out" (a `get_signal` asleep in C included)."""
    _, soft = time_limits(len(jobs))
    try:
        with soft_limit(soft):
            return execute_block_and_store(jobs, store, sweep_id=sweep_id, on_job=on_job)
    except JobTimedOut:
        statuses = record_unfinished(jobs, store, JobTimeoutError(soft_limit_message(len(jobs))), sweep_id=sweep_id)
        for key, status in statuses:
            if on_job is not None:
                on_job(key, status)
        return statuses


class LocalExecutor:
    """A process pool on this machine: no broker, no servers. Fork start keeps the parent's
    registrations (strategies defined in a script or a notebook work as they are). Jobs go to
    the pool as variant blocks (`farm.run.blocks`): FARM_BLOCK_SIZE jobs at most, shrunk so each
    process gets at least 4 tasks when the sweep has the jobs for it. Each block runs under its
    soft time limit (`run_bounded`); the local pool has no hard one (a block that ignores the
    signal is not killed)."""

    def __init__(self, workers: int | None = None, *, block_size: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.block_size = block_size

    def blocks(self, jobs: Sequence[BacktestJob]) -> list[JobBlock]:
        settings = get_settings()
        return plan_blocks(jobs, self.block_size or settings.block_size,
                           min_tasks=settings.block_min_tasks or TASKS_PER_WORKER * self.workers)

    def run(self, sweep_id: str, jobs: Sequence[BacktestJob], store: Store, *,
            on_progress: ProgressFn | None = None, skipped: int = 0) -> None:
        progress = SweepProgress(sweep_id=sweep_id, total=len(jobs) + skipped, done=skipped, failed=0,
                                 skipped=skipped)
        if on_progress:
            on_progress(progress.model_copy())
        if not jobs:
            return
        counted: set[str] = set()

        def count(key: str, status: str) -> None:
            if key in counted:
                return
            counted.add(key)
            self._count(progress, status, on_progress)

        blocks = self.blocks(jobs)
        if self.workers == 1:
            for block in blocks:
                run_bounded(block.jobs, store, sweep_id=sweep_id, on_job=count)
            return
        context = multiprocessing.get_context("fork")
        queue = context.SimpleQueue() if on_progress else None

        def drain() -> None:
            while queue is not None and not queue.empty():
                count(*queue.get())

        with ProcessPoolExecutor(max_workers=min(self.workers, len(blocks)), mp_context=context,
                                 initializer=_init_child, initargs=(queue, pickle.dumps(store))) as pool:
            futures: dict[Future[list[tuple[str, str]]], JobBlock] = {
                pool.submit(_run_in_child, json.dumps([job.model_dump(mode="json") for job in block.jobs]),
                            sweep_id): block
                for block in blocks
            }
            remaining = set(futures)
            try:
                while remaining:
                    finished, remaining = wait(remaining, timeout=None if queue is None else PROGRESS_POLL,
                                               return_when=FIRST_COMPLETED)
                    drain()
                    for future in finished:
                        block = futures[future]
                        try:
                            statuses = future.result()
                        except BrokenProcessPool as exc:
                            statuses = record_unfinished(block.jobs, store, FarmError(f"the worker process died: {exc}"),
                                                         sweep_id=sweep_id)
                        except Exception as exc:  # noqa: BLE001 - a store that could not be written
                            statuses = record_unfinished(block.jobs, store, exc, sweep_id=sweep_id)
                        for key, status in statuses:
                            count(key, status)
            except BaseException:  # Ctrl-C, SIGTERM (farm.run.shutdown): stop now, not after the queued work
                _stop_pool(pool)
                raise
        if queue is not None:
            queue.close()

    @staticmethod
    def _count(progress: SweepProgress, status: str, on_progress: ProgressFn | None) -> None:
        if status == "ok":
            progress.done += 1
        else:
            progress.failed += 1
        if on_progress:
            on_progress(progress.model_copy())

    def submit(self, sweep_id: str, jobs: Sequence[BacktestJob], store: Store) -> None:
        raise FarmError("detach needs the celery executor: a local pool ends with this process")


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Drop the queued blocks and end the pool's processes (their running jobs leave no record;
    finished ones are stored). Python before 3.14 has no public call for the second half."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)


def get_executor(name: str, *, workers: int | None = None, block_size: int | None = None) -> Executor:
    """`block_size` None: FARM_BLOCK_SIZE."""
    if name == "local":
        return LocalExecutor(workers, block_size=block_size)
    if name == "celery":
        from workers.executor import CeleryExecutor

        return CeleryExecutor(block_size=block_size)
    raise FarmError(f"unknown executor {name!r}: use 'local' or 'celery'")
