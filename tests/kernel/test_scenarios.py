"""The per-tick engine's scenario tables (tests/engine/test_lifecycle.py: TP/SL order, D3, D11
with gaps, scheduled activation/cancel/timeout) replayed on the kernel, plus the rules of the
vectorised contract: no look-ahead, throttling, D2, which bar a coarse frame reads, and when
the kernel declines a run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("numba")

import farm  # noqa: E402
import strategies.sma_cross as sma  # noqa: E402
from farm.data.sources import DataFrameSource, SyntheticSource  # noqa: E402
from farm.engine.exchange import ExchangeClient  # noqa: E402
from farm.kernel import KernelUnsupported, as_get_signal, average_prices, kernel_blockers, to_table  # noqa: E402
from farm.kernel.run import load_market  # noqa: E402
from farm.kernel.signals import compute_table  # noqa: E402
from farm.models import Candles  # noqa: E402
from tests.conftest import MIN, T0, minutes, register_table  # noqa: E402
from tests.engine.test_lifecycle import (  # noqa: E402
    GAPS,
    IMMEDIATE,
    LONG,
    SCHED_LONG,
    SCHEDULED,
    market,
    one_signal,
    setup,
)
from tests.kernel.helpers import assert_same, kernel, per_tick  # noqa: E402


def on_bars(rows: dict[int, dict[str, Any]]):
    """A vectorised strategy signalling on the bars with the given open times (others: none)."""

    def signals(candles: Candles) -> dict[str, np.ndarray]:
        n = len(candles)
        out = {k: np.full(n, np.nan) for k in ("price_open", "price_take_profit", "price_stop_loss",
                                                "minute_estimated_time")}
        out["position"] = np.zeros(n)
        index = {int(ts): i for i, ts in enumerate(candles.timestamp)}
        for ts, dto in rows.items():
            i = index.get(ts)
            if i is None:
                continue
            out["position"][i] = 1 if dto["position"] == "long" else -1
            for key in ("price_open", "price_take_profit", "price_stop_loss", "minute_estimated_time"):
                if key in dto:
                    out[key][i] = dto[key]
        return out

    return signals


def replay(signal: dict[str, Any]) -> None:
    """The scenario's strategy gets its vectorised twin: the same dict on the bar closing at T0."""
    farm.add_strategy("v", "1m", signals=on_bars({T0 - MIN: signal}))
    expected, errors = per_tick("s", symbol="A")
    got = kernel("v", symbol="A")
    # Same records except the strategy name (and the id derived from it).
    for r in got.results:
        r.strategy_name = r.signal.strategy_name = "s"
    for e, g in zip(expected, got.results, strict=False):
        g.signal.id = e.signal.id
    assert_same(expected, got.results)
    assert len(got.errors) == len(errors)


@pytest.mark.parametrize("row", IMMEDIATE + SCHEDULED, ids=[r[0] for r in IMMEDIATE + SCHEDULED])
def test_lifecycle_scenarios(reference_config, row):
    _, signal, edits, *_ = row
    setup(edits, signal=signal)
    replay(signal)


@pytest.mark.parametrize("row", GAPS, ids=[g[0] for g in GAPS])
def test_gap_scenarios_d11(reference_config, row):
    _, drop, until, close_minute = row
    signal = {**LONG, "minute_estimated_time": 30}
    setup(drop=drop, until=until, signal=signal, frame_minutes=15)
    replay(signal)
    (r,) = kernel("v", symbol="A").results
    assert r.close_reason == "time_expired" and minutes([r.close_timestamp]) == [close_minute]


def test_scheduled_timeout(reference_config):
    farm.set_config(unsafe=True, schedule_await_minutes=10)
    setup(signal=SCHED_LONG)
    replay(SCHED_LONG)
    (r,) = kernel("v", symbol="A").results
    assert r.action == "cancelled" and minutes([r.close_timestamp]) == [10]


def test_invalid_signal_is_an_error_with_the_per_tick_message(reference_config):
    bad = {**LONG, "price_take_profit": 99.5, "price_stop_loss": 99}
    setup(signal=bad, frame_minutes=0)
    farm.add_strategy("v", "1m", signals=on_bars({T0 - MIN: bad}))
    _, errors = per_tick("s", symbol="A")
    got = kernel("v", symbol="A")
    assert got.results == []
    assert [str(e).replace("strategy v ", "strategy s ") for e in got.errors] == errors


