"""A strategy module that fails to import where FARM_TEST_BREAK_IMPORT is set (a worker's
environment), and imports fine in the test process that plans the sweep."""

from __future__ import annotations

import os

import farm
from farm import registry
from tests.farm import helpers
from tests.farm.names import EXCHANGE, FRAME, SMA_A

if os.environ.get("FARM_TEST_BREAK_IMPORT"):
    raise RuntimeError("tests.farm.broken is broken on this worker")


def never(symbol, when):
    return None


def register() -> None:
    helpers.register()
    if not registry.strategies.has("tf_broken"):
        farm.add_strategy("tf_broken", "5m", never)
        farm.add_walker("tf-broken", EXCHANGE, FRAME, [SMA_A, "tf_broken"])


register()
