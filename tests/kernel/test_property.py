"""Property tests: random candle paths (gaps, zero volume, wide candles, exact ties with entry
prices), random signals on fixed bars — long/short, market/limit, random TP/SL/lifetime, some
invalid — written in both forms. The kernel must give the per-tick engine's trades and errors
exactly, and a long and its mirrored short must close together with mirrored PnL."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("numba")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import farm  # noqa: E402
from farm.data.sources import DataFrameSource  # noqa: E402
from farm.kernel import average_prices  # noqa: E402
from farm.models import Candles  # noqa: E402
from strategies import close_price  # noqa: E402
from tests.conftest import MIN, REFERENCE_TEST_CONFIG, T0  # noqa: E402
from tests.kernel.helpers import assert_same, kernel, per_tick  # noqa: E402

WARMUP = 20
AWAIT = 20
MAX_LIFETIME = 40


@dataclass(frozen=True)
class Spec:
    side: int
    limit: bool
    offset: float
    tp_pct: float
    sl_pct: float
    lifetime: int
    invalid: bool


@st.composite
def scenarios(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    frame_minutes = draw(st.integers(5, 120))
    rng = np.random.default_rng(seed)
    n = WARMUP + frame_minutes + AWAIT + MAX_LIFETIME + 10
    vol = draw(st.sampled_from([0.0005, 0.002, 0.01]))
    close = 100 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    if draw(st.booleans()):
        close = np.round(close, 1)  # coarse ticks: flat stretches, exact ties
    open_ = np.r_[close[0], close[:-1]]
    wick = draw(st.sampled_from([0.0, 0.002, 0.01]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, wick, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, wick, n))
    volume = np.where(rng.random(n) < draw(st.sampled_from([0.0, 0.2, 1.0])), 0.0, rng.uniform(1, 100, n))
    ts = T0 + (np.arange(n, dtype=np.int64) - WARMUP) * MIN
    keep = rng.random(n) >= draw(st.sampled_from([0.0, 0.05, 0.3]))
    keep[-3:] = True
    df = pd.DataFrame({"timestamp": ts, "open": open_, "high": high, "low": low, "close": close,
                       "volume": volume})[keep].reset_index(drop=True)
    p_signal = draw(st.sampled_from([0.05, 0.3, 1.0]))
    specs = {}
    for t in df["timestamp"]:
        if T0 - MIN <= t < T0 + frame_minutes * MIN and rng.random() < p_signal:
            specs[int(t)] = Spec(
                side=int(rng.choice([-1, 1])), limit=bool(rng.random() < 0.4),
                offset=float(rng.choice([0.0, 0.001, 0.003, -0.002])),
                tp_pct=float(rng.uniform(0.05, 2.0)), sl_pct=float(rng.uniform(0.05, 2.0)),
                lifetime=int(rng.integers(1, MAX_LIFETIME + 1)), invalid=bool(rng.random() < 0.05),
            )
    config = {
        "avg_price_candles_count": draw(st.sampled_from([1, 3, 5])),
        "percent_slippage": draw(st.sampled_from([0.0, 0.1])),
        "percent_fee": draw(st.sampled_from([0.0, 0.1])),
    }
    interval = draw(st.sampled_from(["1m", "3m", "15m"]))
    return df, specs, frame_minutes, config, interval


def dto(spec: Spec, reference: float, close: float) -> dict:
    """One signal from the bar's close and the VWAP at its close (same arithmetic in both forms)."""
    price_open = close * (1 - spec.side * spec.offset) if spec.limit else None
    base = price_open if spec.limit else reference
    tp = base * (1 + spec.side * spec.tp_pct / 100)
    sl = base * (1 - spec.side * spec.sl_pct / 100)
    if spec.invalid:
        tp, sl = sl, tp
    out = {"position": "long" if spec.side > 0 else "short", "price_take_profit": tp, "price_stop_loss": sl,
           "minute_estimated_time": spec.lifetime}
    if price_open is not None:
        out["price_open"] = price_open
    return out


