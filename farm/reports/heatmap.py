"""Heatmap pictures of a sweep: strategies × symbols coloured by one metric, as PNG and HTML.

The point is to see at a glance which strategy works on which symbol, so:

* Colour means "good" or "bad", whatever the metric: green is better, red is worse, a pale
  yellow is neutral (0 for signed metrics, 1 for profit factor, 50 % for win rate). Metrics
  where lower is better (drawdown, losses) turn red as they grow. The trade count is neither
  good nor bad and gets a blue ramp. The number is printed in every cell, so colour is never
  the only channel (red/green is hard for some readers).
* Strategies are the rows and symbols the columns: variant names such as
  `sma_cross(fast=10,slow=50)` are long and numerous, and read best as horizontal row labels.
* The best strategy of each symbol is outlined and bold.
* The colour range ignores extreme outliers (see `ColourScale`): the float quirk of SPEC §11.4
  can give a Sharpe near 1e16, which would otherwise wash every other cell out to neutral.

Both pictures take their colours from the same `ColourScale`, so they agree cell for cell. The
HTML page is self-contained and byte-for-byte deterministic; the PNG (matplotlib, Agg canvas,
no pyplot state) need not be.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import model_validator

from farm.heat import HeatmapRow, HeatmapStatistics
from farm.metrics import rank_value
from farm.models import Model
from farm.reports.markdown import NA, integer, num, pct, pct_signed, sci

__all__ = [
    "METRICS",
    "ColourScale",
    "HeatmapMatrix",
    "MetricStyle",
    "colour_scale",
    "heatmap_matrix",
    "render_heatmap_html",
    "render_heatmap_png",
]

# ColorBrewer RdYlGn (11 classes): red = worse, pale yellow = neutral, green = better.
DIVERGING = (
    "#a50026", "#d73027", "#f46d43", "#fdae61", "#fee08b", "#ffffbf",
    "#d9ef8b", "#a6d96a", "#66bd63", "#1a9850", "#006837",
)
# ColorBrewer Blues (8 classes), for counts that are neither good nor bad.
SEQUENTIAL = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c")
MISSING = "#bdbdbd"
"""N/A cells: a mid grey no palette colour comes near."""
OUTLIER_FACTOR = 10.0


class MetricStyle(NamedTuple):
    """How one metric is labelled, printed and coloured."""

    label: str
    fmt: Callable[[float | None], str]
    direction: Literal[1, -1, 0]
    """1: higher is better, -1: lower is better, 0: neutral (sequential blue)."""
    centre: float = 0.0
    """The neutral value for diverging colours."""
    log: bool = False
    """Colour by log(value / centre): a ratio of 0.5 is as bad as 2 is good."""


def _count(x: float | None) -> str:
    return integer(None if x is None else int(x))


METRICS: dict[str, MetricStyle] = {
    "sharpe_ratio": MetricStyle("Sharpe ratio", lambda x: num(x, 2), 1),
    "total_pnl": MetricStyle("Total PNL", pct_signed, 1),
    "avg_pnl": MetricStyle("Average PNL", pct_signed, 1),
    "expectancy": MetricStyle("Expectancy", pct_signed, 1),
    "avg_win": MetricStyle("Average win", pct_signed, 1),
    "avg_loss": MetricStyle("Average loss", pct_signed, 1),
    "profit_factor": MetricStyle("Profit factor", lambda x: num(x, 2), 1, 1.0, log=True),
    "win_rate": MetricStyle("Win rate", lambda x: pct(x, 1), 1, 50.0),
    "max_drawdown": MetricStyle("Max drawdown", lambda x: pct(None if x is None else -x), -1),
    "std_dev": MetricStyle("PNL standard deviation", pct, -1),
    "win_count": MetricStyle("Winning trades", _count, 1),
    "loss_count": MetricStyle("Losing trades", _count, -1),
    "max_win_streak": MetricStyle("Longest win streak", _count, 1),
    "max_loss_streak": MetricStyle("Longest loss streak", _count, -1),
    "total_trades": MetricStyle("Trades", _count, 0),
}


class HeatmapMatrix(Model):
    """One metric over symbols × strategies: `values[i][j]` is `symbols[i]` under
    `strategies[j]`, `None` where there is no value (no trades, or N/A)."""

    metric: str
    symbols: list[str]
    strategies: list[str]
    values: list[list[float | None]]
    title: str = "Strategy heatmap"
    axes: tuple[str, str] = ("strategy", "symbol")
    """What the rows and the columns are (a parameter heatmap: `("fast", "slow")`)."""
    best_overall: bool = False
    """Outline the single best cell (a parameter grid) instead of each column's best."""

    @model_validator(mode="after")
    def _check_shape(self) -> HeatmapMatrix:
        if self.metric not in METRICS:
            raise ValueError(f"unknown heatmap metric {self.metric!r}; one of {', '.join(METRICS)}")
        if len(self.values) != len(self.symbols) or any(len(r) != len(self.strategies) for r in self.values):
            raise ValueError("values must have one row per symbol and one column per strategy")
        return self

    @property
    def style(self) -> MetricStyle:
        return METRICS[self.metric]

    def value(self, symbol: str, strategy: str) -> float | None:
        return self.values[self.symbols.index(symbol)][self.strategies.index(strategy)]


