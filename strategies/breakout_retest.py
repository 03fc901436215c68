"""Breakout and retest with scheduled entries: after a close beyond the recent channel, wait for
the price to come back to the broken level (a limit order) and trade the breakout from there.

A long is scheduled at the old channel high (it activates when the price dips back to it); a
short at the old channel low. A retest that never comes is cancelled after the await window.
"""

from __future__ import annotations

from datetime import datetime

import farm
from farm.schemas import StrategySchema
from strategies import register_once

NAME = "breakout_retest"
PARAMS = {"channel": 48, "tp_pct": 1.5, "sl_pct": 0.75, "lifetime": 360}


def get_signal(
    symbol: str, when: datetime, *, channel: int, tp_pct: float, sl_pct: float, lifetime: int
) -> dict | None:
    candles = farm.get_candles(symbol, farm.get_config().base_interval, channel + 1)
    if len(candles) < channel + 1:
        return None
    high = float(candles.high[:-1].max())
    low = float(candles.low[:-1].min())
    last = float(candles.close[-1])
    if last > high:
        position, entry, sign = "long", high, 1
    elif last < low:
        position, entry, sign = "short", low, -1
    else:
        return None
    # The engine prices with a VWAP that lags the breakout candle: only place the retest order
    # while the market is still on the breakout side of the level.
    price = farm.get_average_price(symbol)
    if (price - entry) * sign <= 0:
        return None
    return {
        "position": position,
        "price_open": entry,
        "price_take_profit": entry * (1 + sign * tp_pct / 100),
        "price_stop_loss": entry * (1 - sign * sl_pct / 100),
        "minute_estimated_time": lifetime,
        "note": f"close {last:.8g} broke the {channel}-candle {'high' if sign > 0 else 'low'} {entry:.8g}",
    }


def register() -> StrategySchema:
    return register_once(NAME, "5m", get_signal, PARAMS, note=__doc__.splitlines()[0])


register()
