"""A running task's backtest progress as Celery `task-progress` events (what Flower shows).

Flower ignores custom task states (`update_state`) but lists custom events, so progress goes
out as `task-progress` events carrying `progress` (0..1 over the whole task), `symbol`,
`strategy`, and for a variant block `jobs_done` / `jobs_total`, plus the same as one line in
`result` (the field Flower shows; its state column reads PROGRESS), at most one per `min_interval`
seconds, for the strategies of this task only. A block's progress counts jobs: the jobs it has
finished plus the running job's fraction, over its job count. Per-frame progress is listened to
only for strategies without a vectorised form, so a listener never keeps a strategy off the
compiled kernel. Sending never fails the task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from celery.utils.log import get_logger

import farm

logger = get_logger(__name__)

EVENT = "task-progress"


def describe(fields: dict[str, Any]) -> str:
    """`progress 45% · job 3 of 50 · sma_cross(fast=5) ETH/BTC`: a progress event as one line."""
    parts = [f"progress {fields['progress']:.0%}"]
    if fields.get("jobs_total"):
        parts.append(f"job {min(fields['jobs_done'] + 1, fields['jobs_total'])} of {fields['jobs_total']}")
    parts.append(" ".join(str(v) for v in (fields.get("strategy"), fields["symbol"]) if v))
    return " · ".join(parts)


class ProgressForwarder:
    """Subscribe with `farm.listen_backtest_progress` while a task runs (a context manager)."""

    def __init__(self, send: Callable[..., Any], symbol: str, strategies: Iterable[str], *,
                 min_interval: float = 1.0, clock: Callable[[], float] = time.monotonic, jobs_total: int = 1):
        self.send = send
        self.jobs_total = max(1, jobs_total)
        self.jobs_done = 0
        self.symbol = symbol
        self.strategies = frozenset(strategies)
        self.min_interval = min_interval
        self.clock = clock
        self.sent = 0
        self._last: float | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._failed = False

    def __call__(self, event: Any) -> None:
        # Listeners are process-wide: a threads pool may run other tasks' backtests next to ours.
        if event.symbol != self.symbol or event.strategy_name not in self.strategies or self._failed:
            return
        self._maybe_send(float(event.progress), event.strategy_name)

    def job_done(self, key: str, status: str) -> None:
        """A job of the block ended (the `on_job` of `execute_block_and_store`): counted, and
        shown when due (a block of kernel runs sends no per-tick progress at all)."""
        self.jobs_done = min(self.jobs_total, self.jobs_done + 1)
        if self.jobs_total > 1 and self.jobs_done < self.jobs_total:
            self._maybe_send(0.0, None)

    def _maybe_send(self, job_progress: float, strategy: str | None) -> None:
        if self._failed:
            return
        now = self.clock()
        if self._last is not None and now - self._last < self.min_interval:
            return
        self._last = now
        fields: dict[str, Any] = {"progress": round((self.jobs_done + job_progress) / self.jobs_total, 4),
                                  "symbol": self.symbol}
        if strategy is not None:
            fields["strategy"] = strategy
        if self.jobs_total > 1:
            fields.update(jobs_done=self.jobs_done, jobs_total=self.jobs_total)
        # Flower shows a task's `result` field but no custom one: while the task runs (state
        # PROGRESS) it reads the progress there; the task-succeeded event then replaces it.
        fields["result"] = describe(fields)
        try:
            self.send(EVENT, **fields)
            self.sent += 1
        except Exception:  # noqa: BLE001 - monitoring must never fail a backtest
            self._failed = True
            logger.warning("could not send %s events; continuing without them", EVENT, exc_info=True)

    def __enter__(self) -> ProgressForwarder:
        # The interval starts now: a task shorter than min_interval sends no progress event at all
        # (a publish per short task would cost more than the task's own bookkeeping).
        self._last = self.clock()
        if not any(_has_vectorised_form(name) for name in self.strategies):
            self._unsubscribe = farm.listen_backtest_progress(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


def _has_vectorised_form(name: str) -> bool:
    """A per-frame progress listener is per-tick Python: it would keep a strategy that has a
    vectorised form off the compiled kernel. Such tasks report progress per finished job only
    (a kernel run takes milliseconds); the others get per-frame progress as well."""
    from farm import registry

    try:
        return registry.get_strategy(name).signals is not None
    except Exception:  # noqa: BLE001 - an unknown name fails the job itself, with its own message
        return False
