"""Trend following: long when the fast simple moving average of closes crosses above the slow one.

The standard strategy of the benchmarks (fast 10 / slow 50, TP +2 %, SL −1 %, 240 minutes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

import farm
from farm.schemas import StrategySchema
from strategies import close_price, newest_window, register_once

NAME = "sma_cross"
PARAMS = {"fast": 10, "slow": 50, "tp_pct": 2.0, "sl_pct": 1.0, "lifetime": 240}


def get_signal(
    symbol: str, when: datetime, *, fast: int, slow: int, tp_pct: float, sl_pct: float, lifetime: int
) -> dict | None:
    candles = newest_window(symbol, slow + 1)
    if candles is None:
        return None  # not enough history yet (or a gap in it)
    # One cumulative sum gives all four averages (now and one candle ago) in O(1) numpy calls.
    cs = candles.close.cumsum()
    fast_now = (cs[-1] - cs[-1 - fast]) / fast
    fast_prev = (cs[-2] - cs[-2 - fast]) / fast
    slow_now = (cs[-1] - cs[0]) / slow
    slow_prev = cs[-2] / slow
    if not (fast_prev <= slow_prev and fast_now > slow_now):
        return None
    price = close_price(candles)
    return {
        "position": "long",
        "price_take_profit": price * (1 + tp_pct / 100),
        "price_stop_loss": price * (1 - sl_pct / 100),
        "minute_estimated_time": lifetime,
        "note": f"SMA{fast} crossed above SMA{slow}",
    }


def vectorised_signals(
    candles: farm.Candles, *, fast: int, slow: int, tp_pct: float, sl_pct: float, lifetime: int
) -> dict[str, Any]:
    """The same strategy in vectorised form (farm.kernel): per bar, what `get_signal` returns at
    that bar's close — the cross decided with the very arithmetic of `get_signal` (a cumulative
    sum over its own slow+1 window), TP/SL from the same VWAP.

    With fast >= slow `get_signal` fails on every tick (its window is too short for the
    indices it reads), so no bar signals here either."""
    from farm.intervals import interval_ms
    from farm.kernel.indicators import sma_cross_up
    from farm.kernel.signals import average_prices

    n = len(candles)
    if not 1 <= fast < slow:
        return {"position": np.zeros(n, dtype=np.int8), "price_take_profit": np.nan, "price_stop_loss": np.nan,
                "minute_estimated_time": lifetime}
    step = interval_ms(farm.get_config().base_interval)
    cross = sma_cross_up(candles.close, candles.timestamp, step, fast, slow)  # int8: 1 on a cross
    # Prices for the crossing bars only (as get_signal reads one only then): columns given one
    # value per signal, so nothing is computed or allocated for the other bars.
    price = average_prices(candles, step=step, at=cross)
    return {
        "position": cross,
        "price_take_profit": price * (1 + tp_pct / 100),
        "price_stop_loss": price * (1 - sl_pct / 100),
        "minute_estimated_time": lifetime,
        "note": f"SMA{fast} crossed above SMA{slow}",
    }


def register() -> StrategySchema:
    return register_once(NAME, "1m", get_signal, PARAMS, note=__doc__.splitlines()[0], signals=vectorised_signals)


register()
