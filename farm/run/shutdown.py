"""Stopping a sweep on SIGINT or SIGTERM: promptly, with nothing left running, saying what was kept.

`stop_on_signals()` (the CLI wraps a sweep in it) turns both signals into `Interrupted`, a
`KeyboardInterrupt`, so it unwinds through every `except Exception` in the library. The local
pool (`farm.run.executors`) stops its processes on the way out instead of waiting for their
queued work; its processes ignore SIGINT, so a Ctrl-C (sent to the whole process group) is the
coordinator's to handle and a job is never recorded as failed because the user pressed it.
Every job that finished is in the store; a re-run plans the same sweep and runs only the jobs
without a result.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):  # noqa: N818 - what it is, in the KeyboardInterrupt family
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number (130, 143)."""
        return 128 + self.signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise `Interrupted` in the main thread while the block runs."""
    previous = {signum: signal.signal(signum, _raise) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def ignore_in_pool_process() -> None:
    """For a pool process: Ctrl-C goes to the whole process group, and stopping the pool is the
    coordinator's job (it terminates its processes); SIGTERM kills it at once, as by default."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
