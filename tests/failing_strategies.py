"""Strategies that fail in every way a user meets (FARM_IMPORTS module of the CLI failure tests):
one raising on every call, one whose every signal the engine rejects, and a frame with no candles."""

from __future__ import annotations

from datetime import datetime

import farm
from farm import registry
from farm.data.sample import sample_source

EXCHANGE = "fs-sample"


def always_raises(symbol: str, when: datetime) -> dict | None:
    raise ValueError(f"no data for {symbol} at {when:%H:%M}")


def tight_stops(symbol: str, when: datetime) -> dict | None:
    """Long every call with a stop-loss 0.1 % under the price: closer than the 0.5 % minimum."""
    price = farm.get_average_price(symbol)
    return {"position": "long", "price_take_profit": price * 1.02, "price_stop_loss": price * 0.999,
            "minute_estimated_time": 60}


def register() -> None:
    farm.set_config(base_interval="5m")
    if registry.exchanges.has(EXCHANGE):
        return
    farm.add_exchange(EXCHANGE, sample_source("5m"))
    farm.add_frame("fs-day", "5m", "2018-01-12T00:00:00Z", "2018-01-13T00:00:00Z")
    farm.add_frame("fs-empty", "5m", "2016-01-12T00:00:00Z", "2016-01-13T00:00:00Z")
    farm.add_strategy("fs_raises", "5m", always_raises)
    farm.add_strategy("fs_tight", "5m", tight_stops)
    farm.add_walker("fs-walker", EXCHANGE, "fs-day", ["fs_raises", "fs_tight"])


register()
