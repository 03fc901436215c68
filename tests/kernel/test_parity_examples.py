"""Every bundled strategy with both forms (issue #6 point 4): `get_signal` on the per-tick
engine and `vectorised_signals` on the compiled kernel give identical trade lists — entry and
exit times, prices, close reasons, PnL, notes — on synthetic candles with gaps and on the real
candles of ../shared/data (1m and 5m files, gaps included), long and short."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("numba")

import farm  # noqa: E402
import strategies  # noqa: E402
import strategies.breakout_retest as breakout  # noqa: E402
import strategies.mean_reversion as reversion  # noqa: E402
import strategies.sma_cross as sma  # noqa: E402
from farm.data.sample import sample_dir  # noqa: E402
from farm.data.sources import DataFrameSource, FileSource, SyntheticSource  # noqa: E402
from tests.conftest import MIN, T0  # noqa: E402
from tests.kernel.helpers import SYMBOL, assert_same, kernel, per_tick  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared real data not present ({SHARED})")


def real_data(symbol: str, interval: str) -> Path:
    """The folder holding `symbol`'s real candles: ../shared/data, else the copies bundled with
    the package (UNITTEST/BTC 1m and four 5m pairs), so a clone without ../shared still runs
    the real-data parity on those; other symbols skip there."""
    name = f"{symbol.replace('/', '-')}_{interval}.parquet"
    for folder in (SHARED, sample_dir()):
        if (folder / name).exists():
            return folder
    pytest.skip(f"real candles {name} not present (neither {SHARED} nor the bundled sample data)")

MODULES = {"sma_cross": sma, "mean_reversion": reversion, "breakout_retest": breakout}
VARIANTS = {
    "sma_cross": {"standard": sma.PARAMS, "short": {**sma.PARAMS, "fast": 5, "slow": 20, "lifetime": 30}},
    "mean_reversion": {
        "standard": reversion.PARAMS,
        "active": {**reversion.PARAMS, "window": 30, "width": 2.0, "min_move_pct": 0.5, "lifetime": 60},
    },
    "breakout_retest": {
        "standard": breakout.PARAMS,
        "short": {**breakout.PARAMS, "channel": 20, "tp_pct": 0.8, "sl_pct": 0.6, "lifetime": 60},
    },
}
CASES = [(name, variant) for name, variants in VARIANTS.items() for variant in variants]


def check(name: str, variant: str, interval: str | None = None, symbol: str = SYMBOL) -> list:
    """Both forms of one bundled strategy on exchange "x", frame "f": the same records and the
    same rejected signals. Returns the per-tick results."""
    module = MODULES[name]
    schema = module.register()
    strategy = f"{name}-{variant}"
    farm.add_strategy(strategy, interval or schema.interval, module.get_signal, signals=module.vectorised_signals,
                      params=VARIANTS[name][variant])
    expected, errors = per_tick(strategy, symbol=symbol)
    got = kernel(strategy, symbol=symbol)
    assert_same(expected, got.results)
    assert [str(e) for e in got.errors] == errors
    return expected


def test_every_bundled_strategy_has_both_forms():
    """The examples register their vectorised form, so `Backtest.run` can take the kernel."""
    for name in strategies.register_all():
        schema = next(s for s in farm.list_strategies() if s.strategy_name == name)
        assert schema.signals is MODULES[name].vectorised_signals, name


def jumpy(seed: int, days: int, gaps: float) -> pd.DataFrame:
    """1m candles of a random walk with sudden heavy-volume moves of ±3–6 % (so breakouts run
    past the lagging VWAP and bands are breached both ways), `gaps` of the minutes missing."""
    rng = np.random.default_rng(seed)
    n = (days + 2) * 1440
    steps = rng.normal(0, 0.0008, n)
    jumps = rng.random(n) < 0.004
    steps[jumps] += rng.choice([-1, 1], jumps.sum()) * rng.uniform(0.03, 0.06, jumps.sum())
    close = 100 * np.exp(np.cumsum(steps))
    open_ = np.r_[100.0, close[:-1]]
    wick = np.abs(rng.normal(0, 0.0005, (2, n)))
    frame = pd.DataFrame({
        "timestamp": T0 - 1440 * MIN + np.arange(n, dtype=np.int64) * MIN, "open": open_,
        "high": np.maximum(open_, close) * (1 + wick[0]), "low": np.minimum(open_, close) * (1 - wick[1]),
        "close": close,
        "volume": np.where(jumps, 500.0, np.where(rng.random(n) < 0.05, 0.0, rng.uniform(1, 50, n))),
    })
    return frame[rng.random(n) >= gaps].reset_index(drop=True)


@pytest.mark.parametrize(("name", "variant"), CASES)
@pytest.mark.parametrize("gaps", [0.0, 0.01])
def test_synthetic(name, variant, gaps):
    farm.add_exchange("x", SyntheticSource(seed=11, volatility=0.003, gap_probability=gaps, anchor=T0))
    farm.add_frame("f", "1m", T0, T0 + 4 * 1440 * MIN)
    results = check(name, variant)
    if name != "breakout_retest":  # a plain random walk never leaves its VWAP beyond the channel
        assert len(results) >= 3, Counter(r.action for r in results)


@pytest.mark.parametrize(("name", "variant"), CASES)
@pytest.mark.parametrize("interval", ["1m", None])
def test_synthetic_jumps(name, variant, interval):
    """Sudden moves and 2 % missing minutes, at 1m and at the registered interval."""
    farm.add_exchange("x", DataFrameSource(jumpy(seed=4, days=5, gaps=0.02)))
    farm.add_frame("f", "1m", T0, T0 + 5 * 1440 * MIN)
    assert len(check(name, variant, interval=interval)) >= 1


@pytest.mark.parametrize(("name", "variant"), [("mean_reversion", "active"), ("breakout_retest", "short")])
def test_synthetic_both_sides(name, variant):
    """The two-sided examples open longs and shorts, and both forms agree on all of them."""
    farm.add_exchange("x", DataFrameSource(jumpy(seed=4, days=5, gaps=0.02)))
    farm.add_frame("f", "1m", T0, T0 + 5 * 1440 * MIN)
    sides = Counter(r.signal.position for r in check(name, variant, interval="1m"))
    assert sides["long"] >= 1 and sides["short"] >= 1, sides


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_real_1m(name, variant):
    """UNITTEST/BTC 1m: ~500 missing minutes, flat stretches, both sides."""
    farm.add_exchange("x", FileSource(real_data("UNITTEST/BTC", "1m") / "{symbol}_{interval}.parquet", "1m"))
    farm.add_frame("f", "1m", "2017-11-05T00:00:00Z", "2017-11-14T12:00:00Z")
    results = check(name, variant, symbol="UNITTEST/BTC")
    assert len(results) >= 2


@pytest.mark.parametrize(("name", "variant"), CASES)
@pytest.mark.parametrize("symbol", ["ETH/BTC", "XMR/BTC"])
def test_real_5m(name, variant, symbol):
    """The 5m pairs with a 5m base interval (the kernel's step is the base candle's)."""
    farm.set_config(base_interval="5m")
    farm.add_exchange("x", FileSource(real_data(symbol, "5m") / "{symbol}_{interval}.parquet", "5m"))
    farm.add_frame("f", "5m", "2018-01-12T00:00:00Z", "2018-01-29T00:00:00Z")
    check(name, variant, interval="5m", symbol=symbol)


@needs_shared
def test_real_data_trades_both_sides():
    """On the real 5m pairs the two-sided examples open longs and shorts (what the parity runs
    above compare)."""
    farm.set_config(base_interval="5m")
    farm.add_exchange("x", FileSource(SHARED / "{symbol}_{interval}.parquet", "5m"))
    farm.add_frame("f", "5m", "2018-01-12T00:00:00Z", "2018-01-29T00:00:00Z")
    for name, variant in [("mean_reversion", "active"), ("breakout_retest", "short")]:
        sides = Counter(r.signal.position for r in check(name, variant, interval="5m", symbol="XMR/BTC"))
        assert sides["long"] >= 1 and sides["short"] >= 1, (name, sides)


@pytest.mark.parametrize(("name", "variant"), CASES)
@pytest.mark.parametrize("interval", ["5m", "15m"])
def test_real_1m_coarse_strategy_interval(name, variant, interval):
    """UNITTEST/BTC 1m with a strategy interval coarser than the candles (issue #10.4): an
    attempt after a missing minute reads the newest closed bar again, in both forms."""
    farm.add_exchange("x", FileSource(real_data("UNITTEST/BTC", "1m") / "{symbol}_{interval}.parquet", "1m"))
    farm.add_frame("f", "1m", "2017-11-05T00:00:00Z", "2017-11-14T12:00:00Z")
    check(name, variant, interval=interval, symbol="UNITTEST/BTC")


@pytest.mark.parametrize(("name", "variant"), CASES)
@pytest.mark.parametrize(("frame_interval", "start"), [("1m", "2018-01-12T00:00:00Z"), ("15m", "2018-01-12T00:07:00Z"),
                                                       ("1h", "2018-01-12T00:32:00Z")])
def test_real_5m_off_grid_frames(name, variant, frame_interval, start):
    """A 5m pair under frames whose ticks fall between candle opens (issue #10.5), with 1% of
    the bars removed: both forms agree."""
    farm.set_config(base_interval="5m")
    frame = pd.read_parquet(real_data("ETH/BTC", "5m") / "ETH-BTC_5m.parquet")
    keep = np.random.default_rng(2).random(len(frame)) >= 0.01
    farm.add_exchange("x", DataFrameSource(frame[keep].reset_index(drop=True), interval="5m"))
    farm.add_frame("f", frame_interval, start, "2018-01-29T00:00:00Z")
    check(name, variant, interval="5m", symbol="ETH/BTC")
