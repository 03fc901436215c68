"""The Celery beat schedule, built from the registered batches (one cron entry each)."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from scheduler.batches import list_batches

RUN_BATCH_TASK = "farm.run_batch"


def beat_schedule() -> dict[str, dict[str, Any]]:
    return {
        f"batch:{batch.name}": {
            "task": RUN_BATCH_TASK,
            "schedule": crontab(hour=batch.hour, minute=batch.minute),
            "args": [batch.name],
            "options": {"expires": 6 * 3600},  # a batch missed for six hours waits for the next night
        }
        for batch in list_batches()
    }