# ---- the contract: time, throttle, frames ------------------------------------------------------


def test_a_bar_is_acted_on_only_after_it_closed(reference_config):
    """The row of the bar opening at T0+10 is read at the tick T0+11 (D1), at that tick's VWAP."""
    register_table(market({10: {"open": 150, "high": 150, "low": 150, "close": 150}}))
    farm.add_frame("f", "1m", T0, T0 + 60 * MIN)
    wide = {**LONG, "price_take_profit": 1000, "price_stop_loss": 1, "minute_estimated_time": 5}
    farm.add_strategy("v", "1m", signals=on_bars({T0 + 10 * MIN: wide}))
    (r,) = kernel("v", symbol="A").results
    assert minutes([r.signal.scheduled_at, r.signal.pending_at]) == [11, 11]
    assert r.signal.price_open == pytest.approx((4 * 100 + 150) / 5)  # includes the closed bar, not later ones


def test_coarse_frames_read_the_newest_bar_closed_at_the_tick(reference_config):
    """5m frames: the tick at T0+15 reads the bar closing at T0+15 (opening at T0+14), as a
    per-tick get_signal called at T0+15 sees it; rows of older bars closing between two ticks
    are never read (a per-tick get_signal is never called at their close either)."""
    register_table(market())
    farm.add_frame("f", "5m", T0, T0 + 60 * MIN)
    wide = {**LONG, "price_take_profit": 1000, "price_stop_loss": 1, "minute_estimated_time": 1}
    short = {**wide, "position": "short", "price_take_profit": 1, "price_stop_loss": 1000}
    rows = {T0 + 6 * MIN: wide, T0 + 14 * MIN: wide, T0 + 23 * MIN: short, T0 + 24 * MIN: wide}
    farm.add_strategy("v", "1m", signals=on_bars(rows))
    results = kernel("v", symbol="A").results
    assert minutes([r.signal.pending_at for r in results]) == [15, 25]
    assert [r.signal.position for r in results] == ["long", "long"]


