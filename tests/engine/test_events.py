"""Listener channels (SPEC §15): unsubscribe, once, errors, progress, done and performance events."""

from __future__ import annotations

import pytest

import farm
from farm import events
from tests.conftest import MIN, T0, flat_candles, minutes, register_table, run, signal_every_5

LISTENERS = {
    "listen_signal": "signal",
    "listen_signal_backtest": "signal_backtest",
    "listen_signal_live": "signal_live",
    "listen_error": "error",
    "listen_exit": "exit",
    "listen_done_backtest": "done_backtest",
    "listen_done_live": "done_live",
    "listen_done_walker": "done_walker",
    "listen_backtest_progress": "backtest_progress",
    "listen_walker": "walker",
    "listen_walker_progress": "walker_progress",
    "listen_walker_complete": "walker_complete",
    "listen_optimizer_progress": "optimizer_progress",
    "listen_partial_profit": "partial_profit",
    "listen_partial_loss": "partial_loss",
    "listen_risk": "risk",
    "listen_performance": "performance",
    "listen_validation": "validation",
}
ONCE_LISTENERS = {
    "listen_signal_once": "signal",
    "listen_signal_backtest_once": "signal_backtest",
    "listen_signal_live_once": "signal_live",
    "listen_done_backtest_once": "done_backtest",
    "listen_done_live_once": "done_live",
    "listen_done_walker_once": "done_walker",
    "listen_walker_once": "walker",
    "listen_partial_profit_once": "partial_profit",
    "listen_partial_loss_once": "partial_loss",
    "listen_risk_once": "risk",
}


def test_the_28_listeners_are_exported_and_covered_here():
    exported = sorted(n for n in farm.__all__ if n.startswith("listen_"))
    assert len(exported) == 28
    assert exported == sorted({**LISTENERS, **ONCE_LISTENERS})


# ---- raw channels ------------------------------------------------------------------------


@pytest.mark.parametrize(("listen", "channel"), sorted(LISTENERS.items()))
def test_listen_returns_a_working_unsubscribe(listen, channel):
    got: list[object] = []
    unsubscribe = getattr(farm, listen)(got.append)
    emitter = getattr(farm.emitters, channel)
    emitter.emit("first")
    emitter.emit("second")
    assert got == ["first", "second"]
    unsubscribe()
    emitter.emit("third")
    assert got == ["first", "second"]
    unsubscribe()  # a second call is harmless
    emitter.emit("fourth")
    assert got == ["first", "second"]


@pytest.mark.parametrize(("listen", "channel"), sorted(ONCE_LISTENERS.items()))
def test_once_fires_for_the_first_event_passing_the_filter(listen, channel):
    got: list[int] = []
    getattr(farm, listen)(lambda event: event % 2 == 0, got.append)
    emitter = getattr(farm.emitters, channel)
    for value in (1, 3, 4, 5, 6, 8):
        emitter.emit(value)
    assert got == [4]
    assert not emitter.has_listeners


@pytest.mark.parametrize(("listen", "channel"), sorted(ONCE_LISTENERS.items()))
def test_once_can_be_unsubscribed_before_it_fires(listen, channel):
    got: list[int] = []
    unsubscribe = getattr(farm, listen)(lambda event: True, got.append)
    unsubscribe()
    getattr(farm.emitters, channel).emit(1)
    assert got == []


def test_listeners_run_in_subscription_order_and_unsubscribe_only_their_own():
    order: list[str] = []

    def fn(event):
        order.append(f"a{event}")

    unsubscribe_first = farm.listen_signal(fn)
    farm.listen_signal(lambda event: order.append(f"b{event}"))
    farm.listen_signal(fn)  # the same function twice: two subscriptions
    events.signal.emit(1)
    unsubscribe_first()
    events.signal.emit(2)
    assert order == ["a1", "b1", "a1", "b2", "a2"]


# ---- in a backtest ----------------------------------------------------------------------


@pytest.fixture
def world():
    """1m frame 00:10–00:30; a signal at every 5th minute, each expiring 2 minutes later."""
    farm.set_config(get_candles_retry_count=1, get_candles_retry_delay_ms=0)
    register_table(flat_candles(T0, 120))
    farm.add_frame("f", "1m", T0 + 10 * MIN, T0 + 30 * MIN)
    farm.add_strategy("s", "1m", signal_every_5)


