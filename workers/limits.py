"""Every farm task is bounded: time limits derived from its work, set by the worker.

A task of n jobs gets a soft limit of n x FARM_JOB_TIME_LIMIT seconds and a hard limit a little
later (`time_limits`). The worker computes both from the message's job count (`FarmRequest`);
a `timelimit` the message carries is ignored (a message carries no authority).

- At the soft limit the pool process gets SIGUSR1; during a farm task that raises `JobTimedOut`,
  a `BaseException` so that no `except Exception` on the way (the engine reports a strategy's
  exceptions and goes on) can swallow it. The task records its jobs without a record as failed
  with "timed out" and returns.
- At the hard limit (code blocked in C that never sees the signal) the pool kills the process
  and starts another; `FarmTask.on_failure`, in the worker's main process, records the jobs
  without a record as failed with "timed out".

The prefork pool (the default of `farm worker`) enforces both; the solo and thread pools
enforce neither.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Any

from billiard.exceptions import TimeLimitExceeded
from celery import Task
from celery.worker.request import Request

from farm.config import FarmSettings, get_settings
from farm.errors import FarmError

logger = logging.getLogger(__name__)

HARD_MARGIN = 0.1
"""The hard limit is the soft one plus this fraction of it (at least HARD_MIN_MARGIN seconds):
time for the task to record its timed-out jobs after the soft limit."""
HARD_MIN_MARGIN = 2.0


class JobTimedOut(BaseException):  # noqa: N818 - a signal from the pool, not an error of the job's code
    """The soft time limit of the running farm task passed."""


class JobTimeoutError(FarmError):
    """A job's failure: its task ran past its time limit (the message says which)."""


def time_limits(jobs: int, settings: FarmSettings | None = None) -> tuple[float, float]:
    """(hard, soft) seconds for a task of `jobs` jobs, Celery's order."""
    settings = settings or get_settings()
    soft = max(1, jobs) * settings.job_time_limit
    return soft + max(HARD_MIN_MARGIN, HARD_MARGIN * soft), soft


def jobs_in(name: str, args: Any) -> int:
    """How many jobs a farm task's arguments hold (1 for a job, the list's length for a block)."""
    if name == "farm.run_block" and isinstance(args, (list, tuple)) and args and isinstance(args[0], list):
        return len(args[0])
    return 1


class FarmRequest(Request):
    """A farm task's request: its time limits are the worker's (`time_limits`), never the message's."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.time_limits = time_limits(jobs_in(self.name, self._request_dict.get("args")))


@contextlib.contextmanager
def soft_limit_raises() -> Iterator[None]:
    """While in the block, the soft-limit signal raises `JobTimedOut` (outside it, the pool's own
    handler is back)."""
    sig = getattr(signal, "SIGUSR1", None)
    if sig is None:
        yield
        return

    def on_soft_limit(signum: int, frame: Any) -> None:
        raise JobTimedOut()

    try:
        previous = signal.signal(sig, on_soft_limit)
    except ValueError:  # not the main thread (an in-process test worker): no signal reaches us here
        yield
        return
    try:
        yield
    finally:
        signal.signal(sig, previous)


class FarmTask(Task):
    """Base of the farm's tasks: `FarmRequest`, and a hard time limit recorded as the jobs' failure."""

    Request = "workers.limits:FarmRequest"

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        if isinstance(exc, TimeLimitExceeded):
            record_timed_out(self.name, args, kwargs, f"killed at the hard time limit of {exc.args[0]} s")
        super().on_failure(exc, task_id, args, kwargs, einfo)


def record_timed_out(name: str, args: Any, kwargs: Any, how: str) -> None:
    """Record each job of a farm task's arguments that has no record yet as timed out (in the
    worker's main process, after the pool killed the task's process)."""
    from farm.run.execute import record_unfinished
    from farm.run.jobs import BacktestJob
    from workers.tasks import worker_store

    try:
        payloads = args[0] if name == "farm.run_block" else [args[0]]
        jobs = [BacktestJob.model_validate(payload) for payload in payloads]
        store = worker_store(args[1])
        sweep_id = (kwargs or {}).get("sweep_id", args[2] if len(args) > 2 else None)
        record_unfinished(jobs, store, JobTimeoutError(f"timed out: {how}"), sweep_id=sweep_id)
    except Exception:  # noqa: BLE001 - the coordinator's re-drive still covers these jobs
        logger.exception("%s: could not record its jobs as timed out", name)


__all__ = ["FarmRequest", "FarmTask", "JobTimedOut", "JobTimeoutError", "jobs_in", "record_timed_out",
           "soft_limit_raises", "time_limits"]
