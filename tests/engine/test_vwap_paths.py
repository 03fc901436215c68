"""The VWAP of the fast-forward (vectorised, with a gap-free fast path) must equal the scalar
VWAP bit for bit, or a backtest's numbers would depend on which path ran."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from farm.engine.exchange import CandleSeries
from farm.models import CandleArrays


def series(ts: np.ndarray, close: np.ndarray, volume: np.ndarray) -> CandleSeries:
    s = CandleSeries.__new__(CandleSeries)
    s.step = 60_000
    s.bad = {}
    s._bad_ts = np.empty(0, dtype=np.int64)
    s._set(CandleArrays(ts, close.copy(), close + 0.1, close - 0.1, close.copy(), volume))
    return s


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 8),
    length=st.integers(10, 90),
    gaps=st.booleans(),
    zero_volume_share=st.sampled_from([0.0, 0.1, 1.0]),
)
def test_vectorised_vwap_equals_scalar_vwap(seed, n, length, gaps, zero_volume_share):
    rng = np.random.default_rng(seed)
    slots = np.arange(length)
    if gaps:
        slots = np.sort(rng.choice(np.arange(3 * length), length, replace=False))
    ts = slots.astype(np.int64) * 60_000
    close = rng.uniform(1, 2, length)
    volume = rng.uniform(0, 10, length)
    volume[rng.random(length) < zero_volume_share] = 0.0
    s = series(ts, close, volume)
    i0 = int(rng.integers(0, length // 2))
    i1 = int(rng.integers(i0 + 1, length + 1))
    got = s.vwaps_ending(i0, i1, n)
    expected = np.array([s.vwap_ending(j, n) for j in range(i0, i1)])
    assert np.array_equal(got, expected)