def test_backtest_results_reach_the_backtest_and_all_channels_not_live(world):
    backtest: list = []
    everything: list = []
    live: list = []
    farm.listen_signal_backtest(backtest.append)
    farm.listen_signal(everything.append)
    farm.listen_signal_live(live.append)
    results = run()
    assert live == []
    assert [(e.action, e.signal.id if e.signal else None) for e in backtest] == [
        (e.action, e.signal.id if e.signal else None) for e in everything
    ]
    closed = [e for e in backtest if e.action == "closed"]
    assert [e.signal.id for e in closed] == [r.signal.id for r in results]
    assert len(results) == 5
    opened = [e for e in backtest if e.action == "opened"]
    assert minutes([e.signal.pending_at for e in opened]) == [10, 15, 20, 25, 30]
    assert {e.action for e in backtest} == {"opened", "closed", "idle"}


def test_unsubscribe_inside_a_backtest(world):
    first: list = []
    rest: list = []
    holder: dict = {}

    def only_first(event):
        first.append(event)
        holder["unsubscribe"]()

    holder["unsubscribe"] = farm.listen_signal_backtest(only_first)
    farm.listen_signal_backtest(rest.append)
    run()
    assert len(first) == 1
    assert first[0].action == "opened"
    assert len(rest) > 10
    assert rest[0] is first[0]


def test_signal_backtest_once_gets_the_first_closed_result(world):
    got: list = []
    farm.listen_signal_backtest_once(lambda event: event.action == "closed", got.append)
    also: list = []
    farm.listen_signal_once(lambda event: event.action == "closed" and event.pnl.price_close > 0, also.append)
    results = run()
    assert len(got) == 1
    assert got[0].action == "closed"
    assert got[0].signal.id == results[0].signal.id
    assert minutes([got[0].close_timestamp]) == [12]
    assert [e.signal.id for e in also] == [results[0].signal.id]


def test_once_filter_sees_events_until_one_passes(world):
    seen_by_filter: list[str] = []
    got: list = []

    def second_opened(event):
        seen_by_filter.append(event.action)
        return event.action == "opened" and minutes([event.signal.pending_at]) == [15]

    farm.listen_signal_backtest_once(second_opened, got.append)
    run()
    assert len(got) == 1
    assert minutes([got[0].signal.pending_at]) == [15]
    # opened@10, closed@12, idle@13, idle@14, opened@15 — and nothing after
    assert seen_by_filter == ["opened", "closed", "idle", "idle", "opened"]


def test_get_signal_errors_go_to_listen_error_and_the_run_continues():
    farm.set_config(get_candles_retry_count=1, get_candles_retry_delay_ms=0)
    register_table(flat_candles(T0, 120))
    farm.add_frame("f", "1m", T0 + 10 * MIN, T0 + 14 * MIN)
    calls: list[int] = []

    def get_signal(symbol, when):
        calls.append(when.minute)
        if when.minute == 11:
            raise RuntimeError("strategy exploded")
        return None

    farm.add_strategy("s", "1m", get_signal)
    errors: list[BaseException] = []
    farm.listen_error(errors.append)
    assert run() == []
    assert calls == [10, 11, 12, 13, 14]
    assert len(errors) == 1
    assert "strategy exploded" in str(errors[0])
    assert "2024-01-01T00:11:00.000Z" in str(errors[0])
    assert isinstance(errors[0], farm.FarmError)
    assert isinstance(errors[0].__cause__, RuntimeError)


def test_a_raising_signal_listener_fails_the_tick_onto_listen_error(world):
    """§15: the exception fails that tick (error channel, frame skipped); the run goes on."""
    events_seen: list = []

    def listener(event):
        events_seen.append(event)
        if len(events_seen) == 1:
            raise RuntimeError("listener boom")

    farm.listen_signal_backtest(listener)
    errors: list[BaseException] = []
    farm.listen_error(errors.append)
    results = run()  # must not raise
    assert len(errors) == 1
    assert "listener boom" in str(errors[0])
    assert "2024-01-01T00:10:00.000Z" in str(errors[0])
    assert isinstance(errors[0].__cause__, RuntimeError)
    # the failed tick was the one that opened the 00:10 signal: its fast-forward was skipped, so
    # later ticks manage it and close it (emitted, not yielded), and the run goes on
    assert events_seen[0].action == "opened"
    first_id = events_seen[0].signal.id
    closed_first = [e for e in events_seen if e.action == "closed" and e.signal.id == first_id]
    assert len(closed_first) == 1
    assert first_id not in {r.signal.id for r in results}
    assert minutes([r.signal.pending_at for r in results]) == [15, 20, 25, 30]


