"""Partial profit/loss milestones (SPEC §7) for the kernel's trades, computed after the run.

The kernel resolves each signal without looking at progress; the milestones of a closed trade
depend only on the VWAP at every candle it was evaluated on before it closed, which the
kernel's candle indices (`check_start`, `close_index`) give back. So they are rebuilt here per
closed trade with the per-tick engine's own pieces — `CandleSeries.vwaps_ending`,
`lifecycle.progress_arrays` and `lifecycle.first_crossings` — and equal its events exactly
(each signal starts with no level emitted, as the per-tick runtime's state is per signal id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from farm.engine import lifecycle
from farm.engine.exchange import CandleSeries
from farm.models import CancelledResult, ClosedResult, PartialEvent

if TYPE_CHECKING:
    from farm.kernel.run import Trades

Milestone = tuple[str, PartialEvent]
"""("profit" | "loss", event): what `storages.partial` holds."""


def trade_milestones(series: CandleSeries, row_result: ClosedResult, i0: int, i1: int, n_avg: int) -> list[Milestone]:
    """Milestones of one closed trade evaluated on candles `[i0, i1)` of `series` (the closing
    candle `i1` is not a progress evaluation), in the order the per-tick engine emits them."""
    if i1 <= i0:
        return []
    row = row_result.signal
    prices = series.vwaps_ending(i0, i1, n_avg)
    pct_tp, pct_sl = lifecycle.progress_arrays(
        row.position, row.price_open, row.price_take_profit, row.price_stop_loss, prices
    )
    crossings = lifecycle.first_crossings(pct_tp, pct_sl, set(), set())
    if not crossings:
        return []
    ts = series.arrays.timestamp
    names = {"symbol": row_result.symbol, "strategy_name": row_result.strategy_name,
             "exchange_name": row_result.exchange_name}
    return [
        (kind, PartialEvent(**names, data=row, current_price=float(prices[k]), level=level, backtest=True,
                            timestamp=int(ts[i0 + k])))
        for k, level, kind in crossings
    ]


def milestones(series: CandleSeries, trades: Trades, results: list[ClosedResult | CancelledResult],
               n_avg: int) -> list[list[Milestone]]:
    """Per kernel result (aligned with `results`, one per trade), its milestones; `series` must
    hold the very arrays the kernel ran on, so its candle indices mean the same candles."""
    out: list[list[Milestone]] = []
    for result, i0, i1 in zip(results, trades.check_start.tolist(), trades.close_index.tolist(), strict=True):
        out.append(trade_milestones(series, result, i0, i1, n_avg) if result.action == "closed" else [])
    return out


__all__ = ["Milestone", "milestones", "trade_milestones"]
