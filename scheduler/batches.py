"""A batch is a walker swept over a list of symbols on a cron schedule (UTC), over a frame that
moves with the run date, with its reports archived per night in the farm store.

One night of a batch is identified by its *run date*: the UTC date of the latest cron time at or
before now (`night_of`). Its frame is the walker's frame moved to the `days` full UTC days
before that date, minus `lag_days` (`frame_for`): with days=30 and lag_days=0 the night of
2026-12-03 backtests 2026-11-03 00:00 .. 2026-12-03 00:00, i.e. everything up to the end of
yesterday. The dated frame's name carries its dates (`farm.registry.dated_frame_name`), so a
worker resolves it from the base frame and every night's jobs have keys of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from celery.schedules import crontab
from pydantic import BaseModel, ConfigDict, Field, model_validator

from farm import registry
from farm.errors import DuplicateError, NotFoundError, SchemaError
from scheduler import clock


class Batch(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    walker_name: str
    symbols: list[str] = Field(min_length=1)
    hour: int = Field(default=2, ge=0, le=23)
    minute: int = Field(default=0, ge=0, le=59)
    """UTC time of day the batch starts (when `cron` is not given)."""
    cron: str | None = None
    """A five-field cron expression in UTC (`30 2 * * 1-5`); overrides hour and minute."""
    days: int | None = Field(default=None, ge=1)
    """Backtest the `days` full UTC days before the run date; None: the walker's frame as registered."""
    lag_days: int = Field(default=0, ge=0)
    """End the frame this many days before the run date (a source that publishes a day late)."""
    executor: str = "celery"
    """Where the beat-started night's jobs run: `celery` (fanned out to the farm's workers) or
    `local` (in the process of the worker that took the batch task)."""
    out: str | None = None
    """Also write each night's reports to `<out>/<name>/<run date>/` on this machine."""
    note: str | None = None

    @model_validator(mode="after")
    def _cron_parses(self) -> Batch:
        self.schedule()
        return self

    @property
    def cron_expression(self) -> str:
        return self.cron or f"{self.minute} {self.hour} * * *"

    def schedule(self) -> crontab:
        try:
            return crontab.from_string(self.cron_expression)
        except Exception as exc:  # noqa: BLE001 - celery raises several kinds for a bad field
            raise ValueError(f"bad cron expression {self.cron_expression!r}: {exc}") from None

    def out_dir(self, night: date) -> Path | None:
        return None if self.out is None else Path(self.out) / self.name / night.isoformat()


_batches: dict[str, Batch] = {}
registry.on_clear(_batches.clear)


def add_batch(name: str, walker_name: str, symbols: list[str], *, hour: int = 2, minute: int = 0,
              cron: str | None = None, days: int | None = None, lag_days: int = 0, executor: str = "celery",
              out: str | None = None, note: str | None = None) -> Batch:
    if name in _batches:
        raise DuplicateError(f"batch {name} already exist")
    try:
        batch = Batch(name=name, walker_name=walker_name, symbols=list(symbols), hour=hour, minute=minute, cron=cron,
                      days=days, lag_days=lag_days, executor=executor, out=out, note=note)
    except ValueError as exc:
        raise SchemaError(f"batch {name}: {exc}") from None
    _batches[name] = batch
    return batch


def get_batch(name: str) -> Batch:
    try:
        return _batches[name]
    except KeyError:
        known = ", ".join(sorted(_batches)) or "none registered; add them with scheduler.add_batch in a FARM_IMPORTS module"
        raise NotFoundError(f"batch {name} not found source=batch (known: {known})") from None


def list_batches() -> list[Batch]:
    return list(_batches.values())


def clear_batches() -> None:
    _batches.clear()


