"""The column forms of a vectorised strategy's result: one value, one per bar, one per signal —
the same table and the same trades whichever a strategy uses."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import farm  # noqa: E402
import strategies.sma_cross as sma  # noqa: E402
from farm.data.sources import SyntheticSource  # noqa: E402
from farm.kernel import average_prices, to_table  # noqa: E402
from farm.models import Candles  # noqa: E402
from tests.conftest import MIN, T0  # noqa: E402
from tests.kernel.helpers import SYMBOL, assert_same, kernel, per_tick  # noqa: E402


def candles(n: int = 3000) -> Candles:
    from farm.models import ms_to_datetime

    source = SyntheticSource(seed=9, volatility=0.002, gap_probability=0.01, anchor=T0)
    return Candles.from_frame(source("A", "1m", ms_to_datetime(T0), n))


def test_per_signal_columns_spread_to_the_per_bar_table():
    c = candles()
    position = sma.vectorised_signals(c, **sma.PARAMS)["position"]
    assert 5 < np.count_nonzero(position) < len(c)
    price_bar = average_prices(c, where=position)
    price_sig = average_prices(c, at=position)
    assert price_sig.tolist() == price_bar[position != 0].tolist()  # bit for bit
    per_bar = to_table({"position": position, "price_take_profit": price_bar * 1.02, "price_stop_loss": price_bar * 0.99,
                        "minute_estimated_time": 60}, c)
    per_sig = to_table({"position": position, "price_take_profit": price_sig * 1.02, "price_stop_loss": price_sig * 0.99,
                        "minute_estimated_time": 60}, c)
    _, floats, modes = per_sig.kernel_columns()
    assert modes.tolist() == [0, 2, 2, 0] and len(floats[1]) == np.count_nonzero(position)
    for name in ("price_take_profit", "price_stop_loss", "minute_estimated_time", "price_open"):
        np.testing.assert_array_equal(getattr(per_sig, name), getattr(per_bar, name))
    assert [per_sig.dto(i) for i in range(len(c))] == [per_bar.dto(i) for i in range(len(c))]


def test_a_column_of_another_length_is_refused():
    c = candles(200)
    position = np.zeros(len(c), dtype=np.int8)
    position[[10, 50, 90]] = 1
    with pytest.raises(farm.errors.SchemaError, match=r"expected \(200,\) \(one row per candle\) or \(3,\)"):
        to_table({"position": position, "price_take_profit": np.ones(4), "price_stop_loss": 1.0,
                  "minute_estimated_time": 5}, c)


@pytest.mark.parametrize("form", ["per-bar", "per-signal"])
def test_both_forms_trade_like_the_per_tick_strategy(form):
    """sma_cross's vectorised form with its prices per bar (NaN between) or per signal."""

    def signals(candles: Candles, **params) -> dict:
        out = sma.vectorised_signals(candles, **params)
        if form == "per-bar":
            where = out["position"] != 0
            for key in ("price_take_profit", "price_stop_loss"):
                full = np.full(len(candles), np.nan)
                full[where] = out[key]
                out[key] = full
        return out

    farm.add_exchange("x", SyntheticSource(seed=21, volatility=0.002, gap_probability=0.01, anchor=T0))
    farm.add_frame("f", "1m", T0, T0 + 1440 * MIN)
    farm.add_strategy("s", "1m", sma.get_signal, signals=signals, params={**sma.PARAMS, "fast": 5, "slow": 20})
    expected, _ = per_tick("s", symbol=SYMBOL)
    assert len(expected) >= 5
    assert_same(expected, kernel("s", symbol=SYMBOL).results)
