"""Scenario tables: candles → expected close reason, timestamps, prices and PnL (SPEC §5–§7,
with D2, D3, D4, D11). Base market: flat 1m candles at 100 (volume 100) around T0; each row
changes a few candles and returns one signal at the first tick."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

import farm
from farm.engine.pnl import pnl_percentage
from tests.conftest import MIN, T0, flat_candles, minutes, register_table, run, set_candle


def pnl(position: str, open_: float, close: float) -> float:
    return pnl_percentage(position, open_, close, 0.1, 0.1)


def market(edits: dict[int, dict[str, float]] | None = None, drop: list[int] | None = None, until: int = 400):
    df = flat_candles(T0 - 30 * MIN, 30 + until)
    for minute, values in (edits or {}).items():
        set_candle(df, T0 + minute * MIN, **values)
    if drop:
        df = df[~df["timestamp"].isin([T0 + m * MIN for m in drop])].reset_index(drop=True)
    return df


def one_signal(signal: dict[str, Any]):
    """get_signal returning `signal` at the first call only; records every call time."""
    calls: list[int] = []

    def get_signal(symbol: str, when: datetime) -> dict[str, Any] | None:
        calls.append(int(when.timestamp() * 1000))
        return dict(signal) if len(calls) == 1 else None

    get_signal.calls = calls  # type: ignore[attr-defined]
    return get_signal


def setup(edits=None, drop=None, signal=None, frame_minutes=200, interval="1m", frame_interval="1m", until=400):
    register_table(market(edits, drop, until))
    farm.add_frame("f", frame_interval, T0, T0 + frame_minutes * MIN)
    get_signal = one_signal(signal or {})
    farm.add_strategy("s", interval, get_signal)
    return get_signal


LONG = {"position": "long", "price_take_profit": 101, "price_stop_loss": 99, "minute_estimated_time": 60}
SHORT = {"position": "short", "price_take_profit": 99, "price_stop_loss": 101, "minute_estimated_time": 60}
HI = {"high": 101.5}
LO = {"low": 98.5}
BOTH = {"high": 101.5, "low": 98.5}

IMMEDIATE = [
    # id, signal, edits, reason, close minute, close price
    ("long-tp", LONG, {4: HI}, "take_profit", 4, 101),
    ("long-sl", LONG, {4: LO}, "stop_loss", 4, 99),
    ("long-tp-beats-sl", LONG, {4: BOTH}, "take_profit", 4, 101),
    ("long-tp-on-open-candle", LONG, {0: HI}, "take_profit", 0, 101),
    ("long-expired", {**LONG, "minute_estimated_time": 30}, {}, "time_expired", 29, 100),
    ("long-expired-1min", {**LONG, "minute_estimated_time": 1}, {}, "time_expired", 0, 100),
    ("long-tp-on-last-lifetime-candle", {**LONG, "minute_estimated_time": 30}, {29: HI}, "take_profit", 29, 101),
    ("long-tp-after-lifetime-ignored", {**LONG, "minute_estimated_time": 30}, {30: HI}, "time_expired", 29, 100),
    ("short-tp", SHORT, {4: LO}, "take_profit", 4, 99),
    ("short-sl", SHORT, {4: HI}, "stop_loss", 4, 101),
    ("short-tp-beats-sl", SHORT, {4: BOTH}, "take_profit", 4, 99),
    ("short-expired", {**SHORT, "minute_estimated_time": 30}, {}, "time_expired", 29, 100),
]


@pytest.mark.parametrize(("signal", "edits", "reason", "close_minute", "close_price"),
                         [row[1:] for row in IMMEDIATE], ids=[row[0] for row in IMMEDIATE])
def test_immediate_signal(reference_config, signal, edits, reason, close_minute, close_price):
    setup(edits, signal=signal)
    results = run()
    assert len(results) == 1
    r = results[0]
    assert r.action == "closed"
    assert r.close_reason == reason
    assert minutes([r.signal.scheduled_at, r.signal.pending_at, r.close_timestamp]) == [0, 0, close_minute]
    assert r.signal.price_open == 100
    assert r.pnl.price_close == pytest.approx(close_price, abs=1e-12)
    assert r.pnl.pnl_percentage == pytest.approx(pnl(signal["position"], 100, close_price), abs=1e-9)


def test_pnl_worked_examples_through_the_engine(reference_config):
    """SPEC §6: long 42000 → TP 43000 is 1.9763950335379084 % end to end."""
    df = market()
    df[["open", "high", "low", "close"]] = 42000.0
    set_candle(df, T0 + 3 * MIN, high=43100.0)
    register_table(df)
    farm.add_frame("f", "1m", T0, T0 + 10 * MIN)
    farm.add_strategy("s", "1m", one_signal(
        {"position": "long", "price_take_profit": 43000, "price_stop_loss": 41000, "minute_estimated_time": 60}))
    (r,) = run()
    assert r.pnl.pnl_percentage == pytest.approx(1.9763950335379084, abs=1e-12)


def test_expiry_price_is_the_volume_weighted_price_of_the_last_candles(reference_config):
    edits = {25 + k: {"open": p, "high": p, "low": p, "close": p, "volume": v}
             for k, (p, v) in enumerate(zip([100.1, 100.2, 100.3, 100.4, 100.5], [100, 200, 300, 400, 500], strict=True))}
    setup(edits, signal={**LONG, "minute_estimated_time": 30})
    (r,) = run()
    expected = (100.1 * 100 + 100.2 * 200 + 100.3 * 300 + 100.4 * 400 + 100.5 * 500) / 1500
    assert r.close_reason == "time_expired"
    assert r.pnl.price_close == pytest.approx(expected, abs=1e-9)


def test_look_ahead_the_open_price_ignores_the_candle_opening_at_the_tick(reference_config):
    """D1: the VWAP at T uses candles opening in [T−5m, T); a wild candle at T changes nothing."""
    setup({0: {"open": 150, "high": 150, "low": 150, "close": 150}}, signal={**LONG, "price_take_profit": 200,
                                                                             "price_stop_loss": 50})
    (r,) = run()
    assert r.signal.price_open == 100


def test_explicit_entry_reached_opens_immediately_at_that_entry(reference_config):
    """§5.4 step 7: a long whose entry is above the market opens now, at the DTO's entry price."""
    setup({5: {"high": 102}}, signal={**LONG, "price_open": 100.5, "price_take_profit": 101.5})
    (r,) = run()
    assert r.signal.price_open == 100.5
    assert r.signal.scheduled_at == r.signal.pending_at == T0
    assert r.close_reason == "take_profit" and minutes([r.close_timestamp]) == [5]


