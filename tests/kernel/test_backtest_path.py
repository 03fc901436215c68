"""`farm.Backtest.run` on the kernel (config `backtest_path`, issue #6): "auto" leaves behind
exactly what the forced per-tick run does — yielded records, storages (backtest, schedule,
partial), listen_error messages, partial events, report statistics — and says which path ran;
blockers and the kernel's edge cases fall back to the per-tick loop; "kernel" with a blocker
is a clear error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("numba")

import farm  # noqa: E402
import strategies.sma_cross as sma  # noqa: E402
from farm.data.sample import sample_source  # noqa: E402
from farm.data.sources import SyntheticSource  # noqa: E402
from farm.kernel import KernelUnsupported, average_prices  # noqa: E402
from farm.models import Candles  # noqa: E402
from farm.run.storage import storages  # noqa: E402
from tests.conftest import MIN, T0  # noqa: E402
from tests.engine.test_lifecycle import SCHED_LONG, one_signal, setup  # noqa: E402
from tests.kernel.test_scenarios import on_bars  # noqa: E402

SYMBOL = "K/TEST"
REAL = ("UNITTEST/BTC", "2017-11-05T00:00:00Z", "2017-11-14T12:00:00Z")


def crossing(candles: Candles, *, fast: int = 5, slow: int = 20, tp_pct: float = 0.6, sl_pct: float = 0.8,
             lifetime: int = 90, limit_pct: float = 0.0, odd_tp_pct: float | None = None) -> dict[str, Any]:
    """Long on a fast/slow cross up, short on a cross down (both sides, so partial profits and
    losses of both); `limit_pct` > 0 makes them scheduled entries that far from the VWAP;
    `odd_tp_pct`: another take-profit distance on odd bars."""
    close = candles.close
    n = len(close)
    cs = np.concatenate([[0.0], np.cumsum(close)])
    idx = np.arange(n)
    ok = idx >= slow
    f = np.where(ok, (cs[idx + 1] - cs[np.maximum(idx + 1 - fast, 0)]) / fast, np.nan)
    s = np.where(ok, (cs[idx + 1] - cs[np.maximum(idx + 1 - slow, 0)]) / slow, np.nan)
    above = f > s
    pos = np.zeros(n)
    pos[1:][above[1:] & ~above[:-1] & ok[:-1]] = 1
    pos[1:][~above[1:] & above[:-1] & ok[:-1] & ok[1:]] = -1
    price = average_prices(candles)
    entry = price * (1 - pos * limit_pct / 100)
    tp = np.full(n, tp_pct)
    if odd_tp_pct is not None:
        tp[1::2] = odd_tp_pct
    return {
        "position": pos,
        "price_open": entry if limit_pct else np.nan,
        "price_take_profit": entry * (1 + pos * tp / 100),
        "price_stop_loss": entry * (1 - pos * sl_pct / 100),
        "minute_estimated_time": lifetime,
        "note": "cross",
    }


def snapshot(name: str, symbol: str, mode: str) -> dict[str, Any]:
    """Everything a run leaves behind, with the path that ran."""
    farm.set_config(unsafe=True, backtest_path=mode)
    errors: list[str] = []
    partial_events: list[tuple[str, dict]] = []
    unsubs = [
        farm.listen_error(lambda e: errors.append(str(e))),
        farm.listen_partial_profit(lambda e: partial_events.append(("profit", e.model_dump()))),
        farm.listen_partial_loss(lambda e: partial_events.append(("loss", e.model_dump()))),
    ]
    storages.partial.pop((symbol, name), None)  # accumulates across runs, like the reference's
    try:
        results = [r.model_dump() for r in farm.Backtest.run(symbol, strategy_name=name, exchange_name="x",
                                                            frame_name="f")]
    finally:
        for unsub in unsubs:
            unsub()
        farm.set_config(unsafe=True, backtest_path="auto")
    key = (symbol, name)
    report = farm.Backtest.get_report(symbol, name)
    return {
        "results": results,
        "errors": errors,
        "partial_events": partial_events,
        "backtest": [r.model_dump() for r in storages.backtest.get(key, [])],
        "schedule": [r.model_dump() for r in storages.schedule.get(key, [])],
        "partial": [(kind, e.model_dump()) for kind, e in storages.partial.get(key, [])],
        "stats": farm.Backtest.get_data(symbol, name).model_dump(),
        "schedule_report": farm.Schedule.get_report(symbol, name),
        "partial_report": farm.Partial.get_report(symbol, name),
        "report": report.rsplit("\n\n", 1)[0],  # without the engine path line
        "path_line": report.rsplit("\n\n", 1)[1],
        "path": farm.Backtest.get_path(symbol, name),
        "status": [e["status"] for e in farm.Backtest.list() if e["strategy_name"] == name],
    }


def assert_parity(name: str, symbol: str = SYMBOL) -> tuple[dict, dict]:
    tick = snapshot(name, symbol, "per-tick")
    auto = snapshot(name, symbol, "auto")
    assert tick["path"].path == "per-tick" and auto["path"].path == "kernel"
    assert auto["path_line"] == "**Engine path:** kernel (numba)"
    assert tick["path_line"] == "**Engine path:** per-tick (reason: config backtest_path='per-tick')"
    for field in ("results", "errors", "partial_events", "backtest", "schedule", "partial", "stats",
                  "schedule_report", "partial_report", "report", "status"):
        assert auto[field] == tick[field], field
    assert auto["partial"] == auto["partial_events"]  # stored in the order emitted
    return tick, auto


def synthetic(gaps: float, seed: int = 16, days: int = 3, frame_interval: str = "1m") -> None:
    farm.add_exchange("x", SyntheticSource(seed=seed, volatility=0.002, gap_probability=gaps, anchor=T0))
    farm.add_frame("f", frame_interval, T0, T0 + days * 1440 * MIN)


def real() -> str:
    farm.add_exchange("x", sample_source("1m"))
    farm.add_frame("f", "1m", REAL[1], REAL[2])
    return REAL[0]


# ---- parity of the whole run ---------------------------------------------------------------------------


@pytest.mark.parametrize("interval", ["1m", "15m"])
@pytest.mark.parametrize("gaps", [0.0, 0.02])
def test_sma_cross_auto_equals_per_tick_on_synthetic_data(interval, gaps):
    synthetic(gaps)
    farm.add_strategy("sma", interval, sma.get_signal, signals=sma.vectorised_signals, params=sma.PARAMS)
    tick, _ = assert_parity("sma")
    assert len(tick["results"]) >= (10 if interval == "1m" else 2)
    assert tick["partial"], "the run should reach partial milestones"


@pytest.mark.parametrize("frame_interval", ["5m", "15m"])
def test_sma_cross_on_a_frame_coarser_than_the_candles_with_gaps(frame_interval):
    """Ticks every 5 or 15 minutes over 1m candles with missing minutes: where the candle just
    before a tick is missing, `get_signal` reads the window ending at the last candle there is,
    and the vectorised form's row for that candle is the one acted on: the same trades."""
    synthetic(0.05, seed=11, days=6, frame_interval=frame_interval)
    farm.add_strategy("sma", "1m", sma.get_signal, signals=sma.vectorised_signals,
                      params={**sma.PARAMS, "fast": 5, "slow": 20})
    tick, _ = assert_parity("sma")
    # get_signal sees a cross only on the candle just before a tick: fewer trades on 15m ticks.
    assert len(tick["results"]) >= (10 if frame_interval == "5m" else 2)


