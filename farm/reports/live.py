"""Live trading report (SPEC §11.2): every coalesced tick row and the closed-trade metrics."""

from __future__ import annotations

from farm.reports.backtest import render_pnl_metrics
from farm.reports.markdown import (
    document,
    integer,
    iso,
    limit_rows,
    metric,
    pct,
    pct_signed,
    price,
    quote_asset,
    table,
    text,
    upper,
)
from farm.stats import LiveEvent, LiveStatistics

__all__ = ["render_live_report"]


def _columns(show_note: bool) -> list[str]:
    return [
        "Timestamp",
        "Action",
        "Symbol",
        "Signal ID",
        "Position",
        *(["Note"] if show_note else []),
        "Current Price",
        "Open Price",
        "Take Profit",
        "Stop Loss",
        "% to TP",
        "% to SL",
        "PNL (net)",
        "Close Reason",
        "Duration (min)",
    ]


def _row(e: LiveEvent, show_note: bool, quote: str | None) -> list[str]:
    return [
        iso(e.timestamp),
        upper(e.action),
        text(e.symbol),
        text(e.signal_id),
        upper(e.position),
        *([text(e.note)] if show_note else []),
        price(e.current_price, quote),
        price(e.open_price, quote),
        price(e.take_profit, quote),
        price(e.stop_loss, quote),
        pct(e.percent_tp),
        pct(e.percent_sl),
        pct_signed(e.pnl),
        text(e.close_reason),
        integer(e.duration),
    ]


def render_live_report(
    strategy_name: str, stats: LiveStatistics, *, show_note: bool = False, max_rows: int = 250
) -> str:
    """Markdown of `Live.get_report`; `show_note`/`max_rows` as in the backtest report."""
    title = f"# Live Trading Report: {strategy_name}"
    if stats.total_events == 0:
        return document(title, "No events recorded yet.")
    shown, cap_note = limit_rows(stats.event_list, max_rows, "events")
    # Idle rows carry no symbol; the report is one symbol's, so any row's symbol says the currency.
    quote = quote_asset(next((e.symbol for e in stats.event_list if e.symbol), None))
    footer = [
        metric("Total events", str(stats.total_events)),
        metric("Closed signals", str(stats.total_closed)),
        *render_pnl_metrics(stats),
    ]
    return document(
        title,
        table(_columns(show_note), (_row(e, show_note, quote) for e in shown)),
        cap_note,
        "\n".join(footer),
    )
