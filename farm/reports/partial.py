"""Partial profit/loss report (SPEC §11.5): milestone levels signals reached while open."""

from __future__ import annotations

from farm.reports.markdown import document, iso, limit_rows, metric, price, quote_asset, table, upper
from farm.stats import PartialEntry, PartialStatistics

__all__ = ["render_partial_report"]

COLUMNS = [
    "Action",
    "Symbol",
    "Strategy",
    "Signal ID",
    "Position",
    "Level %",
    "Current Price",
    "Timestamp",
    "Mode",
]


def _row(e: PartialEntry) -> list[str]:
    return [
        upper(e.action),
        e.symbol,
        e.strategy_name,
        e.signal_id,
        upper(e.position),
        f"+{e.level}%" if e.action == "profit" else f"-{e.level}%",
        price(e.current_price, quote_asset(e.symbol)),
        iso(e.timestamp),
        "Backtest" if e.backtest else "Live",
    ]


def render_partial_report(
    symbol: str, strategy_name: str, stats: PartialStatistics, *, max_rows: int = 250
) -> str:
    """Markdown of `Partial.get_report`; `max_rows` as in the backtest report."""
    title = f"# Partial Profit/Loss Report: {symbol}:{strategy_name}"
    if stats.total_events == 0:
        return document(title, "No partial profit/loss events recorded yet.")
    shown, cap_note = limit_rows(stats.event_list, max_rows, "events")
    footer = [
        metric("Total events", str(stats.total_events)),
        metric("Profit events", str(stats.total_profit)),
        metric("Loss events", str(stats.total_loss)),
    ]
    return document(title, table(COLUMNS, (_row(e) for e in shown)), cap_note, "\n".join(footer))
