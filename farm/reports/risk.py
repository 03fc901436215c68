"""Risk rejection report (SPEC §11.8): which signals the risk profiles turned away, and why."""

from __future__ import annotations

from farm.reports.markdown import (
    document,
    integer,
    iso,
    limit_rows,
    metric,
    price,
    quote_asset,
    table,
    text,
    upper,
)
from farm.stats import RiskEntry, RiskStatistics

__all__ = ["render_risk_report"]


def _columns(show_note: bool) -> list[str]:
    return [
        "Symbol",
        "Strategy",
        "Signal ID",
        "Position",
        *(["Note"] if show_note else []),
        "Exchange",
        "Open Price",
        "Take Profit",
        "Stop Loss",
        "Current Price",
        "Active Positions",
        "Reason",
        "Timestamp",
    ]


def _row(e: RiskEntry, show_note: bool) -> list[str]:
    return [
        e.symbol,
        e.strategy_name,
        text(e.signal_id),
        upper(e.position),
        *([text(e.note)] if show_note else []),
        e.exchange_name,
        price(e.price_open, quote_asset(e.symbol)),
        price(e.take_profit, quote_asset(e.symbol)),
        price(e.stop_loss, quote_asset(e.symbol)),
        price(e.current_price, quote_asset(e.symbol)),
        integer(e.active_position_count),
        text(e.comment),
        iso(e.timestamp),
    ]


def _counts(heading: str, counts: dict[str, int]) -> str:
    return "\n".join([heading, "", *(f"- {name}: {n}" for name, n in counts.items())])


def render_risk_report(
    symbol: str, strategy_name: str, stats: RiskStatistics, *, show_note: bool = False, max_rows: int = 250
) -> str:
    """Markdown of `Risk.get_report`; `max_rows` caps the table only (D8), never the counts."""
    title = f"# Risk Rejection Report: {symbol}:{strategy_name}"
    if stats.total_rejections == 0:
        return document(title, "No risk rejections recorded yet.")
    shown, cap_note = limit_rows(stats.event_list, max_rows, "rejections")
    return document(
        title,
        table(_columns(show_note), (_row(e, show_note) for e in shown)),
        cap_note,
        metric("Total rejections", str(stats.total_rejections)),
        _counts("## Rejections by Symbol", stats.by_symbol),
        _counts("## Rejections by Strategy", stats.by_strategy),
    )
