"""Pictures and tables of a sweep that stay readable for thousands of variants.

Drawn from the sweep's task table (`tasks.parquet`, one row per symbol × strategy), so they
agree with it and with the walker reports cell for cell:

* a parameter × parameter heatmap per base strategy and symbol, for grids: the two parameters
  that vary most (by number of values) as rows and columns; with more varying parameters each
  cell shows the best value over the others (the page says which);
* a sortable results table (click a column heading), one self-contained page, every row;
* the strategies of the strategies × symbols heatmap, cut to N (every symbol's best, then the
  best mean ranks) when a sweep has more (the full data is in the table).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from farm.reports.heatmap import METRICS, HeatmapMatrix
from farm.reports.walker import WalkerResults

__all__ = ["TOP_STRATEGIES", "param_matrices", "render_results_html", "top_strategies"]

TOP_STRATEGIES = 40
"""Strategies shown in the strategies × symbols heatmap: rows stay legible in a picture."""
PARAM_PREFIX = "param_"


def top_strategies(walkers: Mapping[str, WalkerResults], strategies: Sequence[str],
                   n: int = TOP_STRATEGIES) -> list[str]:
    """At most `n` strategies (all when there are no more): every symbol's best, then those with
    the best mean rank over the symbols (an N/A metric counts as last); in the walker's order."""
    if len(strategies) <= n:
        return list(strategies)
    last = len(strategies) + 1
    ranks: dict[str, list[int]] = {name: [] for name in strategies}
    for walker in walkers.values():
        for entry in walker.strategies:
            ranks.setdefault(entry.strategy_name, []).append(entry.rank if entry.metric is not None else last)
    mean = {name: sum(r) / len(r) if r else math.inf for name, r in ranks.items()}
    order = {name: i for i, name in enumerate(strategies)}
    winners = [w.best_strategy for w in walkers.values() if w.best_strategy in order]
    chosen = list(dict.fromkeys(winners))[:n]
    for name in sorted(strategies, key=lambda s: (mean[s], order[s])):
        if len(chosen) >= n:
            break
        if name not in chosen:
            chosen.append(name)
    keep = set(chosen)
    return [s for s in strategies if s in keep]