def test_backtest_progress_goes_from_zero_to_one(world):
    progress: list = []
    farm.listen_backtest_progress(progress.append)
    run()
    assert progress[0].progress == 0.0
    assert progress[0].processed_frames == 0
    assert progress[-1].progress == 1.0
    assert progress[-1].processed_frames == 21
    assert {p.total_frames for p in progress} == {21}
    processed = [p.processed_frames for p in progress]
    assert processed == sorted(processed)
    for p in progress:
        assert p.progress == pytest.approx(p.processed_frames / 21)
        assert (p.symbol, p.strategy_name, p.exchange_name) == ("A", "s", "x")
    assert len(progress) >= 3


def test_progress_of_an_idle_run_covers_every_frame():
    farm.set_config(get_candles_retry_count=1, get_candles_retry_delay_ms=0)
    register_table(flat_candles(T0, 120))
    farm.add_frame("f", "1m", T0 + 10 * MIN, T0 + 14 * MIN)
    farm.add_strategy("s", "1m", lambda symbol, when: None)
    progress: list = []
    farm.listen_backtest_progress(progress.append)
    farm.listen_signal_backtest(lambda event: None)  # observed: every frame is ticked
    run()
    assert [(p.processed_frames, p.progress) for p in progress] == [
        (0, 0.0),
        (1, 0.2),
        (2, 0.4),
        (3, 0.6),
        (4, 0.8),
        (5, 1.0),
    ]


def test_background_emits_done_backtest_exactly_once(world):
    done: list = []
    farm.listen_done_backtest(done.append)
    once: list = []
    farm.listen_done_backtest_once(lambda event: event.symbol == "A", once.append)
    closed: list = []
    farm.listen_signal_backtest(lambda event: closed.append(event) if event.action == "closed" else None)
    cancel = farm.Backtest.background("A", strategy_name="s", exchange_name="x", frame_name="f")
    cancel.thread.join(timeout=30)
    assert not cancel.thread.is_alive()
    assert len(done) == 1
    event = done[0]
    assert (event.exchange_name, event.strategy_name, event.backtest, event.symbol) == ("x", "s", True, "A")
    assert once == done
    assert len(closed) == 5  # the whole run was consumed
    cancel()  # cancelling a finished run emits nothing more
    assert len(done) == 1
    assert farm.Backtest.get_data("A", "s").total_signals == 5


def test_performance_metric_types(world):
    perf: list = []
    farm.listen_performance(perf.append)
    results = run()
    types = [p.metric_type for p in perf]
    assert set(types) == {"backtest_timeframe", "backtest_signal", "backtest_total"}
    assert types.count("backtest_total") == 1
    assert types[-1] == "backtest_total"
    assert types.count("backtest_signal") == len(results) == 5
    assert perf[0].previous_timestamp is None
    for prev, cur in zip(perf, perf[1:], strict=False):
        assert cur.previous_timestamp == prev.timestamp
        assert cur.timestamp >= prev.timestamp
    for p in perf:
        assert p.duration >= 0
        assert (p.symbol, p.strategy_name, p.exchange_name, p.backtest) == ("A", "s", "x", True)


def test_every_completed_frame_iteration_records_backtest_timeframe(world):
    progress: list = []
    perf: list = []
    farm.listen_backtest_progress(progress.append)
    farm.listen_performance(perf.append)
    farm.listen_signal_backtest(lambda event: None)  # observed: no idle jumps
    run()
    iterations = len(progress) - 1  # one progress event per iteration, plus the final 1.0
    types = [p.metric_type for p in perf]
    assert types.count("backtest_timeframe") == iterations
    for k, metric in enumerate(types):
        if metric == "backtest_signal":
            assert types[k + 1] == "backtest_timeframe"
