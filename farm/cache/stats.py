"""Counters of the candle cache: per process (what `farm.cache_stats()` returns) and, when Redis
is configured, farm-wide totals in one Redis hash (what `farm cache stats` prints).

Per-process counters start at zero in every process, forked ones included: a pool worker's
numbers describe what that worker did, not what its parent had done before the fork.
"""

from __future__ import annotations

import os
import threading

COUNTERS = ("lru", "redis", "store", "source", "source_requests", "waited", "corrupt", "redis_errors", "forming")
"""lru / redis / store: chunks served by that layer; source: chunks filled from the exchange;
source_requests: get_candles requests made to fill them; waited: chunks another caller fetched
while this one waited (also counted under redis); corrupt: chunks that failed their checksum or
format and were dropped; redis_errors: Redis failures (each degrades to the next layer);
forming: engine requests for a day still forming, which always go to the source uncached."""


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._pending = dict.fromkeys(COUNTERS, 0)

    def _check_pid(self) -> None:
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self._lock = threading.Lock()
            self._counts = dict.fromkeys(COUNTERS, 0)
            self._pending = dict.fromkeys(COUNTERS, 0)

    def add(self, name: str, n: int = 1) -> None:
        self._check_pid()
        with self._lock:
            self._counts[name] += n
            self._pending[name] += n

    def snapshot(self) -> dict[str, int]:
        self._check_pid()
        with self._lock:
            return dict(self._counts)

    def drain(self) -> dict[str, int]:
        """Increments not yet added to the farm-wide totals (handed to the next Redis round trip)."""
        self._check_pid()
        with self._lock:
            out = {k: v for k, v in self._pending.items() if v}
            self._pending = dict.fromkeys(COUNTERS, 0)
            return out

    def undrain(self, deltas: dict[str, int]) -> None:
        """Give back increments a failed round trip did not deliver."""
        with self._lock:
            for k, v in deltas.items():
                self._pending[k] += v

    def reset(self) -> None:
        with self._lock:
            self._counts = dict.fromkeys(COUNTERS, 0)
            self._pending = dict.fromkeys(COUNTERS, 0)


STATS = Stats()
