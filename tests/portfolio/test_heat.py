"""Heatmap statistics (SPEC §11.4), the heat report (D7) and the heatmap pictures.

Trades of symbol "A", oldest first: +4, −1, −2, +1, −3, 0. The reference walks them newest →
oldest (0, −3, +1, −2, −1, +4), so by hand:

* total 6, wins 2 (+1, +4), losses 3, win rate 33.33…%, total PNL −1, avg −1/6;
* max drawdown: cumulative 0, −3, −2, −4, −5, −1 → 5 (oldest → newest it would be 1);
* profit factor 5/6; avg win 2.5; avg loss −2; streaks: 1 win, 2 losses (the zero changes
  nothing); expectancy = ⅓·2.5 + ⅔·(−2) = −0.5 (the zero-PnL trade counts on the loss side).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

import farm
from farm.heat import HeatmapRow, HeatmapStatistics, heatmap_row, heatmap_statistics
from farm.models import ClosedResult
from farm.reports.heat import COLUMNS, render_heat_report
from farm.reports.heatmap import (
    DIVERGING,
    MISSING,
    HeatmapMatrix,
    colour_scale,
    heatmap_matrix,
    render_heatmap_html,
    render_heatmap_png,
)
from farm.run.storage import record_result
from tests.reports import MIN, T0, closed

A = [4.0, -1.0, -2.0, 1.0, -3.0, 0.0]
STD_A = math.sqrt(sum((r + 1 / 6) ** 2 for r in A) / 6)
SHARPE_A = (-1 / 6) / STD_A


def trades(symbol: str, pnls: Sequence[float], strategy: str = "strat") -> list[ClosedResult]:
    """Closed trades of one symbol, oldest first, 10 minutes apart."""
    out = []
    for k, pnl in enumerate(pnls):
        c = closed(f"{symbol}-{k}", pnl, pending_at=T0 + k * 10 * MIN, minutes=5)
        out.append(c.model_copy(update={"symbol": symbol, "strategy_name": strategy}))
    return out


@pytest.fixture
def stats() -> HeatmapStatistics:
    return heatmap_statistics(
        {"A": trades("A", A), "B": trades("B", [1.5, 1.5]), "C": trades("C", [2.0]), "D": trades("D", [1.0, 3.0])}
    )


# ---- statistics ------------------------------------------------------------------------


def test_row_hand_computed() -> None:
    row = heatmap_row("A", trades("A", A))
    assert row.total_trades == 6 and row.win_count == 2 and row.loss_count == 3
    assert row.win_rate == pytest.approx(100 / 3)
    assert row.total_pnl == pytest.approx(-1.0)
    assert row.avg_pnl == pytest.approx(-1 / 6)
    assert row.std_dev == pytest.approx(STD_A)
    assert row.sharpe_ratio == pytest.approx(SHARPE_A)
    assert row.max_drawdown == 5.0
    assert row.profit_factor == pytest.approx(5 / 6)
    assert row.avg_win == 2.5 and row.avg_loss == -2.0
    assert (row.max_win_streak, row.max_loss_streak) == (1, 2)
    assert row.expectancy == pytest.approx(-0.5)


def test_drawdown_walks_newest_to_oldest() -> None:
    # Oldest first +5, −1: newest-first cumulative −1, 4 → drawdown 1 (oldest-first: none).
    assert heatmap_row("X", trades("X", [5.0, -1.0])).max_drawdown == 1.0
    assert heatmap_row("X", trades("X", [-1.0, 5.0])).max_drawdown == 0.0
    assert heatmap_row("X", trades("X", [1.0, 2.0])).max_drawdown == 0.0


def test_streaks_ignore_zero_and_reset_on_opposite() -> None:
    row = heatmap_row("X", trades("X", [-1.0, 0.0, -1.0, 2.0, 3.0, 0.0, 4.0, -1.0]))
    assert (row.max_win_streak, row.max_loss_streak) == (3, 2)


def test_nulls_for_short_or_one_sided_lists() -> None:
    one = heatmap_row("C", trades("C", [2.0]))
    assert one.std_dev is None and one.sharpe_ratio is None  # n ≤ 1
    assert one.win_rate == 100.0 and one.avg_win == 2.0
    assert one.profit_factor is None and one.avg_loss is None and one.expectancy is None
    assert one.max_drawdown == 0.0
    flat = heatmap_row("B", trades("B", [1.5, 1.5]))
    assert flat.std_dev == 0.0 and flat.sharpe_ratio is None  # std 0 → null, not 0 (§17.9)
    losers = heatmap_row("L", trades("L", [-1.0, -2.0]))
    assert losers.avg_win is None and losers.profit_factor is None and losers.expectancy is None
    assert losers.max_drawdown == 3.0 and losers.max_loss_streak == 2


def test_empty_symbol_row() -> None:
    row = heatmap_row("E", [])
    assert row.total_trades == 0 and row.total_pnl == 0.0
    assert row.avg_pnl is None and row.win_rate is None and row.sharpe_ratio is None


def test_float_quirk_identical_pnls() -> None:
    """8 × 0.1: the running sum is 0.7999999999999999, so mean ≠ 0.1 and std ≈ 1e-17."""
    row = heatmap_row("Q", trades("Q", [0.1] * 8))
    total = 0.0
    for _ in range(8):  # plain left-to-right addition; `sum` compensates rounding
        total += 0.1
    mean = total / 8
    squares = 0.0
    for _ in range(8):
        squares += (0.1 - mean) * (0.1 - mean)
    std = math.sqrt(squares / 8)
    assert 0 < std < 1e-15
    assert row.std_dev == std
    assert row.sharpe_ratio == mean / std
    assert row.sharpe_ratio > 1e15


def test_no_250_cap() -> None:
    """D8: every trade counts (the reference keeps only the 250 newest per symbol)."""
    row = heatmap_row("N", trades("N", [1.0] * 300 + [-1.0]))
    assert row.total_trades == 301 and row.win_count == 300


def test_portfolio_and_order(stats: HeatmapStatistics) -> None:
    # Sharpe: D 2.0, A negative, B and C null (kept in input order: the sort is stable).
    assert [r.symbol for r in stats.symbols] == ["D", "A", "B", "C"]
    assert stats.symbols[0].sharpe_ratio == 2.0
    assert stats.total_symbols == 4
    assert stats.portfolio_total_trades == 11
    assert stats.portfolio_total_pnl == pytest.approx(4.0 - 1.0 + 3.0 + 2.0)
    assert stats.portfolio_sharpe_ratio == pytest.approx((2.0 * 2 + SHARPE_A * 6) / 11)


def test_portfolio_empty_and_unrated() -> None:
    empty = heatmap_statistics({})
    assert empty == HeatmapStatistics()
    assert empty.portfolio_total_pnl is None and empty.portfolio_sharpe_ratio is None
    unrated = heatmap_statistics({"C": trades("C", [2.0])})
    assert unrated.portfolio_sharpe_ratio is None and unrated.portfolio_total_pnl == 2.0


def test_nulls_sorted_last_even_before_negative() -> None:
    s = heatmap_statistics({"N": trades("N", [1.0]), "M": trades("M", [-1.0, -3.0])})
    assert [r.symbol for r in s.symbols] == ["M", "N"]


# ---- report ----------------------------------------------------------------------------


def test_report_empty() -> None:
    assert render_heat_report("strat", HeatmapStatistics()) == "# Portfolio Heatmap: strat\n\n*No data available*"


def test_report_layout_and_cells(stats: HeatmapStatistics) -> None:
    lines = render_heat_report("strat", stats).split("\n")
    assert lines[0] == "# Portfolio Heatmap: strat"
    sharpe = f"{(2.0 * 2 + SHARPE_A * 6) / 11:.2f}"
    assert lines[2] == (
        f"**Total Symbols:** 4 | **Portfolio PNL:** +8.00% | **Portfolio Sharpe:** {sharpe} | **Total Trades:** 11"
    )
    assert lines[4] == "| " + " | ".join(COLUMNS) + " |"
    assert lines[4] == (
        "| Symbol | Total PNL | Sharpe | PF | Expect | WR | Avg Win | Avg Loss | Max DD | W Streak | L Streak | Trades |"
    )
    assert lines[5] == "| " + " | ".join(["---"] * 12) + " |"
    rows = {line.split(" | ")[0][2:]: line for line in lines[6:]}
    assert rows["D"] == "| D | +4.00% | 2.00 | N/A | N/A | 100.0% | +2.00% | N/A | 0.00% | 2 | 0 | 2 |"
    assert rows["A"] == (
        f"| A | -1.00% | {SHARPE_A:.2f} | 0.83 | -0.50% | 33.3% | +2.50% | -2.00% | -5.00% | 1 | 2 | 6 |"
    )
    assert rows["C"] == "| C | +2.00% | N/A | N/A | N/A | 100.0% | +2.00% | N/A | 0.00% | 1 | 0 | 1 |"
    assert "%+" not in "\n".join(lines) and "%%" not in "\n".join(lines)  # D7: no printf leftovers


# ---- facade ----------------------------------------------------------------------------


def _register(name: str = "strat") -> None:
    farm.add_strategy(strategy_name=name, interval="1m", get_signal=lambda symbol, when: None)


def test_heat_facade_reads_both_modes(tmp_path) -> None:
    _register()
    for t in trades("A", A[:3]):
        record_result(t, backtest=True)
    for t in trades("A", A[3:]) + trades("D", [1.0, 3.0]):
        record_result(t, backtest=False)  # live trades count too (§11.4)
    data = farm.Heat.get_data("strat")
    assert data == heatmap_statistics({"A": trades("A", A), "D": trades("D", [1.0, 3.0])})
    report = farm.Heat.get_report("strat")
    assert report.startswith("# Portfolio Heatmap: strat\n\n**Total Symbols:** 2 |")
    path = farm.Heat.dump("strat", tmp_path / "out")
    assert path == tmp_path / "out" / "strat.md" and path.read_text(encoding="utf-8") == report
    default = farm.Heat.dump("strat")
    assert default.parent.name == "heatmap" and default.read_text(encoding="utf-8") == report


def test_heat_facade_unknown_strategy_and_empty() -> None:
    with pytest.raises(farm.NotFoundError):
        farm.Heat.get_data("nope")
    _register("quiet")
    assert farm.Heat.get_report("quiet") == "# Portfolio Heatmap: quiet\n\n*No data available*"


def test_public_exports() -> None:
    assert farm.HeatmapStatistics is HeatmapStatistics
    assert {"Heat", "HeatmapStatistics", "deflated_sharpe"} <= set(farm.__all__)


# ---- pictures --------------------------------------------------------------------------

LONG = "sma_cross(fast=10,slow=50)"


@pytest.fixture
def sweep() -> dict[str, HeatmapStatistics]:
    return {
        LONG: heatmap_statistics({"BTCUSDT": trades("BTCUSDT", [1.0, 3.0]), "ETHUSDT": trades("ETHUSDT", A)}),
        "rsi<&>": heatmap_statistics({"BTCUSDT": trades("BTCUSDT", [-1.0, -3.0, 1.0]), "SOLUSDT": trades("S", [2.0])}),
    }


def test_matrix_builder(sweep: dict[str, HeatmapStatistics]) -> None:
    m = heatmap_matrix(sweep)
    assert m.metric == "sharpe_ratio"
    assert m.symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]  # sorted union
    assert m.strategies == [LONG, "rsi<&>"]  # mapping order
    assert m.value("BTCUSDT", LONG) == 2.0
    assert m.value("ETHUSDT", LONG) == pytest.approx(SHARPE_A)
    assert m.value("ETHUSDT", "rsi<&>") is None  # not traded
    assert m.value("SOLUSDT", "rsi<&>") is None  # one trade: Sharpe N/A
    trades_m = heatmap_matrix(sweep, "total_trades", symbols=["SOLUSDT", "BTCUSDT"])
    assert trades_m.values == [[None, 1.0], [2.0, 3.0]]
    with pytest.raises(ValueError, match="unknown heatmap metric 'nope'"):
        heatmap_matrix(sweep, "nope")
    with pytest.raises(ValueError):
        HeatmapMatrix(metric="sharpe_ratio", symbols=["A"], strategies=["x", "y"], values=[[1.0]])


def test_colour_scale_diverging_and_outlier() -> None:
    m = HeatmapMatrix(metric="sharpe_ratio", symbols=["A", "B"], strategies=["x", "y", "z"],
                      values=[[0.5, -0.4, 0.0], [0.3, 8.8e15, None]])
    scale = colour_scale(m)
    assert scale.colour(0.0) == DIVERGING[5]  # neutral centre
    assert scale.colour(0.5) == DIVERGING[-1]  # the best ordinary value reaches the end
    assert scale.colour(8.8e15) == DIVERGING[-1]  # the quirk outlier is clipped, not stretching
    assert scale.span == 0.5 and scale.clipped_high and not scale.clipped_low
    assert scale.colour(None) == MISSING
    assert scale.position(-0.4) < 0.5 < scale.position(0.3)


def test_colour_scale_lower_is_better() -> None:
    m = HeatmapMatrix(metric="max_drawdown", symbols=["A"], strategies=["x", "y", "z"], values=[[0.0, 2.0, 8.0]])
    scale = colour_scale(m)
    assert scale.position(0.0) == 0.5 and scale.position(8.0) == 0.0  # deeper drawdown → red end
    assert scale.colour(8.0) == DIVERGING[0]


def test_png(tmp_path, sweep: dict[str, HeatmapStatistics]) -> None:
    import matplotlib.image as mpimg

    path = render_heatmap_png(heatmap_matrix(sweep), tmp_path / "pics" / "heat.png")
    assert path.exists() and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    height, width = pixels.shape[:2]
    assert 400 < width < 3000 and 300 < height < 3000
    assert pixels[..., :3].std() > 0.05  # not blank
    # Some cells are clearly green (a good Sharpe) and some clearly red or grey.
    rgb = pixels[..., :3]
    assert ((rgb[..., 1] - rgb[..., 0]) > 0.3).any()
    taller = render_heatmap_png(
        heatmap_matrix({f"s{i}": sweep[LONG] for i in range(12)}), tmp_path / "tall.png"
    )
    assert mpimg.imread(taller).shape[0] > height


def test_png_empty_matrix(tmp_path) -> None:
    path = render_heatmap_png(heatmap_matrix({}), tmp_path / "empty.png")
    assert path.stat().st_size > 1000


def test_html_self_contained_with_every_value(tmp_path, sweep: dict[str, HeatmapStatistics]) -> None:
    m = heatmap_matrix(sweep, "total_pnl")
    page = render_heatmap_html(m, tmp_path / "heat.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    for cell in ("+4.00%", "-1.00%", "-3.00%", "+2.00%", "N/A"):
        assert f">{cell}</td>" in page
    assert LONG in page and "rsi&lt;&amp;&gt;" in page and "rsi<&>" not in page
    assert "Total PNL" in page and "higher is better" in page  # title names the metric, legend
    scale = colour_scale(m)
    for row in m.values:
        for v in row:
            assert f"background:{scale.colour(v)}" in page
    lowered = page.lower()
    for external in ("<script", "src=", "href=", "@import", "url(", "http"):
        assert external not in lowered


def test_html_deterministic(tmp_path, sweep: dict[str, HeatmapStatistics]) -> None:
    first = render_heatmap_html(heatmap_matrix(sweep), tmp_path / "a.html").read_bytes()
    again = {name: HeatmapStatistics.model_validate(s.model_dump()) for name, s in sweep.items()}
    second = render_heatmap_html(heatmap_matrix(again), tmp_path / "b.html").read_bytes()
    assert first == second


def test_every_metric_renders(tmp_path, sweep: dict[str, HeatmapStatistics]) -> None:
    from farm.reports.heatmap import METRICS

    assert set(METRICS) == set(HeatmapRow.model_fields) - {"symbol"}
    for metric in METRICS:
        page = render_heatmap_html(heatmap_matrix(sweep, metric), tmp_path / f"{metric}.html")
        assert METRICS[metric].label in page.read_text(encoding="utf-8")
