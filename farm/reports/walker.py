"""Walker results (SPEC §10) and the walker comparison report (§11.6).

`walker_results` is the one place strategies are ranked: `Walker.get_data` uses it on the
results of an in-process walk, and the farm coordinator uses it on statistics stored by many
workers. Both must rank identically, so the ranking is a pure function of its input: no
reliance on arrival order, wall-clock or dict order.

The renderer is pure as well (D9): identical `WalkerResults` give a byte-identical report on
any machine, because every list it prints has an explicit order (strategies by rank, each
strategy's signals newest first).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

from farm.config import get_config
from farm.errors import FarmError, SchemaError
from farm.metrics import StandardStats, compute_stats, rank_value
from farm.models import ClosedResult, Model, datetime_to_ms
from farm.reports.markdown import document, integer, iso, metric, num, pct, pct_signed, table, text, upper
from farm.stats import BacktestStatistics, safe

__all__ = [
    "WALKER_METRICS",
    "WalkerResults",
    "WalkerStrategyResult",
    "check_metric",
    "metric_value",
    "render_walker_report",
    "walker_results",
]

WALKER_METRICS = (
    "sharpe_ratio",
    "annualized_sharpe_ratio",
    "win_rate",
    "total_pnl",
    "certainty_ratio",
    "avg_pnl",
    "expected_yearly_returns",
)
"""Statistics a walker may rank by; higher is always better (SPEC §10)."""

TOP_STRATEGIES = 10
CLOSING_NOTE = "**Note:** Higher values are better for all metrics except Standard Deviation (lower is better)."


class WalkerStrategyResult(Model):
    """One strategy's outcome in a walk; `stats` is `None` when its backtest failed."""

    strategy_name: str
    stats: BacktestStatistics | None
    metric: float | None
    """The ranking statistic, `None` when missing or not a finite number."""
    rank: int
    """1 = best."""
    standard: StandardStats | None = None
    """Standard statistics (`farm.metrics`) over the walker's frame, from the trades (equity
    moving at trade closes); `None` when the backtest failed or the frame is unknown here."""


class WalkerResults(Model):
    """`Walker.get_data`: every strategy of a walk, ranked by the walker's metric."""

    walker_name: str
    symbol: str
    exchange_name: str
    frame_name: str
    metric: str
    total_strategies: int
    best_strategy: str | None = None
    best_metric: float | None = None
    best_stats: BacktestStatistics | None = None
    strategies: list[WalkerStrategyResult] = []
    """In rank order (best first)."""


def check_metric(metric_name: str, owner: str = "walker") -> str:
    """Reject a metric the walker cannot rank by, naming the allowed ones (a typo such as the
    reference's camelCase `sharpeRatio` would otherwise rank every strategy as N/A)."""
    if metric_name not in WALKER_METRICS:
        raise SchemaError(
            f"{owner}: unknown metric {metric_name!r}; expected one of {', '.join(WALKER_METRICS)}"
        )
    return metric_name


SHARPE_METRICS = ("sharpe_ratio", "annualized_sharpe_ratio")


def metric_value(stats: BacktestStatistics | None, metric_name: str, min_trades: int | None = None) -> float | None:
    """The ranking value: `stats[metric]` if it is a finite number that means something, else
    `None` (ranks last).

    `None` for a failed run, no trades or NaN (the reference), and (departures D14, D15) for
    fewer than `min_trades` closed trades (default: config `walker_min_trades`), for a Sharpe
    ratio of zero-variance PnLs (the reference says 0) and for a certainty ratio without a
    losing trade (the reference says 0). The statistics themselves keep the reference's values.
    """
    if stats is None:
        return None
    if min_trades is None:
        min_trades = int(get_config().walker_min_trades)
    if metric_name == "certainty_ratio" and stats.loss_count == 0:
        return None
    sharpe = metric_name in SHARPE_METRICS
    return rank_value(
        safe(getattr(stats, metric_name)), trades=stats.total_signals, min_trades=min_trades,
        dispersion=(stats.std_dev or 0.0) if sharpe else None, centre=stats.avg_pnl if sharpe else None,
    )


