"""A process that already ran something gives what a fresh one gives (issue #10, "per-run
state"): runs own their candles, risk ledgers, storages and config, and nothing of one run is
visible to another, sequential or concurrent. Expected values come from a fresh process or a
cleared state, never from constants."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest

import farm
from farm.data.sample import sample_source
from farm.run.execute import execute
from farm.run.sweep import plan_sweep
from tests.conftest import MIN, T0, flat_candles, register_table, set_candle
from tests.farm import helpers
from tests.farm.names import EXCHANGE, FRAME
from tests.run import dirty

# ---- sequential runs in one process ----------------------------------------------------------


def test_a_backtest_after_runs_of_other_frames_exchanges_and_configs_equals_a_fresh_process():
    expected = dirty.in_fresh_process(f"print(json.dumps(dirty.trades({dirty.LATE!r})))")
    assert len(expected) > 5
    dirty.register()
    farm.add_exchange("rs-other", sample_source("5m"))
    saved = farm.get_config()
    farm.set_config(unsafe=True, **dirty.ANOMALY)
    dirty.trades(dirty.EARLY)
    dirty.trades(dirty.LATE, exchange_name="rs-other")
    farm.set_config(unsafe=True, **saved.model_dump())

    assert dirty.trades(dirty.LATE) == expected


def test_farm_jobs_after_jobs_of_another_frame_and_config_equal_a_fresh_process(tmp_path):
    """What a worker does all day, in-process: one job after another, nothing carried over."""
    expected = dirty.in_fresh_process(
        f"import farm\nfrom farm.run.execute import execute\nfrom farm.run.sweep import plan_sweep\n"
        f"print(json.dumps([execute(j).model_dump(mode='json')['outcomes'] "
        f"for j in plan_sweep({dirty.LATE!r}, [dirty.SYMBOL]).jobs]))"
    )
    dirty.register()
    saved = farm.get_config()
    farm.set_config(unsafe=True, **dirty.ANOMALY)
    for job in plan_sweep(dirty.EARLY, [dirty.SYMBOL]).jobs:
        execute(job)
    farm.set_config(unsafe=True, **saved.model_dump())

    got = [execute(job).model_dump(mode="json")["outcomes"] for job in plan_sweep(dirty.LATE, [dirty.SYMBOL]).jobs]
    assert [[o["stats"]["total_signals"] for o in outcomes] for outcomes in got] == \
        [[o["stats"]["total_signals"] for o in outcomes] for outcomes in expected]
    assert got == expected


# ---- a job and the process-wide config ----------------------------------------------------------


def test_a_job_never_swaps_the_process_config_even_when_it_raises():
    """The job runs with its own config; the process-wide one, as another thread reads it while
    the job runs and as anyone reads it after the job raised, is never the job's."""
    seen: dict[str, Any] = {}

    def source(symbol: str, interval: str, since: datetime, limit: int) -> Any:
        seen["job"] = farm.get_config()
        other = threading.Thread(target=lambda: seen.update(process=farm.get_config()))
        other.start()
        other.join()
        raise ValueError("the data source is down")

    farm.add_exchange("down", source)
    farm.add_frame("f", "1m", T0, T0 + 10 * MIN)
    farm.add_strategy("idle", "1m", _never)
    farm.add_walker("w", "down", "f", ["idle"])
    farm.set_config(unsafe=True, percent_fee=0.3, get_candles_retry_count=1, get_candles_retry_delay_ms=0)
    (job,) = plan_sweep("w", ["X/Y"]).jobs
    farm.set_config(unsafe=True, percent_fee=0.1)
    before = farm.get_config()

    with pytest.raises(Exception, match="the data source is down"):
        execute(job)

    assert seen["job"].percent_fee == 0.3  # the job ran with its own config
    assert seen["process"] == before  # read from another thread while the job ran
    assert farm.get_config() == before


def _never(symbol: str, when: datetime) -> None:
    return None


# ---- concurrent runs ----------------------------------------------------------------------------

CONFIG_A = {"percent_fee": 0.1, "percent_slippage": 0.1, "min_takeprofit_distance_percent": 0.5}
CONFIG_B = {"percent_fee": 0.3, "percent_slippage": 0.2, "min_takeprofit_distance_percent": 1.0}
_go = threading.Event()


def _gated(symbol: str, when: datetime, **params: Any) -> dict | None:
    """`sma`, once `_go` is set: the run waits for the other to have started."""
    _go.wait(30)
    return helpers.sma(symbol, when, **params)


def _register_pair() -> None:
    helpers.register()
    farm.add_strategy("bg_a", "5m", _gated, params={"fast": 5, "slow": 20})
    farm.add_strategy("bg_b", "5m", helpers.sma, params={"fast": 5, "slow": 20})


def _pnls(strategy_name: str) -> list[float]:
    return [r.pnl.pnl_percentage for r in farm.Backtest.get_data("ETH/BTC", strategy_name).signal_list]


