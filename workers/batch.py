"""`farm.run_batch`: one night of a registered batch (`scheduler.batches.run_batch`), sent by
beat (`scheduler.beat`) or by hand. The task is the night's coordinator: it plans the sweep,
queues its jobs on the farm (the batch's executor, `celery` by default) and waits for their
records, so the worker that takes it needs a spare slot (concurrency 2 or more, or a second
worker) for the jobs. Under the night's lock, and a no-op once the night is archived."""

from __future__ import annotations

from typing import Any

from celery.utils.log import get_logger

from scheduler.beat import RUN_BATCH_TASK
from workers.app import app

logger = get_logger(__name__)


@app.task(name=RUN_BATCH_TASK, acks_late=True)
def run_batch(name: str, night: str | None = None, executor: str | None = None, force: bool = False
              ) -> dict[str, Any]:
    """Run batch `name` for `night` (YYYY-MM-DD; default: its latest due night on the scheduler
    clock). Returns what happened: status, night, jobs run, failures, the archive's prefix."""
    from datetime import date

    from scheduler.batches import get_batch
    from scheduler.batches import run_batch as run_night

    executor = executor or get_batch(name).executor
    # A local pool cannot start inside a prefork pool process (daemonic): jobs then run here in turn.
    options: dict[str, Any] = {"workers": 1} if executor == "local" else {}
    outcome = run_night(name, night=date.fromisoformat(night) if night else None, executor=executor, force=force,
                        **options)
    logger.info("batch %s night %s: %s, %d of %d jobs run, %d failed; %s", name, outcome.night, outcome.status,
                outcome.jobs_run, outcome.jobs_total, outcome.failed, "; ".join(outcome.moves) or "no moves")
    return {"batch": name, "night": outcome.night.isoformat(), "status": outcome.status,
            "jobs_run": outcome.jobs_run, "jobs_total": outcome.jobs_total, "failed": outcome.failed,
            "archive": outcome.archive, "moves": outcome.moves}


__all__ = ["run_batch"]
