"""Partial profit/loss milestones (SPEC §7) for the kernel's trades, computed after the run.

The kernel resolves each signal without looking at progress; the milestones of a closed trade
depend only on the VWAP at every candle it was evaluated on before it closed, which the
kernel's candle indices (`check_start`, `close_index`) give back. So they are rebuilt here for
all closed trades in one compiled pass (`_first_crossings`) with the per-tick engine's steps:
the VWAP `steps.vwap_ending`, the progress `steps.progress` and the level rule of
`lifecycle.first_crossings` (each level at the first evaluation that reaches it; each signal
starts with no level emitted, as the per-tick runtime's state is per signal id). The parity tests hold the two paths to equal events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba as nb
import numpy as np

from farm.engine import steps
from farm.engine.exchange import CandleSeries
from farm.engine.lifecycle import LEVELS
from farm.models import CancelledResult, ClosedResult, PartialEvent

if TYPE_CHECKING:
    from farm.kernel.run import Trades

Milestone = tuple[str, PartialEvent]
"""("profit" | "loss", event): what `storages.partial` holds."""

KINDS = ("profit", "loss")


@nb.njit(cache=True, nogil=True)
def _first_crossings(ts: np.ndarray, tpv: np.ndarray, volume: np.ndarray, close: np.ndarray, step: int, n: int,
                     starts: np.ndarray, ends: np.ndarray, sign: np.ndarray, price_open: np.ndarray,
                     take_profit: np.ndarray, stop_loss: np.ndarray, levels: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per trade, level and kind (0 profit, 1 loss): the index (from the trade's first evaluated
    candle) of the first evaluation whose progress reaches the level, −1 if none, and the VWAP
    there. Per candle j the price is `steps.vwap_ending` and the progress `steps.progress`."""
    n_trades = len(starts)
    n_levels = len(levels)
    out = np.full((n_trades, n_levels, 2), -1, dtype=np.int64)
    at_price = np.zeros((n_trades, n_levels, 2))
    for t in range(n_trades):
        found = 0
        for j in range(starts[t], ends[t]):
            price = steps.vwap_ending(ts, tpv, volume, close, j, n, step)
            pct_tp, pct_sl = steps.progress(sign[t], price_open[t], take_profit[t], stop_loss[t], price)
            if pct_tp > 0:
                pct = pct_tp
                kind = 0
            elif pct_sl > 0:
                pct = pct_sl
                kind = 1
            else:
                continue
            for m in range(n_levels):
                if pct >= levels[m] and out[t, m, kind] < 0:
                    out[t, m, kind] = j - starts[t]
                    at_price[t, m, kind] = price
                    found += 1
            if found == 2 * n_levels:
                break
    return out, at_price


def milestones(series: CandleSeries, trades: Trades, results: list[ClosedResult | CancelledResult],
               n_avg: int) -> list[list[Milestone]]:
    """Per kernel result (aligned with `results`, one per trade), its milestones in the order the
    per-tick engine emits them; `series` must hold the very arrays the kernel ran on, so its
    candle indices mean the same candles."""
    out: list[list[Milestone]] = [[] for _ in results]
    closed = [i for i, r in enumerate(results) if r.action == "closed"]
    if not closed:
        return out
    rows = [results[i].signal for i in closed]
    price_open = np.array([r.price_open for r in rows])
    sign = np.array([1 if r.position == "long" else -1 for r in rows], dtype=np.int64)
    take_profit = np.array([r.price_take_profit for r in rows], dtype=np.float64)
    stop_loss = np.array([r.price_stop_loss for r in rows], dtype=np.float64)
    idx = np.asarray(closed)
    starts = trades.check_start[idx].astype(np.int64)
    ends = trades.close_index[idx].astype(np.int64)
    a = series.arrays
    first, at_price = _first_crossings(a.timestamp, series.tpv, a.volume, a.close, int(series.step), int(n_avg),
                                       starts, ends, sign, price_open, take_profit, stop_loss,
                                       np.asarray(LEVELS, dtype=np.float64))
    t_idx, l_idx, kinds = np.nonzero(first >= 0)
    if not len(t_idx):
        return out
    k_idx = first[t_idx, l_idx, kinds]
    # The per-tick order: by evaluation, then level, then kind ("loss" before "profit").
    order = np.lexsort((1 - kinds, l_idx, k_idx, t_idx))
    ts = a.timestamp
    prices = at_price[t_idx, l_idx, kinds]
    for o in order.tolist():
        t = int(t_idx[o])
        result = results[closed[t]]
        j = int(starts[t] + k_idx[o])
        out[closed[t]].append((KINDS[int(kinds[o])], PartialEvent(
            symbol=result.symbol, strategy_name=result.strategy_name, exchange_name=result.exchange_name,
            data=result.signal, current_price=float(prices[o]), level=int(LEVELS[int(l_idx[o])]), backtest=True,
            timestamp=int(ts[j]),
        )))
    return out


__all__ = ["Milestone", "milestones"]
