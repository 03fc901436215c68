"""Statistics of SPEC §11 against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from farm.stats import (
    BacktestStatistics,
    LiveEventLog,
    backtest_statistics,
    js_round,
    live_statistics,
    partial_entry,
    partial_statistics,
    percentile,
    performance_statistics,
    safe,
    schedule_entry,
    schedule_statistics,
)
from tests.reports import (
    MIN,
    T0,
    active,
    cancelled,
    closed,
    idle,
    opened,
    partial,
    perf,
    scheduled,
)

EPS = 1e-12


def approx(x: float) -> object:
    return pytest.approx(x, abs=EPS, rel=EPS)


# ---- helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, "1.5", True, False, float("nan"), float("inf"), -float("inf"), [1]])
def test_safe_rejects_what_the_reference_calls_unsafe(bad: object) -> None:
    assert safe(bad) is None


def test_safe_keeps_finite_numbers() -> None:
    assert safe(1) == 1.0 and isinstance(safe(1), float)
    assert safe(-2.5) == -2.5
    assert safe(0.0) == 0.0
    assert safe(np.float64(2.5)) == 2.5
    assert safe(np.int64(3)) == 3.0
    assert safe(np.float64("nan")) is None


@pytest.mark.parametrize(
    ("x", "expected"),
    [(2.5, 3), (-2.5, -2), (1.5, 2), (0.5, 1), (-0.5, 0), (1.4999, 1), (0.49999999999999994, 0), (7.0, 7)],
)
def test_js_round_rounds_halves_up(x: float, expected: int) -> None:
    assert js_round(x) == expected


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile([1, 2, 3, 4, 5], 50) == 3  # ceil(2.5) - 1 = 2
    assert percentile([1, 2, 3, 4, 5], 95) == 5  # ceil(4.75) - 1 = 4
    assert percentile([7], 99) == 7
    assert percentile([7], 0) == 7  # max(0, -1)
    assert percentile([], 50) == 0


# ---- §11.1 backtest --------------------------------------------------------------------


def four_trades() -> list:
    """Chronological: +2 (60 min), -1 (120 min), 0 (30 min), +3 (30 min)."""
    return [
        closed("a", 2.0, pending_at=T0, minutes=60),
        closed("b", -1.0, pending_at=T0 + 100 * MIN, minutes=120, reason="stop_loss"),
        closed("c", 0.0, pending_at=T0 + 300 * MIN, minutes=30, reason="time_expired"),
        closed("d", 3.0, pending_at=T0 + 400 * MIN, minutes=30),
    ]


def test_backtest_statistics_hand_computed() -> None:
    st = backtest_statistics(four_trades())
    assert [r.signal.id for r in st.signal_list] == ["d", "c", "b", "a"]  # newest first
    assert st.total_signals == 4
    assert st.win_count == 2
    assert st.loss_count == 1  # the zero trade is neither
    assert st.win_rate == approx(50.0)
    assert st.avg_pnl == approx(1.0)
    assert st.total_pnl == approx(4.0)
    # deviations 1, -2, -1, 2 -> variance 10/4
    assert st.std_dev == approx(math.sqrt(2.5))
    assert st.sharpe_ratio == approx(1 / math.sqrt(2.5))
    assert st.annualized_sharpe_ratio == approx(math.sqrt(146))  # sqrt(365 / 2.5)
    assert st.avg_win == approx(2.5)
    assert st.avg_loss == approx(-1.0)
    assert st.certainty_ratio == approx(2.5)
    # mean duration 60 min = 1/24 day -> 8760 trades a year at +1% each
    assert st.avg_duration_days == approx(1 / 24)
    assert st.expected_yearly_returns == approx(8760.0)


def test_backtest_statistics_spec_worked_example() -> None:
    st = backtest_statistics([closed("x", 1.9506335336498435, minutes=7)])
    assert st.total_signals == 1
    assert st.win_rate == 100.0
    assert st.std_dev == 0.0
    assert st.sharpe_ratio == 0.0
    assert st.annualized_sharpe_ratio == 0.0
    assert st.certainty_ratio == 0.0  # no losses
    assert st.expected_yearly_returns == 146464.7121837654  # bit-exact with the reference


def test_backtest_statistics_spec_footer_example() -> None:
    """TP, close at the open price, SL (the §6 long examples); mean duration 6 minutes."""
    r = [1.9763950335379084, -0.39980019980018255, -2.7759954331382737]
    st = backtest_statistics(
        [closed("a", r[0], minutes=7), closed("b", r[1], minutes=4), closed("c", r[2], minutes=7)]
    )
    avg = (r[2] + r[1] + r[0]) / 3
    assert st.avg_pnl == approx(avg)
    assert st.total_pnl == approx(r[0] + r[1] + r[2])
    std = math.sqrt(((r[0] - avg) ** 2 + (r[1] - avg) ** 2 + (r[2] - avg) ** 2) / 3)
    assert st.std_dev == approx(std)
    assert st.sharpe_ratio == approx(avg / std)
    assert st.certainty_ratio == approx(r[0] / abs((r[1] + r[2]) / 2))
    assert st.expected_yearly_returns == approx(avg * 365 * 240)  # 6 min = 1/240 day


def test_backtest_statistics_empty() -> None:
    st = backtest_statistics([])
    assert st == BacktestStatistics()
    assert st.signal_list == [] and st.total_signals == 0 and st.win_count == 0 and st.loss_count == 0
    for name in (
        "win_rate",
        "avg_pnl",
        "total_pnl",
        "std_dev",
        "sharpe_ratio",
        "annualized_sharpe_ratio",
        "certainty_ratio",
        "expected_yearly_returns",
    ):
        assert getattr(st, name) is None, name


def test_backtest_statistics_cover_every_signal_d8() -> None:
    trades = [
        closed(f"t{i}", 1.0 if i % 2 else -0.5, pending_at=T0 + i * 10 * MIN, minutes=5) for i in range(1000)
    ]
    st = backtest_statistics(trades)
    assert st.total_signals == 1000
    assert len(st.signal_list) == 1000
    assert st.win_count == 500 and st.loss_count == 500
    assert st.total_pnl == approx(250.0)


def test_backtest_statistics_zero_duration_gives_zero_yearly_returns() -> None:
    st = backtest_statistics([closed("a", 1.0, minutes=0)])
    assert st.expected_yearly_returns == 0.0


def test_backtest_statistics_unsafe_becomes_none() -> None:
    st = backtest_statistics([closed("a", 1e308, minutes=1), closed("b", 1e308, minutes=1)])
    assert st.total_pnl is None  # overflows to +inf
    assert st.expected_yearly_returns is None
    assert st.total_signals == 2


def test_backtest_statistics_identical_pnls_floating_point_quirk() -> None:
    """Same arithmetic order as the reference: 8 identical trades need not give std exactly 0."""
    x = 1.9763950335379084
    st = backtest_statistics([closed(f"t{i}", x, minutes=5) for i in range(8)])
    total = 0.0
    for _ in range(8):
        total += x
    mean = total / 8
    var = 0.0
    for _ in range(8):
        var += (x - mean) * (x - mean)
    std = math.sqrt(var / 8)
    assert st.std_dev == std
    assert st.sharpe_ratio == (mean / std if std > 0 else 0.0)


# ---- §11.2 live ------------------------------------------------------------------------


def test_live_idle_ticks_coalesce() -> None:
    log = LiveEventLog()
    log.add(idle(1.0), T0)
    log.add(idle(2.0), T0 + MIN)
    assert len(log) == 1
    assert log.events[0].timestamp == T0 + MIN
    assert log.events[0].current_price == 2.0


def test_live_active_ticks_replace_same_signal() -> None:
    log = LiveEventLog()
    log.add(idle(), T0)
    log.add(opened("s1", pending_at=T0 + MIN), T0 + MIN)
    log.add(active("s1", price=42100.0, tp=10.0), T0 + 2 * MIN)
    log.add(active("s1", price=42200.0, tp=20.0), T0 + 3 * MIN)
    ev = log.events
    assert [e.action for e in ev] == ["active", "opened", "idle"]
    assert ev[0].timestamp == T0 + 3 * MIN
    assert ev[0].current_price == 42200.0
    assert ev[0].percent_tp == 20.0
    assert ev[1].timestamp == T0 + MIN  # opened is stamped with pending_at
    assert ev[1].current_price == 42000.0  # = price_open
    # another signal's active row is a new row
    log.add(active("s2"), T0 + 4 * MIN)
    assert [e.signal_id for e in log.events][:2] == ["s2", "s1"]


def test_live_idle_after_trade_replaces_oldest_idle_quirk() -> None:
    """The replaced idle is the oldest one (highest index) when nothing opened/active is older."""
    log = LiveEventLog()
    log.add(idle(1.0), T0)
    log.add(opened("s1"), T0 + MIN)
    log.add(active("s1"), T0 + 2 * MIN)
    log.add(closed("s1", 1.5, pending_at=T0 + MIN, minutes=3), T0 + 4 * MIN)
    log.add(idle(9.0), T0 + 5 * MIN)
    ev = log.events
    assert [e.action for e in ev] == ["closed", "active", "opened", "idle"]
    assert ev[3].timestamp == T0 + 5 * MIN and ev[3].current_price == 9.0


def test_live_idle_inserted_when_opened_or_active_is_older() -> None:
    log = LiveEventLog()
    log.add(active("s1"), T0)  # e.g. restarted with a pending signal
    log.add(closed("s1", -1.0, minutes=2), T0 + 2 * MIN)
    log.add(idle(), T0 + 3 * MIN)
    log.add(idle(), T0 + 4 * MIN)
    assert [e.action for e in log.events] == ["idle", "idle", "closed", "active"]


def test_live_ignores_scheduled_and_cancelled() -> None:
    log = LiveEventLog()
    log.add(scheduled("s1", T0), T0)
    log.add(cancelled("s1", T0, T0 + MIN), T0 + MIN)
    assert len(log) == 0


def test_live_closed_row_and_js_rounded_duration() -> None:
    log = LiveEventLog()
    log.add(closed("s1", 2.0, minutes=2.5, close_price=43000.0), T0)
    (e,) = log.events
    assert e.action == "closed"
    assert e.timestamp == T0 + 150_000
    assert e.duration == 3  # Math.round(2.5); Python's round would say 2
    assert e.pnl == 2.0 and e.close_reason == "take_profit" and e.current_price == 43000.0
    assert e.open_price == 42000.0 and e.take_profit == 43000.0 and e.stop_loss == 41000.0


def test_live_event_log_max_events() -> None:
    log = LiveEventLog(max_events=2)
    for i in range(4):
        log.add(closed(f"s{i}", 1.0), T0 + i)
    assert [e.signal_id for e in log.events] == ["s3", "s2"]


def test_live_statistics_hand_computed() -> None:
    log = LiveEventLog()
    log.add(idle(), T0)
    log.add(opened("a"), T0)
    log.add(closed("a", 2.0, minutes=30), T0)
    log.add(opened("b"), T0)
    log.add(closed("b", -1.0, minutes=90, reason="stop_loss"), T0)
    st = live_statistics(log)
    assert st == live_statistics(log.events)
    assert st.total_events == 5
    assert st.total_closed == 2
    assert st.win_count == 1 and st.loss_count == 1
    assert st.win_rate == approx(50.0)
    assert st.avg_pnl == approx(0.5)
    assert st.total_pnl == approx(1.0)
    assert st.std_dev == approx(1.5)
    assert st.sharpe_ratio == approx(1 / 3)
    assert st.annualized_sharpe_ratio == approx(math.sqrt(365) / 3)
    assert st.certainty_ratio == approx(2.0)
    # mean rounded duration 60 min -> 8760 trades/year at +0.5%
    assert st.expected_yearly_returns == approx(4380.0)


def test_live_statistics_without_closed_trades() -> None:
    log = LiveEventLog()
    log.add(idle(), T0)
    log.add(opened("a"), T0)
    st = live_statistics(log)
    assert st.total_events == 2 and st.total_closed == 0
    assert st.win_rate is None  # 0/0
    assert st.avg_pnl == 0.0 and st.total_pnl == 0.0 and st.std_dev == 0.0
    assert st.sharpe_ratio == 0.0 and st.annualized_sharpe_ratio == 0.0
    assert st.certainty_ratio == 0.0 and st.expected_yearly_returns == 0.0


def test_live_statistics_empty() -> None:
    st = live_statistics([])
    assert st.event_list == [] and st.total_events == 0 and st.total_closed == 0
    assert st.win_rate is None and st.avg_pnl is None and st.expected_yearly_returns is None


# ---- §11.3 schedule --------------------------------------------------------------------


def test_schedule_entries() -> None:
    e = schedule_entry(scheduled("s1", T0, price=42100.0))
    assert e is not None
    assert (e.action, e.timestamp, e.duration, e.current_price, e.price_open) == (
        "scheduled",
        T0,
        None,
        42100.0,
        42000.0,
    )
    o = schedule_entry(opened("s1", scheduled_at=T0, pending_at=T0 + 150_000))
    assert o is not None
    assert (o.action, o.timestamp, o.duration) == ("opened", T0 + 150_000, 3)  # JS round of 2.5
    c = schedule_entry(cancelled("s2", T0, T0 + 120 * MIN))
    assert c is not None
    assert (c.action, c.timestamp, c.close_timestamp, c.duration) == (
        "cancelled",
        T0 + 120 * MIN,
        T0 + 120 * MIN,
        120,
    )


def test_schedule_entry_skips_immediate_opens_and_other_results() -> None:
    assert schedule_entry(opened("s1", pending_at=T0)) is None  # scheduled_at == pending_at
    assert schedule_entry(idle()) is None
    assert schedule_entry(active()) is None
    assert schedule_entry(closed("s1", 1.0)) is None


def test_schedule_statistics_hand_computed() -> None:
    entries = [
        schedule_entry(scheduled("a", T0)),
        schedule_entry(scheduled("b", T0 + MIN)),
        schedule_entry(opened("a", scheduled_at=T0, pending_at=T0 + 10 * MIN)),
        schedule_entry(cancelled("b", T0 + MIN, T0 + 121 * MIN)),
        schedule_entry(scheduled("c", T0 + 200 * MIN)),
        schedule_entry(scheduled("d", T0 + 201 * MIN)),
        schedule_entry(opened("c", scheduled_at=T0 + 200 * MIN, pending_at=T0 + 220 * MIN)),
    ]
    st = schedule_statistics([e for e in entries if e is not None])
    assert st.total_events == 7
    assert st.event_list[0].signal_id == "c" and st.event_list[0].action == "opened"  # newest first
    assert (st.total_scheduled, st.total_opened, st.total_cancelled) == (4, 2, 1)
    assert st.activation_rate == approx(50.0)
    assert st.cancellation_rate == approx(25.0)
    assert st.avg_activation_time == approx(15.0)  # (10 + 20) / 2
    assert st.avg_wait_time == approx(120.0)


def test_schedule_statistics_empty_and_without_scheduled() -> None:
    st = schedule_statistics([])
    assert (st.total_events, st.total_scheduled, st.total_opened, st.total_cancelled) == (0, 0, 0, 0)
    assert st.cancellation_rate is None and st.activation_rate is None
    assert st.avg_wait_time is None and st.avg_activation_time is None
    only_cancel = schedule_entry(cancelled("b", T0, T0 + 5 * MIN))
    assert only_cancel is not None
    st = schedule_statistics([only_cancel])
    assert st.cancellation_rate is None and st.activation_rate is None
    assert st.avg_wait_time == 5.0 and st.avg_activation_time is None


# ---- §11.5 partial ---------------------------------------------------------------------


def test_partial_statistics() -> None:
    entries = [
        partial_entry(partial(10, ts=T0), "profit"),
        partial_entry(partial(20, ts=T0), "profit"),
        partial_entry(partial(10, ts=T0 + MIN, backtest=False), "loss"),
    ]
    st = partial_statistics(entries)
    assert (st.total_events, st.total_profit, st.total_loss) == (3, 2, 1)
    first = st.event_list[0]
    assert (first.action, first.level, first.backtest, first.timestamp) == ("loss", 10, False, T0 + MIN)
    assert (first.symbol, first.strategy_name, first.signal_id, first.position) == (
        "BTCUSDT",
        "strat",
        "s1",
        "long",
    )
    empty = partial_statistics([])
    assert (empty.event_list, empty.total_events, empty.total_profit, empty.total_loss) == ([], 0, 0, 0)


# ---- §11.7 performance -----------------------------------------------------------------


def test_performance_statistics_hand_computed() -> None:
    events = [
        perf("backtest_signal", 5.0, T0),
        perf("backtest_signal", 1.0, T0 + 10, T0),
        perf("backtest_timeframe", 0.5, T0 + 12, T0 + 10),
        perf("backtest_signal", 3.0, T0 + 20, T0 + 12),
        perf("backtest_signal", 2.0, T0 + 50, T0 + 20),
        perf("backtest_signal", 4.0, T0 + 51, T0 + 50),
        perf("backtest_total", 100.0, T0 + 60),
    ]
    st = performance_statistics("strat", events)
    assert st.strategy_name == "strat"
    assert st.total_events == 7
    assert st.total_duration == approx(115.5)
    assert st.events[0].metric_type == "backtest_total"  # newest first
    # first appearance in the newest-first list
    assert list(st.metric_stats) == ["backtest_total", "backtest_signal", "backtest_timeframe"]
    sig = st.metric_stats["backtest_signal"]
    assert sig.count == 5
    assert sig.total_duration == approx(15.0)
    assert sig.avg_duration == approx(3.0)
    assert (sig.min_duration, sig.max_duration) == (1.0, 5.0)
    assert sig.std_dev == approx(math.sqrt(2.0))  # 1..5 around 3
    assert (sig.median, sig.p95, sig.p99) == (3.0, 5.0, 5.0)
    # waits: 10, 8, 30, 1 (the first event has no previous timestamp)
    assert sig.avg_wait_time == approx(12.25)
    assert (sig.min_wait_time, sig.max_wait_time) == (1.0, 30.0)
    total = st.metric_stats["backtest_total"]
    assert (total.count, total.std_dev, total.median, total.p99) == (1, 0.0, 100.0, 100.0)
    assert (total.avg_wait_time, total.min_wait_time, total.max_wait_time) == (0.0, 0.0, 0.0)


def test_performance_statistics_empty() -> None:
    st = performance_statistics("strat", [])
    assert (st.strategy_name, st.total_events, st.total_duration, st.metric_stats, st.events) == (
        "strat",
        0,
        0.0,
        {},
        [],
    )
