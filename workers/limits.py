"""Every farm task is bounded: time limits derived from its work, set by the worker.

A task of n jobs gets the limits of `farm.run.limits.time_limits`: a soft limit of
n x FARM_JOB_TIME_LIMIT seconds and a hard one a little later. The worker computes both from the
message's job count (`FarmRequest`); a `timelimit` the message carries is ignored (a message
carries no authority).

- At the soft limit the pool process gets SIGUSR1; inside the task (`farm.run.limits.
  soft_limit_raises`) that raises `JobTimedOut` and the task records its jobs without a record as
  failed with "timed out".
- At the hard limit (code blocked in C that never sees the signal) the pool kills the process
  and starts another; `FarmTask.on_failure`, in the worker's main process, records the jobs
  without a record as failed with "timed out".

The prefork pool (the default of `farm worker`) enforces both; the solo and thread pools
enforce neither.
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.exceptions import TimeLimitExceeded
from celery import Task
from celery.worker.request import Request

from farm.run.limits import JobTimeoutError, time_limits

logger = logging.getLogger(__name__)


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


__all__ = ["FarmRequest", "FarmTask", "jobs_in", "record_timed_out"]
