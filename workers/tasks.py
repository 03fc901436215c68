"""The farm's tasks: `farm.run_job` runs one `BacktestJob`, `farm.run_block` a variant block of
them (`farm.run.blocks`); each job leaves its record (result or failure) in the store.

The tasks are thin on purpose: `farm.run.execute.execute_block_and_store` does the work exactly
as a local pool process does, so both executors give identical records. What is Celery's here:
retries with exponential backoff for transient failures (a data source or the store timing out),
progress events for Flower, and a small JSON summary as the task's return value.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from typing import Any

from celery.utils.log import get_logger
from pydantic import ValidationError

from farm.config import get_settings
from farm.persist import Store, StoreError, open_store
from farm.persist import keys as K
from farm.persist.known import resolve_store_url
from farm.run.blocks import JobBlock
from farm.run.execute import execute_block_and_store, record_unfinished
from farm.run.jobs import BacktestJob, job_payload_key
from farm.run.limits import JobTimedOut, JobTimeoutError, soft_limit_message, soft_limit_raises
from workers.app import app
from workers.limits import FarmTask
from workers.progress import ProgressForwarder

logger = get_logger(__name__)

TASK_NAME = "farm.run_job"
BLOCK_TASK_NAME = "farm.run_block"
MAX_RETRIES = 3
"""Retries of a block after a transient error of its own (a data source timing out); a result
store that cannot be reached is waited for without a limit (the block goes back to the queue):
the tasks' own `max_retries` is None (unlimited) and the data-source retries pass this one."""
BACKOFF_MAX = 60.0
PROGRESS_MIN_INTERVAL = 1.0

_KEY = re.compile(r"[0-9a-f]{40}")


def job_label(job: BacktestJob) -> str:
    """How a job reads in Flower and the worker log: `sma_cross(fast=5) ETH/BTC`."""
    return JobBlock((job,)).label


def retry_delay(retries: int) -> float:
    """FARM_RETRY_BACKOFF seconds (2 s by default) before the first retry, doubling each time
    (2, 4, 8 s), capped at BACKOFF_MAX."""
    return min(BACKOFF_MAX, get_settings().retry_backoff * 2**min(retries, 16))


def summary(key: str | None, status: str, sweep_id: str | None) -> dict[str, Any]:
    return {"key": key, "status": status, "sweep_id": sweep_id}


class JobsFailed(Exception):
    """Raised by a farm task once every record is stored, when some of its jobs failed: the task's
    state is then FAILURE, so Flower's Failed view and `celery events` list farm failures (a block
    whose jobs all failed used to show SUCCESS). Expected (`throws`): logged without a traceback,
    never retried; the failure records are in the store, where the coordinator reads them."""


def _finish(result: dict[str, Any], store_url: str | None, failed: int, total: int, failed_keys: list[str],
            first_error: str | None = None) -> dict[str, Any]:
    """The task's summary, or `JobsFailed` naming how many jobs failed and the first cause."""
    if not failed:
        return result
    if first_error is None and failed_keys:
        raw = worker_store(store_url).read(K.failure(failed_keys[0]))
        first_error = json.loads(raw).get("error") if raw else None
    raise JobsFailed(f"{failed} of {total} job(s) failed; first: {first_error or 'see the failure records'}")


@app.task(name=TASK_NAME, bind=True, acks_late=True, max_retries=None, base=FarmTask, throws=(JobsFailed,))
def run_job(self: Any, job: dict[str, Any], store_url: str | None, sweep_id: str | None = None) -> dict[str, Any]:
    """Run `job` (a `BacktestJob` as a JSON dict) and store its record in the worker's store that
    `store_url` names (`worker_store`) (a block of one job: what the coordinator queues with
    FARM_BLOCK_SIZE=1)."""
    try:
        parsed = BacktestJob.model_validate(job)
    except ValidationError as exc:
        return _invalid_job(self.request.id, job, store_url, sweep_id, exc)
    ((key, status),) = _run_block(self, (parsed,), store_url, sweep_id)
    failed_keys = [key] if status == "failed" else []
    return _finish(summary(key, status, sweep_id), store_url, len(failed_keys), 1, failed_keys)


@app.task(name=BLOCK_TASK_NAME, bind=True, acks_late=True, max_retries=None, base=FarmTask, throws=(JobsFailed,))
def run_block(self: Any, jobs: list[dict[str, Any]], store_url: str | None, sweep_id: str | None = None
              ) -> dict[str, Any]:
    """Run a variant block (`farm.run.blocks`: `BacktestJob` dicts of one strategy's variants on
    one symbol) in this process, one record per job in the store `store_url` names. A retry or a redelivery
    skips the jobs already stored."""
    parsed: list[BacktestJob] = []
    failed = 0
    for payload in jobs:
        try:
            parsed.append(BacktestJob.model_validate(payload))
        except ValidationError as exc:
            _invalid_job(job_payload_key(payload), payload, store_url, sweep_id, exc)
            failed += 1
    invalid = failed
    statuses = _run_block(self, tuple(parsed), store_url, sweep_id) if parsed else []
    failed_keys = [key for key, status in statuses if status == "failed"]
    failed += len(failed_keys)
    result = {**summary(self.request.id, "failed" if failed else "ok", sweep_id), "jobs": len(jobs), "failed": failed}
    return _finish(result, store_url, failed, len(jobs), failed_keys,
                   first_error=f"{invalid} invalid job payload(s)" if invalid and not failed_keys else None)


