"""Walker (SPEC §10) and walker report (§11.6) on a hand-made market.

Market: flat 1m candles at 100 around T0, with a spike up at minute 4 (high 102.5) and a dip
at minute 14 (low 97.5); frame 1m over 30 minutes; reference test config (0.1 % fee and
slippage). Each strategy opens fixed signals at fixed minutes, so every trade and every
statistic below is known by hand: every trade lasts 4 minutes.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime
from typing import Any

import pytest

import farm
from farm.engine.pnl import pnl_percentage
from farm.reports.walker import WALKER_METRICS, render_walker_report, walker_results
from farm.stats import BacktestStatistics, backtest_statistics
from tests.conftest import MIN, T0, flat_candles, register_table, set_candle
from tests.reports import closed


def L(tp: float, sl: float) -> dict[str, Any]:
    return {"position": "long", "price_take_profit": tp, "price_stop_loss": sl, "minute_estimated_time": 60}


def S(tp: float, sl: float) -> dict[str, Any]:
    return {"position": "short", "price_take_profit": tp, "price_stop_loss": sl, "minute_estimated_time": 60}


def p(position: str, close: float) -> float:
    return pnl_percentage(position, 100, close, 0.1, 0.1)


def minute(when: datetime) -> int:
    return (int(when.timestamp() * 1000) - T0) // MIN


def at(plan: dict[int, dict[str, Any]]):
    """get_signal opening `plan[m]` at frame minute m (when nothing is open)."""

    def get_signal(symbol: str, when: datetime) -> dict[str, Any] | None:
        m = minute(when)
        return dict(plan[m]) if m in plan else None

    return get_signal


PLANS = {
    "silent": {},  # never trades: every metric is None
    "one_up": {0: L(101, 99)},  # TP at minute 4
    "two_up": {0: L(102, 98)},  # TP at minute 4
    "loser": {0: S(99, 101)},  # SL at minute 4
    "mixed": {0: L(101, 99), 10: L(101, 99)},  # TP at 4, SL at 14
    "double": {0: L(102, 98), 10: S(99, 102)},  # TP at 4, TP at 14
}
RETURNS = {
    "silent": [],
    "one_up": [p("long", 101)],
    "two_up": [p("long", 102)],
    "loser": [p("short", 101)],
    "mixed": [p("long", 101), p("long", 99)],
    "double": [p("long", 102), p("short", 99)],
}
ORDER = ["silent", "one_up", "two_up", "loser", "mixed", "double"]

# N/A ranks last in the walker's order: a single trade's Sharpe (zero variance) and a certainty
# ratio without a loss are N/A (D15), not the reference's 0.
EXPECTED_RANKING = {
    "sharpe_ratio": ["double", "mixed", "silent", "one_up", "two_up", "loser"],
    "annualized_sharpe_ratio": ["double", "mixed", "silent", "one_up", "two_up", "loser"],
    "win_rate": ["one_up", "two_up", "double", "mixed", "loser", "silent"],
    "total_pnl": ["double", "two_up", "one_up", "mixed", "loser", "silent"],
    "certainty_ratio": ["mixed", "loser", "silent", "one_up", "two_up", "double"],
    "avg_pnl": ["two_up", "double", "one_up", "mixed", "loser", "silent"],
    "expected_yearly_returns": ["two_up", "double", "one_up", "mixed", "loser", "silent"],
}


def hand_metrics(returns: list[float]) -> dict[str, float | None]:
    """SPEC §11.1 written out independently of farm.stats, as the walker ranks it (D15: a
    zero-variance Sharpe and a certainty ratio without losses are N/A)."""
    if not returns:
        return dict.fromkeys(WALKER_METRICS)
    n = len(returns)
    avg = sum(returns) / n
    std = math.sqrt(sum((r - avg) ** 2 for r in returns) / n)
    sharpe = avg / std if std > 0 else None
    wins = [r for r in returns if r > 0]
    losses = [r for r in returns if r < 0]
    avg_win = sum(wins) / len(wins) if wins else 0.0
    avg_loss = sum(losses) / len(losses) if losses else 0.0
    return {
        "sharpe_ratio": sharpe,
        "annualized_sharpe_ratio": None if sharpe is None else sharpe * math.sqrt(365),
        "win_rate": len(wins) / n * 100,
        "total_pnl": sum(returns),
        "certainty_ratio": avg_win / abs(avg_loss) if avg_loss < 0 else None,
        "avg_pnl": avg,
        "expected_yearly_returns": avg * 365 / (4 / 1440),  # every trade lasts 4 minutes
    }


@pytest.fixture(autouse=True)
def _every_trade_count_ranks() -> None:
    """Hand-sized strategies of one or two trades: every trade count ranks in this module (D14's
    minimum is tested in test_ranking_rules.py)."""
    farm.set_config(unsafe=True, walker_min_trades=1)


@pytest.fixture
def market(reference_config) -> None:
    df = flat_candles(T0 - 30 * MIN, 430)
    set_candle(df, T0 + 4 * MIN, high=102.5)
    set_candle(df, T0 + 14 * MIN, low=97.5)
    register_table(df)
    farm.add_frame("f", "1m", T0, T0 + 30 * MIN)
    for name, plan in PLANS.items():
        farm.add_strategy(name, "1m", at(plan))


def crash_when_running(*names: str) -> RuntimeError:
    """Make the backtests of `names` raise (a progress listener that throws propagates out of
    the backtest, SPEC §15); returns the exception they raise."""
    exc = RuntimeError("boom")

    def listener(event: Any) -> None:
        if event.strategy_name in names:
            raise exc

    farm.listen_backtest_progress(listener)
    return exc


def walk(walker: str = "w", symbol: str = "A") -> list[Any]:
    return list(farm.Walker.run(symbol, walker_name=walker))


# ---- ranking ---------------------------------------------------------------------------


@pytest.mark.parametrize("metric", WALKER_METRICS)
def test_ranking_by_every_metric(market, metric):
    farm.add_walker("w", "x", "f", ORDER, metric=metric)
    events = walk()
    assert [e.strategy_name for e in events] == ORDER
    for e in events:
        expected = hand_metrics(RETURNS[e.strategy_name])[metric]
        assert e.metric_value == (None if expected is None else pytest.approx(expected, rel=1e-9, abs=1e-12))
        assert e.metric == metric
        assert sorted(c.pnl.pnl_percentage for c in e.stats.signal_list) == pytest.approx(
            sorted(RETURNS[e.strategy_name]), abs=1e-12
        )
    results = farm.Walker.get_data("A", "w")
    ranking = EXPECTED_RANKING[metric]
    assert [s.strategy_name for s in results.strategies] == ranking
    assert [s.rank for s in results.strategies] == [1, 2, 3, 4, 5, 6]
    assert results.strategies[-1].metric is None  # N/A ranks last
    assert results.best_strategy == ranking[0] == events[-1].best_strategy
    assert results.best_metric == pytest.approx(hand_metrics(RETURNS[ranking[0]])[metric])
    assert results.best_stats == results.strategies[0].stats
    assert (results.walker_name, results.symbol, results.exchange_name, results.frame_name, results.metric) == (
        "w", "A", "x", "f", metric,
    )
    assert results.total_strategies == 6


def test_best_so_far_keeps_the_earlier_strategy_on_ties(market):
    farm.add_walker("w", "x", "f", ORDER)
    events = walk()
    # Single trades have no Sharpe ratio (D15): the first strategy with one is "mixed".
    assert [e.best_strategy for e in events] == [None, None, None, None, "mixed", "double"]
    assert [e.strategies_tested for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e.total_strategies for e in events} == {6}
    assert events[1].best_metric is None


@pytest.mark.parametrize(
    ("metric", "best", "best_metric"),
    [
        ("sharpe_ratio", None, None),  # one trade each: std 0 → no Sharpe (D15; the reference: 0, the first wins)
        ("avg_pnl", "two_up", p("long", 102)),
        ("total_pnl", "two_up", p("long", 102)),
        ("win_rate", "one_up", 100.0),  # 100 / 100 / 0: the first of the tie
    ],
)
def test_spec_observed_example(market, metric, best, best_metric):
    """SPEC §10: strategies TP +1, TP +2 and a short stopped out, one trade each."""
    farm.add_walker("w", "x", "f", ["one_up", "two_up", "loser"], metric=metric)
    walk()
    results = farm.Walker.get_data("A", "w")
    assert results.best_strategy == best
    assert results.best_metric == (None if best_metric is None else pytest.approx(best_metric, abs=1e-12))


def test_walker_results_is_pure_and_ranks_none_last():
    a = backtest_statistics([closed("a1", 1.0)])
    b = backtest_statistics([closed("b1", 2.0)])
    entries = [("none", None), ("empty", BacktestStatistics()), ("a", a), ("b", b), ("a2", a)]
    first = walker_results("w", "A", "x", "f", "avg_pnl", entries)
    again = walker_results("w", "A", "x", "f", "avg_pnl", list(entries))
    assert first == again
    assert [(s.strategy_name, s.rank, s.metric) for s in first.strategies] == [
        ("b", 1, 2.0), ("a", 2, 1.0), ("a2", 3, 1.0), ("none", 4, None), ("empty", 5, None),
    ]
    assert (first.best_strategy, first.best_metric, first.best_stats) == ("b", 2.0, b)
    assert first.total_strategies == 5
    assert walker_results("w", "A", "x", "f", "avg_pnl", entries, total_strategies=9).total_strategies == 9
    nobody = walker_results("w", "A", "x", "f", "avg_pnl", [("none", None)])
    assert (nobody.best_strategy, nobody.best_metric, nobody.best_stats) == (None, None, None)
    with pytest.raises(farm.SchemaError, match="sharpeRatio.*sharpe_ratio, annualized_sharpe_ratio"):
        walker_results("w", "A", "x", "f", "sharpeRatio", entries)


# ---- variants --------------------------------------------------------------------------


def test_a_variant_grid_swept_by_one_walker(market):
    seen: list[float] = []

    def get_signal(symbol: str, when: datetime, tp: float = 101.0) -> dict[str, Any] | None:
        if minute(when) != 0:
            return None
        seen.append(tp)
        return L(tp, 99)

    farm.add_strategy("param", "1m", get_signal, params={"tp": 101.0})
    names = farm.grid("param", tp=[101.0, 102.0, 103.0])
    farm.add_walker("g", "x", "f", names, metric="total_pnl")
    events = walk("g")
    assert seen == [101.0, 102.0, 103.0]  # each variant's params reached get_signal
    assert [e.strategy_name for e in events] == names
    reasons = [[c.close_reason for c in e.stats.signal_list] for e in events]
    assert reasons == [["take_profit"], ["take_profit"], ["stop_loss"]]  # 103 is never reached: the dip stops it
    results = farm.Walker.get_data("A", "g")
    assert [s.strategy_name for s in results.strategies] == [names[1], names[0], names[2]]
    assert results.best_strategy == "param(tp=102.0)"
    assert results.best_metric == pytest.approx(p("long", 102), abs=1e-12)
    assert farm.Backtest.get_data("A", names[1]).total_pnl == results.best_metric


# ---- failures --------------------------------------------------------------------------


def test_a_raising_strategy_is_reported_and_skipped(market):
    def broken(symbol: str, when: datetime) -> None:
        raise ValueError("no signal today")

    farm.add_strategy("broken", "1m", broken)
    crash = crash_when_running("loser")
    errors: list[BaseException] = []
    farm.listen_error(errors.append)
    failed: list[tuple] = []
    farm.add_walker("w", "x", "f", ["one_up", "loser", "two_up", "broken"], metric="avg_pnl",
                    callbacks={"on_strategy_error": lambda *args: failed.append(args)})
    events = walk()
    # A backtest that raises is skipped and not counted; a get_signal that raises only fails
    # its ticks (reported one by one), so that strategy is tested, with no trades.
    assert [(e.strategy_name, e.strategies_tested) for e in events] == [("one_up", 1), ("two_up", 2), ("broken", 3)]
    assert failed == [("loser", "A", crash)]
    assert crash in errors
    assert any("no signal today" in str(e) for e in errors)
    results = farm.Walker.get_data("A", "w")
    assert [(s.strategy_name, s.rank, s.stats is None) for s in results.strategies] == [
        ("two_up", 1, False), ("one_up", 2, False), ("loser", 3, True), ("broken", 4, False),
    ]
    assert results.strategies[2].metric is None and results.strategies[3].metric is None
    report = farm.Walker.get_report("A", "w")
    assert "| 3 | loser | N/A | N/A | N/A | N/A | N/A | N/A | N/A |" in report
    assert "*No statistics (the backtest failed): loser.*" in report


def test_every_strategy_failing_gives_an_empty_result_and_an_na_report(market):
    crash_when_running("one_up", "two_up")
    farm.add_walker("w", "x", "f", ["one_up", "two_up"])
    complete: list[Any] = []
    farm.listen_walker_complete(complete.append)
    assert walk() == []
    results = farm.Walker.get_data("A", "w")
    assert complete == [results]
    assert (results.best_strategy, results.best_metric, results.best_stats) == (None, None, None)
    assert [(s.strategy_name, s.rank, s.stats, s.metric) for s in results.strategies] == [
        ("one_up", 1, None, None), ("two_up", 2, None, None),
    ]
    lines = farm.Walker.get_report("A", "w").split("\n")
    assert lines[8:12] == ["## Best Strategy: N/A", "", "**Best sharpe_ratio:** N/A", "**Total Signals:** 0"]
    assert "No closed signals available." in lines
    assert "*Not applicable: it needs at least 2 strategies with a Sharpe ratio; this walk has 0.*" in lines


def test_an_empty_walker_result_renders():
    report = render_walker_report(walker_results("w", "A", "x", "f", "sharpe_ratio", []))
    assert report.count("No strategy results available.") == 2
    assert "## Best Strategy: N/A" in report


# ---- validation ------------------------------------------------------------------------


def test_missing_names_fail_before_anything_runs(market):
    calls: list[str] = []
    farm.add_strategy("spy", "1m", lambda symbol, when: calls.append("get_signal"))
    start = {"on_strategy_start": lambda *a: calls.append("start")}
    farm.add_strategy("risky", "1m", at({}), risk_name="nope_risk")
    cases = {
        "w_strategy": (["spy", "nope"], "x", "f", "strategy nope not found"),
        "w_frame": (["spy"], "x", "nope_frame", "frame nope_frame not found"),
        "w_exchange": (["spy"], "nope_x", "f", "exchange nope_x not found"),
        "w_risk": (["spy", "risky"], "x", "f", "risk nope_risk not found"),
    }
    for walker, (strategies, exchange, frame, message) in cases.items():
        farm.add_walker(walker, exchange, frame, strategies, callbacks=start)
        with pytest.raises(farm.NotFoundError, match=message):
            farm.Walker.run("A", walker_name=walker)  # raises at once, before iterating
        with pytest.raises(farm.NotFoundError, match=message):
            farm.Walker.background("A", walker_name=walker)
    with pytest.raises(farm.NotFoundError, match="walker nope not found"):
        farm.Walker.run("A", walker_name="nope")
    assert calls == []


def test_an_unknown_metric_is_named_with_the_allowed_list(market):
    farm.add_walker("w", "x", "f", ["one_up"], metric="sharpeRatio")
    with pytest.raises(farm.SchemaError) as info:
        farm.Walker.run("A", walker_name="w")
    message = str(info.value)
    assert "'sharpeRatio'" in message
    assert ", ".join(WALKER_METRICS) in message


def test_get_data_before_a_walk(market):
    farm.add_walker("w", "x", "f", ["one_up"])
    with pytest.raises(farm.FarmError, match="No walker data available"):
        farm.Walker.get_data("A", "w")
    with pytest.raises(farm.NotFoundError):
        farm.Walker.get_data("A", "nope")


# ---- events and callbacks --------------------------------------------------------------


def test_events_and_callbacks_order(market):
    crash = crash_when_running("loser")
    log: list[tuple] = []
    callbacks = {
        "on_strategy_start": lambda name, symbol: log.append(("start", name, symbol)),
        "on_strategy_complete": lambda name, symbol, stats, value: log.append(
            ("complete", name, symbol, stats.total_signals, value)
        ),
        "on_strategy_error": lambda name, symbol, error: log.append(("strategy_error", name, error is crash)),
        "on_complete": lambda results: log.append(("on_complete", results.best_strategy)),
    }
    farm.add_walker("w", "x", "f", ["one_up", "loser", "two_up"], metric="avg_pnl", callbacks=callbacks)
    farm.listen_error(lambda e: log.append(("error", e is crash)))
    farm.listen_walker_progress(lambda e: log.append(
        ("progress", e.walker_name, e.exchange_name, e.frame_name, e.symbol, e.processed_strategies,
         e.total_strategies, e.progress)
    ))
    farm.listen_walker(lambda e: log.append(("walker", e.strategy_name, e.best_strategy)))
    farm.listen_walker_complete(lambda r: log.append(("walker_complete", r.best_strategy, r.total_strategies)))
    for event in farm.Walker.run("A", walker_name="w"):
        log.append(("yield", event.strategy_name))
    one, two = p("long", 101), p("long", 102)
    assert log == [
        ("start", "one_up", "A"),
        ("progress", "w", "x", "f", "A", 1, 3, 1 / 3),
        ("complete", "one_up", "A", 1, pytest.approx(one)),
        ("walker", "one_up", "one_up"),
        ("yield", "one_up"),
        ("start", "loser", "A"),
        ("error", True),
        ("strategy_error", "loser", True),
        ("start", "two_up", "A"),
        ("progress", "w", "x", "f", "A", 2, 3, 2 / 3),
        ("complete", "two_up", "A", 1, pytest.approx(two)),
        ("walker", "two_up", "two_up"),
        ("yield", "two_up"),
        ("on_complete", "two_up"),
        ("walker_complete", "two_up", 3),
    ]


def test_walk_feeds_backtest_storage_and_list(market):
    farm.add_walker("w", "x", "f", ["one_up", "two_up"])
    walker = farm.Walker.run("A", walker_name="w")
    first = next(walker)
    partial = farm.Walker.get_data("A", "w")  # recorded strategy by strategy
    assert [s.strategy_name for s in partial.strategies] == ["one_up"]
    assert partial.total_strategies == 2
    assert farm.Walker.list() == [{"id": "A:w", "symbol": "A", "walker_name": "w", "status": "pending"}]
    list(walker)
    assert farm.Walker.list()[0]["status"] == "fulfilled"
    assert farm.Backtest.get_data("A", "one_up") == first.stats


# ---- stop ------------------------------------------------------------------------------


def test_stop_between_strategies(market):
    farm.add_walker("w", "x", "f", ["one_up", "two_up", "loser"])
    farm.listen_walker(lambda e: farm.Walker.stop("A", "w"))
    complete: list[Any] = []
    farm.listen_walker_complete(complete.append)
    events = walk()
    assert [e.strategy_name for e in events] == ["one_up"]
    results = farm.Walker.get_data("A", "w")
    assert [s.strategy_name for s in results.strategies] == ["one_up"]
    assert results.total_strategies == 3
    assert complete == [results]


def test_stop_mid_strategy_ends_its_backtest_early(market):
    """The strategy in progress takes no new signal (its second trade never opens); it is
    still reported with what it did; later strategies do not start."""
    farm.add_strategy("mixed_cb", "1m", at(PLANS["mixed"]),
                      callbacks={"on_close": lambda *args: farm.Walker.stop("A", "w")})
    farm.add_walker("w", "x", "f", ["mixed_cb", "one_up"])
    events = walk()
    assert [(e.strategy_name, e.stats.total_signals) for e in events] == [("mixed_cb", 1)]
    # without a stop the same strategy trades twice
    farm.add_walker("w2", "x", "f", ["mixed_cb", "one_up"])
    assert [(e.strategy_name, e.stats.total_signals) for e in walk("w2")] == [("mixed_cb", 2), ("one_up", 1)]


def test_two_walkers_on_one_symbol_are_independent(market):
    farm.add_walker("w1", "x", "f", ["one_up", "two_up"])
    farm.add_walker("w2", "x", "f", ["loser", "mixed"])
    w1 = farm.Walker.run("A", walker_name="w1")
    w2 = farm.Walker.run("A", walker_name="w2")
    assert next(w1).strategy_name == "one_up"
    assert next(w2).strategy_name == "loser"
    farm.Walker.stop("A", "w1")
    farm.Walker.stop("B", "w2")  # another symbol: not this walk
    assert list(w1) == []
    assert [e.strategy_name for e in w2] == ["mixed"]
    assert [s.strategy_name for s in farm.Walker.get_data("A", "w1").strategies] == ["one_up"]
    # mixed has a (negative) Sharpe ratio; loser's single trade has none (D15) and ranks last
    assert [s.strategy_name for s in farm.Walker.get_data("A", "w2").strategies] == ["mixed", "loser"]
    # stop requests are not sticky: a new walk of w1 runs in full
    assert [e.strategy_name for e in walk("w1")] == ["one_up", "two_up"]


def test_background_runs_to_completion_and_emits_done_once(market):
    farm.add_walker("w", "x", "f", ["one_up", "two_up"], metric="avg_pnl")
    done: list[Any] = []
    farm.listen_done_walker(done.append)
    cancel = farm.Walker.background("A", walker_name="w")
    cancel.thread.join(timeout=30)
    assert not cancel.thread.is_alive()
    assert [(d.exchange_name, d.strategy_name, d.backtest, d.symbol) for d in done] == [("x", "w", True, "A")]
    cancel()  # a finished walk: nothing more
    assert len(done) == 1
    assert farm.Walker.get_data("A", "w").best_strategy == "two_up"


def test_background_cancel_stops_the_walk(market):
    farm.add_walker("w", "x", "f", ["one_up", "two_up", "loser"])
    done: list[Any] = []
    farm.listen_done_walker(done.append)
    holder: dict[str, Any] = {}
    ready = threading.Event()

    def on_first(event: Any) -> None:
        if event.strategies_tested == 1:
            assert ready.wait(10)
            holder["cancel"]()

    farm.listen_walker(on_first)
    holder["cancel"] = cancel = farm.Walker.background("A", walker_name="w")
    ready.set()
    cancel.thread.join(timeout=30)
    assert not cancel.thread.is_alive()
    assert len(done) == 1
    assert [s.strategy_name for s in farm.Walker.get_data("A", "w").strategies] == ["one_up"]


def test_background_cancelled_at_once(market):
    """The cancel lands while the first strategy runs (it waits for the test), so exactly that
    strategy is recorded and no later one starts, whatever the thread scheduling."""
    import threading

    gate = threading.Event()
    started = threading.Event()

    def gated(symbol, when):
        started.set()
        gate.wait(timeout=10)
        return None

    farm.add_strategy("gated", "1m", gated)
    farm.add_walker("w", "x", "f", ["gated", "one_up", "two_up"])
    done: list[Any] = []
    farm.listen_done_walker(done.append)
    complete: list[Any] = []
    farm.listen_walker_complete(complete.append)
    cancel = farm.Walker.background("A", walker_name="w")
    assert started.wait(timeout=10)
    cancel()
    gate.set()
    cancel.thread.join(timeout=30)
    assert not cancel.thread.is_alive()
    assert len(done) == 1
    assert len(complete) == 1
    assert [s.strategy_name for s in complete[0].strategies] == ["gated"]


# ---- report ----------------------------------------------------------------------------


def test_report_layout_from_a_walk(market):
    farm.add_walker("w", "x", "f", ["one_up", "two_up", "loser"], metric="avg_pnl")
    walk()
    report = farm.Walker.get_report("A", "w")
    lines = report.split("\n")
    assert lines[:12] == [
        "# Walker Comparison Report: w",
        "",
        "**Symbol:** A",
        "**Exchange:** x",
        "**Frame:** f",
        "**Optimization Metric:** avg_pnl",
        "**Strategies Tested:** 3",
        "",
        "## Best Strategy: two_up",
        "",
        "**Best avg_pnl:** 1.60",
        "**Total Signals:** 1",
    ]
    headings = [line for line in lines if line.startswith("#")]
    assert headings == [
        "# Walker Comparison Report: w",
        "## Best Strategy: two_up",
        "## Overfitting Check",
        "## Top Strategies Comparison",
        "## Standard Statistics",
        "## All Signals (PNL Table)",
    ]
    # Standard statistics over the walker's 30-minute frame: one 4-minute trade each.
    results = farm.Walker.get_data("A", "w")
    best = results.strategies[0].standard
    assert best is not None and best.trades == 1
    assert best.return_pct == pytest.approx(p("long", 102))
    assert best.exposure_time_pct == pytest.approx(4 / 30 * 100)
    assert best.max_drawdown_pct == 0.0
    loser = results.strategies[-1].standard
    assert loser is not None and loser.max_drawdown_pct == pytest.approx(p("short", 101))
    assert "| 1 | two_up | +1.60% |" in "\n".join(lines)
    assert "| Rank | Strategy | avg_pnl | Total Signals | Win Rate | Avg PNL | Total PNL | Sharpe Ratio | Std Dev |" in lines
    pnl_rows = [line[2:].split(" | ") for line in lines if " | A | " in line]
    assert [(row[0], row[4]) for row in pnl_rows] == [("two_up", "+1.60%"), ("one_up", "+0.60%"), ("loser", "-1.40%")]
    assert lines[-1] == "**Note:** Higher values are better for all metrics except Standard Deviation (lower is better)."
    assert report == render_walker_report(farm.Walker.get_data("A", "w"))


def _hand_results(metric: str = "win_rate"):
    a = backtest_statistics([
        closed("a1", 1.5, pending_at=T0, minutes=4),
        closed("a2", -0.5, pending_at=T0 + 10 * MIN, minutes=4, reason="stop_loss", position="short"),
    ])
    b = backtest_statistics([closed("b1", 2.0, pending_at=T0, minutes=4)])
    return walker_results("w", "BTCUSDT", "ex", "fr", metric, [("a", a), ("b", b), ("c", None)])


def test_report_exact_text():
    report = render_walker_report(_hand_results())
    assert report == "\n".join([
        "# Walker Comparison Report: w",
        "",
        "**Symbol:** BTCUSDT",
        "**Exchange:** ex",
        "**Frame:** fr",
        "**Optimization Metric:** win_rate",
        "**Strategies Tested:** 3",
        "",
        "## Best Strategy: b",
        "",
        "**Best win_rate:** 100.00",
        "**Total Signals:** 1",
        "",
        "## Overfitting Check",
        "",
        "*Not applicable: the deflated Sharpe ratio corrects a selection by sharpe_ratio; "
        "this walker ranks by win_rate.*",
        "",
        "## Top Strategies Comparison",
        "",
        "| Rank | Strategy | win_rate | Total Signals | Win Rate | Avg PNL | Total PNL | Sharpe Ratio | Std Dev |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        "| 1 | b | 100.00 | 1 | 100.00% | +2.00% | +2.00% | 0.000 | 0.000% |",
        "| 2 | a | 50.00 | 2 | 50.00% | +0.50% | +1.00% | 0.500 | 1.000% |",
        "| 3 | c | N/A | N/A | N/A | N/A | N/A | N/A | N/A |",
        "",
        "*No statistics (the backtest failed): c.*",
        "",
        "## All Signals (PNL Table)",
        "",
        "| Strategy | Signal ID | Symbol | Position | PNL (net) | Close Reason | Open Time | Close Time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        "| b | b1 | BTCUSDT | LONG | +2.00% | take_profit | 2024-01-01T00:00:00.000Z | 2024-01-01T00:04:00.000Z |",
        "| a | a2 | BTCUSDT | SHORT | -0.50% | stop_loss | 2024-01-01T00:10:00.000Z | 2024-01-01T00:14:00.000Z |",
        "| a | a1 | BTCUSDT | LONG | +1.50% | take_profit | 2024-01-01T00:00:00.000Z | 2024-01-01T00:04:00.000Z |",
        "",
        "**Note:** Higher values are better for all metrics except Standard Deviation (lower is better).",
    ])


def test_report_is_byte_identical_for_identical_results():
    results = _hand_results()
    report = render_walker_report(results)
    assert render_walker_report(results) == report
    assert render_walker_report(_hand_results()) == report
    restored = farm.WalkerResults.model_validate_json(results.model_dump_json())
    assert render_walker_report(restored) == report
    # explicit orders: strategies by rank, signals newest first, whatever order the lists are in
    shuffled = results.model_copy(update={"strategies": list(reversed(results.strategies))})
    a = shuffled.strategies[1]
    shuffled.strategies[1] = a.model_copy(
        update={"stats": a.stats.model_copy(update={"signal_list": list(reversed(a.stats.signal_list))})}
    )
    assert render_walker_report(shuffled) == report


def test_pnl_table_is_capped_with_a_note():
    results = _hand_results()
    lines = render_walker_report(results, max_rows=2).split("\n")
    rows = [line for line in lines if line.startswith("| b | b1") or line.startswith("| a | a")]
    assert [r.split(" | ")[1] for r in rows] == ["b1", "a2"]
    assert "*Showing the first 2 of 3 signals (strategies by rank, newest first); statistics cover all of them.*" in lines
    assert render_walker_report(results, max_rows=math.inf) == render_walker_report(results)


def test_overfitting_check_with_sharpe_ratio():
    overfitting = pytest.importorskip("farm.overfitting")
    results = _hand_results("sharpe_ratio")
    # ranked: a (Sharpe 0.5), b (0.0); best a with returns +1.5 and -0.5
    returns = [1.5, -0.5]
    mean = sum(returns) / 2
    m2 = sum((r - mean) ** 2 for r in returns) / 2
    skew = sum((r - mean) ** 3 for r in returns) / 2 / m2**1.5
    kurt = sum((r - mean) ** 4 for r in returns) / 2 / m2**2
    assert (skew, kurt) == (0.0, 1.0)
    expected = overfitting.describe_deflated_sharpe(
        overfitting.deflated_sharpe(0.5, [0.5, 0.0], 2, skewness=skew, kurtosis=kurt)
    )
    lines = render_walker_report(results).split("\n")
    i = lines.index("## Overfitting Check")
    assert lines[i - 3 : i + 3] == ["**Best sharpe_ratio:** 0.50", "**Total Signals:** 2", "",
                                    "## Overfitting Check", "", expected]
    assert lines[i + 4] == "## Top Strategies Comparison"


def test_overfitting_check_not_applicable_with_one_sharpe():
    b = backtest_statistics([closed("b1", 2.0)])
    results = walker_results("w", "A", "x", "f", "sharpe_ratio", [("b", b), ("c", None)])
    assert (
        "*Not applicable: it needs at least 2 strategies with a Sharpe ratio; this walk has 1.*"
        in render_walker_report(results)
    )


def test_dump_names_the_file_after_walker_and_symbol(market, tmp_path):
    farm.add_walker("w", "x", "f", ["one_up"])
    walk(symbol="BTC/USDT")
    target = farm.Walker.dump("BTC/USDT", "w")
    assert target == tmp_path / "dump" / "walker" / "w_BTC-USDT.md"
    assert target.read_text(encoding="utf-8") == farm.Walker.get_report("BTC/USDT", "w")
    elsewhere = farm.Walker.dump("BTC/USDT", "w", tmp_path / "out")
    assert elsewhere == tmp_path / "out" / "w_BTC-USDT.md"


def test_report_rows_follow_report_max_rows(market):
    farm.add_walker("w", "x", "f", ["mixed", "double"])
    walk()
    farm.set_config(unsafe=True, report_max_rows=3)
    report = farm.Walker.get_report("A", "w")
    assert "*Showing the first 3 of 4 signals (strategies by rank, newest first); statistics cover all of them.*" in report
