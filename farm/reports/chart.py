"""An interactive chart of one backtest: price with trades and their TP/SL, equity, drawdown.

One self-contained HTML file (bokeh with its JavaScript inlined: it opens without a network),
three panels sharing the time axis so zooming one zooms all:

* price: the candles' closes (candlesticks when few enough to see), each trade's entry (a
  triangle pointing its way), exit (a circle, green for a profit, red for a loss), a line from
  entry to exit, and its take-profit and stop-loss levels over the trade's life; hovering a
  marker shows the trade;
* equity: the balance compounded from the trades (`farm.metrics`), open trades marked to market
  at each candle's close, as a multiple of the starting balance;
* drawdown: how far below its running peak the balance is, in percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from farm.metrics import compute_stats, equity_curve, trades_of
from farm.models import ClosedResult
from farm.reports.markdown import num, pct, pct_signed, quote_asset

__all__ = ["frame_candles", "plot_backtest", "render_backtest_chart"]

CANDLESTICKS_UP_TO = 3000
"""More candles than this are drawn as a close line: thousands of bodies are unreadable and slow."""
WIN, LOSS, LONG, SHORT = "#1a9850", "#d73027", "#2166ac", "#b2182b"


def frame_candles(symbol: str, exchange_name: str, frame_name: str) -> pd.DataFrame:
    """The base candles of a frame (`timestamp, open, high, low, close`), through the exchange."""
    from farm.kernel.market import load_market

    market = load_market(symbol, exchange_name, frame_name)
    a = market.arrays
    df = pd.DataFrame({"timestamp": a.timestamp, "open": a.open, "high": a.high, "low": a.low, "close": a.close})
    if len(market.frames):
        df = df[(df["timestamp"] >= int(market.frames[0])) & (df["timestamp"] <= int(market.frames[-1]))]
    return df.reset_index(drop=True)


def _dt(ms: np.ndarray | Sequence[int]) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ms, dtype=np.int64), unit="ms")


def render_backtest_chart(closed: Sequence[ClosedResult], candles: pd.DataFrame, *, title: str,
                          start: int | None = None, end: int | None = None) -> str:
    """The chart of `closed` (one symbol's trades, any order) over `candles` (`timestamp, open,
    high, low, close`), as one self-contained HTML page; `start`/`end` (ms) the frame."""
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import ColumnDataSource, Div, HoverTool, NumeralTickFormatter
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    candles = candles.sort_values("timestamp").reset_index(drop=True)
    ts = candles["timestamp"].to_numpy(dtype=np.int64)
    start = int(ts[0]) if start is None and len(ts) else (start or 0)
    end = int(ts[-1]) if end is None and len(ts) else (end or start)
    symbol = closed[0].symbol if closed else ""
    quote = quote_asset(symbol) or ""
    trades = trades_of(closed)
    prices = pd.Series(candles["close"].to_numpy(dtype=float), index=ts)
    stats = compute_stats(closed, start=start, end=end, prices=prices)
    curve = equity_curve(trades, start, end, prices=prices)
    x = _dt(curve.times)
    drawdown = (curve.equity / np.maximum.accumulate(curve.equity) - 1) * 100 if len(curve.equity) else np.array([])

    tools = "xpan,xwheel_zoom,box_zoom,reset,save"
    price_fig = figure(height=420, sizing_mode="stretch_width", x_axis_type="datetime", tools=tools,
                       active_scroll="xwheel_zoom", title=f"{title}: price ({quote or 'quote currency'})")
    step = int(np.median(np.diff(ts))) if len(ts) > 1 else 60_000
    if 0 < len(candles) <= CANDLESTICKS_UP_TO:
        up = candles["close"] >= candles["open"]
        times = _dt(ts)
        price_fig.segment(times, candles["high"], times, candles["low"], color="#555555")
        width = step * 0.7
        price_fig.vbar(times[up.to_numpy()], width, candles["open"][up], candles["close"][up], fill_color="#d9f0d3",
                       line_color="#555555")
        price_fig.vbar(times[~up.to_numpy()], width, candles["open"][~up], candles["close"][~up],
                       fill_color="#fddbc7", line_color="#555555")
    else:
        price_fig.line(_dt(ts), candles["close"], color="#555555", legend_label="close")
    if closed:
        rows = sorted(closed, key=lambda c: c.close_timestamp)
        src = ColumnDataSource({
            "entry": _dt([c.signal.pending_at for c in rows]),
            "exit": _dt([c.close_timestamp for c in rows]),
            "open": [c.signal.price_open for c in rows],
            "close": [c.current_price for c in rows],
            "tp": [c.signal.price_take_profit for c in rows],
            "sl": [c.signal.price_stop_loss for c in rows],
            "position": [c.signal.position.upper() for c in rows],
            "reason": [c.close_reason for c in rows],
            "pnl": [pct_signed(c.pnl.pnl_percentage) for c in rows],
            "id": [c.signal.id for c in rows],
            "colour": [WIN if c.pnl.pnl_percentage > 0 else LOSS for c in rows],
            "side": [LONG if c.signal.position == "long" else SHORT for c in rows],
            "marker": ["triangle" if c.signal.position == "long" else "inverted_triangle" for c in rows],
        })
        price_fig.segment("entry", "tp", "exit", "tp", source=src, color=WIN, line_dash="dashed", line_width=1.5,
                          legend_label="take profit")
        price_fig.segment("entry", "sl", "exit", "sl", source=src, color=LOSS, line_dash="dashed", line_width=1.5,
                          legend_label="stop loss")
        price_fig.segment("entry", "open", "exit", "close", source=src, color="colour", line_width=2)
        entries = price_fig.scatter("entry", "open", source=src, marker="marker", size=11, color="side",
                                    legend_label="entry")
        exits = price_fig.scatter("exit", "close", source=src, marker="circle", size=9, color="colour",
                                  line_color="#222222", legend_label="exit")
        price_fig.add_tools(HoverTool(renderers=[entries, exits], tooltips=[
            ("trade", "@id @position"), ("open", "@open{0.00000000}"), ("close", "@close{0.00000000}"),
            ("TP / SL", "@tp{0.00000000} / @sl{0.00000000}"), ("PnL", "@pnl (@reason)"),
            ("time", "@entry{%F %H:%M} → @exit{%F %H:%M}"),
        ], formatters={"@entry": "datetime", "@exit": "datetime"}))
        price_fig.legend.location = "top_left"
        price_fig.legend.click_policy = "hide"
    equity_fig = figure(height=200, sizing_mode="stretch_width", x_axis_type="datetime", x_range=price_fig.x_range,
                        tools=tools, title="Equity (× starting balance; fees included, full balance per trade)")
    equity_fig.line(x, curve.equity, color=LONG, line_width=2)
    equity_fig.yaxis.formatter = NumeralTickFormatter(format="0.000")
    dd_fig = figure(height=160, sizing_mode="stretch_width", x_axis_type="datetime", x_range=price_fig.x_range,
                    tools=tools, title="Drawdown from the running peak (%)")
    dd_fig.varea(x, drawdown, np.zeros(len(drawdown)), color=LOSS, alpha=0.4)
    dd_fig.line(x, drawdown, color=LOSS)
    summary = Div(text=(
        f"<h2 style='margin:0'>{title}</h2><p>{stats.trades} trades · return {pct_signed(stats.return_pct)} · "
        f"max drawdown {pct(stats.max_drawdown_pct)} · exposure {pct(stats.exposure_time_pct, 1)} · "
        f"profit factor {num(stats.profit_factor, 2)} · win rate {pct(stats.win_rate_pct, 1)} · "
        f"Sharpe (daily) {num(stats.sharpe_ratio, 2)}</p>"
    ), sizing_mode="stretch_width")
    layout = column(summary, price_fig, equity_fig, dd_fig, sizing_mode="stretch_width")
    return file_html(layout, resources=INLINE, title=title)


def plot_backtest(symbol: str, strategy_name: str, *, exchange_name: str, frame_name: str,
                  path: str | Path | None = None) -> Path:
    """`Backtest.plot`: the chart of the last backtest of `strategy_name` on `symbol`, written to
    `path`: a `.html` file, or a directory for `<strategy>_<symbol>.html` (default
    `<FARM_DUMP_DIR or ./dump>/chart/`). Returns the file."""
    from farm import registry
    from farm.models import datetime_to_ms
    from farm.reports.files import write_report
    from farm.run.backtest import Backtest

    stats = Backtest.get_data(symbol, strategy_name)
    frame = registry.frames.get(frame_name, source="Backtest.plot")
    html = render_backtest_chart(stats.signal_list, frame_candles(symbol, exchange_name, frame_name),
                                 title=f"{strategy_name} on {symbol}", start=datetime_to_ms(frame.start_date),
                                 end=datetime_to_ms(frame.end_date))
    if path is not None and Path(path).suffix.lower() == ".html":
        return write_report(html, "chart", Path(path).name, Path(path).parent)
    return write_report(html, "chart", f"{strategy_name}_{symbol}.html", path)