SCHED_LONG = {"position": "long", "price_open": 99, "price_take_profit": 101, "price_stop_loss": 97,
              "minute_estimated_time": 10}
SCHED_SHORT = {"position": "short", "price_open": 101, "price_take_profit": 99, "price_stop_loss": 103,
               "minute_estimated_time": 10}

SCHEDULED = [
    # id, signal, edits, action, reason, pending minute, close minute, close price
    ("long-activate-then-tp", SCHED_LONG, {3: {"low": 98.9}, 4: HI}, "closed", "take_profit", 3, 4, 101),
    # D3: the activation candle is not checked; the first TP/SL check is the next candle.
    ("long-tp-on-activation-candle-ignored", SCHED_LONG, {3: {"low": 98.9, "high": 101.5}, 6: HI},
     "closed", "take_profit", 3, 6, 101),
    ("long-activate-on-the-tick-candle", SCHED_LONG, {0: {"low": 98.9}, 2: {"low": 96}}, "closed", "stop_loss", 0, 2, 97),
    ("long-cancel-by-sl", SCHED_LONG, {3: {"low": 96.5}}, "cancelled", None, None, 3, None),
    ("long-expiry-after-activation", SCHED_LONG, {1: {"low": 98.9}}, "closed", "time_expired", 1, 10, 100),
    # mET 1: no candle after the activation one is inside the lifetime; it expires on the
    # activation candle at the VWAP ending with it (whose typical price includes the 98.9 low).
    ("long-expiry-1min-at-activation", {**SCHED_LONG, "minute_estimated_time": 1}, {3: {"low": 98.9}},
     "closed", "time_expired", 3, 3, (4 * 100 + (100 + 98.9 + 100) / 3) / 5),
    ("short-activate-then-tp", SCHED_SHORT, {3: {"high": 101.1}, 4: {"low": 98.5}}, "closed", "take_profit", 3, 4, 99),
    ("short-cancel-by-sl", SCHED_SHORT, {3: {"high": 103.5}}, "cancelled", None, None, 3, None),
    ("short-expiry-after-activation", SCHED_SHORT, {1: {"high": 101.1}}, "closed", "time_expired", 1, 10, 100),
]


