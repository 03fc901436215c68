"""`CeleryExecutor`: the coordinator's side of the farm (the `Executor` protocol of
`farm.run.executors`).

`submit` checks the broker answers (a clear `FarmError` within seconds, never a hang), then
queues the jobs as variant blocks (`farm.run.blocks`): a block of one job is a `farm.run_job`
with the job's content hash as the task id, a larger one a `farm.run_block` (a list of job
dicts) with the hash of its jobs' keys as the task id. `run` submits and follows the sweep
through the store alone, job by job: a job is finished when its result or failure record
exists, whichever worker wrote it, so the coordinator needs no result backend and can be
restarted. With `FARM_REDRIVE_AFTER` > 0 it re-queues a block that still has a job without a
record that many seconds after its last submission (a lost message, a worker that died before
the broker's visibility timeout redelivers); the worker skips the block's stored jobs, and a
double run stores the same record under the same key. A task a worker refused (it names a store
the worker does not know, `farm.persist.known`) is found in the dead letters and its jobs are
recorded as failed with the worker's reason: a misconfigured farm ends its sweep, never hangs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

from celery import Celery, group

from farm.config import get_settings
from farm.errors import FarmError
from farm.persist import Store, StoreError
from farm.persist import keys as K
from farm.persist.known import store_name
from farm.redact import mask_text, mask_url
from farm.run.blocks import CELERY_MIN_TASKS, JobBlock, plan_blocks
from farm.run.execute import record_unfinished
from farm.run.jobs import BacktestJob
from farm.run.sweep import SweepProgress

PUBLISH_BATCH = 500
"""Broker commands per pipeline when queuing a sweep's tasks."""
REFUSAL_CHECK = 5.0
"""Seconds without a finished job after which (and between which) the dead letters are read
for this sweep's refused tasks."""
DEAD_LETTERS_READ = 1000
"""The newest dead letters read at each check."""
STORE_BACKOFF_MAX = 15.0
"""Longest wait between two polls of a result store that does not answer."""
FAST_POLL = 0.05
"""Seconds between store polls while tasks are finishing."""

logger = logging.getLogger(__name__)

ProgressFn = Callable[[SweepProgress], Any]