def test_two_background_runs_with_different_configs_do_not_interfere():
    """Each background run keeps the config in force when it was started, though the other
    changed the process-wide one and both run at once."""
    _go.clear()
    _register_pair()
    problems: list[BaseException] = []
    farm.listen_exit(problems.append)
    farm.set_config(unsafe=True, **CONFIG_A)
    cancel_a = farm.Backtest.background("ETH/BTC", strategy_name="bg_a", exchange_name=EXCHANGE, frame_name=FRAME)
    farm.set_config(unsafe=True, **CONFIG_B)
    cancel_b = farm.Backtest.background("ETH/BTC", strategy_name="bg_b", exchange_name=EXCHANGE, frame_name=FRAME)
    _go.set()
    for cancel in (cancel_a, cancel_b):
        cancel.thread.join(120)
        assert not cancel.thread.is_alive()
    assert problems == []
    got = {"bg_a": _pnls("bg_a"), "bg_b": _pnls("bg_b")}

    expected = {}
    for name, config in (("bg_a", CONFIG_A), ("bg_b", CONFIG_B)):
        farm.clear_registry()
        farm.set_config(unsafe=True, **config)
        _register_pair()
        list(farm.Backtest.run("ETH/BTC", strategy_name=name, exchange_name=EXCHANGE, frame_name=FRAME))
        expected[name] = _pnls(name)
    assert expected["bg_a"] and expected["bg_a"] != expected["bg_b"]
    assert got == expected


LONG = {"position": "long", "price_take_profit": 101, "price_stop_loss": 99, "minute_estimated_time": 10}


def test_a_risk_ledger_of_one_run_is_not_visible_to_another():
    """Run A holds a position on risk `r` (max 1 position) while run B, on the same risk,
    runs to its end: B's checks see only B's positions, as when it runs alone."""
    df = flat_candles(T0 - 30 * MIN, 100)
    set_candle(df, T0 + 4 * MIN, high=101.5)
    register_table(df)
    farm.add_frame("f", "1m", T0, T0 + 5 * MIN)
    farm.add_risk("r", [farm.max_concurrent_positions(1)])
    holding, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def hold(*args: Any) -> None:
        holding.set()
        release.wait(30)

    def signal_at_start(symbol: str, when: datetime) -> dict | None:
        return dict(LONG) if int(when.timestamp() * 1000) == T0 else None

    farm.add_strategy("a", "1m", signal_at_start, risk_name="r", callbacks={"on_open": hold})
    farm.add_strategy("b", "1m", signal_at_start, risk_list=["r"],
                      callbacks={"on_open": lambda *a: seen.append(1)})
    cancel = farm.Backtest.background("A", strategy_name="a", exchange_name="x", frame_name="f")
    assert holding.wait(30)
    try:
        b = list(farm.Backtest.run("A", strategy_name="b", exchange_name="x", frame_name="f"))
    finally:
        release.set()
        cancel.thread.join(30)

    assert [r.close_reason for r in b] == ["take_profit"]
    assert farm.Risk.get_data("A", "b").total_rejections == 0
    assert seen == [1]


def test_set_config_inside_a_run_changes_that_run_from_then_on_and_nothing_else():
    """SPEC §1's mid-run change, scoped to the run: a callback's `set_config` reaches the
    run's later ticks, not the process-wide config."""
    register_table(flat_candles(T0 - 30 * MIN, 100))
    farm.add_frame("f", "1m", T0, T0 + 5 * MIN)
    fees: list[float] = []

    def get_signal(symbol: str, when: datetime) -> None:
        fees.append(farm.get_config().percent_fee)
        if when.minute == 2:
            farm.set_config(percent_fee=0.05)

    farm.add_strategy("s", "1m", get_signal)
    before = farm.get_config()

    list(farm.Backtest.run("A", strategy_name="s", exchange_name="x", frame_name="f"))

    assert fees == [before.percent_fee] * 3 + [0.05] * 3
    assert farm.get_config() == before


_a_done = threading.Event()


def _after_a(symbol: str, when: datetime, **params: Any) -> dict | None:
    """`sma`, once the other job has finished."""
    _a_done.wait(30)
    return helpers.sma(symbol, when, **params)


def test_jobs_running_side_by_side_keep_their_own_errors():
    """A threads pool runs jobs next to each other: one job's get_signal errors are its own,
    never listed in the job beside it."""
    _a_done.clear()
    helpers.register()
    farm.add_strategy("side_clean", "5m", _after_a, params={"fast": 5, "slow": 20})
    farm.add_walker("side", EXCHANGE, FRAME, ["tf_boom", "side_clean"])
    boom_job, clean_job = plan_sweep("side", ["ETH/BTC"]).jobs
    alone = execute(boom_job).outcomes[0].errors
    assert alone  # tf_boom raises on ETH/BTC

    beside: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: beside.update(clean=execute(clean_job)))
    thread.start()
    try:
        noisy = execute(boom_job)
    finally:
        _a_done.set()
    thread.join(60)

    assert noisy.outcomes[0].errors == alone
    assert beside["clean"].outcomes[0].errors == []
