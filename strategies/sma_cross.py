"""Trend following: long when the fast simple moving average of closes crosses above the slow one.

The standard strategy of the benchmarks (fast 10 / slow 50, TP +2 %, SL −1 %, 240 minutes).
"""

from __future__ import annotations

from datetime import datetime

import farm
from farm.schemas import StrategySchema
from strategies import register_once

NAME = "sma_cross"
PARAMS = {"fast": 10, "slow": 50, "tp_pct": 2.0, "sl_pct": 1.0, "lifetime": 240}


def get_signal(
    symbol: str, when: datetime, *, fast: int, slow: int, tp_pct: float, sl_pct: float, lifetime: int
) -> dict | None:
    candles = farm.get_candles(symbol, farm.get_config().base_interval, slow + 1)
    if len(candles) < slow + 1:
        return None  # not enough history yet (or a gap in it)
    # One cumulative sum gives all four averages (now and one candle ago) in O(1) numpy calls.
    cs = candles.close.cumsum()
    fast_now = (cs[-1] - cs[-1 - fast]) / fast
    fast_prev = (cs[-2] - cs[-2 - fast]) / fast
    slow_now = (cs[-1] - cs[0]) / slow
    slow_prev = cs[-2] / slow
    if not (fast_prev <= slow_prev and fast_now > slow_now):
        return None
    price = farm.get_average_price(symbol)
    return {
        "position": "long",
        "price_take_profit": price * (1 + tp_pct / 100),
        "price_stop_loss": price * (1 - sl_pct / 100),
        "minute_estimated_time": lifetime,
        "note": f"SMA{fast} crossed above SMA{slow}",
    }


def register() -> StrategySchema:
    return register_once(NAME, "1m", get_signal, PARAMS, note=__doc__.splitlines()[0])


register()
