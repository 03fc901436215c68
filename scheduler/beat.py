"""Celery beat for the batches: `farm beat` runs `celery beat` with `BatchScheduler`, which
imports FARM_IMPORTS (where batches are registered), sets the app's `beat_schedule` to one entry
per batch and sends `farm.run_batch` when a night is due.

An entry is due when the batch's latest cron night (`scheduler.batches.night_of`, on the
scheduler clock) has no archive in the store yet and this beat has not sent it in the last
`RESEND_AFTER` seconds. The store, not beat's own memory, says what ran, so:
- a night missed while no beat ran is caught up once, as soon as a beat starts (the latest
  night only: a week of downtime costs one catch-up run, not seven);
- beat keeps no schedule file (no `celerybeat-schedule` to lose, share or corrupt);
- two beats both send the night, and the task's lock and the archive make the second a no-op.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any

from celery.beat import Scheduler
from celery.schedules import BaseSchedule, schedstate

from scheduler.batches import get_batch, list_batches, night_of

logger = logging.getLogger(__name__)

RUN_BATCH_TASK = "farm.run_batch"
CHECK_EVERY = 30.0
"""Seconds between looks at whether a night became due."""
RESEND_AFTER = 3600.0
"""A night sent but still not archived after this long is sent again (its task was lost); while
it still runs, the resent task finds the night's lock held and returns."""


class NightDue(BaseSchedule):
    """Due when the batch's latest night is neither archived nor recently sent by this beat."""

    def __init__(self, batch_name: str, *, check_every: float = CHECK_EVERY, app: Any = None):
        super().__init__(app=app)
        self.batch_name = batch_name
        self.check_every = check_every
        self.sent: dict[date, float] = {}
        self.night: date | None = None
        """The night the last `is_due` found due (beat also asks when it only peeks)."""

    def is_due(self, last_run_at: Any) -> schedstate:
        """Side-effect free (beat peeks with it too): `mark_sent` records a sent night."""
        from farm.run.sweep import default_store
        from scheduler.archive import is_archived

        try:
            night = night_of(get_batch(self.batch_name))
            if is_archived(default_store(), self.batch_name, night):
                return schedstate(False, self.check_every)
        except Exception:  # noqa: BLE001 - a store that did not answer is asked again next check
            logger.exception("batch %s: could not tell whether its night is due", self.batch_name)
            return schedstate(False, self.check_every)
        sent = self.sent.get(night)
        if sent is not None and time.monotonic() - sent < RESEND_AFTER:
            return schedstate(False, self.check_every)
        self.night = night
        return schedstate(True, self.check_every)

    def mark_sent(self) -> None:
        if self.night is not None:
            self.sent[self.night] = time.monotonic()
            logger.info("batch %s: night %s sent", self.batch_name, self.night)

    def remaining_estimate(self, last_run_at: Any) -> Any:
        from datetime import timedelta

        return timedelta(seconds=self.check_every)

    def __repr__(self) -> str:
        return f"<NightDue {self.batch_name} {get_batch(self.batch_name).cron_expression} UTC>"

    def __reduce__(self) -> Any:
        return self.__class__, (self.batch_name,), {"check_every": self.check_every}


def beat_schedule(check_every: float = CHECK_EVERY) -> dict[str, dict[str, Any]]:
    """One entry per registered batch, sending `farm.run_batch(name)`."""
    return {
        f"batch:{batch.name}": {
            "task": RUN_BATCH_TASK,
            "schedule": NightDue(batch.name, check_every=check_every),
            "args": [batch.name],
        }
        for batch in list_batches()
    }


class BatchScheduler(Scheduler):
    """Celery's in-memory scheduler, with the batches of FARM_IMPORTS as its schedule."""

    def setup_schedule(self) -> None:
        from workers.app import import_farm_modules

        failed = import_farm_modules()
        for module, error in failed.items():
            logger.error("FARM_IMPORTS module %s failed to import (%s): its batches are not scheduled", module, error)
        self.app.conf.beat_schedule = {**(self.app.conf.beat_schedule or {}), **beat_schedule()}
        for batch in list_batches():
            logger.info("batch %s: walker %s on %s, cron %r UTC", batch.name, batch.walker_name,
                        ",".join(batch.symbols), batch.cron_expression)
        if not list_batches():
            from farm.config import get_settings

            logger.warning("no batches registered by FARM_IMPORTS=%r: this beat sends nothing",
                           get_settings().imports)
        super().setup_schedule()

    def apply_entry(self, entry: Any, producer: Any = None) -> None:
        """Send a batch's task naming the night this beat found due, so the worker runs that
        night whatever its own clock says (a task picked up after midnight still runs its night)."""
        if isinstance(entry.schedule, NightDue) and entry.schedule.night is not None:
            entry.schedule.mark_sent()
            entry = entry.__class__(**dict(entry, kwargs={**entry.kwargs, "night": entry.schedule.night.isoformat()}))
        super().apply_entry(entry, producer=producer)
