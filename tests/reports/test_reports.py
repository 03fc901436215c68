"""Markdown renderers: exact titles, empty states, columns, cells and footer lines of SPEC §11."""

from __future__ import annotations

import pytest

from farm.reports.backtest import render_backtest_report
from farm.reports.live import render_live_report
from farm.reports.markdown import (
    NA,
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
    to_fixed,
    upper,
)
from farm.reports.partial import render_partial_report
from farm.reports.performance import render_performance_report
from farm.reports.schedule import render_schedule_report
from farm.stats import (
    BacktestStatistics,
    LiveEventLog,
    LiveStatistics,
    PartialStatistics,
    PerformanceStatistics,
    ScheduleStatistics,
    backtest_statistics,
    live_statistics,
    partial_entry,
    partial_statistics,
    performance_statistics,
    schedule_entry,
    schedule_statistics,
)
from tests.reports import MIN, T0, active, cancelled, closed, idle, opened, partial, perf, scheduled

SPEC_TRADES = (1.9763950335379084, -0.39980019980018255, -2.7759954331382737)


def spec_footer_stats() -> BacktestStatistics:
    a, b, c = SPEC_TRADES
    return backtest_statistics(
        [
            closed("a", a, minutes=7),
            closed("b", b, minutes=4, close_price=42000.0, reason="time_expired"),
            closed("c", c, minutes=7, close_price=41000.0, reason="stop_loss"),
        ]
    )


def lines(report: str) -> list[str]:
    return report.split("\n")


# ---- formatting helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "expected"),
    [(1.234, "+1.23%"), (-0.4, "-0.40%"), (0.0, "0.00%"), (-0.0, "0.00%"), (0.001, "+0.00%"), (None, "N/A")],
)
def test_pct_signed(x: float | None, expected: str) -> None:
    assert pct_signed(x) == expected


@pytest.mark.parametrize(
    ("x", "digits", "expected"),
    [
        (0.125, 2, "0.13"),  # JS toFixed: ties away from zero (Python's format gives 0.12)
        (-0.125, 2, "-0.13"),
        (2.5, 0, "3"),
        (1.005, 2, "1.00"),  # binary value is below the tie
        (-0.0, 2, "0.00"),
        (-0.001, 2, "-0.00"),
        (146464.7121837654, 2, "146464.71"),
        (1.94015528363731, 3, "1.940"),
        (float("nan"), 2, "NaN"),
        (float("inf"), 2, "Infinity"),
        (1e21, 2, "1e+21"),
    ],
)
def test_to_fixed_matches_javascript(x: float, digits: int, expected: str) -> None:
    assert to_fixed(x, digits) == expected


@pytest.mark.parametrize(("symbol", "quote"), [
    ("ETH/BTC", "BTC"), ("UNITTEST/BTC", "BTC"), ("XRP/ETH", "ETH"), ("BTC/USDT:USDT", "USDT"), ("EUR/USD", "USD"),
    ("BTCUSDT", "USDT"), ("ETHBTC", "BTC"), ("EURUSD", "USD"), ("A", None), ("USDT", None), (None, None),
])
def test_quote_asset_comes_from_the_symbol(symbol: str | None, quote: str | None) -> None:
    assert quote_asset(symbol) == quote


def test_reports_price_in_the_quote_currency() -> None:
    """An ETH/BTC trade is priced in BTC (the reference printed USD for every symbol)."""
    trade = closed("e1", 1.0, close_price=0.0526, price_open=0.052, tp=0.0526, sl=0.051)
    trade = trade.model_copy(update={"signal": trade.signal.model_copy(update={"symbol": "ETH/BTC"})})
    report = render_backtest_report("strat", backtest_statistics([trade]))
    assert "| 0.05200000 BTC | 0.05260000 BTC | 0.05260000 BTC | 0.05100000 BTC |" in report
    assert " USD" not in report