class StoreOutage:
    """The coordinator riding out a result store that does not answer: it says so once, polls
    again after a backoff (doubling to STORE_BACKOFF_MAX), and says when the store is back. The
    workers meanwhile put their blocks back on the queue (`workers.tasks`): nothing is lost."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.wait = 0.0

    def failed(self, sweep_id: str, exc: StoreError) -> None:
        if self.since is None:
            self.since = time.monotonic()
            logger.warning("sweep %s: the result store does not answer (%s); following again as it comes back",
                           sweep_id, exc)
        self.wait = min(STORE_BACKOFF_MAX, max(1.0, self.wait * 2))

    def answered(self, sweep_id: str) -> None:
        if self.since is not None:
            logger.warning("sweep %s: the result store answers again after %.0f s", sweep_id,
                           time.monotonic() - self.since)
        self.since, self.wait = None, 0.0


class CeleryExecutor:
    """Jobs as Celery tasks on `app` (default `workers.app:app`), followed through the store."""

    def __init__(self, app: Celery | None = None, *, poll_interval: float = 0.5, connect_timeout: float = 3.0,
                 redrive_after: float | None = None, stall_notice: float = 30.0,
                 stall_timeout: float | None = None, block_size: int | None = None):
        if app is None:
            from workers.app import app as default_app

            app = default_app
        import workers.tasks  # noqa: F401 - registers farm.run_job on the app

        self.app = app
        self.poll_interval = poll_interval
        self.connect_timeout = connect_timeout
        self.redrive_after = redrive_after
        """Seconds; None: FARM_REDRIVE_AFTER, read when `run` starts (0: never re-drive)."""
        self.stall_notice = stall_notice
        """Log a warning when no job has finished for this many seconds (and again after as long)."""
        self.stall_timeout = stall_timeout
        self.block_size = block_size
        """Most jobs per task; None: FARM_BLOCK_SIZE, read when the jobs are planned."""
        """Stop following after this many seconds without a finished job (None: follow until done);
        the jobs left then reduce as "not finished" and can be followed with `farm status`."""

    # ---- the broker ----------------------------------------------------------------------

    @property
    def broker(self) -> str:
        """The broker URL, its password masked (for messages)."""
        return mask_url(str(self.app.conf.broker_url))

    def check_broker(self) -> None:
        """Raise `FarmError` naming the broker unless it accepts a connection within a few seconds."""
        url = self.broker
        # Socket timeouts as short as the check (a Redis broker that accepts and never answers,
        # or a TLS handshake nobody completes, fails the check instead of blocking it).
        timeouts = {"socket_timeout": self.connect_timeout, "socket_connect_timeout": self.connect_timeout}
        conn = self.app.connection_for_write(connect_timeout=self.connect_timeout, transport_options=timeouts)
        try:
            conn.ensure_connection(max_retries=2, interval_start=0, interval_step=0.5, interval_max=0.5,
                                   timeout=self.connect_timeout)
        except Exception as exc:  # noqa: BLE001 - every transport has its own connection errors
            raise FarmError(
                f"cannot reach the Celery broker at {url} ({type(exc).__name__}: {mask_text(str(exc))}); start it or set "
                f"FARM_BROKER_URL"
            ) from None
        finally:
            conn.release()

    # ---- the Executor protocol -------------------------------------------------------------

    def blocks(self, jobs: Sequence[BacktestJob]) -> list[JobBlock]:
        """The tasks these jobs go out as (FARM_BLOCK_SIZE, at least FARM_BLOCK_MIN_TASKS or 16 tasks)."""
        settings = get_settings()
        return plan_blocks(jobs, self.block_size or settings.block_size,
                           min_tasks=settings.block_min_tasks or CELERY_MIN_TASKS)

    def submit(self, sweep_id: str, jobs: Sequence[BacktestJob], store: Store) -> list[JobBlock]:
        """Queue the jobs as blocks (after the broker check); returns the blocks once they are on
        the broker."""
        self.check_broker()
        for job in jobs:
            # A failure left by an earlier run would read as this run's outcome: it runs again.
            if store.exists(K.failure(job.key)):
                store.delete(K.failure(job.key))
        blocks = self.blocks(jobs)
        self._publish(sweep_id, blocks, store)
        return blocks

    def run(self, sweep_id: str, jobs: Sequence[BacktestJob], store: Store, *,
            on_progress: ProgressFn | None = None, skipped: int = 0) -> None:
        """Submit, then poll the store until every job has a record; `on_progress` on each change."""
        jobs = list({job.key: job for job in jobs}.values())
        progress = SweepProgress(sweep_id=sweep_id, total=len(jobs) + skipped, done=skipped, failed=0,
                                 skipped=skipped)
        if on_progress:
            on_progress(progress.model_copy())
        if not jobs:
            return
        redrive_after = self.redrive_after if self.redrive_after is not None else get_settings().redrive_after
        blocks = self.submit(sweep_id, jobs, store)
        queue = self.app.conf.task_default_queue
        logger.info("sweep %s: %d job(s) in %d task(s) queued on %r at %s", sweep_id, len(jobs), len(blocks),
                    queue, self.broker)
        pending: dict[str, BacktestJob] = {job.key: job for job in jobs}
        block_of = {job.key: block for block in blocks for job in block.jobs}
        submitted = {block.key: time.monotonic() for block in blocks}
        """Blocks with a job still without a record, by key: when each was last queued."""
        last_change = last_notice = last_refusal_check = time.monotonic()
        outage = StoreOutage()
        spent = 0.0
        wait = FAST_POLL
        while pending:
            # Fast while tasks are finishing, backing off to poll_interval when nothing changes; a
            # store slow to answer (many pending jobs on S3) is polled less often, never in a loop.
            time.sleep(max(wait, spent, outage.wait))
            polled = time.monotonic()
            try:
                changed = self._poll(pending, store, progress)
            except StoreError as exc:
                outage.failed(sweep_id, exc)
                last_change = time.monotonic()  # not a stall of the workers: they wait for the store too
                continue
            outage.answered(sweep_id)
            now = time.monotonic()
            spent = now - polled
            wait = FAST_POLL if changed else min(self.poll_interval, wait * 1.5)
            if changed:
                last_change = last_notice = now
                if on_progress:
                    on_progress(progress.model_copy())
                unfinished = {block_of[key].key for key in pending}
                for block_key in [k for k in submitted if k not in unfinished]:
                    del submitted[block_key]
            if redrive_after > 0:
                by_key = {block_of[key].key: block_of[key] for key in pending}
                due = [by_key[key] for key, at in submitted.items() if now - at >= redrive_after]
                if due:
                    self._redrive(sweep_id, due, store, submitted, now, redrive_after)
            idle = now - last_change
            if not pending:
                break
            if idle >= REFUSAL_CHECK and now - last_refusal_check >= REFUSAL_CHECK:
                last_refusal_check = now
                self._record_refused(sweep_id, {block_of[key].key: block_of[key] for key in pending}, store)
            if self.stall_timeout is not None and idle >= self.stall_timeout:
                logger.warning("sweep %s: no task finished for %.0f s; %d of %d task(s) without a record; "
                               "stopped following (farm status %s)", sweep_id, idle, len(pending),
                               len(jobs), sweep_id)
                return
            if now - last_notice >= self.stall_notice:
                last_notice = now
                logger.warning("sweep %s: no task finished for %.0f s, %d of %d still pending; is a worker "
                               "consuming queue %r at %s?", sweep_id, idle, len(pending), len(jobs), queue,
                               self.broker)

    # ---- internals ---------------------------------------------------------------------------

    @staticmethod
    def _poll(pending: dict[str, BacktestJob], store: Store, progress: SweepProgress) -> bool:
        """Move the jobs that have a record now out of `pending` into `progress`; True if any did
        (those counted before a store error stay counted)."""
        changed = False
        for key in list(pending):
            if store.exists(K.result(key)):
                progress.done += 1
            elif store.exists(K.failure(key)):
                progress.failed += 1
            else:
                continue
            del pending[key]
            changed = True
        return changed

    def _record_refused(self, sweep_id: str, unfinished: dict[str, JobBlock], store: Store) -> None:
        """Tasks of this sweep that a worker refused (dead-lettered, `workers.consumer`: a store
        it does not know, a payload it cannot run) will never run: their jobs without a record
        are recorded as failed with the worker's reason, so the sweep ends with every job
        accounted for. Read from the dead-letter queue of a Redis broker (others: not checked)."""
        from workers.deadletter import dead_letters

        broker_url = str(self.app.conf.broker_url)
        if urlparse(broker_url).scheme not in ("redis", "rediss"):
            return
        try:
            letters = dead_letters(broker_url, self.app.conf.task_default_queue, limit=DEAD_LETTERS_READ)
        except Exception as exc:  # noqa: BLE001 - a view only: the sweep goes on without it
            logger.debug("sweep %s: could not read the dead letters: %s", sweep_id, exc)
            return
        refused = {letter["id"]: letter for letter in letters if letter.get("id") in unfinished}
        for block_key, letter in refused.items():
            reason = f"refused by worker {letter.get('worker')}: {letter.get('reason')}"
            logger.error("sweep %s: task %s %s", sweep_id, unfinished[block_key].label, reason)
            try:
                record_unfinished(unfinished[block_key].jobs, store, FarmError(reason), sweep_id=sweep_id)
            except StoreError as exc:  # recorded at a later check, once the store answers
                logger.warning("sweep %s: could not record the refused task yet: %s", sweep_id, exc)
                return

    def _redrive(self, sweep_id: str, due: list[JobBlock], store: Store, submitted: dict[str, float],
                 now: float, redrive_after: float) -> None:
        logger.warning("sweep %s: re-queuing %d task(s) with no record %.0f s after submission", sweep_id,
                       len(due), redrive_after)
        try:
            self._publish(sweep_id, due, store)
        except Exception as exc:  # noqa: BLE001 - the broker may be back at the next poll
            logger.warning("sweep %s: re-queuing failed (%s: %s); will try again", sweep_id,
                           type(exc).__name__, exc)
        for block in due:
            submitted[block.key] = now

    def _publish(self, sweep_id: str, blocks: Sequence[JobBlock], store: Store) -> None:
        """A block of one job goes out as `farm.run_job` (exactly as without blocks), a larger one
        as `farm.run_block` with a list of job dicts; both read in Flower by their label."""
        from workers.tasks import BLOCK_TASK_NAME, TASK_NAME

        if not blocks:
            return
        queue = self.app.conf.task_default_queue
        signatures = [
            self.app.signature(
                TASK_NAME if len(block.jobs) == 1 else BLOCK_TASK_NAME,
                (block.jobs[0].model_dump(mode="json") if len(block.jobs) == 1
                 else [job.model_dump(mode="json") for job in block.jobs], store_name(store)),
                {"sweep_id": sweep_id}, task_id=block.key, queue=queue, argsrepr=block.label,
                kwargsrepr=f"sweep {sweep_id}",
            )
            for block in blocks
        ]
        with self.app.producer_or_acquire() as producer:
            batch = getattr(producer, "batch", None)  # kombu >= 5.7: one pipeline per publish batch
            if batch is None:
                group(signatures).apply_async(producer=producer)
                return
            # The messages (and their task-sent events) go out in Redis pipelines of up to
            # PUBLISH_BATCH commands instead of one round trip each; nothing is sent if building
            # the group fails halfway.
            with batch(max_size=PUBLISH_BATCH):
                group(signatures).apply_async(producer=producer)


__all__ = ["CeleryExecutor"]
