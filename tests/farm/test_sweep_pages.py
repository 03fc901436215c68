"""A sweep's pictures and tables (issue #12): parameter heatmaps per symbol for a grid, a sortable
results page, and a strategies × symbols heatmap that stays readable for a thousand variants."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

pytest.importorskip("numba")

import pandas as pd  # noqa: E402

import farm  # noqa: E402
from farm.demo import FRAME, demo_symbols, register_demo  # noqa: E402
from farm.reports.heatmap import _best, heatmap_matrix, render_heatmap_png  # noqa: E402
from farm.reports.sweep_pages import TOP_STRATEGIES, top_strategies  # noqa: E402
from farm.reports.walker import walker_results  # noqa: E402
from farm.run.sweep import sweep  # noqa: E402
from farm.stats import backtest_statistics  # noqa: E402
from tests.farm.conftest import store_at  # noqa: E402
from tests.reports import T0, closed  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FASTS, SLOWS = [5, 10, 20], [50, 100]


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """sma_cross over fast × slow on the four bundled 5m pairs, plus a strategy that is no grid."""
    farm.clear_registry()
    register_demo()
    names = farm.grid("sma_cross", fast=FASTS, slow=SLOWS)
    farm.add_walker("grid", "sample", FRAME, [*names, "mean_reversion"], metric="total_pnl")
    out = tmp_path_factory.mktemp("sweep") / "out"
    result = sweep("grid", demo_symbols(), executor="local", workers=1,
                   store=store_at(out.parent / "store"), out=out)
    yield result, out, names
    farm.clear_registry()


def test_a_two_parameter_grid_gets_a_heatmap_per_symbol(grid_sweep):
    result, out, names = grid_sweep
    symbols = demo_symbols()
    assert len(symbols) == 4
    readme = (out / "README.md").read_text()
    for symbol in symbols:
        stem = f"sma_cross_{symbol.replace('/', '-')}"
        page = (out / "params" / f"{stem}.html").read_text()
        assert (out / "params" / f"{stem}.png").stat().st_size > 10_000
        assert f"(params/{stem}.html)" in readme and f"(params/{stem}.png)" in readme
        assert "Fast \\ Slow" in page
        for fast in FASTS:
            assert f">fast={fast}<" in page
        for slow in SLOWS:
            assert f">slow={slow}<" in page
        # The outlined cell is the grid's best variant by the walker's ranking.
        walker = result.walker_results[symbol]
        grid_ranked = [s for s in walker.strategies if s.strategy_name in names and s.metric is not None]
        best = grid_ranked[0]
        fast, slow = re.search(r"fast=(\d+),slow=(\d+)", best.strategy_name).groups()
        cell = re.search(r'<td class="best[^"]*"[^>]*title="fast=(\d+) on slow=(\d+)', page)
        assert cell is not None and cell.groups() == (fast, slow)
    assert "mean_reversion" not in "".join(p.name for p in (out / "params").iterdir())  # not a grid


def test_results_page_lists_every_task_and_sorts_in_the_page(grid_sweep):
    _, out, _ = grid_sweep
    page = (out / "results.html").read_text()
    table = pd.read_parquet(out / "tasks.parquet")
    assert page.count("<tr>") == len(table) + 1
    assert "<script src=" not in page and "addEventListener('click'" in page
    for column in ("return_pct", "max_drawdown_pct", "param_fast", "param_slow", "total_pnl (ranked)"):
        assert column in page
    assert "[results.html](results.html)" in (out / "README.md").read_text()


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian package chromium) is not installed")
def test_results_page_sorts_when_a_heading_is_clicked(grid_sweep, tmp_path):
    """Click the return column in a real browser and read the rows back from the DOM."""
    _, out, _ = grid_sweep
    page = (out / "results.html").read_text()
    probe = ("<script>document.querySelectorAll('th')[5].click();"
             "document.title = Array.from(document.querySelectorAll('tbody tr')).slice(0, 5)"
             ".map(r => r.cells[5].dataset.v).join('|');</script></body>")
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.replace("</body>", probe, 1))
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--dump-dom", clicked.as_uri()], capture_output=True, text=True, timeout=120, check=True).stdout
    title = re.search(r"<title>(.*?)</title>", dom).group(1)
    shown = [float(v) for v in title.split("|")]
    table = pd.read_parquet(out / "tasks.parquet")
    assert shown == sorted(table["return_pct"].dropna(), reverse=True)[:5]  # numbers: highest first


def test_a_thousand_variants_give_a_readable_heatmap(tmp_path):
    """1,000 strategies on 4 symbols: the picture shows the top 40 by mean rank, not 1,000 rows."""
    names = [f"v{i:04d}" for i in range(1000)]
    walkers, heat_rows = {}, {}
    from farm.heat import heatmap_statistics

    for k, symbol in enumerate(["A/BTC", "B/BTC", "C/BTC", "D/BTC"]):
        entries = []
        for i, name in enumerate(names):
            pnls = [((i * 7919 + k * 104729) % 1000 - 500) / 500, 0.3, -0.2] * 4  # 12 trades, no two alike
            trades = [closed(f"{name}{j}", p, pending_at=T0 + j * 3_600_000, minutes=30) for j, p in enumerate(pnls)]
            entries.append((name, backtest_statistics(trades)))
            heat_rows.setdefault(name, {})[symbol] = trades
        walkers[symbol] = walker_results("w", symbol, "x", "f", "sharpe_ratio", entries)
    shown = top_strategies(walkers, names)
    assert len(shown) == TOP_STRATEGIES
    best = {w.best_strategy for w in walkers.values()}
    assert best <= set(shown)  # every symbol's winner is in the picture
    heat = {name: heatmap_statistics(heat_rows[name]) for name in shown}
    matrix = heatmap_matrix(heat, "sharpe_ratio", symbols=list(walkers), min_trades=10)
    assert {matrix.strategies[j] for (_, j) in _best(matrix)} == best
    png = render_heatmap_png(matrix, tmp_path / "heatmap.png")
    from PIL import Image

    width, height = Image.open(png).size
    assert height < 3000 and width < 2000  # 208 variants used to give 867 x 12,911 px