@pytest.mark.parametrize(("signal", "edits", "action", "reason", "pending_minute", "close_minute", "close_price"),
                         [row[1:] for row in SCHEDULED], ids=[row[0] for row in SCHEDULED])
def test_scheduled_signal(reference_config, signal, edits, action, reason, pending_minute, close_minute, close_price):
    setup(edits, signal=signal)
    results = run()
    assert [r.action for r in results] == [action]
    r = results[0]
    assert minutes([r.signal.scheduled_at, r.close_timestamp]) == [0, close_minute]
    if action == "closed":
        assert r.close_reason == reason
        assert minutes([r.signal.pending_at]) == [pending_minute]
        assert r.signal.price_open == signal["price_open"]
        assert r.pnl.pnl_percentage == pytest.approx(pnl(signal["position"], signal["price_open"], close_price), abs=1e-9)
    else:
        # VWAP of the five candles ending with the cancelling one: four flat at 100 and the
        # cancelling candle, whose typical price (h+l+c)/3 includes its extreme.
        candle = {"high": 100, "low": 100, **edits[close_minute]}
        typical = (candle["high"] + candle["low"] + 100) / 3
        assert r.current_price == pytest.approx((4 * 100 + typical) / 5, abs=1e-12)


def test_scheduled_signal_times_out_after_the_await_window(reference_config):
    farm.set_config(unsafe=True, schedule_await_minutes=10)
    setup(signal=SCHED_LONG)
    (r,) = run()
    assert r.action == "cancelled"
    assert minutes([r.close_timestamp]) == [10]


def test_schedule_report_counts_the_cancellation(reference_config):
    setup({3: {"low": 96.5}}, signal=SCHED_LONG)
    run()
    stats = farm.Schedule.get_data("A", "s")
    assert (stats.total_scheduled, stats.total_cancelled, stats.total_opened) == (1, 1, 0)


def test_after_a_close_the_next_tick_is_the_first_frame_after_it_d2(reference_config):
    """15m frames, a trade closing at +7: the reference skips the frame at +15 too; we don't."""
    calls: list[int] = []

    def get_signal(symbol, when):
        calls.append(int(when.timestamp() * 1000))
        return dict(LONG) if len(calls) == 1 else None

    register_table(market({7: HI}))
    farm.add_frame("f", "15m", T0, T0 + 60 * MIN)
    farm.add_strategy("s", "1m", get_signal)
    (r,) = run()
    assert minutes([r.close_timestamp]) == [7]
    assert minutes(calls) == [0, 15, 30, 45, 60]


def test_on_one_minute_frames_the_next_signal_comes_one_minute_after_the_close(reference_config):
    calls: list[int] = []

    def get_signal(symbol, when):
        calls.append(int(when.timestamp() * 1000))
        return dict(LONG) if len(calls) == 1 else None

    register_table(market({7: HI}))
    farm.add_frame("f", "1m", T0, T0 + 10 * MIN)
    farm.add_strategy("s", "1m", get_signal)
    run()
    assert minutes(calls) == [0, 8, 9, 10]


