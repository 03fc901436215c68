"""Runs on a daemon thread with a done event emitted exactly once (Backtest/Walker.background)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from farm import events


class BackgroundRun:
    """Consume `results()` on a thread; an uncaught failure goes to `listen_exit`; `done()` fires
    once, at the end of the run or earlier from a cancel function that finds nothing left to
    wind down."""

    def __init__(self, results: Callable[[], Iterable[Any]], done: Callable[[], None], name: str):
        self._done = done
        self._lock = threading.Lock()
        self._fired = False
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self._target, args=(results,), name=name, daemon=True)

    def start(self) -> BackgroundRun:
        self.thread.start()
        return self

    def done(self) -> None:
        with self._lock:
            if self._fired:
                return
            self._fired = True
        self._done()

    def _target(self, results: Callable[[], Iterable[Any]]) -> None:
        try:
            for _ in results():
                if self.cancelled.is_set():
                    break
        except Exception as exc:  # noqa: BLE001 - fatal for a background run
            events.exit.emit(exc)
        self.done()
