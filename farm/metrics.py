"""Standard performance statistics of one backtest, beside the reference's (`farm.stats`).

The reference's figures (SPEC §11.1) are per-trade: a Sharpe ratio of per-trade percentages
annualised by √365 whatever the trade frequency, a total PnL that sums percentages, a
"drawdown" that is not peak-to-trough. They stay, byte-identical, because SPEC pins them. This
module computes the figures a quant reads in backtesting.py's `stats`, from the same trades:

* an equity curve compounded from the trades (their PnL already includes fees and slippage),
  each trade using `position_fraction` of the balance (1.0 = the full balance);
* time-based risk: daily returns over the frame's calendar (not per trade), annualised with
  `periods_per_year` (365 for markets that trade every day; 252 for a market closed at
  weekends), from which the annual return, volatility, Sharpe, Sortino and Calmar ratios come;
* peak-to-trough drawdown and its duration, exposure time, and trade figures (profit factor,
  expectancy, SQN, best/worst/average trade and durations).

Without prices the equity moves only when a trade closes; with `prices` (the close of each
candle) open trades are marked to market at every candle, as backtesting.py does, and
drawdowns inside a trade show.

Annualised return, volatility, Sharpe, Sortino and Calmar use backtesting.py's definitions
(geometric mean daily return compounded over a year; volatility of compounded returns; see
its `_stats.compute_stats`), so the two libraries agree on the same trades; the acceptance test
checks them against backtesting.py on its own EURUSD data. A figure that cannot be computed
(no trades, zero volatility, no losing trade) is `None` (rendered N/A), never 0 or infinity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from farm.models import ClosedResult, Model, datetime_to_ms

if TYPE_CHECKING:
    from farm.schemas import SizingSchema

__all__ = [
    "ZERO_VARIANCE",
    "StandardStats",
    "Trade",
    "compute_stats",
    "trades_of",
]

MS_PER_DAY = 86_400_000
MIN_ANNUALISED_DAYS = 30
"""Shortest frame whose figures are extrapolated to a year (annual return and volatility, CAGR,
Sharpe, Sortino, Calmar): a 9-day frame's +31 % is a CAGR of millions of percent, a number
that informs nobody. Shorter frames report these as N/A."""
ZERO_VARIANCE = 1e-9
"""A dispersion at or below this share of the mean's size counts as none: n identical PnLs give a
float std of ~1e-16 instead of 0 (SPEC §11.4's quirk), which must not make a huge Sharpe ratio."""


class Trade(NamedTuple):
    """What the statistics need of one closed trade."""

    entry: int
    """Open time (ms): the signal's `pending_at`."""
    exit: int
    """Close time (ms)."""
    long: bool
    price_open: float
    ret: float
    """Net return as a fraction (`pnl_percentage / 100`: fees and slippage included)."""
    stop_loss: float = math.nan
    """The signal's stop-loss price (what a fixed-percentage sizing profile risks)."""


def trades_of(closed: Sequence[ClosedResult]) -> list[Trade]:
    """The trades of closed results, in the order they closed (any input order)."""
    trades = [
        Trade(c.signal.pending_at, c.close_timestamp, c.signal.position == "long", c.signal.price_open,
              c.pnl.pnl_percentage / 100, c.signal.price_stop_loss)
        for c in closed
    ]
    return sorted(trades, key=lambda t: (t.exit, t.entry))


def _finite(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class StandardStats(Model):
    """Standard statistics of one run (percentages as percent, durations in days).

    `to_series()` gives them with backtesting.py's labels.
    """

    start: int
    end: int
    exposure_time_pct: float
    equity_final: float
    """Final balance as a multiple of the starting balance (1.0 = unchanged)."""
    equity_peak: float
    return_pct: float
    cagr_pct: float | None = None
    return_ann_pct: float | None = None
    volatility_ann_pct: float | None = None
    sharpe_ratio: float | None = None
    sortino_ratio: float | None = None
    calmar_ratio: float | None = None
    max_drawdown_pct: float
    """Peak-to-trough, negative (or 0): −12.5 means the balance fell 12.5 % below its peak."""
    avg_drawdown_pct: float | None = None
    max_drawdown_duration_days: float | None = None
    avg_drawdown_duration_days: float | None = None
    trades: int
    win_rate_pct: float | None = None
    best_trade_pct: float | None = None
    worst_trade_pct: float | None = None
    avg_trade_pct: float | None = None
    """Geometric mean of the trade returns (what compounding a typical trade gives)."""
    max_trade_duration_days: float | None = None
    avg_trade_duration_days: float | None = None
    profit_factor: float | None = None
    """Sum of winning returns over the size of the sum of losing ones; N/A without a loss."""
    expectancy_pct: float | None = None
    """Arithmetic mean trade return."""
    sqn: float | None = None
    """System quality number: √n · mean / std of the trades' money PnL (on the compounded balance)."""

    def to_series(self) -> pd.Series:
        """The statistics as a pandas Series with backtesting.py's labels (durations as Timedelta)."""

        def days(x: float | None) -> pd.Timedelta | None:
            return None if x is None else pd.Timedelta(days=x)

        start, end = pd.Timestamp(self.start, unit="ms", tz="UTC"), pd.Timestamp(self.end, unit="ms", tz="UTC")
        return pd.Series({
            "Start": start,
            "End": end,
            "Duration": end - start,
            "Exposure Time [%]": self.exposure_time_pct,
            "Equity Final [x]": self.equity_final,
            "Equity Peak [x]": self.equity_peak,
            "Return [%]": self.return_pct,
            "Return (Ann.) [%]": self.return_ann_pct,
            "Volatility (Ann.) [%]": self.volatility_ann_pct,
            "CAGR [%]": self.cagr_pct,
            "Sharpe Ratio": self.sharpe_ratio,
            "Sortino Ratio": self.sortino_ratio,
            "Calmar Ratio": self.calmar_ratio,
            "Max. Drawdown [%]": self.max_drawdown_pct,
            "Avg. Drawdown [%]": self.avg_drawdown_pct,
            "Max. Drawdown Duration": days(self.max_drawdown_duration_days),
            "Avg. Drawdown Duration": days(self.avg_drawdown_duration_days),
            "# Trades": self.trades,
            "Win Rate [%]": self.win_rate_pct,
            "Best Trade [%]": self.best_trade_pct,
            "Worst Trade [%]": self.worst_trade_pct,
            "Avg. Trade [%]": self.avg_trade_pct,
            "Max. Trade Duration": days(self.max_trade_duration_days),
            "Avg. Trade Duration": days(self.avg_trade_duration_days),
            "Profit Factor": self.profit_factor,
            "Expectancy [%]": self.expectancy_pct,
            "SQN": self.sqn,
        }, dtype=object)


# ---- the equity curve ----------------------------------------------------------------------


def _price_series(prices: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(times in ms, closes) of a close-price series indexed by ms integers or datetimes."""
    index = prices.index
    if isinstance(index, pd.DatetimeIndex):
        idx = index if index.tz is not None else index.tz_localize("UTC")
        times = idx.as_unit("ms").asi8
    else:
        times = np.asarray(index, dtype=np.int64)
    return times, prices.to_numpy(dtype=float)


Fraction = Callable[[Trade, float], float]
"""(trade, balance as a multiple of the start) → share of the balance the trade uses."""


class EquityCurve(NamedTuple):
    times: np.ndarray
    """ms, ascending; the first point is the frame's start at balance 1.0."""
    equity: np.ndarray
    balance_before: np.ndarray
    """Balance when each trade (in `trades` order) opened, for the money PnL."""
    fractions: np.ndarray
    """Share of the balance each trade used."""
    exposed: float
    """Share of the bars (with prices) or of the frame's time (without) in a trade."""


def equity_curve(trades: Sequence[Trade], start: int, end: int, *, position_fraction: float | Fraction = 1.0,
                 prices: pd.Series | None = None) -> EquityCurve:
    """The balance over time, starting at 1.0 at `start`.

    Trades compound in the order they closed: after a trade the balance is multiplied by
    `1 + fraction · return` (`position_fraction`: a constant share, or a function of the trade
    and the balance, as a sizing profile gives). Without prices the curve has a point at each trade's close; with
    prices a point at each candle, an open trade valued at that candle's close (entry at its
    open price, no fees until it closes).
    """
    balance = 1.0
    before = np.empty(len(trades))
    after = np.empty(len(trades))
    fractions = np.empty(len(trades))
    for i, t in enumerate(trades):
        before[i] = balance
        fractions[i] = position_fraction(t, balance) if callable(position_fraction) else position_fraction
        balance *= 1 + fractions[i] * t.ret
        after[i] = balance
    exits = np.array([t.exit for t in trades], dtype=np.int64)
    if prices is None:
        # The frame's start and end bracket the closes: a drawdown lasts until the frame ends.
        times = np.concatenate([[start], exits, [max([end, *exits.tolist()])]]).astype(np.int64)
        equity = np.concatenate([[1.0], after, [balance]])
        spans = sorted((max(t.entry, start), min(t.exit, end)) for t in trades)
        covered, reach = 0, start
        for a, b in spans:
            a = max(a, reach)
            if b > a:
                covered, reach = covered + (b - a), b
        exposed = covered / (end - start) if end > start else 0.0
        return EquityCurve(times, equity, before, fractions, exposed)
    times, close = _price_series(prices)
    keep = (times >= start) & (times <= end)
    times, close = times[keep], close[keep]
    # Balance realised at each candle: trades closed at or before it.
    done = np.searchsorted(exits, times, side="right")
    realised = np.concatenate([[1.0], after])[done]
    equity = realised.copy()
    in_trade = np.zeros(len(times), dtype=bool)
    for i, t in enumerate(trades):
        lo, hi = np.searchsorted(times, t.entry, side="left"), np.searchsorted(times, t.exit, side="right")
        in_trade[lo:hi] = True
        hi_open = np.searchsorted(times, t.exit, side="left")  # candles before the close candle
        if hi_open > lo:
            move = close[lo:hi_open] / t.price_open - 1
            equity[lo:hi_open] = before[i] * (1 + fractions[i] * (move if t.long else -move))
    exposed = float(in_trade.mean()) if len(times) else 0.0
    return EquityCurve(times, equity, before, fractions, exposed)


# ---- drawdowns -----------------------------------------------------------------------------


def _drawdowns(times: np.ndarray, equity: np.ndarray) -> tuple[float, list[float], list[float]]:
    """(max drawdown as a fraction ≥ 0, each episode's depth, each episode's duration in days).

    An episode runs from a peak to the next point back at the peak (or to the last point if
    the balance never recovers); its duration is the time between the two.
    """
    if len(equity) == 0:
        return 0.0, [], []
    dd = 1 - equity / np.maximum.accumulate(equity)
    at_peak = np.flatnonzero(dd == 0)
    bounds = np.unique(np.concatenate([at_peak, [len(dd) - 1]]))
    depths, durations = [], []
    for prev, nxt in zip(bounds[:-1], bounds[1:], strict=True):
        depth = float(dd[prev : nxt + 1].max())
        if depth > 0:
            depths.append(depth)
            durations.append(float(times[nxt] - times[prev]) / MS_PER_DAY)
    return float(dd.max()), depths, durations


# ---- time-based returns ----------------------------------------------------------------------


def _daily_returns(curve: EquityCurve, start: int, end: int, with_prices: bool) -> np.ndarray:
    """Returns between consecutive UTC day ends, from the frame's start.

    The days are the calendar days of the frame, or with prices the days that have a candle (a
    market closed at weekends has no weekend days).
    """
    s = pd.Series(curve.equity, index=pd.to_datetime(curve.times, unit="ms", utc=True))
    s = s[~s.index.duplicated(keep="last")]
    daily = s.resample("D").last()
    if with_prices:
        daily = daily.dropna()
    else:
        calendar = pd.date_range(pd.Timestamp(start, unit="ms", tz="UTC").floor("D"),
                                 pd.Timestamp(end, unit="ms", tz="UTC").floor("D"), freq="D")
        daily = daily.reindex(calendar).ffill().fillna(1.0)
    values = np.concatenate([[1.0], daily.to_numpy(dtype=float)])
    return values[1:] / values[:-1] - 1


def _geometric_mean(returns: np.ndarray) -> float:
    growth = returns + 1
    if len(growth) == 0 or np.any(growth <= 0):
        return 0.0
    return float(np.exp(np.log(growth).sum() / len(growth)) - 1)


def _is_zero(dispersion: float, scale: float) -> bool:
    return not dispersion > ZERO_VARIANCE * max(abs(scale), 1e-300)


# ---- the one function ----------------------------------------------------------------------


def sizing_fraction(sizing: SizingSchema, initial_balance: float) -> Fraction:
    """The share of the balance a fixed-percentage sizing profile (SPEC §9) puts in each trade:
    its quantity (risking `risk_percentage` % of the balance between entry and stop-loss, with
    the profile's caps) times the entry price over the balance, at most 1 (no leverage).

    Kelly and ATR profiles need inputs the trades do not carry (win rate, ATR): an error.
    """
    from farm.engine.sizing import apply_caps, fixed_percentage

    if sizing.method != "fixed-percentage" or sizing.risk_percentage is None:
        raise ValueError(f"sizing {sizing.sizing_name}: only fixed-percentage profiles size from the trades "
                         f"(a {sizing.method} profile needs inputs the trades do not carry)")
    risk = sizing.risk_percentage

    def fraction(trade: Trade, balance: float) -> float:
        money = balance * initial_balance
        quantity = apply_caps(
            fixed_percentage(money, trade.price_open, trade.stop_loss, risk), money, trade.price_open,
            max_position_percentage=sizing.max_position_percentage, min_position_size=sizing.min_position_size,
            max_position_size=sizing.max_position_size,
        )
        return min(1.0, quantity * trade.price_open / money)

    return fraction


def compute_stats(closed: Sequence[ClosedResult] | Sequence[Trade], *, start: int | str | datetime,
                  end: int | str | datetime,
                  position_fraction: float = 1.0, sizing: str | SizingSchema | None = None,
                  initial_balance: float = 10_000.0, prices: pd.Series | None = None,
                  periods_per_year: int = 365, min_annualised_days: float = MIN_ANNUALISED_DAYS) -> StandardStats:
    """Standard statistics of the trades of one run over the frame `[start, end]` (ms, or a
    datetime or ISO string as `add_frame` takes).

    `closed` are closed results (or `Trade`s) of one symbol; `position_fraction` the share of
    the balance each trade uses (1.0: full balance, the default), or `sizing` a fixed-percentage
    sizing profile (its name or schema) sizing each trade from its stop-loss, on a starting
    balance of `initial_balance` (its absolute caps are in money); `prices` the candle closes
    to mark open trades to market (optional); `periods_per_year` the trading days in a year;
    frames shorter than `min_annualised_days` get no annualised figures (N/A).
    Pure: the same inputs give the same figures on any machine.
    """
    start, end = datetime_to_ms(start), datetime_to_ms(end)
    if not 0 < position_fraction <= 1:
        raise ValueError(f"position_fraction must be in (0, 1], got {position_fraction}")
    if all(isinstance(t, Trade) for t in closed):
        trades = sorted(closed, key=lambda t: (t.exit, t.entry))  # type: ignore[arg-type, union-attr]
    else:
        trades = trades_of(closed)  # type: ignore[arg-type]
    share: float | Fraction = position_fraction
    if sizing is not None:
        from farm import registry

        schema = registry.sizings.get(sizing, source="compute_stats") if isinstance(sizing, str) else sizing
        share = sizing_fraction(schema, initial_balance)
    curve = equity_curve(trades, start, end, position_fraction=share, prices=prices)
    final = float(curve.equity[-1]) if len(curve.equity) else 1.0
    max_dd, depths, dd_durations = _drawdowns(curve.times, curve.equity)
    daily = _daily_returns(curve, start, end, prices is not None)
    g = _geometric_mean(daily)
    p = periods_per_year
    ann_return = (1 + g) ** p - 1
    variance = float(daily.var(ddof=1)) if len(daily) > 1 else math.nan
    volatility = math.sqrt(max(0.0, (variance + (1 + g) ** 2) ** p - (1 + g) ** (2 * p)))
    sharpe = None if _is_zero(volatility, ann_return) or not math.isfinite(volatility) else ann_return / volatility
    downside = math.sqrt(float(np.mean(np.minimum(daily, 0) ** 2))) * math.sqrt(p) if len(daily) else 0.0
    sortino = None if downside == 0 else ann_return / downside
    years = (end - start) / MS_PER_DAY / 365.25
    cagr = (final ** (1 / years) - 1) * 100 if years > 0 and final > 0 else None
    if (end - start) / MS_PER_DAY < min_annualised_days:
        ann_return = volatility = math.nan
        sharpe = sortino = cagr = None

    returns = np.array([t.ret for t in trades]) * curve.fractions
    n = len(trades)
    pnl = curve.balance_before * returns  # money PnL on a starting balance of 1
    durations = np.array([(t.exit - t.entry) / MS_PER_DAY for t in trades])
    wins, losses = returns[returns > 0].sum(), returns[returns < 0].sum()
    pnl_std = float(pnl.std(ddof=1)) if n > 1 else 0.0
    return StandardStats(
        start=start,
        end=end,
        exposure_time_pct=curve.exposed * 100,
        equity_final=final,
        equity_peak=float(curve.equity.max()) if len(curve.equity) else 1.0,
        return_pct=(final - 1) * 100,
        cagr_pct=_finite(cagr),
        return_ann_pct=_finite(ann_return * 100),
        volatility_ann_pct=_finite(volatility * 100),
        sharpe_ratio=_finite(sharpe),
        sortino_ratio=_finite(sortino),
        calmar_ratio=None if max_dd == 0 or not math.isfinite(ann_return) else _finite(ann_return / max_dd),
        max_drawdown_pct=-max_dd * 100,
        avg_drawdown_pct=-float(np.mean(depths)) * 100 if depths else None,
        max_drawdown_duration_days=max(dd_durations) if dd_durations else None,
        avg_drawdown_duration_days=float(np.mean(dd_durations)) if dd_durations else None,
        trades=n,
        win_rate_pct=float((returns > 0).mean() * 100) if n else None,
        best_trade_pct=float(returns.max() * 100) if n else None,
        worst_trade_pct=float(returns.min() * 100) if n else None,
        avg_trade_pct=_geometric_mean(returns) * 100 if n else None,
        max_trade_duration_days=float(durations.max()) if n else None,
        avg_trade_duration_days=float(durations.mean()) if n else None,
        profit_factor=_finite(wins / abs(losses)) if losses < 0 else None,
        expectancy_pct=float(returns.mean() * 100) if n else None,
        sqn=None if n < 2 or _is_zero(pnl_std, float(pnl.mean())) else _finite(math.sqrt(n) * pnl.mean() / pnl_std),
    )


# ---- ranking -------------------------------------------------------------------------------


def rank_value(value: float | None, *, trades: int, min_trades: int, dispersion: float | None = None,
               centre: float | None = None) -> float | None:
    """The value a strategy is ranked by, or `None` (N/A, ranks last) when it proves nothing.

    N/A when the value is missing or not finite, when fewer than `min_trades` trades made it
    (one lucky trade must not win a sweep, D14), and, for a ratio over a dispersion, when that
    `dispersion` is zero next to `centre` (a Sharpe ratio of identical PnLs is undefined, not
    0 and not the 1e16 that float rounding gives, D15). The walker and the sweep's heatmap both
    rank through this function, so they agree.
    """
    if value is None or not math.isfinite(value) or trades < max(1, min_trades):
        return None
    if dispersion is not None and _is_zero(dispersion, centre or 0.0):
        return None
    return float(value)


__all__ += ["rank_value"]