def test_sma_cross_auto_equals_per_tick_on_the_bundled_candles():
    symbol = real()
    farm.add_strategy("sma", "1m", sma.get_signal, signals=sma.vectorised_signals, params=sma.PARAMS)
    farm.add_strategy("sma30", "1m", sma.get_signal, signals=sma.vectorised_signals,
                      params={**sma.PARAMS, "lifetime": 30})
    for name in ("sma", "sma30"):
        tick, _ = assert_parity(name, symbol)
        assert len(tick["results"]) >= 10 and tick["partial"]


@pytest.mark.parametrize("limit_pct", [0.0, 0.15], ids=["immediate", "scheduled"])
@pytest.mark.parametrize("gaps", [0.0, 0.02])
def test_partials_long_and_short_on_synthetic_data(gaps, limit_pct):
    """A signals-only strategy: per tick it reads its table (`as_get_signal`), on the kernel the
    milestones are rebuilt after the run; both sides, immediate and scheduled entries."""
    synthetic(gaps, seed=7)
    farm.add_strategy("x2", "1m", signals=crossing, params={"limit_pct": limit_pct})
    tick, _ = assert_parity("x2")
    kinds = {(e["data"]["position"], kind) for kind, e in tick["partial"]}
    assert kinds == {("long", "profit"), ("long", "loss"), ("short", "profit"), ("short", "loss")}
    if limit_pct:
        actions = {r["action"] for r in tick["schedule"]}
        assert {"scheduled", "cancelled"} <= actions