def walker_results(
    walker_name: str,
    symbol: str,
    exchange_name: str,
    frame_name: str,
    metric: str,
    stats_by_strategy: Sequence[tuple[str, BacktestStatistics | None]],
    *,
    total_strategies: int | None = None,
    min_trades: int | None = None,
    frame_span: tuple[int, int] | None = None,
) -> WalkerResults:
    """Rank `stats_by_strategy` (given in the walker's strategy order) by `metric`.

    Descending by metric; ties keep the walker's order, so the best is the earliest of equals
    exactly as the sequential walk picks it; `None` metrics (failed or tradeless strategies)
    rank last, as do metrics `metric_value` finds meaningless (fewer than `min_trades` trades,
    default config `walker_min_trades`; zero-variance Sharpe). `total_strategies` defaults to the
    number of entries; a stopped walk passes the walker's full count. `frame_span` (start, end
    in ms; default: the registered frame's dates, if registered) is the calendar of the
    standard statistics each result carries.
    """
    check_metric(metric)
    if min_trades is None:
        min_trades = int(get_config().walker_min_trades)
    span = frame_span if frame_span is not None else registered_frame_span(frame_name)
    entries = [(name, stats, metric_value(stats, metric, min_trades)) for name, stats in stats_by_strategy]
    order = sorted(
        range(len(entries)),
        key=lambda i: (entries[i][2] is None, -(entries[i][2] or 0.0), i),
    )
    ranked = [
        WalkerStrategyResult(strategy_name=entries[i][0], stats=entries[i][1], metric=entries[i][2], rank=rank,
                             standard=standard_statistics(entries[i][1], span))
        for rank, i in enumerate(order, start=1)
    ]
    best = ranked[0] if ranked and ranked[0].metric is not None else None
    return WalkerResults(
        walker_name=walker_name,
        symbol=symbol,
        exchange_name=exchange_name,
        frame_name=frame_name,
        metric=metric,
        total_strategies=len(entries) if total_strategies is None else total_strategies,
        best_strategy=best.strategy_name if best else None,
        best_metric=best.metric if best else None,
        best_stats=best.stats if best else None,
        strategies=ranked,
    )


def registered_frame_span(frame_name: str) -> tuple[int, int] | None:
    """(start, end) in ms of a registered frame, `None` if this process has no such frame."""
    from farm import registry

    with contextlib.suppress(FarmError):
        frame = registry.frames.get(frame_name)
        return datetime_to_ms(frame.start_date), datetime_to_ms(frame.end_date)
    return None


def standard_statistics(stats: BacktestStatistics | None, span: tuple[int, int] | None) -> StandardStats | None:
    """`farm.metrics.compute_stats` of a run's closed trades over the frame `span`."""
    if stats is None or span is None:
        return None
    return compute_stats(stats.signal_list, start=span[0], end=span[1])


# ---- rendering -------------------------------------------------------------------------


def _ranked(results: WalkerResults) -> list[WalkerStrategyResult]:
    # Sorted again so a hand-built or deserialised WalkerResults renders the same way.
    return sorted(results.strategies, key=lambda s: s.rank)


def _comparison_row(s: WalkerStrategyResult) -> list[str]:
    st = s.stats
    if st is None:
        return [str(s.rank), s.strategy_name, num(s.metric, 2), *["N/A"] * 6]
    return [
        str(s.rank),
        s.strategy_name,
        num(s.metric, 2),
        integer(st.total_signals),
        pct(st.win_rate, 2),
        pct_signed(st.avg_pnl),
        pct_signed(st.total_pnl),
        num(st.sharpe_ratio, 3),
        pct(st.std_dev, 3),
    ]


def _comparison_table(results: WalkerResults, ranked: list[WalkerStrategyResult]) -> str:
    if not ranked:
        return "No strategy results available."
    header = [
        "Rank", "Strategy", results.metric, "Total Signals", "Win Rate", "Avg PNL", "Total PNL",
        "Sharpe Ratio", "Std Dev",
    ]
    return table(header, (_comparison_row(s) for s in ranked[:TOP_STRATEGIES]))


def _standard_table(ranked: list[WalkerStrategyResult]) -> str | None:
    """The top strategies' standard statistics (farm.metrics), when the results carry them."""
    shown = [s for s in ranked[:TOP_STRATEGIES] if s.standard is not None]
    if not shown:
        return None
    header = ["Rank", "Strategy", "Return", "CAGR", "Max DD", "Sharpe (daily)", "Sortino", "Calmar", "Exposure",
              "Profit Factor", "SQN", "Trades"]
    rows = [
        [str(s.rank), s.strategy_name, pct_signed(st.return_pct), pct_signed(st.cagr_pct), pct(st.max_drawdown_pct),
         num(st.sharpe_ratio, 2), num(st.sortino_ratio, 2), num(st.calmar_ratio, 2), pct(st.exposure_time_pct, 1),
         num(st.profit_factor, 2), num(st.sqn, 2), str(st.trades)]
        for s in shown if (st := s.standard) is not None
    ]
    return "\n\n".join([
        "## Standard Statistics",
        "*Equity compounded from the trades (full balance per trade, fees included) over the frame; "
        "ratios from daily returns, annualised over 365 days (N/A for frames under 30 days).*",
        table(header, rows),
    ])