def test_get_signal_is_throttled_by_the_strategy_interval(reference_config):
    get_signal = setup(signal={}, frame_minutes=22, interval="5m")
    run()
    assert minutes(get_signal.calls) == [0, 5, 10, 15, 20]


GAPS = [
    # id, dropped minutes, until, close minute: mET = 30, last lifetime slot = minute 29
    ("candle-at-last-slot-missing", [29], 400, 30),
    ("long-gap-over-last-slot", list(range(27, 36)), 400, 36),
    ("data-ends-before-expiry", [], 21, 20),
]


@pytest.mark.parametrize(("drop", "until", "close_minute"), [g[1:] for g in GAPS], ids=[g[0] for g in GAPS])
def test_gaps_use_timestamps_not_candle_counts(reference_config, drop, until, close_minute):
    """D11: the first candle at or after the last lifetime slot ends the signal, or the last
    available one when the data ends; never an invented price."""
    setup(drop=drop, until=until, signal={**LONG, "minute_estimated_time": 30}, frame_minutes=15)
    (r,) = run()
    assert r.close_reason == "time_expired"
    assert minutes([r.close_timestamp]) == [close_minute]
    assert r.pnl.price_close == 100


def test_partial_profit_milestones_fire_once_each_in_order(reference_config):
    """Candle k after T0 trades flat at 101+k; the VWAP ending with k is the mean of the last
    five prices, so progress to TP (110) is 2, 6, 12, 20, 30, 40, 50, 60, 70 % on k = 0..8 and
    candle 9 (at 110) takes the profit."""
    edits = {k: {"open": 101 + k, "high": 101 + k, "low": 101 + k, "close": 101 + k} for k in range(0, 40)}
    setup(edits, signal={"position": "long", "price_take_profit": 110, "price_stop_loss": 90,
                         "minute_estimated_time": 60})
    profits: list[Any] = []
    farm.listen_partial_profit(profits.append)
    (r,) = run()
    assert r.close_reason == "take_profit" and minutes([r.close_timestamp]) == [9]
    assert [e.level for e in profits] == [10, 20, 30, 40, 50, 60, 70]
    assert minutes([e.timestamp for e in profits]) == [2, 3, 4, 5, 6, 7, 8]
    assert [e.current_price for e in profits] == pytest.approx([101.2, 102, 103, 104, 105, 106, 107])
    assert farm.Partial.get_data("A", "s").total_profit == 7


def test_partial_loss_levels_on_a_short(reference_config):
    edits = {k: {"open": 101 + k, "high": 101 + k, "low": 101 + k, "close": 101 + k} for k in range(0, 40)}
    setup(edits, signal={"position": "short", "price_take_profit": 90, "price_stop_loss": 110,
                         "minute_estimated_time": 60})
    losses: list[Any] = []
    farm.listen_partial_loss(losses.append)
    (r,) = run()
    assert r.close_reason == "stop_loss" and minutes([r.close_timestamp]) == [9]
    assert [e.level for e in losses] == [10, 20, 30, 40, 50, 60, 70]


def _recording_callbacks(log: list[str]) -> dict[str, Any]:
    def rec(name):
        def fn(symbol, *args):
            tail = args[:-1]
            if name == "on_tick":
                log.append(f"on_tick:{tail[0].action}")
            elif name == "on_write":
                log.append("on_write(null)" if tail[0] is None else "on_write(signal)")
            else:
                log.append(name)
            assert args[-1] is True  # backtest flag last
        return fn

    return {n: rec(n) for n in ("on_tick", "on_open", "on_close", "on_schedule", "on_cancel", "on_write")}