def test_a_farm_job_context_skips_stored_milestones_but_not_listened_ones():
    """`keep_partials` False (what a farm job sets): the kernel run keeps no milestones in the
    storages nobody reads after the job, with the same results; a partial listener still gets
    every milestone, exactly as in a default run."""
    from farm.run.storage import keep_partials

    synthetic(0.02, seed=7)
    farm.add_strategy("x2", "1m", signals=crossing)
    default = snapshot("x2", SYMBOL, "auto")
    assert default["path"].path == "kernel" and default["partial"]
    token = keep_partials.set(False)
    try:
        storages.partial.pop((SYMBOL, "x2"), None)
        quiet = [r.model_dump() for r in farm.Backtest.run(SYMBOL, strategy_name="x2", exchange_name="x",
                                                          frame_name="f")]
        assert quiet == default["results"]
        assert storages.partial.get((SYMBOL, "x2"), []) == []
        listened = snapshot("x2", SYMBOL, "auto")  # with partial listeners
    finally:
        keep_partials.reset(token)
    assert listened["partial_events"] == default["partial_events"]
    assert listened["results"] == default["results"]


@pytest.mark.parametrize("limit_pct", [0.0, 0.1], ids=["immediate", "scheduled"])
def test_partials_long_and_short_on_the_bundled_candles(limit_pct):
    symbol = real()
    farm.add_strategy("x2", "1m", signals=crossing, params={"limit_pct": limit_pct, "lifetime": 240})
    tick, _ = assert_parity("x2", symbol)
    sides = {e["data"]["position"] for _, e in tick["partial"]}
    assert sides == {"long", "short"}


def test_rejected_signals_reach_listen_error_in_order():
    """Rows the validator rejects (TP too close for the config) are published as per tick."""
    synthetic(0.01, seed=3, days=1)
    farm.set_config(min_takeprofit_distance_percent=0.7)
    farm.add_strategy("x2", "1m", signals=crossing, params={"tp_pct": 0.65})
    farm.add_strategy("x3", "1m", signals=crossing, params={"tp_pct": 0.9, "odd_tp_pct": 0.65})
    tick, _ = assert_parity("x2")
    assert tick["errors"] and not tick["results"]
    assert "take" in tick["errors"][0].lower()
    # Mixed: some accepted, some rejected (a bar is only read while idle).
    tick, _ = assert_parity("x3")
    assert tick["results"] and tick["errors"]


def test_stop_between_results_ends_the_run_as_per_tick():
    synthetic(0.0)
    farm.add_strategy("sma", "1m", sma.get_signal, signals=sma.vectorised_signals, params=sma.PARAMS)

    def first_three(mode: str) -> list[dict]:
        farm.set_config(unsafe=True, backtest_path=mode)
        out = []
        for r in farm.Backtest.run(SYMBOL, strategy_name="sma", exchange_name="x", frame_name="f"):
            out.append(r.model_dump())
            if len(out) == 3:
                farm.Backtest.stop(SYMBOL, "sma")
        return out

    assert first_three("auto") == first_three("per-tick")
    assert len(first_three("auto")) == 3


# ---- which path, and why ------------------------------------------------------------------------------


def test_blockers_fall_back_to_per_tick_with_the_reason():
    synthetic(0.0, days=1)
    closes: list[str] = []
    farm.add_strategy("cb", "1m", signals=crossing, callbacks={"on_close": lambda *a: closes.append(a[1].id)})
    results = list(farm.Backtest.run(SYMBOL, strategy_name="cb", exchange_name="x", frame_name="f"))
    path = farm.Backtest.get_path(SYMBOL, "cb")
    assert path.path == "per-tick" and "callbacks (on_close)" in path.reason
    assert closes == [r.signal.id for r in results if r.action == "closed"] and closes
    assert farm.Backtest.list() == [
        {"id": f"{SYMBOL}:cb", "symbol": SYMBOL, "strategy_name": "cb", "status": "fulfilled", "path": "per-tick"}
    ]
    assert farm.Backtest.get_report(SYMBOL, "cb").endswith(f"**Engine path:** {path}")
    assert str(path).startswith("per-tick (reason: strategy callbacks (on_close) run per tick")
    # A signal listener blocks too (it receives every tick's result).
    farm.listen_signal_backtest(lambda r: None)
    farm.add_strategy("plain", "1m", signals=crossing)
    list(farm.Backtest.run(SYMBOL, strategy_name="plain", exchange_name="x", frame_name="f"))
    assert "signal listeners" in farm.Backtest.get_path(SYMBOL, "plain").reason


def test_forced_kernel_with_a_blocker_is_a_clear_error():
    synthetic(0.0, days=1)
    farm.add_strategy("cb", "1m", signals=crossing, callbacks={"on_close": print})
    farm.add_strategy("tick_only", "1m", one_signal({}))
    farm.set_config(backtest_path="kernel")
    with pytest.raises(KernelUnsupported, match=r"backtest_path='kernel': strategy cb cannot run on the kernel: "
                                                r"strategy callbacks \(on_close\)"):
        list(farm.Backtest.run(SYMBOL, strategy_name="cb", exchange_name="x", frame_name="f"))
    with pytest.raises(KernelUnsupported, match=r"no vectorised form \(signals=\)"):
        list(farm.Backtest.run(SYMBOL, strategy_name="tick_only", exchange_name="x", frame_name="f"))


