"""Breakout and retest with scheduled entries: after a close beyond the recent channel, wait for
the price to come back to the broken level (a limit order) and trade the breakout from there.

A long is scheduled at the old channel high (it activates when the price dips back to it); a
short at the old channel low. A retest that never comes is cancelled after the await window.

Both forms: `get_signal` per tick, `vectorised_signals` per bar for the compiled kernel
(farm.kernel), which gives the same trades.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

import farm
from farm.schemas import StrategySchema
from strategies import close_price, newest_window, register_once

NAME = "breakout_retest"
PARAMS = {"channel": 48, "tp_pct": 1.5, "sl_pct": 0.75, "lifetime": 360}


def get_signal(
    symbol: str, when: datetime, *, channel: int, tp_pct: float, sl_pct: float, lifetime: int
) -> dict | None:
    candles = newest_window(symbol, channel + 1)
    if candles is None:
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
    price = close_price(candles)
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


def vectorised_signals(
    candles: farm.Candles, *, channel: int, tp_pct: float, sl_pct: float, lifetime: int
) -> dict[str, Any]:
    """The same strategy per bar: the breakout of the `channel` candles before each bar
    (`channel_breakout`), kept where the VWAP a per-tick run would read is still on the
    breakout side, a limit entry at the broken level. """
    from farm.intervals import interval_ms
    from farm.kernel.indicators import channel_breakout
    from farm.kernel.signals import average_prices

    step = interval_ms(farm.get_config().base_interval)
    close = candles.close
    side, entry = channel_breakout(candles.high, candles.low, close, candles.timestamp, step, channel)
    price = average_prices(candles, step=step, where=side)
    side[~((price - entry) * side > 0)] = 0  # the market already back at the level: no order
    note = np.empty(len(candles), dtype=object)
    for i in np.flatnonzero(side).tolist():
        note[i] = (f"close {float(close[i]):.8g} broke the {channel}-candle {'high' if side[i] > 0 else 'low'} "
                   f"{float(entry[i]):.8g}")
    return {
        "position": side,
        "price_open": entry,
        "price_take_profit": entry * (1 + side * tp_pct / 100),
        "price_stop_loss": entry * (1 - side * sl_pct / 100),
        "minute_estimated_time": lifetime,
        "note": note,
    }


def register() -> StrategySchema:
    return register_once(NAME, "5m", get_signal, PARAMS, note=__doc__.splitlines()[0], signals=vectorised_signals)


register()
