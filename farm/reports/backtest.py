"""Backtest report (SPEC §11.1): closed signals table and performance footer."""

from __future__ import annotations

from farm.models import ClosedResult
from farm.reports.markdown import (
    document,
    integer,
    iso,
    limit_rows,
    metric,
    num,
    pct,
    pct_signed,
    price,
    quote_asset,
    table,
    text,
    upper,
)
from farm.stats import MS_PER_MINUTE, BacktestStatistics, LiveStatistics, js_round

__all__ = ["render_backtest_report", "render_pnl_metrics"]


def _columns(show_note: bool) -> list[str]:
    return [
        "Signal ID",
        "Symbol",
        "Position",
        *(["Note"] if show_note else []),
        "Open Price",
        "Close Price",
        "Take Profit",
        "Stop Loss",
        "PNL (net)",
        "Close Reason",
        "Duration (min)",
        "Open Time",
        "Close Time",
    ]


def _row(r: ClosedResult, show_note: bool) -> list[str]:
    s = r.signal
    quote = quote_asset(s.symbol)
    return [
        s.id,
        s.symbol,
        upper(s.position),
        *([text(s.note)] if show_note else []),
        price(s.price_open, quote),
        price(r.current_price, quote),  # the closing price (VWAP or TP/SL level), not slipped
        price(s.price_take_profit, quote),
        price(s.price_stop_loss, quote),
        pct_signed(r.pnl.pnl_percentage),
        r.close_reason,
        integer(js_round((r.close_timestamp - s.pending_at) / MS_PER_MINUTE)),
        iso(s.pending_at),
        iso(r.close_timestamp),
    ]


def render_pnl_metrics(stats: BacktestStatistics | LiveStatistics) -> list[str]:
    """The metric footer lines the backtest and live reports share, in the reference's order."""
    s = stats
    return [
        metric(
            "Win rate",
            "N/A" if s.win_rate is None else f"{pct(s.win_rate)} ({s.win_count}W / {s.loss_count}L)",
            "higher is better",
        ),
        metric("Average PNL", pct_signed(s.avg_pnl), "higher is better"),
        metric("Total PNL", pct_signed(s.total_pnl), "higher is better"),
        metric("Standard Deviation", pct(s.std_dev, 3), "lower is better"),
        metric("Sharpe Ratio", num(s.sharpe_ratio, 3), "higher is better"),
        metric("Annualized Sharpe Ratio", num(s.annualized_sharpe_ratio, 3), "higher is better"),
        metric("Certainty Ratio", num(s.certainty_ratio, 3), "higher is better"),
        metric("Expected Yearly Returns", pct_signed(s.expected_yearly_returns), "higher is better"),
    ]


def render_backtest_report(
    strategy_name: str, stats: BacktestStatistics, *, show_note: bool = False, max_rows: int = 250,
    engine_path: str | None = None,
) -> str:
    """Markdown of `Backtest.get_report`.

    `show_note` adds the Note column (config `report_show_signal_note`); `max_rows` caps the
    table to the newest signals (config `report_max_rows`, D8) while the footer still covers
    every signal. `engine_path` (e.g. "kernel (numba)") adds a last line saying which engine
    ran: the trades are the same either way, so the reader cannot tell otherwise.
    """
    title = f"# Backtest Report: {strategy_name}"
    path_line = None if engine_path is None else metric("Engine path", engine_path)
    if stats.total_signals == 0:
        return document(title, "No signals closed yet.", path_line)
    shown, cap_note = limit_rows(stats.signal_list, max_rows, "signals")
    footer = [
        metric("Total signals", str(stats.total_signals)),
        metric("Closed signals", str(stats.total_signals)),
        *render_pnl_metrics(stats),
    ]
    return document(
        title,
        table(_columns(show_note), (_row(r, show_note) for r in shown)),
        cap_note,
        "\n".join(footer),
        path_line,
    )
