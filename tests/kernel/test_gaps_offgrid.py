"""Issue #10 points 4 and 5: the kernel means what `get_signal` returns at every generation
attempt (the row of the newest closed bar, again after a gap or at a coarse strategy interval),
and no current price — per tick or on the kernel — uses a candle that has not closed (D1), also
when the frame's ticks are off the candle grid."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import farm
from farm.data.sample import sample_dir, sample_source
from farm.data.sources import DataFrameSource, FileSource, SyntheticSource
from farm.intervals import interval_ms
from farm.models import Candles, ms_to_datetime
from tests.conftest import MIN, REFERENCE_TEST_CONFIG, T0
from tests.kernel.helpers import assert_same, kernel, per_tick

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def candles_df(ts: list[int] | np.ndarray, price: float = 100.0) -> pd.DataFrame:
    ts = np.asarray(ts, dtype=np.int64)
    p = np.full(len(ts), price)
    return pd.DataFrame({"timestamp": ts, "open": p, "high": p, "low": p, "close": p, "volume": np.ones(len(ts))})


def direction_forms(tp_pct: float = 0.3, sl_pct: float = 0.3, lifetime: int = 45, limit_offset: float = 0.001):
    """A strategy that follows the newest closed candle's direction, TP/SL from its close (a
    limit entry below/above the close on every fourth slot): both forms, the same function of the
    newest closed bar, long and short."""

    def row(ts: int, open_: float, close: float, step: int) -> dict | None:
        side = 1 if close > open_ else -1 if close < open_ else 0
        if side == 0:
            return None
        out = {"position": "long" if side > 0 else "short",
               "price_take_profit": close * (1 + side * tp_pct / 100),
               "price_stop_loss": close * (1 - side * sl_pct / 100), "minute_estimated_time": lifetime}
        if ts // step % 4 == 0:
            out["price_open"] = close * (1 - side * limit_offset)
        return out

    def get_signal(symbol: str, when: datetime) -> dict | None:
        cfg = farm.get_config()
        window = farm.get_candles(symbol, cfg.base_interval, 2 * cfg.avg_price_candles_count + 1)
        if not len(window):
            return None
        c = window[-1]
        return row(int(c.timestamp), float(c.open), float(c.close), interval_ms(cfg.base_interval))

    def signals(candles: Candles) -> dict:
        step = interval_ms(farm.get_config().base_interval)
        close, open_ = candles.close, candles.open
        side = np.sign(close - open_).astype(np.int8)
        limit = candles.timestamp // step % 4 == 0
        return {"position": side,
                "price_take_profit": close * (1 + side * tp_pct / 100),
                "price_stop_loss": close * (1 - side * sl_pct / 100),
                "minute_estimated_time": lifetime,
                "price_open": np.where(limit & (side != 0), close * (1 - side * limit_offset), np.nan)}

    return get_signal, signals


def parity(strategy: str, symbol: str, exchange: str = "x", frame: str = "f") -> list:
    expected, errors = per_tick(strategy, exchange=exchange, frame=frame, symbol=symbol)
    got = kernel(strategy, exchange=exchange, frame=frame, symbol=symbol)
    assert_same(expected, got.results)
    assert [str(e) for e in got.errors] == errors
    return expected


# ---- point 4: the newest closed bar, at every attempt ----------------------------------------


def test_minimal_gap_case_opens_at_the_next_attempt_on_both_engines():
    """1m candles 00:00–00:30 without 00:09, a 5m strategy that signals when its newest closed
    candle is 00:08: at 00:10 (an attempt) that is still 00:08, so it opens then — per tick and
    on the kernel (which once acted on a bar only at the first tick after it closed)."""
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG)
    ts = [T0 + m * MIN for m in range(31) if m != 9]
    farm.add_exchange("x", DataFrameSource(candles_df(ts)))
    farm.add_frame("f", "1m", T0, T0 + 30 * MIN)
    bar = T0 + 8 * MIN
    dto = {"position": "long", "price_take_profit": 110.0, "price_stop_loss": 90.0, "minute_estimated_time": 5}

    def get_signal(symbol: str, when: datetime) -> dict | None:
        window = farm.get_candles(symbol, "1m", 5)
        return dto if len(window) and int(window.timestamp[-1]) == bar else None

    def signals(candles: Candles) -> dict:
        return {**dto, "position": (candles.timestamp == bar).astype(np.int8)}

    farm.add_strategy("s", "5m", get_signal, signals=signals)
    expected = parity("s", "A")
    assert [r.signal.scheduled_at for r in expected] == [T0 + 10 * MIN]


def test_a_rejected_signal_is_asked_again_at_the_next_attempt():
    """N=3. At 00:09 the row of 00:08 is rejected: the current price (its window holds 00:06's
    heavy candle at 110) is past the TP. 00:09's candle is missing, so at 00:10 the newest
    closed candle is still 00:08: asked again, with 00:06 out of the window, it opens."""
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG, avg_price_candles_count=3)
    df = candles_df([T0 + m * MIN for m in range(31) if m != 9])
    heavy = df.timestamp == T0 + 6 * MIN
    df.loc[heavy, ["high", "close"]] = 110.0
    df.loc[heavy, "volume"] = 10.0
    farm.add_exchange("x", DataFrameSource(df))
    farm.add_frame("f", "1m", T0 + 9 * MIN, T0 + 30 * MIN)
    bar = T0 + 8 * MIN
    dto = {"position": "long", "price_take_profit": 102.0, "price_stop_loss": 90.0, "minute_estimated_time": 5}

    def get_signal(symbol: str, when: datetime) -> dict | None:
        window = farm.get_candles(symbol, "1m", 7)
        return dto if len(window) and int(window.timestamp[-1]) == bar else None

    def signals(candles: Candles) -> dict:
        return {**dto, "position": (candles.timestamp == bar).astype(np.int8)}

    farm.add_strategy("s", "1m", get_signal, signals=signals)
    expected, errors = per_tick("s", symbol="A")
    got = kernel("s", symbol="A")
    assert len(errors) == 1 and "00:09:00" in errors[0] and "priceTakeProfit" in errors[0]
    assert [str(e) for e in got.errors] == errors
    assert_same(expected, got.results)
    assert [(r.signal.scheduled_at, r.signal.price_open) for r in expected] == [(T0 + 10 * MIN, 100.0)]


@pytest.mark.parametrize(("interval", "strategy_interval"), [("1m", "5m"), ("1m", "3m"), ("1m", "15m")])
def test_real_1m_with_gaps_coarse_strategy_interval(interval: str, strategy_interval: str):
    """UNITTEST/BTC (real 1m candles with ~500 missing minutes), strategies coarser than the
    candles on a 1m frame, long and short, TP/SL from the close, limit and market entries."""
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG)
    farm.add_exchange("x", sample_source("1m"))
    farm.add_frame("f", interval, "2017-11-05", "2017-11-14")
    get_signal, signals = direction_forms()
    farm.add_strategy("s", strategy_interval, get_signal, signals=signals)
    expected = parity("s", "UNITTEST/BTC")
    assert len(expected) > 100
    assert {r.signal.position for r in expected} == {"long", "short"}


def test_real_5m_symbol_with_gaps():
    """A real 5m pair (3 % of its bars dropped) with the engine's base interval 5m, a 15m
    strategy on a 5m frame."""
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG, base_interval="5m")
    df = pd.read_parquet(sample_dir() / "ETH-BTC_5m.parquet")
    keep = np.random.default_rng(1).random(len(df)) >= 0.03
    farm.add_exchange("x", DataFrameSource(df[keep].reset_index(drop=True), interval="5m"))
    farm.add_frame("f", "5m", "2018-01-11", "2018-01-29")
    get_signal, signals = direction_forms(tp_pct=0.8, sl_pct=0.8, lifetime=240)
    farm.add_strategy("s", "15m", get_signal, signals=signals)
    expected = parity("s", "ETH/BTC")
    assert len(expected) > 50


# ---- point 5: D1 off the candle grid ---------------------------------------------------------


def test_minimal_off_grid_entry_is_priced_from_closed_candles_only():
    """5m candles flat at 100 but the one opening 00:10 (high and close 110), N=1, one tick at
    00:11: the candle of 00:10 closes at 00:15, so the entry is the VWAP of 00:05's (100), not
    106.67 — per tick and on the kernel."""
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG, base_interval="5m", avg_price_candles_count=1)
    df = candles_df([T0 + m * 5 * MIN for m in range(30)])
    df.loc[2, ["high", "close"]] = 110.0
    farm.add_exchange("x", DataFrameSource(df, interval="5m"))
    farm.add_frame("f", "1m", T0 + 11 * MIN, T0 + 11 * MIN)
    dto = {"position": "long", "price_take_profit": 150.0, "price_stop_loss": 50.0, "minute_estimated_time": 60}
    farm.add_strategy("s", "1m", lambda symbol, when: dto,
                      signals=lambda c: {**dto, "position": np.ones(len(c), dtype=np.int8)})
    expected = parity("s", "A")
    assert [r.signal.price_open for r in expected] == [100.0]
    # Resolved from the first candle opening at or after the tick (00:15), expiring on the
    # last slot of its lifetime (00:11 + 60 min − 1 ms → the 5m slot 01:10).
    assert expected[0].close_timestamp == T0 + 70 * MIN


def _eurusd() -> FileSource | DataFrameSource:
    if (SHARED / "EURUSD_1h.parquet").exists():
        return FileSource(SHARED / "{symbol}_{interval}.parquet", "1h")
    # CI without the shared data: synthetic 1h candles with weekend-like gaps.
    df = SyntheticSource(seed=5, volatility=0.002, anchor=T0)("EURUSD", "1h", ms_to_datetime(T0), 3000)
    hour = (df["timestamp"] // (60 * MIN)) % 168
    return DataFrameSource(df[hour < 120].reset_index(drop=True), interval="1h")


@pytest.mark.parametrize("case", ["eurusd-1h-at-30", "1m-over-5m", "15m-at-07"])
def test_off_grid_frames(case: str):
    """Frames whose ticks are off the candle grid: both engines agree, and every entry is the
    VWAP of candles that closed by its tick (recomputed here from the closed candles only)."""
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG)
    if case == "eurusd-1h-at-30":
        farm.set_config(unsafe=True, base_interval="1h", schedule_await_minutes=600)
        source = _eurusd()
        symbol = "EURUSD"
        start = "2017-06-01T00:30:00Z" if isinstance(source, FileSource) else T0 + 200 * 60 * MIN + 30 * MIN
        end = "2017-09-01T00:30:00Z" if isinstance(source, FileSource) else T0 + 2500 * 60 * MIN
        farm.add_frame("f", "1h", start, end)
        forms = direction_forms(tp_pct=0.4, sl_pct=0.4, lifetime=600, limit_offset=0.0005)
    elif case == "1m-over-5m":
        farm.set_config(unsafe=True, base_interval="5m")
        source = sample_source("5m")
        symbol = "ETH/BTC"
        farm.add_frame("f", "1m", "2018-01-12T00:00:00Z", "2018-01-14T00:00:00Z")
        forms = direction_forms(tp_pct=0.5, sl_pct=0.5, lifetime=120)
    else:  # 15m ticks at :07, :22, … over 5m candles
        farm.set_config(unsafe=True, base_interval="5m")
        source = sample_source("5m")
        symbol = "ETH/BTC"
        farm.add_frame("f", "15m", "2018-01-11T00:07:00Z", "2018-01-28T00:00:00Z")
        forms = direction_forms(tp_pct=0.5, sl_pct=0.5, lifetime=120)
    farm.add_exchange("x", source)
    get_signal, signals = forms
    farm.add_strategy("s", "1m", get_signal, signals=signals)
    expected = parity("s", symbol)
    assert len(expected) > 20
    cfg = farm.get_config()
    step = interval_ms(cfg.base_interval)
    n = cfg.avg_price_candles_count
    from farm import registry
    from farm.engine.exchange import ExchangeClient

    first, last = expected[0].signal.scheduled_at, expected[-1].signal.scheduled_at
    a = ExchangeClient(registry.exchanges.get("x")).fetch(
        symbol, cfg.base_interval, first - (n + 2) * step, (last - first) // step + n + 4)
    ts = a.timestamp.tolist()
    off_grid = market = 0
    for r in expected:
        t = r.signal.scheduled_at
        off_grid += t % step != 0
        newest = ts[int(np.searchsorted(a.timestamp, t - step, side="right")) - 1]
        if newest // step % 4 == 0:
            continue  # a limit entry: priced by the strategy
        # A market entry: the VWAP of the candles closed at t, summed here from scratch.
        hi = t // step * step
        window = [i for i in range(len(ts)) if hi - n * step <= ts[i] < hi]
        assert all(ts[i] + step <= t for i in window)
        s_pv = s_v = 0.0
        for i in window:
            s_pv += (a.high[i] + a.low[i] + a.close[i]) / 3 * a.volume[i]
            s_v += a.volume[i]
        assert r.signal.price_open == s_pv / s_v
        market += 1
    assert off_grid > 0 and market > 0


# ---- the current price never uses a candle that closes after the tick ------------------------


@pytest.mark.parametrize(("base", "frame", "offset_min"), [("5m", "1m", 0), ("1h", "1h", 30), ("15m", "1h", 7),
                                                           ("5m", "3m", 1)])
def test_no_entry_price_uses_a_candle_closing_after_its_tick(base: str, frame: str, offset_min: int):
    """Perturb every candle that closes after each tick: the entry at that tick is unchanged,
    per tick and on the kernel."""
    step = interval_ms(base)
    rng = np.random.default_rng(3)
    n = 400
    ts = T0 + np.arange(n, dtype=np.int64) * step
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    df = pd.DataFrame({"timestamp": ts, "open": close, "high": close * 1.002, "low": close * 0.998, "close": close,
                       "volume": rng.uniform(1, 10, n)})
    dto = {"position": "long", "price_take_profit": 1e6, "price_stop_loss": 1e-6, "minute_estimated_time": 1}
    ticks = [int(T0 + 100 * step + offset_min * MIN + k * interval_ms(frame)) for k in range(12)]
    entries = {}
    for perturbed in (False, True):
        for t in ticks:
            farm.clear_registry()
            farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG, base_interval=base)
            d = df.copy()
            if perturbed:
                later = d.timestamp + step > t
                d.loc[later, ["open", "high", "low", "close"]] *= 1.5
                d.loc[later, "volume"] *= 7
            farm.add_exchange("x", DataFrameSource(d, interval=base))
            farm.add_frame("f", frame, t, t)
            farm.add_strategy("s", "1m", lambda symbol, when: dto,
                              signals=lambda c: {**dto, "position": np.ones(len(c), dtype=np.int8)})
            expected = parity("s", "A")
            entries.setdefault(t, []).append(expected[0].signal.price_open)
    assert all(a == b for a, b in entries.values())


def test_a_row_rejected_at_every_attempt_of_a_gap_is_reported_each_time():
    """An invalid row whose bar stays the newest for seven attempts (00:09–00:15; minutes 00:09–00:14
    missing): per tick get_signal is asked and fails seven times; the kernel reports the same seven
    errors (more than one per signalling bar: its output arrays grow)."""
    farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG, avg_price_candles_count=10)
    farm.add_exchange("x", DataFrameSource(candles_df([T0 + m * MIN for m in range(31) if not 9 <= m <= 14])))
    farm.add_frame("f", "1m", T0 + 5 * MIN, T0 + 30 * MIN)
    bar = T0 + 8 * MIN
    bad = {"position": "long", "price_take_profit": 90.0, "price_stop_loss": 80.0, "minute_estimated_time": 5}

    def get_signal(symbol: str, when: datetime) -> dict | None:
        window = farm.get_candles(symbol, "1m", 21)
        return bad if len(window) and int(window.timestamp[-1]) == bar else None

    def signals(candles: Candles) -> dict:
        return {**bad, "position": (candles.timestamp == bar).astype(np.int8)}

    farm.add_strategy("s", "1m", get_signal, signals=signals)
    expected, errors = per_tick("s", symbol="A")
    got = kernel("s", symbol="A")
    assert len(errors) == 7 and expected == [] and got.results == []
    assert [str(e) for e in got.errors] == errors
