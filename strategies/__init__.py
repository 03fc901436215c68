"""Example strategies users copy: one per module, each registering itself with `register()`.

Import a module to register its strategy (workers do this through FARM_IMPORTS):

    import strategies.sma_cross          # registers "sma_cross"
    farm.grid("sma_cross", fast=[5, 10], slow=[50, 100])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

import farm
from farm.intervals import interval_ms
from farm.schemas import StrategySchema

EXAMPLES = ("strategies.sma_cross", "strategies.mean_reversion", "strategies.breakout_retest")


def register_once(name: str, interval: str, get_signal: Callable[..., Any], params: dict[str, Any],
                  note: str, signals: Callable[..., Any] | None = None) -> StrategySchema:
    """Register a strategy unless it already is (modules are imported once, registries can be
    cleared and refilled, e.g. between tests); `signals` is its vectorised form, if any."""
    for schema in farm.list_strategies():
        if schema.strategy_name == name:
            return schema
    return farm.add_strategy(name, interval, get_signal, params=params, note=note, signals=signals)


def newest_window(symbol: str, n: int) -> farm.Candles | None:
    """The `n` base candles ending with the newest closed one, if they have no gap, else None.

    The answer depends only on the newest closed candle, so it is the same at every tick until
    a newer one closes (after a gap in the data, or at a strategy interval coarser than the
    candles) — what a vectorised row means, so both forms of a strategy agree. `get_candles(n)`
    alone would not do: its window ends at the tick, so after a gap it holds fewer candles. It
    looks `avg_price_candles_count` slots further back than `n`: a tick whose newest candle is
    older than that has no current price, and the engine asks no strategy there."""
    cfg = farm.get_config()
    candles = farm.get_candles(symbol, cfg.base_interval, n + int(cfg.avg_price_candles_count))
    if len(candles) < n:
        return None
    window = candles[len(candles) - n:]
    ts = window.timestamp
    if int(ts[-1]) - int(ts[0]) != (n - 1) * interval_ms(cfg.base_interval):
        return None
    return window  # type: ignore[return-value]


def close_price(candles: farm.Candles) -> float:
    """The current price at the close of the last of `candles` — what `get_average_price` read
    at that moment (`farm.kernel.average_prices`' arithmetic, bit for bit), and so the same at
    every tick until a newer candle closes. `candles` must end with the newest closed candle
    and hold the `avg_price_candles_count` slots before it (as `newest_window`'s do)."""
    from farm.kernel.signals import average_prices

    n = int(farm.get_config().avg_price_candles_count)
    tail = candles[max(len(candles) - n, 0):]
    last = np.zeros(len(tail), dtype=np.int8)
    last[-1] = 1
    return float(average_prices(tail, at=last)[0])  # type: ignore[arg-type]


def register_all() -> list[str]:
    """Register every example (again, after `farm.clear_registry()`); returns their names."""
    names = []
    for module_name in EXAMPLES:
        module = importlib.import_module(module_name)
        names.append(module.register().strategy_name)
    return names
