"""Ranking that luck cannot win (issue #12, D14, D15): few trades and zero-variance ratios are
N/A and rank last, in the walker and in the sweep's heatmap alike."""

from __future__ import annotations

import farm
from farm.heat import heatmap_statistics
from farm.reports.heatmap import _best, heatmap_matrix
from farm.reports.walker import render_walker_report, walker_results
from farm.stats import backtest_statistics
from tests.reports import T0, closed

MIN = 60_000


def trades(*pnls: float, sid: str = "t") -> list:
    return [closed(f"{sid}{i}", p, pending_at=T0 + i * 120 * MIN, minutes=60) for i, p in enumerate(pnls)]


# The sweep of the issue: a variant whose only trade lost (reference Sharpe 0) against one of 19
# trades whose Sharpe is slightly negative. The reference ranks the single loser first.
LUCKY = trades(-1.15, sid="lucky")
STEADY = trades(*([0.5, -0.53] * 9 + [-0.1]), sid="steady")


def test_one_trade_does_not_beat_nineteen():
    lucky, steady = backtest_statistics(LUCKY), backtest_statistics(STEADY)
    assert lucky.sharpe_ratio == 0.0  # the reference's statistic is unchanged
    assert steady.sharpe_ratio is not None and steady.sharpe_ratio < 0
    results = walker_results("w", "A", "x", "f", "sharpe_ratio", [("lucky", lucky), ("steady", steady)])
    assert [(s.strategy_name, s.metric is None) for s in results.strategies] == [("steady", False), ("lucky", True)]
    assert results.best_strategy == "steady"
    report = render_walker_report(results)
    assert "| 2 | lucky | N/A |" in report


def test_the_minimum_number_of_trades_is_a_setting():
    winners = backtest_statistics(trades(2.0, 1.0, 3.0, 2.5, -0.5))  # 5 trades, a fine Sharpe ratio
    many = backtest_statistics(STEADY)
    entries = [("five", winners), ("many", many)]
    assert farm.get_config().walker_min_trades == 10
    for metric in ("sharpe_ratio", "total_pnl", "win_rate", "avg_pnl"):
        assert walker_results("w", "A", "x", "f", metric, entries).best_strategy == "many", metric
    farm.set_config(walker_min_trades=5)
    assert walker_results("w", "A", "x", "f", "sharpe_ratio", entries).best_strategy == "five"


def test_identical_pnls_have_no_sharpe_ratio():
    # 12 identical trades: float rounding gives a std of ~1e-16 and a Sharpe near 1e16 (SPEC §11.4).
    same = backtest_statistics(trades(*[0.3] * 12))
    assert same.sharpe_ratio is not None and (abs(same.sharpe_ratio) > 1e6 or same.sharpe_ratio == 0.0)
    results = walker_results("w", "A", "x", "f", "sharpe_ratio",
                             [("same", same), ("steady", backtest_statistics(STEADY))])
    assert [s.strategy_name for s in results.strategies] == ["steady", "same"]
    assert results.strategies[1].metric is None


def test_a_certainty_ratio_without_losses_is_na():
    no_loss = backtest_statistics(trades(*[0.3, 0.5] * 6))
    assert no_loss.certainty_ratio == 0.0  # the reference
    results = walker_results("w", "A", "x", "f", "certainty_ratio",
                             [("no_loss", no_loss), ("steady", backtest_statistics(STEADY))])
    assert results.best_strategy == "steady"
    assert [(s.strategy_name, s.metric) for s in results.strategies][1] == ("no_loss", None)


def test_the_heatmap_outlines_the_walkers_best():
    by_strategy = {
        "lucky": {"A": LUCKY, "B": trades(*[0.2] * 12)},
        "steady": {"A": STEADY, "B": STEADY},
    }
    heat = {name: heatmap_statistics(rows) for name, rows in by_strategy.items()}
    matrix = heatmap_matrix(heat, "sharpe_ratio", symbols=["A", "B"], min_trades=10)
    best = _best(matrix)
    for i, symbol in enumerate(["A", "B"]):
        walker = walker_results("w", symbol, "x", "f", "sharpe_ratio", [
            (name, backtest_statistics(rows[symbol])) for name, rows in by_strategy.items()
        ])
        assert {matrix.strategies[j] for (k, j) in best if k == i} == {walker.best_strategy} == {"steady"}
        assert matrix.value(symbol, "lucky") is None


def test_the_heat_report_prints_a_zero_variance_sharpe_as_na_like_the_walker():
    from farm.reports.heat import render_heat_report

    same = trades(*[0.1] * 8)
    stats = heatmap_statistics({"Q": same, "S": STEADY})
    assert stats.symbols[0].symbol == "Q" and stats.symbols[0].sharpe_ratio > 1e15  # SPEC §11.4's quirk, kept
    report = render_heat_report("s", stats)
    row = next(line for line in report.splitlines() if line.startswith("| Q |"))
    assert row.split(" | ")[2] == "N/A"
    walker = walker_results("w", "Q", "x", "f", "sharpe_ratio", [("s", backtest_statistics(same))], min_trades=1)
    assert walker.strategies[0].metric is None