def _failed_note(ranked: list[WalkerStrategyResult]) -> str | None:
    failed = [s.strategy_name for s in ranked if s.stats is None]
    if not failed:
        return None
    return f"*No statistics (the backtest failed): {', '.join(failed)}.*"


def _newest_first(signals: Sequence[ClosedResult]) -> list[ClosedResult]:
    return sorted(signals, key=lambda c: (-c.close_timestamp, -c.signal.pending_at))


def _pnl_table(ranked: list[WalkerStrategyResult], max_rows: int | float) -> tuple[str, str | None]:
    if not ranked:
        return "No strategy results available.", None
    signals = [
        (s.strategy_name, c)
        for s in ranked
        if s.stats is not None
        for c in _newest_first(s.stats.signal_list)
    ]
    if not signals:
        return "No closed signals available.", None
    # Cap before formatting: a sweep of many variants has far more signals than rows shown.
    shown = signals[: max(0, int(max_rows))] if math.isfinite(max_rows) else signals
    note = None
    if len(shown) < len(signals):
        note = (
            f"*Showing the first {len(shown)} of {len(signals)} signals (strategies by rank, newest "
            "first); statistics cover all of them.*"
        )
    rows = [
        [
            name,
            c.signal.id,
            c.signal.symbol,
            upper(c.signal.position),
            pct_signed(c.pnl.pnl_percentage),
            c.close_reason,
            iso(c.signal.pending_at),
            iso(c.close_timestamp),
        ]
        for name, c in shown
    ]
    header = ["Strategy", "Signal ID", "Symbol", "Position", "PNL (net)", "Close Reason", "Open Time", "Close Time"]
    return table(header, rows), note


def _overfitting_check(results: WalkerResults, ranked: list[WalkerStrategyResult]) -> str:
    """How much of the best Sharpe ratio the number of strategies tried can explain.

    Picking the best of many strategies inflates its Sharpe ratio; the deflated Sharpe ratio
    (farm.overfitting) discounts for that, using every strategy's Sharpe as the trials.
    """
    if results.metric != "sharpe_ratio":
        return (
            "*Not applicable: the deflated Sharpe ratio corrects a selection by sharpe_ratio; "
            f"this walker ranks by {results.metric}.*"
        )
    sharpes = [
        s.stats.sharpe_ratio for s in ranked if s.stats is not None and s.stats.sharpe_ratio is not None
    ]
    best = results.best_stats
    if len(sharpes) < 2 or best is None or results.best_metric is None:
        return (
            "*Not applicable: it needs at least 2 strategies with a Sharpe ratio; "
            f"this walk has {len(sharpes)}.*"
        )
    from farm.overfitting import deflated_sharpe, describe_deflated_sharpe, return_moments

    skewness, kurtosis = return_moments([c.pnl.pnl_percentage for c in _newest_first(best.signal_list)])
    check = deflated_sharpe(
        results.best_metric, sharpes, best.total_signals, skewness=skewness, kurtosis=kurtosis
    )
    return describe_deflated_sharpe(check)


def render_walker_report(results: WalkerResults, *, max_rows: int | float = 250) -> str:
    """Markdown of `Walker.get_report` (SPEC §11.6 plus an overfitting check).

    `max_rows` caps the PNL table (config `report_max_rows`, D8); the comparison table
    always shows the top 10 strategies.
    """
    r = results
    ranked = _ranked(r)
    pnl_table, cap_note = _pnl_table(ranked, max_rows)
    header = "\n".join(
        [
            f"# Walker Comparison Report: {r.walker_name}",
            "",
            metric("Symbol", r.symbol),
            metric("Exchange", r.exchange_name),
            metric("Frame", r.frame_name),
            metric("Optimization Metric", r.metric),
            metric("Strategies Tested", str(r.total_strategies)),
        ]
    )
    best_lines = "\n".join(
        [
            metric(f"Best {r.metric}", num(r.best_metric, 2)),
            metric("Total Signals", str(r.best_stats.total_signals if r.best_stats else 0)),
        ]
    )
    return document(
        header,
        f"## Best Strategy: {text(r.best_strategy)}",
        best_lines,
        "## Overfitting Check",
        _overfitting_check(r, ranked),
        "## Top Strategies Comparison",
        _comparison_table(r, ranked),
        _failed_note(ranked),
        _standard_table(ranked),
        "## All Signals (PNL Table)",
        pnl_table,
        cap_note,
        CLOSING_NOTE,
    )
