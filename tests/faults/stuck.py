"""Strategies that never return, for the time-limit tests (importable by name: FARM_IMPORTS of
a worker process). `register()` runs on import and again after the suite's registry clear."""

from __future__ import annotations

import signal
import time
from datetime import datetime

import farm
from farm import registry
from tests.farm import helpers
from tests.farm.names import EXCHANGE, FRAME, SMA_A

MODULE = "tests.faults.stuck"
WALKER = "tf-stuck"
ASLEEP_WALKER = "tf-asleep"
"""Without the strategy that masks the signal: what the local pool (soft limit only) can stop."""


def asleep(symbol: str, when: datetime) -> dict | None:
    """Blocks in C (a sleep of 11 days): interrupted only by a signal whose handler raises."""
    time.sleep(10**6)
    return None


def deaf(symbol: str, when: datetime) -> dict | None:
    """Blocks in C with the soft-limit signal masked: only killing the process ends it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    time.sleep(10**6)
    return None


def register() -> None:
    helpers.register()
    if registry.strategies.has("tf_asleep"):
        return
    farm.add_strategy("tf_asleep", "5m", asleep)
    farm.add_strategy("tf_deaf", "5m", deaf)
    farm.add_walker(WALKER, EXCHANGE, FRAME, ["tf_asleep", "tf_deaf", SMA_A])
    farm.add_walker(ASLEEP_WALKER, EXCHANGE, FRAME, ["tf_asleep", SMA_A])


register()
