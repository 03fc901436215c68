"""Mean reversion: fade a close outside the Bollinger band, take profit back at the mean.

Long below the lower band, short above the upper one; the stop sits as far beyond the entry
as the target is inside it (reward/risk 1), within the engine's distance limits.

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

NAME = "mean_reversion"
PARAMS = {"window": 96, "width": 3.0, "min_move_pct": 1.5, "max_move_pct": 10.0, "lifetime": 480}


def get_signal(
    symbol: str, when: datetime, *, window: int, width: float, min_move_pct: float, max_move_pct: float,
    lifetime: int,
) -> dict | None:
    candles = newest_window(symbol, window)
    if candles is None:
        return None
    close = candles.close
    mean = float(close.mean())
    band = width * float(close.std())
    last = float(close[-1])
    if band <= 0 or abs(last - mean) <= band:
        return None
    price = close_price(candles)
    # Aim back at the mean, but never closer than the minimum move the fees allow.
    # and never further than the stop-loss limit allows.
    move = min(max(abs(mean - price), price * min_move_pct / 100), price * max_move_pct / 100)
    position = "long" if last < mean else "short"
    sign = 1 if position == "long" else -1
    return {
        "position": position,
        "price_take_profit": price + sign * move,
        "price_stop_loss": price - sign * move,
        "minute_estimated_time": lifetime,
        "note": f"close {last:.8g} outside the {width}-sigma band around {mean:.8g}",
    }


def vectorised_signals(
    candles: farm.Candles, *, window: int, width: float, min_move_pct: float, max_move_pct: float, lifetime: int
) -> dict[str, Any]:
    """The same strategy per bar: the band test with numpy's own mean/std arithmetic on each
    bar's window (`band_breach`), the target and stop from the VWAP a per-tick run would read,
    computed with `get_signal`'s expressions. """
    from farm.intervals import interval_ms
    from farm.kernel.indicators import band_breach
    from farm.kernel.signals import average_prices

    step = interval_ms(farm.get_config().base_interval)
    close = candles.close
    side, mean = band_breach(close, candles.timestamp, step, window, width)
    price = average_prices(candles, step=step, where=side)
    move = np.minimum(np.maximum(np.abs(mean - price), price * min_move_pct / 100), price * max_move_pct / 100)
    note = np.empty(len(candles), dtype=object)
    for i in np.flatnonzero(side).tolist():
        note[i] = f"close {float(close[i]):.8g} outside the {width}-sigma band around {float(mean[i]):.8g}"
    return {
        "position": side,
        "price_take_profit": price + side * move,
        "price_stop_loss": price - side * move,
        "minute_estimated_time": lifetime,
        "note": note,
    }


def register() -> StrategySchema:
    return register_once(NAME, "5m", get_signal, PARAMS, note=__doc__.splitlines()[0], signals=vectorised_signals)


register()