def test_throttle_and_d2_match_the_per_tick_engine(reference_config):
    """Signals on every bar, strategy interval 15m, lifetimes of 1..7 minutes: each attempt
    consumes its slot, nothing is generated while a signal is open, D2 after each close."""
    df = market(until=300)
    rng = np.random.default_rng(3)
    df["high"] = 100 + rng.uniform(0, 1.5, len(df))
    df["low"] = 100 - rng.uniform(0, 1.5, len(df))
    register_table(df)
    farm.add_frame("f", "1m", T0, T0 + 200 * MIN)
    rows = {int(ts): {**LONG, "minute_estimated_time": int(1 + ts // MIN % 7)} for ts in df["timestamp"]}
    signals = on_bars(rows)
    farm.add_strategy("v", "15m", signals=signals)
    got = kernel("v", symbol="A")
    table = to_table(signals(Candles.from_frame(df)), Candles.from_frame(df))
    farm.add_strategy("p", "15m", as_get_signal(table, MIN, MIN))
    expected, _ = per_tick("p", symbol="A")
    assert len(expected) > 5
    for r in got.results:
        r.strategy_name = r.signal.strategy_name = "p"
        r.signal.id = next(e.signal.id for e in expected if e.signal.scheduled_at == r.signal.scheduled_at)
    assert_same(expected, got.results)


@pytest.mark.parametrize("frame_interval", ["5m", "15m"])
def test_adapter_parity_on_coarse_frames_with_gaps(frame_interval):
    """The kernel and the per-tick engine running the same table (as_get_signal) agree on frames
    coarser than the base candles, where the bar rule matters, on gappy data."""
    source = SyntheticSource(seed=4, volatility=0.002, gap_probability=0.01, anchor=T0)
    farm.add_exchange("x", source)
    farm.add_frame("f", frame_interval, T0, T0 + 6 * 1440 * MIN)
    params = {**sma.PARAMS, "fast": 5, "slow": 20, "lifetime": 60}
    farm.add_strategy("v", "1m", signals=sma.vectorised_signals, params=params)
    got = kernel("v")
    m = load_market("K/TEST", "x", "f")
    table = compute_table(sma.vectorised_signals, m.signal_candles, params, "t")
    step = {"5m": 5, "15m": 15}[frame_interval] * MIN
    farm.add_strategy("p", "1m", as_get_signal(table, MIN, step))
    expected, _ = per_tick("p")
    assert len(expected) >= 5
    for e, g in zip(expected, got.results, strict=False):
        g.strategy_name = g.signal.strategy_name = "p"
        g.signal.id = e.signal.id
    assert_same(expected, got.results)


def test_average_prices_equal_the_engines_current_price():
    rng = np.random.default_rng(0)
    n = 400
    ts = T0 + np.sort(rng.choice(np.arange(600), n, replace=False)).astype(np.int64) * MIN
    close = 100 + rng.normal(0, 1, n).cumsum()
    df = pd.DataFrame({"timestamp": ts, "open": close, "high": close + 1, "low": close - 1, "close": close,
                       "volume": np.where(rng.random(n) < 0.2, 0.0, rng.uniform(1, 100, n))})
    client = ExchangeClient(farm.add_exchange("x", DataFrameSource(df)))
    got = average_prices(Candles.from_frame(df))
    expected = [client.average_price("A", int(t) + MIN) for t in ts]
    assert got.tolist() == expected  # bit for bit


# ---- the vectorised contract's shape checks --------------------------------------------------------


def test_table_accepts_dataframes_and_broadcasts_scalars():
    candles = Candles.from_frame(market(until=10))
    n = len(candles)
    frame = pd.DataFrame({"position": np.r_[1, np.zeros(n - 1)], "price_take_profit": 101.0,
                          "price_stop_loss": 99.0, "minute_estimated_time": 30})
    table = to_table(frame, candles)
    assert table.position.dtype == np.int8 and np.isnan(table.price_open).all()
    assert table.dto(0) == {"position": "long", "price_take_profit": 101.0, "price_stop_loss": 99.0,
                            "minute_estimated_time": 30}
    assert table.dto(1) is None


@pytest.mark.parametrize(("raw", "message"), [
    ({"position": 0, "price_take_profit": 1, "price_stop_loss": 1}, "lacks column 'minute_estimated_time'"),
    ({"position": [1, 0], "price_take_profit": 1, "price_stop_loss": 1, "minute_estimated_time": 1}, "shape"),
    ({"position": 2, "price_take_profit": 1, "price_stop_loss": 1, "minute_estimated_time": 1}, "+1, -1 or 0"),
    ({"position": np.nan, "price_take_profit": 1, "price_stop_loss": 1, "minute_estimated_time": 1}, "+1, -1 or 0"),
    ([1, 2, 3], "dict of arrays or a DataFrame"),
])
def test_table_rejects_malformed_results(raw, message):
    with pytest.raises(farm.errors.SchemaError, match=message.replace("+", r"\+")):
        to_table(raw, Candles.from_frame(market(until=10)))


# ---- when the kernel declines ------------------------------------------------------------------------


def test_blockers_name_what_needs_the_per_tick_engine():
    farm.add_risk("r", [lambda payload: None])
    schema = farm.add_strategy("a", "1m", signals=on_bars({}), risk_name="r", callbacks={"on_close": print})
    reasons = kernel_blockers(schema)
    assert any("callbacks (on_close)" in r for r in reasons) and any("risk profiles (r)" in r for r in reasons)
    plain = farm.add_strategy("b", "1m", signals=on_bars({}))
    assert kernel_blockers(plain) == []
    farm.listen_partial_profit(lambda e: None)  # milestones are rebuilt after the kernel ran
    assert kernel_blockers(plain) == []
    farm.listen_signal_backtest(lambda e: None)
    assert any("signal listeners" in r for r in kernel_blockers(plain))
    # Without a vectorised form that is the whole reason, whoever listens in this process.
    assert kernel_blockers(farm.add_strategy("c", "1m", one_signal({}))) == ["no vectorised form (signals=)"]


def test_a_scheduled_signal_still_waiting_where_the_data_ends_is_declined(reference_config):
    """The per-tick engine's `active` edge path (§5.9) is not modelled: the kernel says so."""
    setup(signal=SCHED_LONG, until=30, frame_minutes=5)
    expected, _ = per_tick("s", symbol="A")
    assert [r.action for r in expected] == ["active"]
    farm.add_strategy("v", "1m", signals=on_bars({T0 - MIN: SCHED_LONG}))
    with pytest.raises(KernelUnsupported, match="still waiting"):
        kernel("v", symbol="A")