def heatmap_matrix(
    stats_by_strategy: Mapping[str, HeatmapStatistics],
    metric: str = "sharpe_ratio",
    *,
    symbols: Sequence[str] | None = None,
    title: str = "Strategy heatmap",
    min_trades: int | None = None,
) -> HeatmapMatrix:
    """The matrix of `metric` for each strategy's heatmap statistics.

    Strategies keep the mapping's order (the walker's); symbols are `symbols` if given, else
    every symbol any strategy traded, sorted, so the layout does not depend on which task
    finished first.

    With `min_trades` (a sweep passes config `walker_min_trades`) a cell is ranked as the walker
    ranks (`farm.metrics.rank_value`): N/A below that many trades, and a Sharpe ratio of
    zero-variance PnLs is N/A, so the picture's best cell is the walker's best strategy.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown heatmap metric {metric!r}; one of {', '.join(METRICS)}")
    rows: dict[str, dict[str, HeatmapRow]] = {
        name: {r.symbol: r for r in stats.symbols} for name, stats in stats_by_strategy.items()
    }
    if symbols is None:
        symbols = sorted({s for by_symbol in rows.values() for s in by_symbol})
    strategies = list(stats_by_strategy)

    def cell(symbol: str, strategy: str) -> float | None:
        row = rows[strategy].get(symbol)
        value = None if row is None else getattr(row, metric)
        if value is None or row is None:
            return None
        if min_trades is None:
            return float(value)
        sharpe = metric == "sharpe_ratio"
        return rank_value(float(value), trades=row.total_trades, min_trades=min_trades,
                          dispersion=(row.std_dev or 0.0) if sharpe else None, centre=row.avg_pnl if sharpe else None)

    return HeatmapMatrix(
        metric=metric,
        symbols=list(symbols),
        strategies=strategies,
        values=[[cell(sym, strat) for strat in strategies] for sym in symbols],
        title=title,
    )


# ---- colours ---------------------------------------------------------------------------


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    return tuple(int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def _interpolate(palette: Sequence[str], t: float) -> str:
    """The colour at `t` ∈ [0, 1] along the palette, linear in RGB between its stops."""
    t = min(1.0, max(0.0, t))
    pos = t * (len(palette) - 1)
    i = min(int(pos), len(palette) - 2)
    a, b = _rgb(palette[i]), _rgb(palette[i + 1])
    f = pos - i
    return _hex([x + (y - x) * f for x, y in zip(a, b, strict=True)])


class ColourScale(NamedTuple):
    """Maps a metric value to a palette position; `low`/`high` are the legend's ends (values, ascending)."""

    palette: tuple[str, ...]
    direction: int
    centre: float
    span: float
    """Distance from the centre that reaches the palette's end (diverging scales), in the
    transformed (log, for ratios) space."""
    low: float
    high: float
    clipped_low: bool
    clipped_high: bool
    log: bool = False

    def position(self, value: float) -> float:
        if self.direction == 0:
            return 0.0 if self.high == self.low else (value - self.low) / (self.high - self.low)
        return 0.5 + 0.5 * self.direction * (_transform(value, self.log) - _transform(self.centre, self.log)) / self.span

    def colour(self, value: float | None) -> str:
        return MISSING if value is None else _interpolate(self.palette, self.position(value))


def _transform(value: float, log: bool) -> float:
    if not log:
        return value
    return math.log(value) if value > 0 else -math.inf


def _untransform(value: float, log: bool) -> float:
    return math.exp(value) if log else value


