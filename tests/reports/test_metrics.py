"""Standard statistics (farm.metrics): hand-computed cases, and agreement with backtesting.py.

The acceptance test runs backtesting.py's own SMA(10, 20) cross example on its own EURUSD 1h
data and feeds the very same trades (entry and exit times and prices, through farm's PnL rule
with no fee and no slippage, as backtesting.py runs with no commission) to `compute_stats`,
with the candle closes for marking open trades to market, as backtesting.py values its equity.
The engine itself cannot reproduce backtesting.py's fills (it enters at a VWAP and exits on
TP/SL/lifetime), so the trades are fixed and the statistics compared.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from farm.engine.pnl import pnl_percentage
from farm.metrics import compute_stats
from farm.models import ClosedResult, PnL, SignalRow
from tests.reports import COMMON, T0, closed

DAY = 86_400_000
EURUSD = Path(__file__).resolve().parents[3] / "shared" / "data" / "EURUSD_1h.parquet"
for _candidate in (EURUSD, Path("/work/shared/data/EURUSD_1h.parquet")):
    if _candidate.exists():
        EURUSD = _candidate
        break


def trade(pnl: float, day: float, days: float = 1.0) -> ClosedResult:
    return closed(f"t{day}", pnl, pending_at=T0 + round(day * DAY), minutes=days * 1440)


def test_equity_compounds_net_returns_and_drawdown_is_peak_to_trough():
    # +10 % then −10 %: the sum of percentages says 0, the balance says 0.99.
    trades = [trade(10.0, 0), trade(-10.0, 2)]
    s = compute_stats(trades, start=T0, end=T0 + 10 * DAY)
    assert s.equity_final == pytest.approx(0.99)
    assert s.return_pct == pytest.approx(-1.0)
    # Peak 1.10 after the win, trough 0.99 after the loss: −10 %, not the −1 % below the start.
    assert s.max_drawdown_pct == pytest.approx(-10.0)
    assert s.max_drawdown_duration_days == pytest.approx(9.0)  # from the peak (day 1) to the frame's end
    assert s.profit_factor == pytest.approx(1.0)
    assert s.expectancy_pct == pytest.approx(0.0)
    assert s.trades == 2 and s.win_rate_pct == 50.0
    assert s.best_trade_pct == 10.0 and s.worst_trade_pct == -10.0
    assert s.avg_trade_pct == pytest.approx((math.sqrt(1.1 * 0.9) - 1) * 100)
    assert s.exposure_time_pct == pytest.approx(20.0)  # 2 days in trades of a 10-day frame
    assert s.avg_trade_duration_days == pytest.approx(1.0)


def test_a_fraction_of_the_balance_per_trade():
    s = compute_stats([trade(10.0, 0), trade(-10.0, 2)], start=T0, end=T0 + 10 * DAY, position_fraction=0.5)
    assert s.equity_final == pytest.approx(1.05 * 0.95)


def test_time_based_sharpe_uses_the_calendar_not_the_trade_count():
    # The same three trades over 30 days or over 300 days: per-trade Sharpe is identical, a
    # daily Sharpe is not (more flat days, lower annual return).
    trades = [trade(2.0, 1), trade(-1.0, 5), trade(3.0, 9)]
    short = compute_stats(trades, start=T0, end=T0 + 30 * DAY)
    long = compute_stats(trades, start=T0, end=T0 + 300 * DAY)
    assert short.sharpe_ratio is not None and long.sharpe_ratio is not None
    assert short.sharpe_ratio > long.sharpe_ratio > 0
    assert short.sortino_ratio is not None and short.calmar_ratio is not None


def test_no_trades_and_no_losses_give_na_not_zero_or_infinity():
    empty = compute_stats([], start=T0, end=T0 + 10 * DAY)
    assert empty.trades == 0 and empty.equity_final == 1.0 and empty.return_pct == 0.0
    assert empty.sharpe_ratio is None and empty.sortino_ratio is None and empty.calmar_ratio is None
    assert empty.profit_factor is None and empty.sqn is None and empty.win_rate_pct is None
    winner = compute_stats([trade(1.0, 1)], start=T0, end=T0 + 10 * DAY)
    assert winner.profit_factor is None  # no loss to divide by
    assert winner.sortino_ratio is None  # no down day
    assert winner.calmar_ratio is None  # no drawdown
    assert winner.sqn is None  # one trade has no dispersion


def test_to_series_has_backtesting_py_labels():
    series = compute_stats([trade(2.0, 1), trade(-1.0, 3)], start=T0, end=T0 + 10 * DAY).to_series()
    for label in ("Return [%]", "CAGR [%]", "Max. Drawdown [%]", "Sharpe Ratio", "Sortino Ratio", "Calmar Ratio",
                  "Exposure Time [%]", "Profit Factor", "SQN", "# Trades", "Max. Drawdown Duration"):
        assert label in series.index
    assert series["# Trades"] == 2
    assert series["Duration"] == pd.Timedelta(days=10)
    assert series["Avg. Trade Duration"] == pd.Timedelta(days=1)


# ---- acceptance: agreement with backtesting.py -----------------------------------------------

TOLERANCE = 0.01
"""Relative, for the time-based figures: our daily returns start from the frame's opening
balance (backtesting.py's from the first day's close), one of ~250 daily returns. Trade
figures agree to 1e-9."""


def _sma(values: np.ndarray, n: int) -> np.ndarray:
    return pd.Series(values).rolling(n).mean().to_numpy()


def _backtesting_py_run(df: pd.DataFrame) -> pd.Series:
    backtesting = pytest.importorskip("backtesting")
    from backtesting.lib import crossover

    class SmaCross(backtesting.Strategy):
        def init(self) -> None:
            self.fast = self.I(_sma, self.data.Close, 10)
            self.slow = self.I(_sma, self.data.Close, 20)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell()

    frame = df.set_index(pd.to_datetime(df["timestamp"], unit="ms")).rename(columns=str.capitalize)
    # A large balance: backtesting.py buys whole units, so the leftover cash is negligible and
    # every trade uses the full balance, as farm's default does.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = backtesting.Backtest(frame[["Open", "High", "Low", "Close", "Volume"]], SmaCross, cash=1e9,
                                  commission=0, finalize_trades=True)
        return bt.run()


def _as_closed(row: pd.Series, i: int) -> ClosedResult:
    """backtesting.py's trade as farm's closed result, the PnL by farm's rule (no fee, no slippage)."""
    position = "long" if row.Size > 0 else "short"
    entry, exit_ = int(row.EntryTime.value // 10**6), int(row.ExitTime.value // 10**6)
    sig = SignalRow(id=f"bt{i}", position=position, price_open=row.EntryPrice, price_take_profit=0.0,
                    price_stop_loss=0.0, minute_estimated_time=0, scheduled_at=entry, pending_at=entry, **COMMON)
    pnl = pnl_percentage(position, row.EntryPrice, row.ExitPrice, 0.0, 0.0)
    return ClosedResult(signal=sig, current_price=row.ExitPrice, close_reason="time_expired", close_timestamp=exit_,
                        pnl=PnL(pnl_percentage=pnl, price_open=row.EntryPrice, price_close=row.ExitPrice), **COMMON)


@pytest.mark.skipif(not EURUSD.exists(), reason="EURUSD_1h.parquet (backtesting.py's test data) is not here")
def test_agrees_with_backtesting_py_on_eurusd_sma_cross():
    df = pd.read_parquet(EURUSD)
    theirs = _backtesting_py_run(df)
    trades = [_as_closed(row, i) for i, row in enumerate(theirs["_trades"].itertuples())]
    prices = pd.Series(df["close"].to_numpy(), index=df["timestamp"].to_numpy())
    # EUR/USD does not trade at weekends: 252 trading days a year, as backtesting.py assumes.
    ours = compute_stats(trades, start=int(df["timestamp"].iloc[0]), end=int(df["timestamp"].iloc[-1]),
                         prices=prices, periods_per_year=252).to_series()
    assert ours["# Trades"] == theirs["# Trades"] == 263
    for label in ("Return [%]", "Max. Drawdown [%]", "Exposure Time [%]", "Profit Factor", "Win Rate [%]",
                  "Expectancy [%]", "SQN", "CAGR [%]", "Avg. Drawdown [%]"):
        assert ours[label] == pytest.approx(theirs[label], rel=1e-6), label
    for label in ("Sharpe Ratio", "Sortino Ratio", "Calmar Ratio", "Return (Ann.) [%]", "Volatility (Ann.) [%]"):
        assert ours[label] == pytest.approx(theirs[label], rel=TOLERANCE), label
    assert ours["Max. Drawdown Duration"] == theirs["Max. Drawdown Duration"]


def test_a_short_frame_is_not_extrapolated_to_a_year():
    # +31 % in 9 days would be a CAGR of millions of percent: N/A below 30 days.
    trades = [trade(20.0, 1), trade(-5.0, 3), trade(15.0, 5)]
    short = compute_stats(trades, start=T0, end=T0 + 9 * DAY)
    assert short.return_pct == pytest.approx((1.2 * 0.95 * 1.15 - 1) * 100)
    assert short.cagr_pct is None and short.return_ann_pct is None and short.sharpe_ratio is None
    assert short.sortino_ratio is None and short.calmar_ratio is None
    assert short.max_drawdown_pct == pytest.approx(-5.0)
    long = compute_stats(trades, start="2024-01-01", end="2024-03-01")
    assert long.cagr_pct is not None and long.sharpe_ratio is not None


def test_a_fixed_percentage_sizing_profile_sizes_each_trade_from_its_stop():
    import farm

    # Entry 42,000, stop 41,000: risking 1 % of 10,000 buys 0.1 units = 42 % of the balance.
    farm.add_sizing("risk1", method="fixed-percentage", risk_percentage=1)
    trades = [trade(10.0, 0), trade(-10.0, 2)]
    s = compute_stats(trades, start=T0, end=T0 + 10 * DAY, sizing="risk1")
    assert s.equity_final == pytest.approx((1 + 0.042) * (1 - 0.042))
    assert s.best_trade_pct == pytest.approx(4.2)
    farm.add_sizing("capped", method="fixed-percentage", risk_percentage=1, max_position_percentage=20)
    assert compute_stats(trades, start=T0, end=T0 + 10 * DAY, sizing="capped").equity_final == pytest.approx(1.02 * 0.98)
    farm.add_sizing("kelly", method="kelly-criterion")
    with pytest.raises(ValueError, match="kelly-criterion profile needs inputs"):
        compute_stats(trades, start=T0, end=T0 + 10 * DAY, sizing="kelly")
