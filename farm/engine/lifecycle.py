"""The signal lifecycle's decisions on one price per tick (SPEC §5.7, §7): prices in, a
decision out, no callbacks, no I/O — live mode and the backtest's edge path (a signal left
to later ticks). The strategy runtime applies them.

The rules over candles (the backtest fast-forward: scheduled and pending phases, VWAP, PnL,
progress) are the compiled steps of `farm.engine.steps`, shared with the kernel.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from farm.engine import steps
from farm.intervals import MINUTE_MS

LEVELS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)

ScheduledOutcome = Literal["timeout", "cancel", "activate"]


# ---- price rules ---------------------------------------------------------------------


def scheduled_by_price(
    position: str, price_open: float, stop_loss: float, scheduled_at: int, await_minutes: int, t: int, price: float
) -> ScheduledOutcome | None:
    """§5.7 B: timeout first, then cancel by stop-loss, then activation."""
    if t - scheduled_at >= await_minutes * MINUTE_MS:
        return "timeout"
    if position == "long":
        if price <= stop_loss:
            return "cancel"
        if price <= price_open:
            return "activate"
    else:
        if price >= stop_loss:
            return "cancel"
        if price >= price_open:
            return "activate"
    return None


def pending_by_price(
    position: str, take_profit: float, stop_loss: float, pending_at: int, lifetime_minutes: float, t: int, price: float
) -> tuple[str, float] | None:
    """§5.7 D: expiry (at the VWAP), then take-profit (at TP), then stop-loss (at SL)."""
    if t - pending_at >= lifetime_minutes * MINUTE_MS:
        return "time_expired", price
    if position == "long":
        if price >= take_profit:
            return "take_profit", take_profit
        if price <= stop_loss:
            return "stop_loss", stop_loss
    else:
        if price <= take_profit:
            return "take_profit", take_profit
        if price >= stop_loss:
            return "stop_loss", stop_loss
    return None


def progress(position: str, price_open: float, take_profit: float, stop_loss: float, price: float) -> tuple[float, float]:
    """§7.1 (`steps.progress`): how far the price went towards TP (percent_tp) or SL (percent_sl)."""
    return steps.progress(1 if position == "long" else -1, float(price_open), float(take_profit), float(stop_loss),
                          float(price))


def progress_arrays(
    position: str, price_open: float, take_profit: float, stop_loss: float, prices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`progress` at each of `prices` (`steps.progress_many`)."""
    return steps.progress_many(1 if position == "long" else -1, float(price_open), float(take_profit),
                               float(stop_loss), prices)


def new_levels(pct: float, emitted: set[int]) -> list[int]:
    return [level for level in LEVELS if pct >= level and level not in emitted]


def first_crossings(
    pct_tp: np.ndarray, pct_sl: np.ndarray, emitted_profit: set[int], emitted_loss: set[int]
) -> list[tuple[int, int, str]]:
    """§7 over a run of evaluations: each level not yet emitted, at the first evaluation whose
    progress reaches it, as (evaluation index, level, "profit"/"loss") in emission order. The
    per-tick fast-forward and the kernel's post-hoc milestones share this one rule."""
    found: list[tuple[int, int, str]] = []
    for kind, pct, emitted in (("profit", pct_tp, emitted_profit), ("loss", pct_sl, emitted_loss)):
        if not len(pct):
            continue
        top = pct.max()
        if top < LEVELS[0]:
            continue
        for level in LEVELS:
            if level in emitted or top < level:
                continue
            found.append((int(np.argmax(pct >= level)), level, kind))
    return sorted(found)