def test_a_run_the_kernel_declines_falls_back_silently(reference_config):
    """A scheduled signal still waiting where the data ends (the per-tick `active` edge path)."""
    setup(signal=SCHED_LONG, until=30, frame_minutes=5)
    farm.add_strategy("v", "1m", one_signal(SCHED_LONG), signals=on_bars({T0 - MIN: SCHED_LONG}))
    results = list(farm.Backtest.run("A", strategy_name="v", exchange_name="x", frame_name="f"))
    assert [r.action for r in results] == ["active"]
    path = farm.Backtest.get_path("A", "v")
    assert path.path == "per-tick" and path.reason.startswith("the kernel declined this run:")
    assert "still waiting" in path.reason
    farm.set_config(unsafe=True, backtest_path="kernel")
    with pytest.raises(KernelUnsupported, match="backtest_path='kernel': strategy v: .*still waiting"):
        list(farm.Backtest.run("A", strategy_name="v", exchange_name="x", frame_name="f"))
    assert farm.Backtest.list()[0]["status"] == "rejected"


def test_one_backtest_total_sample_on_the_kernel_path():
    synthetic(0.0, days=1)
    farm.add_strategy("sma", "1m", sma.get_signal, signals=sma.vectorised_signals, params=sma.PARAMS)
    list(farm.Backtest.run(SYMBOL, strategy_name="sma", exchange_name="x", frame_name="f"))
    assert [s[0] for s in storages.performance[(SYMBOL, "sma")]] == ["backtest_total"]
    assert farm.Backtest.list()[0]["path"] == "kernel"


def test_an_empty_run_on_the_kernel_still_reports_its_path():
    synthetic(0.0, days=1)
    farm.add_strategy("none", "1m", signals=on_bars({}))
    assert list(farm.Backtest.run(SYMBOL, strategy_name="none", exchange_name="x", frame_name="f")) == []
    assert farm.Backtest.get_report(SYMBOL, "none") == (
        "# Backtest Report: none\n\nNo signals closed yet.\n\n**Engine path:** kernel (numba)"
    )


# ---- the farm task says which path ran --------------------------------------------------------------


def test_task_results_name_the_path_per_strategy():
    from farm.config import get_config
    from farm.run.execute import execute
    from farm.run.jobs import StrategyOutcome, TaskResult, plan_job

    synthetic(0.0, days=1)
    farm.add_strategy("sma", "1m", sma.get_signal, signals=sma.vectorised_signals, params=sma.PARAMS)
    farm.add_strategy("cb", "1m", signals=crossing, callbacks={"on_close": lambda *a: None})
    farm.add_risk("r", [lambda payload: None])
    farm.add_strategy("g1", "1m", signals=crossing, risk_name="r")
    farm.add_strategy("g2", "1m", signals=crossing, params={"fast": 7}, risk_name="r")

    def outcomes(*names: str) -> list[StrategyOutcome]:
        return execute(plan_job(names, SYMBOL, "x", "f", config=get_config().model_dump())).outcomes

    [kernel_run] = outcomes("sma")
    assert (kernel_run.path, kernel_run.path_reason) == ("kernel", None) and kernel_run.stats.total_signals
    [tick] = outcomes("cb")
    assert tick.path == "per-tick" and "callbacks (on_close)" in tick.path_reason
    group = outcomes("g1", "g2")
    assert [o.path for o in group] == ["per-tick", "per-tick"]
    assert all("risk group" in o.path_reason for o in group)
    # Results stored before the field existed still load.
    old = TaskResult.model_validate_json(execute(plan_job(("sma",), SYMBOL, "x", "f")).model_dump_json(
        exclude={"outcomes": {0: {"path", "path_reason"}}}))
    assert old.outcomes[0].path is None


def test_background_runs_on_the_kernel_too():
    synthetic(0.0, days=1)
    farm.add_strategy("sma", "1m", sma.get_signal, signals=sma.vectorised_signals, params=sma.PARAMS)
    done: list[str] = []
    farm.listen_done_backtest(lambda e: done.append(e.strategy_name))
    cancel = farm.Backtest.background(SYMBOL, strategy_name="sma", exchange_name="x", frame_name="f")
    cancel.thread.join(60)
    assert done == ["sma"]
    assert farm.Backtest.list()[0]["status"] == "fulfilled" and farm.Backtest.list()[0]["path"] == "kernel"
    assert farm.Backtest.get_data(SYMBOL, "sma").total_signals > 0
