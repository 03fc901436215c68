"""Nightly batches: named sweeps that Celery beat starts on a schedule (`farm beat`), or that
`farm batch run NAME` starts now. Batches are registered in FARM_IMPORTS modules with
`scheduler.add_batch`, like strategies."""

from scheduler.batches import Batch, add_batch, clear_batches, get_batch, list_batches, run_batch

__all__ = ["Batch", "add_batch", "clear_batches", "get_batch", "list_batches", "run_batch"]
