"""The standard strategy in both forms: per-tick `get_signal` on the per-tick engine and
`vectorised_signals` on the compiled kernel give identical trade lists (issue #6 acceptance),
on synthetic candles with and without gaps and on the bundled real candles, at strategy
intervals 1m and 15m."""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("numba")

import farm  # noqa: E402
import strategies.sma_cross as sma  # noqa: E402
from farm.data.sample import sample_source  # noqa: E402
from farm.data.sources import SyntheticSource  # noqa: E402
from tests.conftest import MIN, T0  # noqa: E402
from tests.kernel.helpers import SYMBOL, assert_same, kernel, per_tick  # noqa: E402

VARIANTS = {
    "standard": sma.PARAMS,
    "short-lived": {**sma.PARAMS, "fast": 5, "slow": 20, "lifetime": 30},
}


def both_forms(interval: str, params: dict) -> str:
    farm.add_strategy("sma", interval, sma.get_signal, signals=sma.vectorised_signals, params=params)
    return "sma"


def check(interval: str, params: dict, symbol: str = SYMBOL) -> list:
    name = both_forms(interval, params)
    expected, errors = per_tick(name, symbol=symbol)
    got = kernel(name, symbol=symbol)
    assert_same(expected, got.results)
    assert [str(e) for e in got.errors] == errors
    assert got.path == "kernel"
    return expected


@pytest.mark.parametrize("interval", ["1m", "15m"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("gaps", [0.0, 0.005, 0.02])
def test_synthetic(interval, variant, gaps):
    farm.add_exchange("x", SyntheticSource(seed=16, volatility=0.002, gap_probability=gaps, anchor=T0))
    farm.add_frame("f", "1m", T0, T0 + 4 * 1440 * MIN)
    results = check(interval, VARIANTS[variant])
    reasons = Counter(r.close_reason for r in results)
    assert sum(reasons.values()) >= (10 if interval == "1m" else 2), reasons


@pytest.mark.parametrize("interval", ["1m", "15m"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_real_candles(interval, variant):
    """UNITTEST/BTC 1m (the golden test's data: ~540 gaps, flat stretches where averages tie)."""
    farm.add_exchange("x", sample_source("1m"))
    farm.add_frame("f", "1m", "2017-11-05T00:00:00Z", "2017-11-14T12:00:00Z")
    results = check(interval, VARIANTS[variant], symbol="UNITTEST/BTC")
    assert len(results) >= (10 if interval == "1m" else 2)


def test_fees_and_slippage_follow_config():
    farm.set_config(percent_slippage=0.05, percent_fee=0.2)
    farm.add_exchange("x", SyntheticSource(seed=5, volatility=0.002, anchor=T0))
    farm.add_frame("f", "1m", T0, T0 + 1440 * MIN)
    check("1m", VARIANTS["short-lived"])


def test_sweep_variants_match_per_tick_runs():
    """`run_sweep` (one market, many variants) gives each variant's per-tick trades."""
    from farm.config import get_config
    from farm.kernel import KernelConfig, load_market, run_sweep

    farm.add_exchange("x", SyntheticSource(seed=2, volatility=0.002, gap_probability=0.02, anchor=T0))
    farm.add_frame("f", "1m", T0, T0 + 1440 * MIN)
    farm.add_strategy("sma", "1m", sma.get_signal, signals=sma.vectorised_signals, params=sma.PARAMS)
    grid = [{**sma.PARAMS, "fast": f, "slow": s} for f, s in [(5, 20), (10, 50), (20, 40), (40, 20)]]
    market = load_market(SYMBOL, "x", "f")
    swept = run_sweep(market, sma.vectorised_signals, grid, "1m", KernelConfig.from_engine(get_config()))
    for params, trades in zip(grid, swept, strict=True):
        name = farm.variant("sma", fast=params["fast"], slow=params["slow"])
        expected, _ = per_tick(name)
        assert trades.close_timestamp.tolist() == [r.close_timestamp for r in expected]
        assert trades.pending_at.tolist() == [r.signal.pending_at for r in expected]
        assert trades.pnl.tolist() == [r.pnl.pnl_percentage for r in expected]