def _label(key: str, value: object) -> str:
    """`fast=5`: a whole float prints as an integer (a column holding several strategies' params
    is float when some lack the parameter)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{key}={value}"


def _sorted_values(values: pd.Series) -> list[object]:
    distinct = list(dict.fromkeys(v for v in values.tolist() if v is not None and not pd.isna(v)))
    try:
        return sorted(distinct)  # type: ignore[type-var]
    except TypeError:
        return sorted(distinct, key=str)


def param_matrices(table: pd.DataFrame, metric: str, value_column: str,
                   title: str) -> list[tuple[str, str, HeatmapMatrix, str]]:
    """(base strategy, symbol, matrix, note) for every base strategy whose variants vary in at
    least two parameters; `value_column` of `table` fills the cells (`metric` styles them)."""
    if metric not in METRICS or "base_strategy" not in table:
        return []
    direction = METRICS[metric].direction or 1
    out: list[tuple[str, str, HeatmapMatrix, str]] = []
    params = [c for c in table.columns if c.startswith(PARAM_PREFIX)]
    for base, group in table[table["status"] == "ok"].groupby("base_strategy", sort=True):
        varying = [c for c in params if group[c].nunique(dropna=True) > 1]
        if len(varying) < 2:
            continue
        varying.sort(key=lambda c: (-group[c].nunique(dropna=True), c))
        rows_col, cols_col = varying[0], varying[1]
        others = [c[len(PARAM_PREFIX):] for c in varying[2:]]
        note = f"each cell: the best over {', '.join(others)}" if others else ""
        row_values, col_values = _sorted_values(group[rows_col]), _sorted_values(group[cols_col])
        for symbol, by_symbol in group.groupby("symbol", sort=False):
            cells: list[list[float | None]] = []
            for cv in col_values:
                column: list[float | None] = []
                for rv in row_values:
                    hit = by_symbol[(by_symbol[rows_col] == rv) & (by_symbol[cols_col] == cv)][value_column].dropna()
                    column.append(None if hit.empty else float((hit * direction).max() * direction))
                cells.append(column)
            matrix = HeatmapMatrix(
                metric=metric,
                symbols=[_label(cols_col[len(PARAM_PREFIX):], v) for v in col_values],
                strategies=[_label(rows_col[len(PARAM_PREFIX):], v) for v in row_values],
                values=cells,
                title=f"{title}: {base} on {symbol}",
                axes=(rows_col[len(PARAM_PREFIX):], cols_col[len(PARAM_PREFIX):]),
                best_overall=True,
            )
            out.append((str(base), str(symbol), matrix, note))
    return out


_TABLE_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px 0; } p { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 12px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; white-space: nowrap; }
th { position: sticky; top: 0; background: #f0f0f0; cursor: pointer; user-select: none; }
th:hover { background: #e0e0e0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr:hover td { background: #fffbe6; }
input { margin: 0 0 8px 0; padding: 4px; width: 320px; }
"""
_TABLE_JS = """
const table = document.getElementById('results');
const body = table.tBodies[0];
let state = {col: -1, dir: 1};
function key(cell) {
  const v = cell.dataset.v;
  if (v === undefined || v === '') return null;
  const x = Number(v);
  return Number.isNaN(x) ? v.toLowerCase() : x;
}
table.tHead.addEventListener('click', e => {
  const th = e.target.closest('th'); if (!th) return;
  const col = th.cellIndex;
  state.dir = state.col === col ? -state.dir : (th.dataset.num ? -1 : 1);
  state.col = col;
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a.cells[col]), y = key(b.cells[col]);
    if (x === null) return y === null ? 0 : 1;
    if (y === null) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * state.dir;
  });
  rows.forEach(r => body.appendChild(r));
  for (const h of table.tHead.rows[0].cells) h.textContent = h.dataset.label;
  th.textContent = th.dataset.label + (state.dir > 0 ? ' \\u25b2' : ' \\u25bc');
});
document.getElementById('filter').addEventListener('input', e => {
  const q = e.target.value.toLowerCase();
  for (const r of body.rows) r.style.display = r.textContent.toLowerCase().includes(q) ? '' : 'none';
});
"""
RESULT_COLUMNS = (
    "symbol", "strategy_name", "rank", "metric_value", "total_signals", "return_pct", "max_drawdown_pct",
    "daily_sharpe_ratio", "sortino_ratio", "calmar_ratio", "profit_factor", "exposure_time_pct", "sqn",
    "win_rate", "total_pnl", "sharpe_ratio", "status",
)


def _cell(value: object) -> tuple[str, str, bool]:
    """(sort key, shown text, numeric) of one table value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "", "N/A", False
    if isinstance(value, bool):
        return str(value), str(value), False
    if isinstance(value, int):
        return str(value), str(value), True
    if isinstance(value, float):
        return repr(value), f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e6 else f"{value:.3f}", True
    return str(value), str(value), False


def render_results_html(table: pd.DataFrame, path: str | Path, *, title: str, metric: str) -> Path:
    """One self-contained, sortable and filterable HTML table of the sweep (inline JS and CSS)."""
    params = [c for c in table.columns if c.startswith(PARAM_PREFIX)]
    columns = [c for c in RESULT_COLUMNS if c in table.columns] + params
    labels = {"metric_value": f"{metric} (ranked)", "sharpe_ratio": "sharpe (per trade)"}
    esc = html.escape
    head = "".join(
        f'<th data-label="{esc(labels.get(c, c))}"{" data-num=1" if pd.api.types.is_numeric_dtype(table[c]) else ""}>'
        f"{esc(labels.get(c, c))}</th>"
        for c in columns
    )
    body = []
    records = table[columns].astype(object).where(table[columns].notna(), None).to_dict("records")
    for record in records:
        cells = []
        for c in columns:
            key, shown, numeric = _cell(record[c])
            cells.append(f'<td{" class=n" if numeric else ""} data-v="{esc(key)}">{esc(shown)}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    page = "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', '<head><meta charset="utf-8">', f"<title>{esc(title)}</title>",
        f"<style>{_TABLE_CSS}</style>", "</head>", "<body>", f"<h1>{esc(title)}</h1>",
        f"<p>{len(table)} rows · click a heading to sort (again to reverse) · N/A sorts last · "
        f"{esc(json.dumps(metric))} (ranked) is the walker's ranking value</p>",
        '<input id="filter" placeholder="filter rows (symbol, strategy, …)">',
        f'<table id="results"><thead><tr>{head}</tr></thead><tbody>', *body, "</tbody></table>",
        f"<script>{_TABLE_JS}</script>", "</body>", "</html>", "",
    ])
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target