def test_cell_helpers() -> None:
    assert price(42000, "USDT") == "42000.00000000 USDT"
    assert price(0.000123456789, "BTC") == "0.00012346 BTC"
    assert price(42000) == "42000.00000000"  # currency unknown: no suffix, never a guessed USD
    assert price(None) == NA == "N/A"
    assert pct(33.33333) == "33.33%"
    assert pct(1.9401552836373115, 3) == "1.940%"
    assert pct(None) == "N/A"
    assert num(-0.20606608304602098, 3) == "-0.206"
    assert num(None, 3) == "N/A"
    assert iso(T0 + 7 * MIN) == "2024-01-01T00:07:00.000Z"
    assert iso(T0 + 1) == "2024-01-01T00:00:00.001Z"
    assert iso(None) == "N/A"
    assert text("") == text(None) == "N/A"
    assert text("hello") == "hello"
    assert upper("long") == "LONG" and upper(None) == "N/A"
    assert integer(7) == "7" and integer(None) == "N/A"


def test_table_layout() -> None:
    assert table(["A", "B"], [["1", "2"], ["3", "4"]]) == "| A | B |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |"
    assert table(["A"], []) == "| A |\n| --- |"


def test_metric_line() -> None:
    assert (
        metric("Sharpe Ratio", "-0.206", "higher is better") == "**Sharpe Ratio:** -0.206 (higher is better)"
    )
    assert metric("Sharpe Ratio", "N/A", "higher is better") == "**Sharpe Ratio:** N/A"
    assert metric("Total signals", "3") == "**Total signals:** 3"


def test_limit_rows_and_document() -> None:
    assert limit_rows([1, 2, 3], 5, "signals") == ([1, 2, 3], None)
    assert limit_rows([1, 2, 3], 3, "signals") == ([1, 2, 3], None)
    assert limit_rows([1, 2, 3], 2, "signals") == (
        [1, 2],
        "*Showing the 2 most recent of 3 signals; statistics cover all of them.*",
    )
    assert document("# T", None, "x\ny") == "# T\n\nx\ny"


# ---- backtest ----------------------------------------------------------------------------


def test_backtest_report_empty() -> None:
    assert (
        render_backtest_report("strat", BacktestStatistics())
        == "# Backtest Report: strat\n\nNo signals closed yet."
    )


def test_backtest_report_spec_worked_example_exact() -> None:
    stats = backtest_statistics([closed("sig-1", 1.9506335336498435, minutes=7)])
    assert render_backtest_report("my-strategy", stats) == "\n".join(
        [
            "# Backtest Report: my-strategy",
            "",
            "| Signal ID | Symbol | Position | Open Price | Close Price | Take Profit | Stop Loss | PNL (net) "
            "| Close Reason | Duration (min) | Open Time | Close Time |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            "| sig-1 | BTCUSDT | LONG | 42000.00000000 USDT | 43000.00000000 USDT | 43000.00000000 USDT "
            "| 41000.00000000 USDT | +1.95% | take_profit | 7 | 2024-01-01T00:00:00.000Z | 2024-01-01T00:07:00.000Z |",
            "",
            "**Total signals:** 1",
            "**Closed signals:** 1",
            "**Win rate:** 100.00% (1W / 0L) (higher is better)",
            "**Average PNL:** +1.95% (higher is better)",
            "**Total PNL:** +1.95% (higher is better)",
            "**Standard Deviation:** 0.000% (lower is better)",
            "**Sharpe Ratio:** 0.000 (higher is better)",
            "**Annualized Sharpe Ratio:** 0.000 (higher is better)",
            "**Certainty Ratio:** 0.000 (higher is better)",
            "**Expected Yearly Returns:** +146464.71% (higher is better)",
        ]
    )


def test_backtest_report_spec_footer_lines() -> None:
    report = lines(render_backtest_report("strat", spec_footer_stats()))
    for line in (
        "**Total signals:** 3",
        "**Closed signals:** 3",
        "**Win rate:** 33.33% (1W / 2L) (higher is better)",
        "**Average PNL:** -0.40% (higher is better)",
        "**Total PNL:** -1.20% (higher is better)",
        "**Standard Deviation:** 1.940% (lower is better)",
        "**Sharpe Ratio:** -0.206 (higher is better)",
        "**Annualized Sharpe Ratio:** -3.937 (higher is better)",
        "**Certainty Ratio:** 1.245 (higher is better)",
        "**Expected Yearly Returns:** -35022.50% (higher is better)",
    ):
        assert line in report
    # rows newest first; close price is the result's current price; sign only when > 0
    rows = [
        ln for ln in report if ln.startswith("| ") and not ln.startswith("| Signal ID") and "---" not in ln
    ]
    assert [r.split(" | ")[0] for r in rows] == ["| c", "| b", "| a"]
    assert "| -2.78% | stop_loss | 7 |" in rows[0]
    assert "| 42000.00000000 USDT | 42000.00000000 USDT |" in rows[1]
    assert "| -0.40% | time_expired | 4 |" in rows[1]
    assert "| +1.98% | take_profit | 7 |" in rows[2]