def test_callback_order_for_an_immediate_signal(reference_config):
    log: list[str] = []
    farm.add_risk("r", [lambda payload: None], callbacks={"on_allowed": lambda s, p: log.append("on_allowed")})
    register_table(market({4: HI}))
    farm.add_frame("f", "1m", T0, T0 + 2 * MIN)
    farm.add_strategy("s", "1m", one_signal(LONG), callbacks=_recording_callbacks(log), risk_name="r")
    run()
    assert log == ["on_allowed", "on_write(signal)", "on_open", "on_tick:opened", "on_close",
                   "on_write(null)", "on_tick:closed"]  # D4: one risk check for an immediate signal


def test_callback_order_for_a_scheduled_signal(reference_config):
    log: list[str] = []
    farm.add_risk("r", [lambda payload: None], callbacks={"on_allowed": lambda s, p: log.append("on_allowed")})
    register_table(market({3: {"low": 98.9}, 4: HI}))
    farm.add_frame("f", "1m", T0, T0 + 2 * MIN)
    farm.add_strategy("s", "1m", one_signal(SCHED_LONG), callbacks=_recording_callbacks(log), risk_name="r")
    run()
    assert log == ["on_allowed", "on_schedule", "on_tick:scheduled", "on_allowed", "on_write(signal)", "on_open",
                   "on_close", "on_write(null)", "on_tick:closed"]


def test_signal_events_reach_both_channels(reference_config):
    setup({4: HI}, signal=LONG, frame_minutes=6)
    seen_bt: list[str] = []
    seen_all: list[str] = []
    farm.listen_signal_backtest(lambda r: seen_bt.append(r.action))
    farm.listen_signal(lambda r: seen_all.append(r.action))
    run()
    # Frames 0..4 are consumed by the trade (D2), 5 and 6 are idle ticks.
    assert seen_bt == seen_all == ["opened", "closed", "idle", "idle"]


def test_a_raising_get_signal_is_reported_and_the_backtest_continues(reference_config):
    calls: list[int] = []

    def get_signal(symbol, when):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("indicator exploded")
        return None

    register_table(market())
    farm.add_frame("f", "1m", T0, T0 + 4 * MIN)
    farm.add_strategy("s", "1m", get_signal)
    errors: list[BaseException] = []
    farm.listen_error(errors.append)
    assert run() == []
    assert len(calls) == 5
    assert len(errors) == 1
    assert "indicator exploded" in str(errors[0]) and "strategy s symbol A" in str(errors[0])


def test_a_stuck_get_signal_times_out_and_the_backtest_continues(reference_config):
    farm.set_config(unsafe=True, max_signal_generation_seconds=0.2)
    calls: list[int] = []

    def get_signal(symbol, when):
        calls.append(1)
        if len(calls) == 1:
            while True:  # a pure-Python infinite loop
                pass
        return None

    register_table(market())
    farm.add_frame("f", "1m", T0, T0 + 2 * MIN)
    farm.add_strategy("s", "1m", get_signal)
    errors: list[BaseException] = []
    farm.listen_error(errors.append)
    started = time.monotonic()
    run()
    assert time.monotonic() - started < 30  # it was interrupted, not waited out
    assert len(calls) == 3
    assert "Timeout for s symbol=A" in str(errors[0])


def test_async_get_signal_is_supported_and_timed_out(reference_config):
    import asyncio

    farm.set_config(unsafe=True, max_signal_generation_seconds=0.1)
    calls: list[int] = []

    async def get_signal(symbol, when):
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(5)
        if len(calls) == 2:
            return dict(LONG)
        return None

    register_table(market({5: HI}))
    farm.add_frame("f", "1m", T0, T0 + 3 * MIN)
    farm.add_strategy("s", "1m", get_signal)
    errors: list[BaseException] = []
    farm.listen_error(errors.append)
    (r,) = run()
    assert "Timeout for s symbol=A" in str(errors[0])
    assert r.close_reason == "take_profit" and minutes([r.signal.pending_at]) == [1]


