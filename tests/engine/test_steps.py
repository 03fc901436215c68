"""The compiled lifecycle steps through the per-tick engine, off the candle grid (issue #10.5):
the current price uses closed candles only (D1), a signal created between two candle opens is
resolved from the first candle opening after it, and its lifetime ends on the last grid slot
inside it (D11)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

import farm
from farm.data.sources import DataFrameSource
from farm.engine import steps
from farm.intervals import interval_ms
from tests.conftest import MIN, REFERENCE_TEST_CONFIG, T0

STEP5 = 5 * MIN


def flat5m(n: int = 40, price: float = 100.0) -> pd.DataFrame:
    ts = T0 + np.arange(n, dtype=np.int64) * STEP5
    p = np.full(n, price)
    return pd.DataFrame({"timestamp": ts, "open": p, "high": p, "low": p, "close": p, "volume": np.ones(n)})


def prices_seen(df: pd.DataFrame, ticks: list[int], n_avg: int) -> dict[int, float]:
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG, base_interval="5m", avg_price_candles_count=n_avg)
    farm.add_exchange("x", DataFrameSource(df, interval="5m"))
    farm.add_frame("f", "1m", ticks[0], ticks[-1])
    seen: dict[int, float] = {}

    def get_signal(symbol: str, when: datetime) -> None:
        seen[int(when.timestamp() * 1000)] = farm.get_average_price(symbol)

    farm.add_strategy("s", "1m", get_signal)
    list(farm.Backtest.run("A", strategy_name="s", exchange_name="x", frame_name="f"))
    return seen


@pytest.mark.parametrize("n_avg", [1, 2, 3])
def test_average_price_between_candle_opens_leaves_out_the_forming_candle(n_avg: int):
    """5m candles, ticks every minute: at 00:11–00:14 the candle of 00:10 is still forming, so
    the price is that of the closed ones (00:05 and before); at 00:15 it has closed."""
    df = flat5m()
    df.loc[2, ["high", "close"]] = 110.0  # the candle opening 00:10
    seen = prices_seen(df, [T0 + 11 * MIN, T0 + 15 * MIN], n_avg)
    for m in (11, 12, 13, 14):
        assert seen[T0 + m * MIN] == 100.0
    assert seen[T0 + 15 * MIN] > 100.0


def test_off_grid_signal_lifetime_ends_on_the_last_slot_inside_it():
    """A market long at 00:11 over 5m candles, lifetime 29 min: its candles are those opening at
    or after 00:11 (00:15 first) up to 00:11 + 28 min = 00:39, so it expires on the slot 00:35
    (the grid slot containing 00:11 + 29 min − 1 ms), not on 00:40."""
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG, base_interval="5m")
    farm.add_exchange("x", DataFrameSource(flat5m(), interval="5m"))
    farm.add_frame("f", "1m", T0 + 11 * MIN, T0 + 11 * MIN)
    dto = {"position": "long", "price_take_profit": 150.0, "price_stop_loss": 50.0, "minute_estimated_time": 29}
    farm.add_strategy("s", "1m", lambda symbol, when: dto)
    (r,) = farm.Backtest.run("A", strategy_name="s", exchange_name="x", frame_name="f")
    assert (r.close_reason, r.close_timestamp, r.signal.price_open) == ("time_expired", T0 + 35 * MIN, 100.0)


def test_off_grid_take_profit_is_checked_from_the_first_candle_opening_after_the_tick():
    """The candle forming at 00:11 (opened 00:10) touches the TP; it began before the signal
    existed, so it is not checked: the first check is 00:15's, which touches it too."""
    df = flat5m()
    df.loc[2, "high"] = 120.0
    df.loc[4, "high"] = 120.0  # 00:20
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG, base_interval="5m")
    farm.add_exchange("x", DataFrameSource(df, interval="5m"))
    farm.add_frame("f", "1m", T0 + 11 * MIN, T0 + 11 * MIN)
    dto = {"position": "long", "price_take_profit": 115.0, "price_stop_loss": 50.0, "minute_estimated_time": 60}
    farm.add_strategy("s", "1m", lambda symbol, when: dto)
    (r,) = farm.Backtest.run("A", strategy_name="s", exchange_name="x", frame_name="f")
    assert (r.close_reason, r.close_timestamp) == ("take_profit", T0 + 20 * MIN)


@pytest.mark.parametrize("step", [MIN, STEP5, 60 * MIN])
@pytest.mark.parametrize("minutes", [1, 2, 5, 29, 30, 61, 240])
def test_last_lifetime_slot_on_the_grid_is_the_reference_rule(step: int, minutes: int):
    """On the grid the slot is `pending_at + (mET−1)` min for 1m candles, the last slot before
    `pending_at + mET` for coarser ones (the rule before off-grid ticks were handled)."""
    pending_at = T0 + 7 * step
    assert steps.last_lifetime_slot(pending_at, float(minutes), step) == (
        pending_at + (minutes * MIN - 1) // step * step)


def test_closed_window_is_d1_for_every_tick_of_an_hour():
    """`closed_window` at any minute t over 5m candles: open times in [a − N·step, a) with
    a = floor(t/5m)·5m, i.e. exactly the candles with open + step <= t among the newest N slots."""
    ts = T0 + np.arange(100, dtype=np.int64) * STEP5
    for minute in range(60, 120):
        t = T0 + minute * MIN
        i0, i1 = steps.closed_window(ts, t, 3, STEP5, 0)
        closed = np.flatnonzero(ts + STEP5 <= t)[-3:]
        assert (i0, i1) == (int(closed[0]), int(closed[-1]) + 1), minute
        assert interval_ms("5m") == STEP5