def _low_median(xs: Sequence[float]) -> float:
    """The lower median: with two values it is the smaller one, so one outlier cannot be it."""
    s = sorted(xs)
    return s[(len(s) - 1) // 2]


def colour_scale(matrix: HeatmapMatrix) -> ColourScale:
    """The colour scale of a matrix, symmetric around the metric's neutral value.

    Extreme values do not stretch the scale: a distance from the centre above
    `OUTLIER_FACTOR` times the (lower) median distance marks an outlier; the span reaches the
    farthest ordinary value, and outliers take the palette's end colour (the legend then says
    "or beyond"). Ordinary spreads contain no such outlier, so nothing is clipped.
    """
    style = matrix.style
    values = [v for row in matrix.values for v in row if v is not None and math.isfinite(v)]
    if style.direction == 0:
        low = min([0.0, *values])
        high = max([0.0, *values])
        return ColourScale(SEQUENTIAL, 0, 0.0, 1.0, low, high, False, False)
    centre = _transform(style.centre, style.log)
    devs = [abs(_transform(v, style.log) - centre) for v in values]
    limit = OUTLIER_FACTOR * _low_median(devs) if devs else 0.0
    span = max((d for d in devs if math.isfinite(d) and (limit == 0 or d <= limit)), default=0.0)
    if span == 0:
        span = 1.0
    lo_bound, hi_bound = _untransform(centre - span, style.log), _untransform(centre + span, style.log)
    low = max(min(values, default=style.centre), lo_bound)
    high = min(max(values, default=style.centre), hi_bound)
    return ColourScale(
        DIVERGING,
        style.direction,
        style.centre,
        span,
        low,
        high,
        clipped_low=any(v < lo_bound for v in values),
        clipped_high=any(v > hi_bound for v in values),
        log=style.log,
    )


def _text_colour(background: str) -> str:
    """Black on light cells, white on dark ones (relative luminance)."""
    r, g, b = _rgb(background)
    return "#000000" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "#ffffff"


def _cell_text(style: MetricStyle, value: float | None) -> str:
    text = style.fmt(value)
    return sci(value) if value is not None and len(text) > 10 else text


def _best(matrix: HeatmapMatrix) -> set[tuple[int, int]]:
    """(symbol index, strategy index) of each symbol's best strategy, or of the best cell
    overall with `best_overall` (ties all count)."""
    direction = matrix.style.direction
    if direction == 0:
        return set()
    groups = [list(enumerate(matrix.values))] if matrix.best_overall else [[(i, row)] for i, row in
                                                                          enumerate(matrix.values)]
    best: set[tuple[int, int]] = set()
    for group in groups:
        scored = [(direction * v, i, j) for i, row in group for j, v in enumerate(row) if v is not None]
        if scored:
            top = max(s for s, _, _ in scored)
            best.update((i, j) for s, i, j in scored if s == top)
    return best


class _Legend(NamedTuple):
    """Legend ticks as (position 0..1 along the bar, label), and the bar's colours."""

    ticks: list[tuple[float, str]]
    stops: list[str]
    hint: str


def _legend(matrix: HeatmapMatrix, scale: ColourScale, n_stops: int = 11) -> _Legend:
    """The value axis from the lowest to the highest value shown, ascending."""
    style = matrix.style
    low, high = scale.low, scale.high
    stops = [scale.colour(low + (high - low) * k / (n_stops - 1)) for k in range(n_stops)]
    ticks = [(0.0, _cell_text(style, low) + (" or beyond" if scale.clipped_low else ""))]
    if high > low:
        at = (scale.centre - low) / (high - low)
        if scale.direction != 0 and 0.15 < at < 0.85:  # not where it would overlap an end label
            ticks.append((at, _cell_text(style, scale.centre)))
        ticks.append((1.0, _cell_text(style, high) + (" or beyond" if scale.clipped_high else "")))
    hint = {1: "higher is better", -1: "lower is better", 0: "darker = more"}[style.direction]
    return _Legend(ticks, stops, hint)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _subtitle(matrix: HeatmapMatrix, hint: str) -> str:
    rows, columns = matrix.axes
    if matrix.axes != ("strategy", "symbol"):
        shape = f"{len(matrix.strategies)} values of {rows} × {len(matrix.symbols)} values of {columns}"
        return f"metric: {matrix.metric} ({hint}) · {shape}"
    shape = f"{_plural(len(matrix.strategies), 'strategy').replace('strategys', 'strategies')} × "
    return f"metric: {matrix.metric} ({hint}) · {shape}{_plural(len(matrix.symbols), 'symbol')}"


def _best_words(matrix: HeatmapMatrix) -> str:
    return "best cell" if matrix.best_overall else f"best {matrix.axes[0]} for the {matrix.axes[1]}"


def _key(matrix: HeatmapMatrix) -> str:
    """What the grey and outlined cells mean."""
    return "grey = N/A" + (f" · outlined = {_best_words(matrix)}" if matrix.style.direction else "")


# ---- HTML ------------------------------------------------------------------------------

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
  margin: 24px; color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
p.sub { margin: 0 0 16px 0; color: #555; font-size: 13px; }
div.scroll { overflow-x: auto; }
table.heat { border-collapse: separate; border-spacing: 2px; font-size: 13px; }
table.heat th { font-weight: 600; padding: 4px 8px; white-space: nowrap; }
table.heat thead th { text-align: center; vertical-align: bottom; }
table.heat tbody th { text-align: right; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
  font-weight: normal; }
table.heat td { min-width: 72px; padding: 6px 8px; text-align: center;
  font-variant-numeric: tabular-nums; border-radius: 3px; }
table.heat td.best { font-weight: bold; box-shadow: inset 0 0 0 2px #111, inset 0 0 0 3px #fff; }
table.heat td.na { color: #444; }
div.legend { margin-top: 16px; font-size: 12px; color: #333; }
div.bar { position: relative; width: 360px; height: 14px; border: 1px solid #888; }
div.ticks { position: relative; width: 360px; height: 18px; }
div.ticks span { position: absolute; top: 2px; transform: translateX(-50%); white-space: nowrap; }
div.ticks span.first { transform: none; }
div.ticks span.last { transform: translateX(-100%); }
span.swatch { display: inline-block; width: 14px; height: 14px; vertical-align: middle;
  border: 1px solid #888; margin-right: 4px; }
"""


def _html_table(matrix: HeatmapMatrix, scale: ColourScale) -> list[str]:
    esc = html.escape
    best = _best(matrix)
    head = "".join(f'<th scope="col">{esc(s)}</th>' for s in matrix.symbols)
    lines = [
        '<div class="scroll"><table class="heat">',
        f'<thead><tr><th scope="col">{esc(matrix.axes[0].capitalize())} \\ {esc(matrix.axes[1].capitalize())}'
        f"</th>{head}</tr></thead>",
        "<tbody>",
    ]
    for j, strategy in enumerate(matrix.strategies):
        cells = []
        for i, symbol in enumerate(matrix.symbols):
            value = matrix.values[i][j]
            background = scale.colour(value)
            classes = [c for c, on in (("best", (i, j) in best), ("na", value is None)) if on]
            attr = f' class="{" ".join(classes)}"' if classes else ""
            ink = "#444444" if value is None else _text_colour(background)
            exact = NA if value is None else repr(value)
            cells.append(
                f'<td{attr} style="background:{background};color:{ink}" '
                f'title="{esc(strategy)} on {esc(symbol)}: {exact}">{esc(_cell_text(matrix.style, value))}</td>'
            )
        lines.append(f'<tr><th scope="row">{esc(strategy)}</th>{"".join(cells)}</tr>')
    lines += ["</tbody>", "</table></div>"]
    return lines


def _tick_class(position: float) -> str:
    """End labels align inside the bar so they never hang off its edges."""
    return "first" if position == 0 else "last" if position == 1 else "mid"


def render_heatmap_html(matrix: HeatmapMatrix, path: str | Path) -> Path:
    """Write a self-contained HTML page (inline CSS, no scripts, no external assets).

    Identical matrices give identical bytes: nothing time- or environment-dependent goes in.
    """
    esc = html.escape
    scale = colour_scale(matrix)
    legend = _legend(matrix, scale)
    title = f"{matrix.title}: {matrix.style.label}"
    gradient = ", ".join(legend.stops)
    ticks = "".join(
        f'<span class="{_tick_class(pos)}" style="left:{pos * 100:.1f}%">{esc(label)}</span>'
        for pos, label in legend.ticks
    )
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">{esc(_subtitle(matrix, legend.hint))} · {esc(_key(matrix))}</p>',
        *_html_table(matrix, scale),
        '<div class="legend">',
        f"<div>{esc(matrix.style.label)} ({esc(legend.hint)})</div>",
        f'<div class="bar" style="background:linear-gradient(to right, {gradient})"></div>',
        f'<div class="ticks">{ticks}</div>',
        f'<div><span class="swatch" style="background:{MISSING}"></span>N/A (no value)'
        + (
            ' &nbsp; <span class="swatch" style="box-shadow:inset 0 0 0 2px #111"></span>'
            + esc(_best_words(matrix))
            if matrix.style.direction
            else ""
        )
        + "</div>",
        "</div>",
        "</body>",
        "</html>",
        "",
    ]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes("\n".join(lines).encode("utf-8"))
    return target


# ---- PNG -------------------------------------------------------------------------------


def render_heatmap_png(matrix: HeatmapMatrix, path: str | Path, *, dpi: int = 144) -> Path:
    """Write the heatmap as a PNG with matplotlib's Agg canvas (no display, no pyplot).

    The figure grows with the matrix: a fixed cell size keeps the numbers legible, and the
    left margin is sized to the longest strategy name.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.colorbar import ColorbarBase
    from matplotlib.colors import LinearSegmentedColormap, Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    scale = colour_scale(matrix)
    legend = _legend(matrix, scale, n_stops=64)
    style = matrix.style
    best = _best(matrix)
    n_rows, n_cols = len(matrix.strategies), len(matrix.symbols)
    cell_w, cell_h = 1.05, 0.42
    label_w = 0.3 + 0.075 * max((len(s) for s in matrix.strategies), default=4)
    top, bottom = 1.25, 1.05
    width = max(label_w + cell_w * n_cols + 0.4, 6.0)
    height = top + cell_h * max(n_rows, 1) + bottom
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    grid_w = cell_w * max(n_cols, 1) / width
    ax = fig.add_axes((label_w / width, bottom / height, grid_w, cell_h * max(n_rows, 1) / height))
    ax.set_xlim(0, max(n_cols, 1))
    ax.set_ylim(max(n_rows, 1), 0)
    # One collection for every cell (colours and white grid): a patch per cell, or an image
    # resampled to the canvas, costs more than the rest of a large sweep's reduce.
    colours = [[scale.colour(matrix.values[i][j]) for i in range(n_cols)] for j in range(n_rows)]
    if n_rows and n_cols:
        cells = [[(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)] for j in range(n_rows) for i in range(n_cols)]
        ax.add_collection(PolyCollection(cells, facecolors=[c for row in colours for c in row],
                                         edgecolors="white", linewidths=1.5))
    for j in range(n_rows):
        for i in range(n_cols):
            value = matrix.values[i][j]
            colour = colours[j][i]
            is_best = (i, j) in best
            ax.text(
                i + 0.5, j + 0.52, _cell_text(style, value), ha="center", va="center", fontsize=9,
                color=_text_colour(colour) if value is not None else "#444444",
                fontweight="bold" if is_best else "normal",
            )
            if is_best:  # black frame with a white inner line: visible on dark cells too
                ax.add_patch(Rectangle((i + 0.04, j + 0.06), 0.92, 0.88, fill=False, edgecolor="#111111",
                                       linewidth=2.0))
                ax.add_patch(Rectangle((i + 0.07, j + 0.13), 0.86, 0.74, fill=False, edgecolor="#ffffff",
                                       linewidth=0.8))
    ax.set_xticks([i + 0.5 for i in range(n_cols)], labels=matrix.symbols, fontsize=9, fontweight="bold")
    ax.set_yticks([j + 0.5 for j in range(n_rows)], labels=matrix.strategies, fontsize=9,
                  fontfamily="monospace")
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.text(0.5, 1 - 0.32 / height, f"{matrix.title}: {style.label}", ha="center", va="center",
             fontsize=13, fontweight="bold")
    fig.text(0.5, 1 - 0.62 / height, _subtitle(matrix, legend.hint), ha="center", va="center",
             fontsize=8, color="#555555")
    bar_w = min(4.0, width - 1.0)
    cax = fig.add_axes(((width - bar_w) / 2 / width, 0.42 / height, bar_w / width, 0.16 / height))
    cmap = LinearSegmentedColormap.from_list("heat", legend.stops)
    bar = ColorbarBase(cax, cmap=cmap, norm=Normalize(0, 1), orientation="horizontal")
    bar.set_ticks([p for p, _ in legend.ticks], labels=[label for _, label in legend.ticks], fontsize=8)
    bar.outline.set_edgecolor("#888888")
    cax.set_title(f"{style.label} ({legend.hint}) · {_key(matrix)}", fontsize=8, color="#333333")
    if not n_rows or not n_cols:
        ax.text(max(n_cols, 1) / 2, 0.5, "No data available", ha="center", va="center", fontsize=10,
                color="#555555")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, format="png", facecolor="white")
    return target
