"""A strategy module the farm tests never put in FARM_IMPORTS: workers must refuse its jobs."""

from __future__ import annotations

import farm
from farm import registry
from tests.farm import helpers
from tests.farm.names import EXCHANGE, FRAME, SMA_A


def never(symbol, when):
    return None


def register() -> None:
    helpers.register()
    if not registry.strategies.has("tf_unlisted"):
        farm.add_strategy("tf_unlisted", "5m", never)
        farm.add_walker("tf-unlisted", EXCHANGE, FRAME, [SMA_A, "tf_unlisted"])


register()