def forms(specs: dict[int, Spec]):
    def get_signal(symbol: str, when: datetime) -> dict | None:
        # The newest closed candle, also after a gap at the end (a tick whose newest candle is
        # more than N slots old has no current price and is never asked), and the price at its
        # close: the same answer at every tick until a newer candle closes, as a row means.
        cfg = farm.get_config()
        window = farm.get_candles(symbol, cfg.base_interval, 2 * cfg.avg_price_candles_count + 1)
        if not len(window):
            return None
        spec = specs.get(int(window.timestamp[-1]))
        if spec is None:
            return None
        return dto(spec, close_price(window), float(window.close[-1]))

    def signals(candles: Candles) -> dict:
        n = len(candles)
        out = {k: np.full(n, np.nan) for k in ("price_open", "price_take_profit", "price_stop_loss",
                                                "minute_estimated_time")}
        out["position"] = np.zeros(n)
        prices = average_prices(candles)
        for i, t in enumerate(candles.timestamp.tolist()):
            spec = specs.get(t)
            if spec is None:
                continue
            row = dto(spec, float(prices[i]), float(candles.close[i]))
            out["position"][i] = spec.side
            out["price_open"][i] = row.get("price_open", math.nan)
            for key in ("price_take_profit", "price_stop_loss", "minute_estimated_time"):
                out[key][i] = row[key]
        return out

    return get_signal, signals


def setup_run(df, frame_minutes, config):
    farm.set_config(unsafe=True, **{**REFERENCE_TEST_CONFIG, **config, "schedule_await_minutes": AWAIT})
    farm.add_exchange("x", DataFrameSource(df))
    farm.add_frame("f", "1m", T0, T0 + frame_minutes * MIN)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_kernel_equals_per_tick_engine(scenario):
    df, specs, frame_minutes, config, interval = scenario
    farm.clear_registry()
    setup_run(df, frame_minutes, config)
    get_signal, signals = forms(specs)
    farm.add_strategy("s", interval, get_signal, signals=signals)
    expected, errors = per_tick("s")
    got = kernel("s")
    assert_same(expected, got.results)
    assert [str(e) for e in got.errors] == errors
    for r in got.results:
        if r.action == "closed":
            assert r.signal.pending_at <= r.close_timestamp
            assert r.signal.scheduled_at >= T0 and r.signal.scheduled_at <= r.signal.pending_at


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_long_short_mirror(scenario):
    """A market long (TP above, SL below) and the short with TP and SL swapped pass the same
    validation and leave on the same candle; without slippage their PnLs sum to −4·fee unless
    both levels were touched on that candle (then each takes its own TP)."""
    df, specs, frame_minutes, config, interval = scenario
    config = {**config, "percent_slippage": 0.0}
    market_specs = {t: Spec(1, False, 0.0, s.tp_pct, s.sl_pct, s.lifetime, False) for t, s in specs.items()}
    runs = []
    for side in (1, -1):
        farm.clear_registry()
        setup_run(df, frame_minutes, config)
        _, signals = forms(market_specs)

        def mirrored(candles, _signals=signals, _side=side):
            out = _signals(candles)
            if _side < 0:
                out["position"] = -out["position"]
                out["price_take_profit"], out["price_stop_loss"] = out["price_stop_loss"], out["price_take_profit"]
            return out

        farm.add_strategy("s", interval, signals=mirrored)
        runs.append(kernel("s"))
    longs, shorts = (r.results for r in runs)
    assert [(r.signal.pending_at, r.close_timestamp) for r in longs] == [
        (r.signal.pending_at, r.close_timestamp) for r in shorts]
    fee = config["percent_fee"]
    flip = {"take_profit": "stop_loss", "stop_loss": "take_profit", "time_expired": "time_expired"}
    for lo, sh in zip(longs, shorts, strict=True):
        assert lo.signal.price_open == sh.signal.price_open
        if lo.close_reason == sh.close_reason == "take_profit":  # both levels on one candle
            assert lo.pnl.price_close == lo.signal.price_take_profit and sh.pnl.price_close == sh.signal.price_take_profit
            continue
        assert sh.close_reason == flip[lo.close_reason]
        assert sh.pnl.price_close == lo.pnl.price_close
        assert math.isclose(lo.pnl.pnl_percentage + sh.pnl.pnl_percentage, -4 * fee, rel_tol=0, abs_tol=1e-12)
