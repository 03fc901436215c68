"""The signal lifecycle as pure decisions (SPEC §5.7, §5.8 with D3 and D11): prices in, a
decision out, no callbacks, no I/O. The strategy runtime applies the decisions; live mode
and the compiled kernel reproduce the same rules.

Two families:
* price rules (`*_by_price`): one VWAP per tick — live mode and the backtest edge path;
* candle scans (`scan_*`): numpy over a series of base candles — the backtest fast-forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

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
    """§7.1: how far the price went towards TP (percent_tp) or SL (percent_sl), capped at 100."""
    d = price - price_open if position == "long" else price_open - price
    if d > 0:
        return min(d / abs(take_profit - price_open) * 100, 100.0), 0.0
    if d < 0:
        return 0.0, min(-d / abs(price_open - stop_loss) * 100, 100.0)
    return 0.0, 0.0


def progress_arrays(
    position: str, price_open: float, take_profit: float, stop_loss: float, prices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`progress` over many prices, element for element the same arithmetic."""
    d = prices - price_open if position == "long" else price_open - prices
    tp_dist = abs(take_profit - price_open)
    sl_dist = abs(price_open - stop_loss)
    pct_tp = np.where(d > 0, np.minimum(d / tp_dist * 100, 100.0), 0.0)
    pct_sl = np.where(d < 0, np.minimum(-d / sl_dist * 100, 100.0), 0.0)
    return pct_tp, pct_sl


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


# ---- candle scans --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduledScan:
    outcome: ScheduledOutcome | None
    """None: the candles ran out before activation, cancellation or timeout."""
    index: int


def scan_scheduled(
    position: str,
    price_open: float,
    stop_loss: float,
    timestamps: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    start: int,
    timeout_index: int,
) -> ScheduledScan:
    """§5.8 scheduled phase over candles `[start, timeout_index]`: the first candle that times
    out, touches the stop-loss (cancel wins over activation on one candle) or touches the entry.
    `timeout_index` is the first candle at or past `scheduled_at + AWAIT` (len if none)."""
    end = min(timeout_index, len(timestamps))
    if position == "long":
        cancel = low[start:end] <= stop_loss
        activate = low[start:end] <= price_open
    else:
        cancel = high[start:end] >= stop_loss
        activate = high[start:end] >= price_open
    hit = cancel | activate
    if hit.any():
        k = int(np.argmax(hit))
        return ScheduledScan("cancel" if cancel[k] else "activate", start + k)
    if timeout_index < len(timestamps):
        return ScheduledScan("timeout", timeout_index)
    return ScheduledScan(None, len(timestamps) - 1)


@dataclass(frozen=True, slots=True)
class PendingScan:
    reason: Literal["take_profit", "stop_loss", "time_expired"]
    index: int
    """The candle that closes the signal (its open time is the close timestamp)."""
    price: float | None
    """TP or SL; None for time_expired (the VWAP ending with that candle)."""


def scan_pending(
    position: str,
    take_profit: float,
    stop_loss: float,
    high: np.ndarray,
    low: np.ndarray,
    check_start: int,
    end: int,
) -> PendingScan:
    """§5.8 pending phase over candles `[check_start, end]` (D3, D11): TP before SL on one
    candle; if neither is touched, `time_expired` on candle `end`."""
    if end >= check_start:
        if position == "long":
            tp = high[check_start : end + 1] >= take_profit
            sl = low[check_start : end + 1] <= stop_loss
        else:
            tp = low[check_start : end + 1] <= take_profit
            sl = high[check_start : end + 1] >= stop_loss
        hit = tp | sl
        if hit.any():
            k = int(np.argmax(hit))
            if tp[k]:
                return PendingScan("take_profit", check_start + k, take_profit)
            return PendingScan("stop_loss", check_start + k, stop_loss)
    return PendingScan("time_expired", end, None)


def last_lifetime_slot(pending_at: int, lifetime_minutes: float, step_ms: int) -> int:
    """Open time of the last base candle inside the lifetime: `pending_at + (mET−1)` min for
    1m candles; the last grid slot before `pending_at + mET` min for coarser ones."""
    span = int(lifetime_minutes * MINUTE_MS)
    return pending_at + (span - 1) // step_ms * step_ms