def test_an_invalid_signal_is_reported_with_the_validation_message(reference_config):
    setup(signal={**LONG, "price_take_profit": 99.5, "price_stop_loss": 99}, frame_minutes=0)
    errors: list[BaseException] = []
    farm.listen_error(errors.append)
    assert run() == []
    message = str(errors[0])
    assert "Invalid signal for long position:" in message
    assert "Long: priceTakeProfit (99.5) must be > priceOpen (100)" in message


def test_risk_rejection_prevents_the_signal_and_is_published(reference_config):
    def max_zero(payload):
        raise ValueError(f"no room: {payload.active_position_count}")

    farm.add_risk("r", [{"validate": max_zero, "note": "portfolio full"}])
    register_table(market())
    farm.add_frame("f", "1m", T0, T0)
    farm.add_strategy("s", "1m", one_signal(LONG), risk_name="r")
    rejections: list[Any] = []
    validation_errors: list[BaseException] = []
    farm.listen_risk(rejections.append)
    farm.listen_validation(validation_errors.append)
    assert run() == []
    assert [e.comment for e in rejections] == ["portfolio full"]
    assert "no room: 0" in str(validation_errors[0])


def test_stop_ends_the_run_after_the_open_signal_closes(reference_config):
    signals = {"n": 0}

    def get_signal(symbol, when):
        signals["n"] += 1
        return dict(LONG)

    register_table(market({4: HI, 9: HI, 14: HI}))
    farm.add_frame("f", "1m", T0, T0 + 30 * MIN)
    farm.add_strategy("s", "1m", get_signal,
                      callbacks={"on_open": lambda s, sig, p, bt: farm.Backtest.stop("A", "s") if signals["n"] == 2 else None})
    results = run()
    assert [minutes([r.close_timestamp])[0] for r in results] == [4, 9]


def test_fees_and_slippage_are_read_when_the_signal_closes(reference_config):
    farm.set_config(unsafe=True, percent_fee=0.0, percent_slippage=0.0)
    setup({4: HI}, signal=LONG)
    (r,) = run()
    assert r.pnl.pnl_percentage == pytest.approx(1.0, abs=1e-12)


def test_statistics_and_report_after_a_run(reference_config):
    at = {T0: LONG, T0 + 10 * MIN: LONG, T0 + 20 * MIN: SHORT}

    def get_signal(symbol, when):
        signal = at.get(int(when.timestamp() * 1000))
        return dict(signal) if signal else None

    register_table(market({4: HI, 14: LO, 24: LO}))
    farm.add_frame("f", "1m", T0, T0 + 30 * MIN)
    farm.add_strategy("s", "1m", get_signal)
    run()
    stats = farm.Backtest.get_data("A", "s")
    expected = [pnl("long", 100, 101), pnl("long", 100, 99), pnl("short", 100, 99)]
    assert stats.total_signals == 3 and stats.win_count == 2 and stats.loss_count == 1
    assert stats.total_pnl == pytest.approx(sum(expected), abs=1e-12)
    report = farm.Backtest.get_report("A", "s")
    assert report.startswith("# Backtest Report: s")
    assert "**Total signals:** 3" in report
    path = farm.Backtest.dump("A", "s")
    assert path.read_text() == report and path.name == "s.md"


def test_a_rerun_is_identical(reference_config):
    register_table(market({4: HI}))
    farm.add_frame("f", "1m", T0, T0 + 20 * MIN)
    farm.add_strategy("s", "1m", lambda symbol, when: dict(LONG) if when.minute == 0 else None)
    first = [r.model_dump() for r in run()]
    farm.Backtest.get_data("A", "s")
    second = [r.model_dump() for r in run()]
    assert first == second and len(first) == 1


def test_dates_given_as_aware_datetimes(reference_config):
    register_table(market({4: HI}))
    farm.add_frame("f", "1m", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 0, 1, tzinfo=UTC))
    farm.add_strategy("s", "1m", one_signal(LONG))
    (r,) = run()
    assert r.signal.pending_at == T0
