"""Property tests for issue #10 points 1, 4 and 5: on drawn candle paths with gaps, strategy
intervals coarser than the candles, frames off the candle grid (1m–1h ticks starting at any
minute over 1m or 5m candles) and histories that start long before the warm-up (optionally
after an earlier run in the same process), the kernel gives the per-tick engine's records and
errors exactly, and no entry price uses a candle that closes after its tick."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import farm
from farm.data.sources import DataFrameSource
from farm.intervals import interval_ms
from tests.conftest import MIN, REFERENCE_TEST_CONFIG, T0
from tests.kernel.helpers import assert_same, kernel, per_tick
from tests.kernel.test_property import Spec, forms

HISTORY = 3000
"""Base candles before the frame: more than the engines' warm-up (1440)."""


@st.composite
def scenarios(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    base = draw(st.sampled_from(["1m", "5m"]))
    step = interval_ms(base)
    frame_interval = draw(st.sampled_from(["1m", "3m", "5m", "15m", "1h"]))
    offset = draw(st.integers(0, 59)) * MIN
    strategy_interval = draw(st.sampled_from(["1m", "3m", "5m", "15m", "1h"]))
    span = draw(st.integers(20, 200)) * step
    rng = np.random.default_rng(seed)
    n = HISTORY + span // step + 200
    close = 100 * np.exp(np.cumsum(rng.normal(0, draw(st.sampled_from([0.001, 0.004])), n)))
    if draw(st.booleans()):
        close = np.round(close, 1)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.003, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.003, n))
    volume = np.where(rng.random(n) < draw(st.sampled_from([0.0, 0.2])), 0.0, rng.uniform(1, 100, n))
    ts = T0 + (np.arange(n, dtype=np.int64) - HISTORY) * step
    keep = rng.random(n) >= draw(st.sampled_from([0.0, 0.05, 0.3]))
    keep[-3:] = True
    df = pd.DataFrame({"timestamp": ts, "open": open_, "high": high, "low": low, "close": close,
                       "volume": volume})[keep].reset_index(drop=True)
    start = T0 + offset
    p_signal = draw(st.sampled_from([0.1, 0.5, 1.0]))
    specs = {}
    for t in df["timestamp"].tolist():
        if start - 2 * step <= t < start + span and rng.random() < p_signal:
            specs[int(t)] = Spec(
                side=int(rng.choice([-1, 1])), limit=bool(rng.random() < 0.4),
                offset=float(rng.choice([0.0, 0.001, 0.003, -0.002])),
                tp_pct=float(rng.uniform(0.05, 2.0)), sl_pct=float(rng.uniform(0.05, 2.0)),
                lifetime=int(rng.integers(1, 120)), invalid=bool(rng.random() < 0.1),
            )
    config = {
        "base_interval": base,
        "avg_price_candles_count": draw(st.sampled_from([1, 3, 5])),
        "percent_slippage": draw(st.sampled_from([0.0, 0.1])),
        "schedule_await_minutes": draw(st.sampled_from([20, 120])),
    }
    dirty = draw(st.booleans())
    return df, specs, (frame_interval, start, start + span), strategy_interval, config, dirty


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_kernel_equals_per_tick_with_gaps_coarse_intervals_off_grid(scenario):
    df, specs, (frame_interval, start, end), strategy_interval, config, dirty = scenario
    farm.clear_registry()
    farm.set_config(unsafe=True, **{**REFERENCE_TEST_CONFIG, **config})
    farm.add_exchange("x", DataFrameSource(df, interval=config["base_interval"]))
    farm.add_frame("f", frame_interval, start, end)
    get_signal, signals = forms(specs)
    farm.add_strategy("s", strategy_interval, get_signal, signals=signals)
    if dirty:  # an earlier run in this process: the memoised candle series starts before it
        farm.add_frame("early", frame_interval, start - 2000 * MIN, start - 1000 * MIN)
        per_tick("s", frame="early")
    expected, errors = per_tick("s")
    got = kernel("s")
    assert_same(expected, got.results)
    assert [str(e) for e in got.errors] == errors


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    base=st.sampled_from(["1m", "5m", "15m", "1h"]),
    frame_interval=st.sampled_from(["1m", "3m", "5m", "15m", "1h", "4h"]),
    offset=st.integers(0, 239),
    n_avg=st.sampled_from([1, 2, 5]),
)
def test_no_entry_uses_a_candle_closing_after_its_tick(seed, base, frame_interval, offset, n_avg):
    """At any tick of any frame: perturb every candle that closes after the tick (prices ×1.5,
    volume ×7) and the market entry at that tick is unchanged, per tick and on the kernel."""
    step = interval_ms(base)
    rng = np.random.default_rng(seed)
    n = 300
    ts = T0 + np.arange(n, dtype=np.int64) * step
    keep = rng.random(n) >= 0.1
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    df = pd.DataFrame({"timestamp": ts, "open": close, "high": close * 1.002, "low": close * 0.998,
                       "close": close, "volume": rng.uniform(1, 10, n)})[keep].reset_index(drop=True)
    t = int(T0 + 150 * step + (offset * MIN) % (100 * step))  # inside the data, any minute off the grid
    signal = {"position": "long", "price_take_profit": 1e6, "price_stop_loss": 1e-6, "minute_estimated_time": 1}
    entries = []
    for perturbed in (False, True):
        farm.clear_registry()
        farm.set_config(unsafe=True, **REFERENCE_TEST_CONFIG, base_interval=base, avg_price_candles_count=n_avg)
        d = df.copy()
        if perturbed:
            later = d.timestamp + step > t
            d.loc[later, ["open", "high", "low", "close"]] *= 1.5
            d.loc[later, "volume"] *= 7
        farm.add_exchange("x", DataFrameSource(d, interval=base))
        farm.add_frame("f", frame_interval, t, t)
        farm.add_strategy("s", "1m", lambda symbol, when: signal,
                          signals=lambda c: {**signal, "position": np.ones(len(c), dtype=np.int8)})
        expected, _ = per_tick("s", symbol="A")
        got = kernel("s", symbol="A")
        assert_same(expected, got.results)
        entries.append([r.signal.price_open for r in expected])
    assert entries[0] == entries[1]