def test_backtest_report_na_footer() -> None:
    stats = BacktestStatistics(signal_list=[closed("a", 1.0)], total_signals=1, win_count=1)
    report = lines(render_backtest_report("strat", stats))
    for label in (
        "Win rate",
        "Average PNL",
        "Total PNL",
        "Standard Deviation",
        "Sharpe Ratio",
        "Annualized Sharpe Ratio",
        "Certainty Ratio",
        "Expected Yearly Returns",
    ):
        assert f"**{label}:** N/A" in report


def test_backtest_report_duration_rounds_like_javascript() -> None:
    report = render_backtest_report("strat", backtest_statistics([closed("a", 1.0, minutes=2.5)]))
    assert "| take_profit | 3 | 2024-01-01T00:00:00.000Z | 2024-01-01T00:02:30.000Z |" in report


def test_backtest_report_note_column() -> None:
    stats = backtest_statistics(
        [closed("a", 1.0, note="buy the dip"), closed("b", -1.0, pending_at=T0 + MIN)]
    )
    report = lines(render_backtest_report("strat", stats, show_note=True))
    assert report[2] == (
        "| Signal ID | Symbol | Position | Note | Open Price | Close Price | Take Profit | Stop Loss "
        "| PNL (net) | Close Reason | Duration (min) | Open Time | Close Time |"
    )
    assert report[4].startswith("| b | BTCUSDT | LONG | N/A | 42000.00000000 USDT |")
    assert report[5].startswith("| a | BTCUSDT | LONG | buy the dip | 42000.00000000 USDT |")
    assert "Note" not in render_backtest_report("strat", stats)


def test_backtest_report_short_position_upper_case() -> None:
    report = render_backtest_report("strat", backtest_statistics([closed("a", 1.0, position="short")]))
    assert "| a | BTCUSDT | SHORT |" in report


def test_backtest_report_row_cap_d8() -> None:
    trades = [closed(f"t{i}", 1.0, pending_at=T0 + i * MIN, minutes=1) for i in range(1000)]
    stats = backtest_statistics(trades)
    report = lines(render_backtest_report("strat", stats))
    rows = [ln for ln in report if ln.startswith("| t")]
    assert len(rows) == 250
    assert rows[0].startswith("| t999 |") and rows[-1].startswith("| t750 |")
    assert "*Showing the 250 most recent of 1000 signals; statistics cover all of them.*" in report
    assert "**Total signals:** 1000" in report
    assert "**Total PNL:** +1000.00% (higher is better)" in report
    small = lines(render_backtest_report("strat", stats, max_rows=3))
    assert [ln.split(" | ")[0] for ln in small if ln.startswith("| t")] == ["| t999", "| t998", "| t997"]
    assert "*Showing the 3 most recent of 1000 signals; statistics cover all of them.*" in small
    assert not any(
        ln.startswith("*Showing") for ln in lines(render_backtest_report("strat", stats, max_rows=1000))
    )


# ---- live --------------------------------------------------------------------------------


def test_live_report_empty() -> None:
    assert (
        render_live_report("strat", LiveStatistics())
        == "# Live Trading Report: strat\n\nNo events recorded yet."
    )


def live_log() -> LiveEventLog:
    log = LiveEventLog()
    log.add(idle(41990.5), T0)
    log.add(opened("a", pending_at=T0 + MIN), T0 + MIN)
    log.add(active("a", price=42500.0, tp=50.0, sl=0.0), T0 + 2 * MIN)
    log.add(closed("a", 2.0, pending_at=T0 + MIN, minutes=30), T0 + 31 * MIN)
    return log


