"""Performance report (SPEC §11.7): where a run spent its time, bottlenecks first."""

from __future__ import annotations

from farm.reports.markdown import document, metric, num, pct, table
from farm.stats import MetricStats, PerformanceStatistics

__all__ = ["render_performance_report"]

COLUMNS = [
    "Metric Type",
    "Count",
    "Total (ms)",
    "Avg (ms)",
    "Min (ms)",
    "Max (ms)",
    "Std Dev (ms)",
    "Median (ms)",
    "P95 (ms)",
    "P99 (ms)",
    "Avg Wait (ms)",
    "Min Wait (ms)",
    "Max Wait (ms)",
]

NOTE = (
    "**Note:** All durations are in milliseconds. P95/P99 represent 95th and 99th percentile "
    "response times. Wait times show the interval between consecutive events of the same type."
)


def _row(m: MetricStats) -> list[str]:
    return [
        m.metric_type,
        str(m.count),
        *(
            num(x, 2)
            for x in (
                m.total_duration,
                m.avg_duration,
                m.min_duration,
                m.max_duration,
                m.std_dev,
                m.median,
                m.p95,
                m.p99,
                m.avg_wait_time,
                m.min_wait_time,
                m.max_wait_time,
            )
        ),
    ]


def render_performance_report(strategy_name: str, stats: PerformanceStatistics) -> str:
    """Markdown of `Performance.get_report`.

    Metric types are listed by total time, largest first (a stable sort, so ties keep the
    statistics' order), in both the time distribution and the detailed table.
    """
    title = f"# Performance Report: {strategy_name}"
    if stats.total_events == 0:
        return document(title, "No performance metrics recorded yet.")
    ordered = sorted(stats.metric_stats.values(), key=lambda m: -m.total_duration)
    # A zero total gives NaN shares, printed "NaN%" as the reference does.
    distribution = [
        f"- **{m.metric_type}**: "
        f"{pct(m.total_duration / stats.total_duration * 100 if stats.total_duration else float('nan'), 1)}"
        f" ({num(m.total_duration, 2)}ms total)"
        for m in ordered
    ]
    summary = "\n".join(
        [
            metric("Total events", str(stats.total_events)),
            metric("Total execution time", f"{num(stats.total_duration, 2)}ms"),
            metric("Number of metric types", str(len(stats.metric_stats))),
        ]
    )
    return document(
        title,
        summary,
        "## Time Distribution",
        "\n".join(distribution),
        "## Detailed Metrics",
        table(COLUMNS, (_row(m) for m in ordered)),
        NOTE,
    )
