"""Scheduled signals report (SPEC §11.3): how limit-entry signals activated or expired."""

from __future__ import annotations

from farm.reports.markdown import (
    document,
    integer,
    iso,
    limit_rows,
    metric,
    num,
    pct,
    price,
    quote_asset,
    table,
    text,
    upper,
)
from farm.stats import ScheduleEntry, ScheduleStatistics

__all__ = ["render_schedule_report"]


def _columns(show_note: bool) -> list[str]:
    return [
        "Timestamp",
        "Action",
        "Symbol",
        "Signal ID",
        "Position",
        *(["Note"] if show_note else []),
        "Current Price",
        "Entry Price",
        "Take Profit",
        "Stop Loss",
        "Wait Time (min)",
    ]


def _row(e: ScheduleEntry, show_note: bool) -> list[str]:
    return [
        iso(e.timestamp),
        upper(e.action),
        e.symbol,
        e.signal_id,
        upper(e.position),
        *([text(e.note)] if show_note else []),
        price(e.current_price, quote_asset(e.symbol)),
        price(e.price_open, quote_asset(e.symbol)),
        price(e.take_profit, quote_asset(e.symbol)),
        price(e.stop_loss, quote_asset(e.symbol)),
        integer(e.duration),
    ]


def _minutes(x: float | None) -> str:
    return "N/A" if x is None else f"{num(x, 2)} minutes"


def render_schedule_report(
    strategy_name: str, stats: ScheduleStatistics, *, show_note: bool = False, max_rows: int = 250
) -> str:
    """Markdown of `Schedule.get_report`; `show_note`/`max_rows` as in the backtest report."""
    title = f"# Scheduled Signals Report: {strategy_name}"
    if stats.total_events == 0:
        return document(title, "No scheduled signals recorded yet.")
    shown, cap_note = limit_rows(stats.event_list, max_rows, "events")
    footer = [
        metric("Total events", str(stats.total_events)),
        metric("Scheduled signals", str(stats.total_scheduled)),
        metric("Opened signals", str(stats.total_opened)),
        metric("Cancelled signals", str(stats.total_cancelled)),
        metric("Activation rate", pct(stats.activation_rate), "higher is better"),
        metric("Cancellation rate", pct(stats.cancellation_rate), "lower is better"),
        metric("Average activation time", _minutes(stats.avg_activation_time)),
        metric("Average wait time (cancelled)", _minutes(stats.avg_wait_time)),
    ]
    return document(
        title,
        table(_columns(show_note), (_row(e, show_note) for e in shown)),
        cap_note,
        "\n".join(footer),
    )
