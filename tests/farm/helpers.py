"""What the farm tests run: the bundled 5m sample pairs over two days and a few small strategies.

Importable by name (`tests.farm.helpers`), so it goes in FARM_IMPORTS: a worker process imports
it and gets the same registrations (and, its source being the same file, the same code version)
as the test process that planned the sweep. `register()` registers again after
`farm.clear_registry()` (the suite's autouse isolation). The tests import it only inside a
test (fixture `registered`), so collecting them registers nothing.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import farm
from farm import registry
from farm.data.sample import sample_source
from tests.farm.names import BOOM_SYMBOL, EXCHANGE, FRAME, RISK, SLOW_MARKER_ENV, SMA_A, SMA_B


def sma(symbol: str, when: datetime, *, fast: int = 5, slow: int = 20) -> dict | None:
    """Long when the fast SMA of closes crosses above the slow one."""
    candles = farm.get_candles(symbol, "5m", slow + 1)
    if len(candles) < slow + 1:
        return None
    close = candles.close
    fast_now, fast_prev = close[-fast:].mean(), close[-fast - 1 : -1].mean()
    slow_now, slow_prev = close[-slow:].mean(), close[-slow - 1 : -1].mean()
    if not (fast_prev <= slow_prev and fast_now > slow_now):
        return None
    price = farm.get_average_price(symbol)
    return {"position": "long", "price_take_profit": price * 1.02, "price_stop_loss": price * 0.99,
            "minute_estimated_time": 240}


def boom(symbol: str, when: datetime, *, fast: int = 5, slow: int = 20) -> dict | None:
    """`sma`, except that it raises every six hours on BOOM_SYMBOL."""
    if symbol == BOOM_SYMBOL and when.minute == 0 and when.hour % 6 == 0:
        raise RuntimeError(f"boom on {symbol} at {when:%m-%d %H:%M}")
    return sma(symbol, when, fast=fast, slow=slow)


def sleepy(symbol: str, when: datetime) -> dict | None:
    """Never trades; blocks (at most 60 s) while the slow marker exists."""
    marker = os.environ.get(SLOW_MARKER_ENV)
    if marker and Path(marker).exists():
        Path(f"{marker}.started").touch()
        deadline = time.monotonic() + 60
        while Path(marker).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return None


def napper(symbol: str, when: datetime, *, nap: int = 0, fast: int = 5, slow: int = 20) -> dict | None:
    """`sma`, except that the variants with nap=1 block as `sleepy` does (the middle of a block)."""
    if nap:
        sleepy(symbol, when)
    return sma(symbol, when, fast=fast, slow=slow)


def slowish(symbol: str, when: datetime) -> dict | None:
    """Never trades; about 2 s per backtest (576 bars) (progress events to watch)."""
    time.sleep(0.0035)
    return None


def register() -> None:
    farm.set_config(base_interval="5m")
    if not registry.exchanges.has(EXCHANGE):
        farm.add_exchange(EXCHANGE, sample_source("5m"))
    if not registry.frames.has(FRAME):
        farm.add_frame(FRAME, "5m", "2018-01-12T00:00:00Z", "2018-01-14T00:00:00Z")
    if registry.strategies.has("tf_sma"):
        return
    farm.add_strategy("tf_sma", "5m", sma, params={"fast": 5, "slow": 20})
    farm.add_strategy("tf_boom", "5m", boom, params={"fast": 5, "slow": 20})
    farm.add_strategy("tf_sleepy", "5m", sleepy)
    farm.add_strategy("tf_slowish", "5m", slowish)
    farm.add_walker("tf-clean", EXCHANGE, FRAME, [SMA_A, SMA_B])
    farm.add_walker("tf-boom", EXCHANGE, FRAME, [SMA_A, SMA_B, "tf_boom"])
    farm.add_walker("tf-slow", EXCHANGE, FRAME, ["tf_sleepy", SMA_A])
    farm.add_walker("tf-progress", EXCHANGE, FRAME, ["tf_slowish"])
    # Variant blocks: a grid of one strategy, another strategy, and a risk group (one job).
    farm.add_strategy("tf_napper", "5m", napper, params={"nap": 0, "fast": 5, "slow": 20})
    farm.add_risk(RISK, [farm.max_concurrent_positions(1)])
    farm.add_strategy("tf_risky", "5m", sma, risk_name=RISK, params={"fast": 5, "slow": 20})
    farm.add_walker("tf-grid", EXCHANGE, FRAME, [
        *farm.grid("tf_sma", fast=[3, 5, 8, 13], slow=[20, 30]), "tf_boom", *farm.grid("tf_risky", fast=[5, 8]),
    ])
    farm.add_walker("tf-slow-block", EXCHANGE, FRAME, [
        farm.variant("tf_napper", nap=0), farm.variant("tf_napper", nap=1), farm.variant("tf_napper", fast=8),
    ])


register()
