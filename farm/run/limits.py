"""Every block of jobs is bounded in time, on whichever executor runs it.

A block of n jobs may run n x FARM_JOB_TIME_LIMIT seconds (its *soft* limit). When the soft
limit passes, the process running the block gets SIGUSR1 and, inside `soft_limit_raises`, that
raises `JobTimedOut`: a `BaseException`, so no `except Exception` on the way (the engine reports
a strategy's exceptions and goes on) can swallow it, and a sleep or a wait blocked in C is
interrupted. The executor then records the block's unfinished jobs as failed with "timed out"
(`JobTimeoutError`). Code that never sees the signal is stopped by the *hard* limit, a little
later: a Celery worker's pool kills and replaces the process (`workers.limits`).

The local pool sends the signal itself (`soft_limit`); Celery's prefork pool sends it at the
task's soft time limit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from farm.config import FarmSettings, get_settings
from farm.errors import FarmError

HARD_MARGIN = 0.1
"""The hard limit is the soft one plus this fraction of it (at least HARD_MIN_MARGIN seconds):
time for a block to record its timed-out jobs after the soft limit."""
HARD_MIN_MARGIN = 2.0
SOFT_SIGNAL = getattr(signal, "SIGUSR1", None)
"""The soft-limit signal: the one Celery's prefork pool sends."""


class JobTimedOut(BaseException):  # noqa: N818 - a signal from outside, not an error of the job's code
    """The soft time limit of the running block passed."""


class JobTimeoutError(FarmError):
    """A job's failure: its block ran past its time limit (the message says which)."""


def time_limits(jobs: int, settings: FarmSettings | None = None) -> tuple[float, float]:
    """(hard, soft) seconds for a block of `jobs` jobs, Celery's order."""
    settings = settings or get_settings()
    soft = max(1, jobs) * settings.job_time_limit
    return soft + max(HARD_MIN_MARGIN, HARD_MARGIN * soft), soft


def soft_limit_message(jobs: int) -> str:
    _, soft = time_limits(jobs)
    return f"timed out: the soft time limit of {soft:g} s ({jobs} job(s) x FARM_JOB_TIME_LIMIT) passed"


@contextlib.contextmanager
def soft_limit_raises() -> Iterator[None]:
    """While in the block, the soft-limit signal raises `JobTimedOut` in this thread (outside it,
    the previous handler is back). Off the main thread no signal handler can be set: no limit."""
    if SOFT_SIGNAL is None:
        yield
        return

    def on_soft_limit(signum: int, frame: Any) -> None:
        raise JobTimedOut()

    try:
        previous = signal.signal(SOFT_SIGNAL, on_soft_limit)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(SOFT_SIGNAL, previous)


@contextlib.contextmanager
def soft_limit(seconds: float) -> Iterator[None]:
    """`soft_limit_raises`, with the signal sent to this process after `seconds` (a timer thread
    stopped on exit), for executors that have no pool to send it."""
    if SOFT_SIGNAL is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = threading.Event()
    done = threading.Event()

    def fire() -> None:
        if not done.wait(seconds):
            fired.set()
            os.kill(os.getpid(), SOFT_SIGNAL)

    with soft_limit_raises():
        timer = threading.Thread(target=fire, name="farm-soft-limit", daemon=True)
        timer.start()
        try:
            yield
        finally:
            done.set()
            timer.join()


__all__ = ["JobTimedOut", "JobTimeoutError", "soft_limit", "soft_limit_message", "soft_limit_raises",
           "time_limits"]
