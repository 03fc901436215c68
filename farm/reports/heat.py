"""Portfolio heatmap report (SPEC §11.4): one row per symbol, portfolio summary on top.

D7: the reference's formatting helper is broken (cells like `15.6 %+.2f%%`); this report
renders the formats it intended. Signed percentages use the shared `pct_signed` helper, so a
zero shows as `0.00%` (no plus sign), the same as in every other report of this project; a
zero drawdown likewise shows as `0.00%`, not `-0.00%`.
"""

from __future__ import annotations

from farm.heat import HeatmapRow, HeatmapStatistics
from farm.metrics import rank_value
from farm.reports.markdown import document, num, pct, pct_signed, table

__all__ = ["COLUMNS", "render_heat_report"]

COLUMNS = [
    "Symbol",
    "Total PNL",
    "Sharpe",
    "PF",
    "Expect",
    "WR",
    "Avg Win",
    "Avg Loss",
    "Max DD",
    "W Streak",
    "L Streak",
    "Trades",
]


def _row(r: HeatmapRow) -> list[str]:
    return [
        r.symbol,
        pct_signed(r.total_pnl),
        # D15: a Sharpe ratio of PnLs without dispersion (the float quirk's ~1e16) prints N/A, as
        # the walker ranks it; the statistic keeps the reference's value.
        num(rank_value(r.sharpe_ratio, trades=r.total_trades, min_trades=1, dispersion=r.std_dev or 0.0,
                       centre=r.avg_pnl), 2),
        num(r.profit_factor, 2),
        pct_signed(r.expectancy),
        pct(r.win_rate, 1),
        pct_signed(r.avg_win),
        pct_signed(r.avg_loss),
        pct(None if r.max_drawdown is None else -r.max_drawdown),  # a loss: `-x.xx%`
        str(r.max_win_streak),
        str(r.max_loss_streak),
        str(r.total_trades),
    ]


def render_heat_report(strategy_name: str, stats: HeatmapStatistics) -> str:
    """Markdown of `Heat.get_report`: title, summary line, then the symbol table."""
    title = f"# Portfolio Heatmap: {strategy_name}"
    if stats.total_symbols == 0:
        return document(title, "*No data available*")
    summary = " | ".join(
        [
            f"**Total Symbols:** {stats.total_symbols}",
            f"**Portfolio PNL:** {pct_signed(stats.portfolio_total_pnl)}",
            f"**Portfolio Sharpe:** {num(stats.portfolio_sharpe_ratio, 2)}",
            f"**Total Trades:** {stats.portfolio_total_trades}",
        ]
    )
    return document(title, summary, table(COLUMNS, (_row(r) for r in stats.symbols)))
