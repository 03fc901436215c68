"""A circuit breaker for the optional services (the cache's Redis, the status record's Redis).

An optional service that hangs must not cost a timeout on every call: after one failure the
breaker *opens* and calls are skipped for `open_for` seconds, then one call is tried again. It
warns once when it first opens and once when the service answers again; the failures in
between are logged at debug level. The result store and the broker never go through one:
the farm cannot do without them (see `workers.executor.StoreOutage`).
"""

from __future__ import annotations

import logging
import threading
import time

from farm.redact import mask_text


class Breaker:
    def __init__(self, what: str, log: logging.Logger, *, open_for: float = 30.0, consequence: str = ""):
        self.what = what
        """The service as messages name it (`candle cache: Redis at redis://:**@cache:6379/0`)."""
        self.log = log
        self.open_for = open_for
        self.consequence = consequence
        """What the caller does without it, for the warning (`going on without it`)."""
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._down = False

    @property
    def closed(self) -> bool:
        """True when calls should go through (the service answered last, or it is time to retry)."""
        return time.monotonic() >= self._open_until

    def failure(self, exc: BaseException) -> None:
        """A call failed: skip calls for `open_for` seconds (warn the first time)."""
        with self._lock:
            self._open_until = time.monotonic() + self.open_for
            first, self._down = not self._down, True
        reason = mask_text(f"{type(exc).__name__}: {exc}")
        if first:
            self.log.warning("%s is unavailable (%s); %s, trying again every %.0f s", self.what, reason,
                             self.consequence or "going on without it", self.open_for)
        else:
            self.log.debug("%s still unavailable: %s", self.what, reason)

    def success(self) -> None:
        """A call went through: say so if the service had been down."""
        if self._down:
            with self._lock:
                was, self._down = self._down, False
            if was:
                self.log.warning("%s answers again", self.what)


__all__ = ["Breaker"]
