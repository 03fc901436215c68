"""Where jobs run: `local` (a process pool on this machine, the embedded default) or `celery`
(the app in `workers/`, looked up lazily so the library never needs Celery to import)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from farm.errors import FarmError
from farm.persist import Store, open_store
from farm.run.execute import execute_and_store, record_failure
from farm.run.jobs import BacktestJob
from farm.run.sweep import SweepProgress

ProgressFn = Callable[[SweepProgress], Any]


class Executor(Protocol):
    def run(self, sweep_id: str, jobs: Sequence[BacktestJob], store: Store, *,
            on_progress: ProgressFn | None = None, skipped: int = 0) -> None: ...

    def submit(self, sweep_id: str, jobs: Sequence[BacktestJob], store: Store) -> None: ...


def _run_in_child(job_json: str, store_url: str, sweep_id: str) -> str:
    """A pool process: the registrations came with fork; results go straight to the store."""
    job = BacktestJob.model_validate_json(job_json)
    result = execute_and_store(job, open_store(store_url), sweep_id=sweep_id)
    return result.status


class LocalExecutor:
    """A process pool on this machine: no broker, no servers. Fork start keeps the parent's
    registrations (strategies defined in a script or a notebook work as they are)."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)

    def run(self, sweep_id: str, jobs: Sequence[BacktestJob], store: Store, *,
            on_progress: ProgressFn | None = None, skipped: int = 0) -> None:
        progress = SweepProgress(sweep_id=sweep_id, total=len(jobs) + skipped, done=skipped, failed=0,
                                 skipped=skipped)
        if on_progress:
            on_progress(progress)
        if not jobs:
            return
        if self.workers == 1:
            for job in jobs:
                status = execute_and_store(job, store, sweep_id=sweep_id).status
                self._count(progress, status, on_progress)
            return
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)), mp_context=context) as pool:
            futures: dict[Future[str], BacktestJob] = {
                pool.submit(_run_in_child, job.model_dump_json(), store.url, sweep_id): job for job in jobs
            }
            remaining = set(futures)
            while remaining:
                finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        status = future.result()
                    except BrokenProcessPool as exc:
                        record_failure(futures[future], store, FarmError(f"the worker process died: {exc}"),
                                       sweep_id=sweep_id)
                        status = "failed"
                    except Exception as exc:  # noqa: BLE001 - a store that could not be written
                        record_failure(futures[future], store, exc, sweep_id=sweep_id)
                        status = "failed"
                    self._count(progress, status, on_progress)

    @staticmethod
    def _count(progress: SweepProgress, status: str, on_progress: ProgressFn | None) -> None:
        if status == "ok":
            progress.done += 1
        else:
            progress.failed += 1
        if on_progress:
            on_progress(progress)

    def submit(self, sweep_id: str, jobs: Sequence[BacktestJob], store: Store) -> None:
        raise FarmError("detach needs the celery executor: a local pool ends with this process")


def get_executor(name: str, *, workers: int | None = None) -> Executor:
    if name == "local":
        return LocalExecutor(workers)
    if name == "celery":
        from workers.executor import CeleryExecutor

        return CeleryExecutor()
    raise FarmError(f"unknown executor {name!r}: use 'local' or 'celery'")