def last_fire(batch: Batch, now: datetime) -> datetime | None:
    """The latest time at or before `now` (UTC) the batch's cron names, within the past year. A day
    matches when its month, day of month and weekday all do (Celery's crontab reading, where
    classic cron ORs a restricted day of month with a restricted weekday)."""
    cron = batch.schedule()
    now = now.astimezone(UTC)
    for back in range(0, 367):
        day = (now - timedelta(days=back)).date()
        weekday = (day.isoweekday()) % 7  # cron: 0 = Sunday
        if day.month not in cron.month_of_year or day.day not in cron.day_of_month or weekday not in cron.day_of_week:
            continue
        times = [time(h, m) for h in sorted(cron.hour, reverse=True) for m in sorted(cron.minute, reverse=True)]
        for t in times:
            fire = datetime.combine(day, t, tzinfo=UTC)
            if fire <= now:
                return fire
    return None


def night_of(batch: Batch, now: datetime | None = None) -> date:
    """The run date the batch is due for at `now`: the date of its latest cron time."""
    now = now or clock.now()
    fire = last_fire(batch, now)
    if fire is None:
        raise SchemaError(f"batch {batch.name}: its cron {batch.cron_expression!r} names no time in the past year")
    return fire.date()


def frame_for(batch: Batch, night: date) -> str:
    """The frame the night backtests: the walker's, or its dated copy when `days` is set."""
    walker = registry.walkers.get(batch.walker_name, source=f"batch {batch.name}")
    if batch.days is None:
        return walker.frame_name
    end = datetime.combine(night, time(0), tzinfo=UTC) - timedelta(days=batch.lag_days)
    return registry.dated_frame_name(walker.frame_name, end - timedelta(days=batch.days), end)


def walker_for(batch: Batch, night: date) -> str:
    """The walker the night sweeps: the batch's, or a copy of it on the dated frame (registered
    in this process only: jobs name their frame, workers never need the walker)."""
    walker = registry.walkers.get(batch.walker_name, source=f"batch {batch.name}")
    frame = frame_for(batch, night)
    if frame == walker.frame_name:
        return walker.walker_name
    name = f"{walker.walker_name}@{night.isoformat()}"
    if not registry.walkers.has(name):
        registry.walkers.add(walker.model_copy(update={"walker_name": name, "frame_name": frame}))
    return name


@dataclass
class BatchRun:
    """What one call of `run_batch` did."""

    batch: str
    night: date
    status: str
    """"done" (swept and archived now), "already done" (archived before: nothing ran),
    "running elsewhere" (another process holds the night's lock)."""
    jobs_run: int = 0
    jobs_total: int = 0
    failed: int = 0
    sweep: Any = None
    """The `SweepResult` when it swept."""
    archive: str | None = None
    """Where the night's reports are, in the store."""
    moves: list[str] = field(default_factory=list)
    """The ranking changes against the previous archived night, one line each."""


def run_batch(name: str, *, night: date | None = None, executor: str = "local", store: Any = None,
              force: bool = False, **sweep_options: Any) -> BatchRun:
    """Run one night of a batch, at most once: under the night's lock (`scheduler.lock`), and not
    at all when the store already has its archive (unless `force`). The sweep goes through the
    coordinator (`farm.run.sweep.sweep`), so finished jobs of an interrupted night are reused."""
    from farm.run.sweep import default_store, sweep
    from scheduler import archive
    from scheduler.lock import night_lock

    batch = get_batch(name)
    night = night or night_of(batch)
    store = store or default_store()
    with night_lock(batch.name, night, store) as held:
        if not held:
            return BatchRun(batch.name, night, "running elsewhere")
        if not force and archive.is_archived(store, batch.name, night):
            return BatchRun(batch.name, night, "already done", archive=archive.night_prefix(batch.name, night))
        walker = walker_for(batch, night)
        with archive.staging() as staged:
            result = sweep(walker, batch.symbols, executor=executor, out=staged, store=store, **sweep_options)
            moves = archive.archive_night(store, batch, night, staged, result)
            local = batch.out_dir(night)
            if local is not None:
                archive.copy_tree(staged, local)
    return BatchRun(batch.name, night, "done", jobs_run=result.tasks_run, jobs_total=result.tasks_total,
                    failed=len({f.task_key for f in result.failures}), sweep=result,
                    archive=archive.night_prefix(batch.name, night), moves=moves)
