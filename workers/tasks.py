"""The farm's one task: run a `BacktestJob` and leave its record (result or failure) in the store.

The task is thin on purpose: `farm.run.execute.execute_and_store` does the work exactly as a
local pool process does, so both executors give identical records. What is Celery's here:
retries with exponential backoff for transient failures (a data source or the store timing out),
progress events for Flower, and a small JSON summary as the task's return value.
"""

from __future__ import annotations

import json
import re
import socket
from typing import Any

from celery.utils.log import get_logger
from pydantic import ValidationError

from farm.config import get_settings
from farm.persist import keys as K
from farm.persist import open_store
from farm.run.execute import execute_and_store, record_failure
from farm.run.jobs import BacktestJob
from workers.app import app
from workers.progress import ProgressForwarder

logger = get_logger(__name__)

TASK_NAME = "farm.run_job"
MAX_RETRIES = 3
BACKOFF_SECONDS = 2.0
"""First retry after this many seconds, doubling each time (2, 4, 8 s), capped at BACKOFF_MAX."""
BACKOFF_MAX = 60.0
PROGRESS_MIN_INTERVAL = 1.0

_KEY = re.compile(r"[0-9a-f]{40}")


def job_label(job: BacktestJob) -> str:
    """How a job reads in Flower and the worker log: `sma_cross(fast=5) ETH/BTC`."""
    return f"{', '.join(job.strategies)} {job.symbol}"


def retry_delay(retries: int) -> float:
    return min(BACKOFF_MAX, BACKOFF_SECONDS * 2**retries)


def summary(key: str | None, status: str, sweep_id: str | None) -> dict[str, Any]:
    return {"key": key, "status": status, "sweep_id": sweep_id}


@app.task(name=TASK_NAME, bind=True, acks_late=True, max_retries=MAX_RETRIES)
def run_job(self: Any, job: dict[str, Any], store_url: str, sweep_id: str | None = None) -> dict[str, Any]:
    """Run `job` (a `BacktestJob` as a JSON dict) and store its record in `store_url`."""
    try:
        parsed = BacktestJob.model_validate(job)
    except ValidationError as exc:
        return _invalid_job(self.request.id, job, store_url, sweep_id, exc)
    store = open_store(store_url)

    def send(type_: str, **fields: Any) -> None:
        self.send_event(type_, retry=False, **fields)

    try:
        with ProgressForwarder(send, parsed.symbol, parsed.strategies, min_interval=PROGRESS_MIN_INTERVAL):
            result = execute_and_store(parsed, store, allowed_imports=get_settings().import_list(),
                                       raise_transient=True, sweep_id=sweep_id)
    except Exception as exc:  # noqa: BLE001 - TransientJobError, or a store that could not be written
        retries = self.request.retries or 0
        if retries < MAX_RETRIES:
            delay = retry_delay(retries)
            logger.warning("%s: %s: %s; retry %d of %d in %.0f s", job_label(parsed), type(exc).__name__, exc,
                           retries + 1, MAX_RETRIES, delay)
            raise self.retry(exc=exc, countdown=delay, max_retries=MAX_RETRIES,
                             argsrepr=getattr(self.request, "argsrepr", None),
                             kwargsrepr=getattr(self.request, "kwargsrepr", None)) from exc
        logger.error("%s: giving up after %d retries: %s: %s", job_label(parsed), MAX_RETRIES,
                     type(exc).__name__, exc)
        failure = record_failure(parsed, store, exc, sweep_id=sweep_id)
        return summary(parsed.key, failure.status, sweep_id)
    return summary(parsed.key, result.status, sweep_id)


def _invalid_job(task_id: str | None, job: Any, store_url: str, sweep_id: str | None,
                 exc: ValidationError) -> dict[str, Any]:
    """A payload this worker's `BacktestJob` rejects (another farm version queued it). The task id
    is the job's key, so the failure is still recorded where the coordinator looks for it."""
    error = f"invalid job for this worker: {str(exc).splitlines()[0]} ({exc.error_count()} problem(s))"
    logger.error("%s: %s", task_id, error)
    if task_id is None or not _KEY.fullmatch(task_id):
        return summary(None, "failed", sweep_id)
    record = {"key": task_id, "job": job, "status": "failed", "error": error, "traceback": str(exc),
              "worker": socket.gethostname()}
    open_store(store_url).write(K.failure(task_id), json.dumps(record).encode())
    return summary(task_id, "failed", sweep_id)


__all__ = ["TASK_NAME", "job_label", "run_job"]