def test_live_report_rows_and_footer() -> None:
    report = lines(render_live_report("strat", live_statistics(live_log())))
    assert report[0] == "# Live Trading Report: strat"
    assert report[2] == (
        "| Timestamp | Action | Symbol | Signal ID | Position | Current Price | Open Price | Take Profit "
        "| Stop Loss | % to TP | % to SL | PNL (net) | Close Reason | Duration (min) |"
    )
    assert report[4] == (
        "| 2024-01-01T00:31:00.000Z | CLOSED | BTCUSDT | a | LONG | 43000.00000000 USDT | 42000.00000000 USDT "
        "| 43000.00000000 USDT | 41000.00000000 USDT | N/A | N/A | +2.00% | take_profit | 30 |"
    )
    assert report[5] == (
        "| 2024-01-01T00:02:00.000Z | ACTIVE | BTCUSDT | a | LONG | 42500.00000000 USDT | 42000.00000000 USDT "
        "| 43000.00000000 USDT | 41000.00000000 USDT | 50.00% | 0.00% | N/A | N/A | N/A |"
    )
    assert report[6].startswith(
        "| 2024-01-01T00:01:00.000Z | OPENED | BTCUSDT | a | LONG | 42000.00000000 USDT |"
    )
    assert report[7] == (
        "| 2024-01-01T00:00:00.000Z | IDLE | N/A | N/A | N/A | 41990.50000000 USDT | N/A | N/A | N/A "
        "| N/A | N/A | N/A | N/A | N/A |"
    )
    assert report[9:] == [
        "**Total events:** 4",
        "**Closed signals:** 1",
        "**Win rate:** 100.00% (1W / 0L) (higher is better)",
        "**Average PNL:** +2.00% (higher is better)",
        "**Total PNL:** +2.00% (higher is better)",
        "**Standard Deviation:** 0.000% (lower is better)",
        "**Sharpe Ratio:** 0.000 (higher is better)",
        "**Annualized Sharpe Ratio:** 0.000 (higher is better)",
        "**Certainty Ratio:** 0.000 (higher is better)",
        "**Expected Yearly Returns:** +35040.00% (higher is better)",
    ]


def test_live_report_without_closed_trades_and_note_column() -> None:
    log = LiveEventLog()
    log.add(opened("a", note="breakout"), T0)
    report = lines(render_live_report("strat", live_statistics(log), show_note=True))
    assert "| Position | Note | Current Price |" in report[2]
    assert "| a | LONG | breakout | 42000.00000000 USDT |" in report[4]
    assert "**Closed signals:** 0" in report
    assert "**Win rate:** N/A" in report
    assert "**Average PNL:** 0.00% (higher is better)" in report


def test_live_report_row_cap() -> None:
    log = LiveEventLog()
    for i in range(5):
        log.add(closed(f"s{i}", 1.0), T0 + i)
    report = lines(render_live_report("strat", live_statistics(log), max_rows=2))
    assert len([ln for ln in report if "| CLOSED |" in ln]) == 2
    assert "*Showing the 2 most recent of 5 events; statistics cover all of them.*" in report
    assert "**Closed signals:** 5" in report


# ---- schedule ----------------------------------------------------------------------------


def test_schedule_report_empty() -> None:
    assert (
        render_schedule_report("strat", ScheduleStatistics())
        == "# Scheduled Signals Report: strat\n\nNo scheduled signals recorded yet."
    )


def test_schedule_report() -> None:
    entries = [
        schedule_entry(scheduled("a", T0, price=42100.0)),
        schedule_entry(scheduled("b", T0 + MIN)),
        schedule_entry(opened("a", scheduled_at=T0, pending_at=T0 + 10 * MIN)),
        schedule_entry(cancelled("b", T0 + MIN, T0 + 121 * MIN, price=40900.0)),
    ]
    stats = schedule_statistics([e for e in entries if e is not None])
    report = lines(render_schedule_report("strat", stats))
    assert report[:4] == [
        "# Scheduled Signals Report: strat",
        "",
        "| Timestamp | Action | Symbol | Signal ID | Position | Current Price | Entry Price | Take Profit "
        "| Stop Loss | Wait Time (min) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    assert report[4] == (
        "| 2024-01-01T02:01:00.000Z | CANCELLED | BTCUSDT | b | LONG | 40900.00000000 USDT "
        "| 42000.00000000 USDT | 43000.00000000 USDT | 41000.00000000 USDT | 120 |"
    )
    assert report[5].startswith("| 2024-01-01T00:10:00.000Z | OPENED | BTCUSDT | a | LONG |")
    assert report[5].endswith("| 10 |")
    assert report[7] == (
        "| 2024-01-01T00:00:00.000Z | SCHEDULED | BTCUSDT | a | LONG | 42100.00000000 USDT "
        "| 42000.00000000 USDT | 43000.00000000 USDT | 41000.00000000 USDT | N/A |"
    )
    assert report[9:] == [
        "**Total events:** 4",
        "**Scheduled signals:** 2",
        "**Opened signals:** 1",
        "**Cancelled signals:** 1",
        "**Activation rate:** 50.00% (higher is better)",
        "**Cancellation rate:** 50.00% (lower is better)",
        "**Average activation time:** 10.00 minutes",
        "**Average wait time (cancelled):** 120.00 minutes",
    ]


