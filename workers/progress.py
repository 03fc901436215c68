"""A running task's backtest progress as Celery `task-progress` events (what Flower shows).

Flower ignores custom task states (`update_state`) but lists custom events, so progress goes
out as `task-progress` events carrying `progress` (0..1), `symbol` and `strategy`, at most one
per `min_interval` seconds, for the strategies of this task only. Sending never fails the task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from celery.utils.log import get_logger

import farm

logger = get_logger(__name__)

EVENT = "task-progress"


class ProgressForwarder:
    """Subscribe with `farm.listen_backtest_progress` while a task runs (a context manager)."""

    def __init__(self, send: Callable[..., Any], symbol: str, strategies: Iterable[str], *,
                 min_interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.send = send
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
        now = self.clock()
        if self._last is not None and now - self._last < self.min_interval:
            return
        self._last = now
        try:
            self.send(EVENT, progress=round(float(event.progress), 4), symbol=event.symbol,
                      strategy=event.strategy_name)
            self.sent += 1
        except Exception:  # noqa: BLE001 - monitoring must never fail a backtest
            self._failed = True
            logger.warning("could not send %s events; continuing without them", EVENT, exc_info=True)

    def __enter__(self) -> ProgressForwarder:
        # The interval starts now: a task shorter than min_interval sends no progress event at all
        # (a publish per short task would cost more than the task's own bookkeeping).
        self._last = self.clock()
        self._unsubscribe = farm.listen_backtest_progress(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
