"""Strategies sharing a risk profile run together on one timeline (run_group, and as one farm
job): a risk check sees the positions the others hold at that moment."""

from __future__ import annotations

import pytest

import farm
from farm.run.backtest import run_group
from tests.conftest import MIN, T0, flat_candles, minutes, register_table, set_candle

LONG = {"position": "long", "price_take_profit": 101, "price_stop_loss": 99, "minute_estimated_time": 60}


def at(*mins: int):
    wanted = {T0 + m * MIN for m in mins}

    def get_signal(symbol, when):
        return dict(LONG) if int(when.timestamp() * 1000) in wanted else None

    return get_signal


def setup_group():
    df = flat_candles(T0 - 30 * MIN, 200)
    set_candle(df, T0 + 10 * MIN, high=101.5)  # a's trade (opened at 0) takes profit at 10
    set_candle(df, T0 + 20 * MIN, high=101.5)
    register_table(df)
    farm.add_frame("f", "1m", T0, T0 + 30 * MIN)
    farm.add_risk("book", [farm.max_concurrent_positions(1)])
    farm.add_strategy("a", "1m", at(0), risk_name="book")
    farm.add_strategy("b", "1m", at(5, 12), risk_name="book")


def test_a_group_shares_one_ledger_timeline(reference_config):
    setup_group()
    results = list(run_group("A", strategy_names=["a", "b"], exchange_name="x", frame_name="f"))
    trades = [(name, minutes([r.signal.pending_at, r.close_timestamp])) for name, r in results]
    # b at 5 is rejected: a holds the only slot from 0 to its close at 10; b at 12 opens.
    assert trades == [("a", [0, 10]), ("b", [12, 20])]
    rejections = farm.Risk.get_data("A", "b")
    assert rejections.total_rejections == 1
    assert minutes([e.timestamp for e in rejections.event_list]) == [5]


def test_separate_runs_do_not_share_the_ledger(reference_config):
    setup_group()
    list(farm.Backtest.run("A", strategy_name="a", exchange_name="x", frame_name="f"))
    b = list(farm.Backtest.run("A", strategy_name="b", exchange_name="x", frame_name="f"))
    assert [minutes([r.signal.pending_at]) for r in b] == [[5], [12]]  # alone, b is never rejected


def test_a_sweep_runs_a_risk_group_as_one_job_on_one_timeline(reference_config, tmp_path):
    setup_group()
    farm.add_walker("w", "x", "f", ["a", "b"])
    result = farm.sweep("w", ["A"], out=tmp_path / "out", workers=1)
    assert result.tasks_total == 1  # one job for the group
    stats = {s.strategy_name: s.stats for s in result.walker_results["A"].strategies}
    assert [minutes([r.signal.pending_at]) for r in stats["b"].signal_list] == [[12]]
    assert stats["a"].total_signals == 1


def test_a_group_whose_source_gives_no_candle_fails_instead_of_an_empty_result(reference_config):
    register_table(flat_candles(T0 - 30 * MIN, 0))
    farm.add_frame("f", "1m", T0, T0 + 30 * MIN)
    farm.add_risk("book", [farm.max_concurrent_positions(1)])
    farm.add_strategy("a", "1m", at(0), risk_name="book")
    farm.add_strategy("b", "1m", at(5), risk_name="book")
    with pytest.raises(farm.PermanentDataError, match="no candles for A in frame f .*: the source returned none"):
        list(run_group("A", strategy_names=["a", "b"], exchange_name="x", frame_name="f"))