def test_schedule_report_na_and_note() -> None:
    only = schedule_entry(cancelled("b", T0, T0 + 5 * MIN))
    assert only is not None
    report = lines(render_schedule_report("strat", schedule_statistics([only]), show_note=True))
    assert "| Position | Note | Current Price |" in report[2]
    assert "| b | LONG | N/A | 40900.00000000 USDT |" in report[4]
    assert "**Activation rate:** N/A" in report
    assert "**Cancellation rate:** N/A" in report
    assert "**Average activation time:** N/A" in report
    assert "**Average wait time (cancelled):** 5.00 minutes" in report


# ---- partial -----------------------------------------------------------------------------


def test_partial_report_empty() -> None:
    assert (
        render_partial_report("BTCUSDT", "strat", PartialStatistics())
        == "# Partial Profit/Loss Report: BTCUSDT:strat\n\nNo partial profit/loss events recorded yet."
    )


def test_partial_report() -> None:
    stats = partial_statistics(
        [
            partial_entry(partial(10, ts=T0), "profit"),
            partial_entry(partial(20, ts=T0 + MIN, price=41500.0, backtest=False), "loss"),
        ]
    )
    assert render_partial_report("BTCUSDT", "strat", stats) == "\n".join(
        [
            "# Partial Profit/Loss Report: BTCUSDT:strat",
            "",
            "| Action | Symbol | Strategy | Signal ID | Position | Level % | Current Price | Timestamp | Mode |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            "| LOSS | BTCUSDT | strat | s1 | LONG | -20% | 41500.00000000 USDT | 2024-01-01T00:01:00.000Z | Live |",
            "| PROFIT | BTCUSDT | strat | s1 | LONG | +10% | 42100.00000000 USDT | 2024-01-01T00:00:00.000Z | Backtest |",
            "",
            "**Total events:** 2",
            "**Profit events:** 1",
            "**Loss events:** 1",
        ]
    )


# ---- performance -------------------------------------------------------------------------


def test_performance_report_empty() -> None:
    assert (
        render_performance_report("strat", PerformanceStatistics(strategy_name="strat"))
        == "# Performance Report: strat\n\nNo performance metrics recorded yet."
    )


def test_performance_report() -> None:
    stats = performance_statistics(
        "strat",
        [
            perf("backtest_signal", 5.0, T0),
            perf("backtest_signal", 1.0, T0 + 10, T0),
            perf("backtest_total", 100.0, T0 + 60),
        ],
    )
    assert render_performance_report("strat", stats) == "\n".join(
        [
            "# Performance Report: strat",
            "",
            "**Total events:** 3",
            "**Total execution time:** 106.00ms",
            "**Number of metric types:** 2",
            "",
            "## Time Distribution",
            "",
            "- **backtest_total**: 94.3% (100.00ms total)",
            "- **backtest_signal**: 5.7% (6.00ms total)",
            "",
            "## Detailed Metrics",
            "",
            "| Metric Type | Count | Total (ms) | Avg (ms) | Min (ms) | Max (ms) | Std Dev (ms) | Median (ms) "
            "| P95 (ms) | P99 (ms) | Avg Wait (ms) | Min Wait (ms) | Max Wait (ms) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            "| backtest_total | 1 | 100.00 | 100.00 | 100.00 | 100.00 | 0.00 | 100.00 | 100.00 | 100.00 "
            "| 0.00 | 0.00 | 0.00 |",
            "| backtest_signal | 2 | 6.00 | 3.00 | 1.00 | 5.00 | 2.00 | 1.00 | 5.00 | 5.00 | 10.00 | 10.00 | 10.00 |",
            "",
            "**Note:** All durations are in milliseconds. P95/P99 represent 95th and 99th percentile response "
            "times. Wait times show the interval between consecutive events of the same type.",
        ]
    )
