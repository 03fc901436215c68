"""Portfolio heatmap statistics (SPEC §11.4 with D7, D8) as a pure function of closed trades.

One row per symbol for one strategy, then portfolio totals. The reference walks each symbol's
list newest → oldest, and drawdown and streaks depend on that direction, so the input (oldest
first, like every other statistics function in `farm.stats`) is reversed before any
arithmetic. Sums run left to right over the newest-first list (`_js_sum`), so the numbers —
including the float quirk of §11.4, where identical PnLs give a std of ~2e-16 and a huge
Sharpe — match the reference bit for bit.

D8: every closed trade counts; there is no 250-per-symbol cap here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from farm.models import ClosedResult, Model
from farm.stats import _js_sum, safe

__all__ = ["HeatmapRow", "HeatmapStatistics", "heatmap_row", "heatmap_statistics"]


class HeatmapRow(Model):
    """One symbol's metrics for one strategy; `None` where SPEC §11.4 says N/A."""

    symbol: str
    total_pnl: float | None = None
    sharpe_ratio: float | None = None
    """Per-trade mean / population std; `None` for fewer than 2 trades or a zero std."""
    max_drawdown: float | None = None
    """A positive size of the worst cumulative loss (rendered negated)."""
    total_trades: int = 0
    win_count: int = 0
    loss_count: int = 0
    win_rate: float | None = None
    avg_pnl: float | None = None
    std_dev: float | None = None
    profit_factor: float | None = None
    avg_win: float | None = None
    avg_loss: float | None = None
    """Negative: the mean of the losing trades."""
    max_win_streak: int = 0
    max_loss_streak: int = 0
    expectancy: float | None = None


class HeatmapStatistics(Model):
    """`Heat.get_data`: rows by Sharpe (best first, `None` last) and portfolio totals."""

    symbols: list[HeatmapRow] = []
    total_symbols: int = 0
    portfolio_total_pnl: float | None = None
    portfolio_sharpe_ratio: float | None = None
    """Trade-weighted mean of the rows' Sharpe ratios (rows without one are skipped)."""
    portfolio_total_trades: int = 0


def _max_drawdown(returns: Sequence[float]) -> float:
    """Largest |cumulative sum| while the running sum is at or below zero (0 if never).

    This is the reference's definition, not a peak-to-trough drawdown: it measures how far
    the cumulative PnL, walked newest → oldest, sinks below its starting point.
    """
    cum: float = 0
    worst: float = 0
    for r in returns:
        cum += r
        if cum <= 0:
            worst = max(worst, abs(cum))
    return worst


def _streaks(returns: Sequence[float]) -> tuple[int, int]:
    """Longest runs of wins and of losses; a zero-PnL trade neither extends nor breaks a run."""
    win = loss = max_win = max_loss = 0
    for r in returns:
        if r > 0:
            win, loss = win + 1, 0
            max_win = max(max_win, win)
        elif r < 0:
            loss, win = loss + 1, 0
            max_loss = max(max_loss, loss)
    return max_win, max_loss


def heatmap_row(symbol: str, closed: Sequence[ClosedResult]) -> HeatmapRow:
    """Metrics of one symbol over `closed` (oldest first).

    An empty list gives a row with 0 trades and N/A ratios (0/0 is NaN in the reference,
    hence unsafe); the reference never produces such a row, but a sweep may ask for one.
    """
    returns = [c.pnl.pnl_percentage for c in reversed(closed)]
    n = len(returns)
    wins = [r for r in returns if r > 0]
    losses = [r for r in returns if r < 0]
    total_pnl = _js_sum(returns)
    avg_pnl = total_pnl / n if n else math.nan
    win_rate = (len(wins) / n) * 100 if n else None
    std_dev = None
    if n > 1:
        std_dev = math.sqrt(_js_sum((r - avg_pnl) * (r - avg_pnl) for r in returns) / n)
    sharpe = avg_pnl / std_dev if std_dev else None
    sum_wins = _js_sum(wins)
    sum_losses = _js_sum(losses)
    profit_factor = sum_wins / abs(sum_losses) if wins and losses else None
    avg_win = sum_wins / len(wins) if wins else None
    avg_loss = sum_losses / len(losses) if losses else None
    expectancy = None
    if win_rate is not None and avg_win is not None and avg_loss is not None:
        # (1 − win rate) also counts zero-PnL trades as losers: the reference's formula.
        expectancy = (win_rate / 100) * avg_win + (1 - win_rate / 100) * avg_loss
    max_win_streak, max_loss_streak = _streaks(returns)
    return HeatmapRow(
        symbol=symbol,
        total_pnl=safe(total_pnl),
        sharpe_ratio=safe(sharpe),
        max_drawdown=safe(_max_drawdown(returns)),
        total_trades=n,
        win_count=len(wins),
        loss_count=len(losses),
        win_rate=safe(win_rate),
        avg_pnl=safe(avg_pnl),
        std_dev=safe(std_dev),
        profit_factor=safe(profit_factor),
        avg_win=safe(avg_win),
        avg_loss=safe(avg_loss),
        max_win_streak=max_win_streak,
        max_loss_streak=max_loss_streak,
        expectancy=safe(expectancy),
    )


def heatmap_statistics(by_symbol: Mapping[str, Sequence[ClosedResult]]) -> HeatmapStatistics:
    """Statistics of §11.4 for one strategy: `by_symbol` maps each symbol to its closed
    trades, oldest first (as `storages.heat[strategy]` holds them).

    Rows are sorted by Sharpe descending with `None` last; the sort is stable, so ties keep
    the mapping's order. Portfolio sums run over the sorted rows, as the reference does.
    """
    rows = [heatmap_row(symbol, closed) for symbol, closed in by_symbol.items()]
    rows.sort(key=lambda r: (r.sharpe_ratio is None, -(r.sharpe_ratio or 0.0)))
    if not rows:
        return HeatmapStatistics()
    total_trades = sum(r.total_trades for r in rows)
    rated = [r for r in rows if r.sharpe_ratio is not None]
    portfolio_sharpe = None
    if rated and total_trades > 0:
        weighted = _js_sum(r.sharpe_ratio * r.total_trades for r in rated)  # type: ignore[operator]
        portfolio_sharpe = weighted / total_trades
    return HeatmapStatistics(
        symbols=rows,
        total_symbols=len(rows),
        portfolio_total_pnl=safe(_js_sum(r.total_pnl or 0.0 for r in rows)),
        portfolio_sharpe_ratio=safe(portfolio_sharpe),
        portfolio_total_trades=total_trades,
    )