_stores: dict[tuple[object, ...], Store] = {}


def worker_store(store_name: str | None) -> Store:
    """The store a task writes to: the one of this worker's own stores that the message names
    (`farm.persist.known`; None: the default store), opened from the worker's configuration.
    A name the worker does not know raises `UnknownStoreError` (the consumer refuses such a
    message before it runs; this is the second lock). One store per URL and configuration in
    this worker process: an S3 store is a boto3 client, whose creation costs more than a small
    task. Keyed on the farm settings and the AWS_* variables too, so a changed environment gets
    a fresh client."""
    url = resolve_store_url(store_name)
    aws = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    key = (url, get_settings(), aws)
    store = _stores.get(key)
    if store is None:
        if len(_stores) >= 16:
            _stores.clear()
        store = _stores[key] = open_store(url)
    return store


def _run_block(task: Any, jobs: tuple[BacktestJob, ...], store_url: str | None, sweep_id: str | None
               ) -> list[tuple[str, str]]:
    """Both tasks: the jobs through `execute_block_and_store`, progress events counting jobs,
    the whole block retried with backoff on a transient error, then each job not stored by any
    attempt recorded as failed."""
    store = worker_store(store_url)
    label = JobBlock(jobs).label

    def send(type_: str, **fields: Any) -> None:
        task.send_event(type_, retry=False, **fields)

    forwarder = ProgressForwarder(send, jobs[0].symbol, {name for job in jobs for name in job.strategies},
                                  min_interval=PROGRESS_MIN_INTERVAL, jobs_total=len(jobs))
    started = time.monotonic()
    try:
        with soft_limit_raises(), forwarder:
            return execute_block_and_store(jobs, store, allowed_imports=get_settings().import_list(),
                                           raise_transient=True, sweep_id=sweep_id, on_job=forwarder.job_done)
    except JobTimedOut:
        message = soft_limit_message(len(jobs))
        logger.error("%s: %s (after %.0f s); its jobs without a record are recorded as failed", label, message,
                     time.monotonic() - started)
        return record_unfinished(jobs, store, JobTimeoutError(message), sweep_id=sweep_id)
    except Exception as exc:  # noqa: BLE001 - TransientJobError, or a store that could not be written
        retries = task.request.retries or 0
        if _store_unreachable(exc):
            raise _wait_for_store(task, label, exc, retries) from exc
        if retries < MAX_RETRIES:
            delay = retry_delay(retries)
            logger.warning("%s: %s: %s; retry %d of %d in %.0f s", label, type(exc).__name__, exc,
                           retries + 1, MAX_RETRIES, delay)
            raise task.retry(exc=exc, countdown=delay, max_retries=MAX_RETRIES,
                             argsrepr=getattr(task.request, "argsrepr", None),
                             kwargsrepr=getattr(task.request, "kwargsrepr", None)) from exc
        logger.error("%s: giving up after %d retries: %s: %s", label, MAX_RETRIES, type(exc).__name__, exc)
        try:
            return record_unfinished(jobs, store, exc, sweep_id=sweep_id)
        except StoreError as store_exc:
            if not store_exc.transient:
                raise
            raise _wait_for_store(task, label, store_exc, retries) from store_exc


def _store_unreachable(exc: BaseException) -> bool:
    """The result store did not answer (a record could not be written or checked), and may later."""
    return isinstance(exc, StoreError) and exc.transient


def _wait_for_store(task: Any, label: str, exc: StoreError, retries: int) -> BaseException:
    """The block goes back to the queue (a retry without a limit, at the capped backoff): with
    the store out of reach no record, not even a failure, can be written, and a task that gave
    up would leave its jobs with none."""
    delay = retry_delay(retries)
    logger.warning("%s: the result store is unreachable (%s); the block goes back to the queue, retry %d in "
                   "%.0f s", label, exc, retries + 1, delay)
    return task.retry(exc=exc, countdown=delay, max_retries=None,
                      argsrepr=getattr(task.request, "argsrepr", None),
                      kwargsrepr=getattr(task.request, "kwargsrepr", None))


def _invalid_job(key: str | None, job: Any, store_url: str | None, sweep_id: str | None,
                 exc: ValidationError) -> dict[str, Any]:
    """A payload this worker's `BacktestJob` rejects (another farm version queued it), recorded
    under its key (a lone job's task id, or computed from the payload in a block) so the
    coordinator still finds it."""
    error = f"invalid job for this worker: {str(exc).splitlines()[0]} ({exc.error_count()} problem(s))"
    logger.error("%s: %s", key, error)
    if key is None or not _KEY.fullmatch(key):
        return summary(None, "failed", sweep_id)
    record = {"key": key, "job": job, "status": "failed", "error": error, "traceback": str(exc),
              "worker": socket.gethostname()}
    worker_store(store_url).write(K.failure(key), json.dumps(record).encode())
    return summary(key, "failed", sweep_id)


__all__ = ["BLOCK_TASK_NAME", "TASK_NAME", "JobsFailed", "job_label", "run_block", "run_job"]
