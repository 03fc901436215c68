"""A nightly batch for the beat tests (FARM_IMPORTS module): walker tf-clean over two days
before the run date, at 03:30 UTC, fanned out to the farm's workers."""

from __future__ import annotations

import scheduler
from tests.farm import helpers
from tests.farm.names import EXCHANGE, FRAME, SMA_A, SMA_B

BATCH = "tf-nightly"
SYMBOLS = ["ETH/BTC", "XLM/BTC"]


def register() -> None:
    import farm
    from farm import registry

    helpers.register()
    if not registry.walkers.has("tf-nightly-walker"):
        farm.add_walker("tf-nightly-walker", EXCHANGE, FRAME, [SMA_A, SMA_B])
    if BATCH not in {b.name for b in scheduler.list_batches()}:
        scheduler.add_batch(BATCH, "tf-nightly-walker", SYMBOLS, cron="30 3 * * *", days=2, executor="celery")


register()
