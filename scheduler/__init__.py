"""Nightly batches: named walker sweeps on a cron schedule (UTC) over frames that move with the
run date, archived per night in the farm store. Register them in FARM_IMPORTS modules with
`scheduler.add_batch`, like strategies; `farm beat` starts each night once
(`scheduler.beat`), `farm batch run NAME` runs one now."""

from scheduler.batches import Batch, BatchRun, add_batch, clear_batches, get_batch, list_batches, run_batch

__all__ = ["Batch", "BatchRun", "add_batch", "clear_batches", "get_batch", "list_batches", "run_batch"]
