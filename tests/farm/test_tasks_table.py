"""`tasks.parquet`, the sweep as a table (one row per symbol × strategy): the statistics every
report is drawn from, and which engine ran each task, readable with pandas."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("numba")

import pandas as pd  # noqa: E402

import farm  # noqa: E402
import strategies  # noqa: E402
from farm import registry  # noqa: E402
from farm.data.sample import sample_source  # noqa: E402
from farm.run.reduce import STAT_COLUMNS  # noqa: E402
from farm.run.sweep import sweep  # noqa: E402
from strategies import sma_cross  # noqa: E402
from tests.farm.conftest import store_at  # noqa: E402

SYMBOLS = ["ETH/BTC", "XLM/BTC"]


def same(a: object, b: object) -> bool:
    return (a is None and b is None) or a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def test_tasks_parquet_has_each_tasks_statistics_and_engine_path(tmp_path):
    farm.set_config(base_interval="5m")
    farm.add_exchange("sample", sample_source("5m"))
    farm.add_frame("days", "5m", "2018-01-18", "2018-01-24")
    strategies.register_all()
    farm.add_strategy("sma_per_tick", "1m", sma_cross.get_signal, params=sma_cross.PARAMS)  # no signals=
    farm.add_walker("w", "sample", "days", ["sma_cross", "sma_per_tick", "mean_reversion"])

    result = sweep("w", SYMBOLS, executor="local", workers=1, store=store_at(tmp_path / "store"),
                   out=tmp_path / "out")

    table = pd.read_parquet(tmp_path / "out" / "tasks.parquet")
    assert len(table) == 6 and set(table["status"]) == {"ok"}
    rows = table.set_index(["symbol", "strategy_name"])
    for symbol in SYMBOLS:
        assert rows.loc[(symbol, "sma_cross"), "engine_path"] == "kernel"
        assert rows.loc[(symbol, "mean_reversion"), "engine_path"] == "kernel"
        assert rows.loc[(symbol, "sma_per_tick"), "engine_path"] == "per-tick"
        assert rows.loc[(symbol, "sma_per_tick"), "engine_path_reason"] == "no vectorised form (signals=)"
        assert rows.loc[(symbol, "sma_cross"), "total_signals"] > 0
        # The same strategy on either engine: the same statistics.
        for column in STAT_COLUMNS:
            kernel, tick = rows.loc[(symbol, "sma_cross"), column], rows.loc[(symbol, "sma_per_tick"), column]
            assert same(None if pd.isna(kernel) else float(kernel), None if pd.isna(tick) else float(tick)), column
        # The table holds the numbers the walker results were ranked by.
        for entry in result.walker_results[symbol].strategies:
            assert rows.loc[(symbol, entry.strategy_name), "total_signals"] == entry.stats.total_signals
            assert same(float(rows.loc[(symbol, entry.strategy_name), "total_pnl"]), entry.stats.total_pnl)


def test_tasks_parquet_has_parameter_columns_and_standard_statistics(tmp_path):
    """One column per strategy parameter (from the registered params, so a pivot needs no name
    parsing), the walker's rank and ranking value, and the standard statistics over the frame."""
    farm.set_config(base_interval="5m")
    farm.add_exchange("sample", sample_source("5m"))
    farm.add_frame("days", "5m", "2018-01-18", "2018-01-24")
    strategies.register_all()
    names = farm.grid("sma_cross", fast=[5, 10], slow=[30, 60])
    farm.add_walker("g", "sample", "days", names, metric="total_pnl")

    result = sweep("g", SYMBOLS, executor="local", workers=1, store=store_at(tmp_path / "store"),
                   out=tmp_path / "out")

    table = pd.read_parquet(tmp_path / "out" / "tasks.parquet")
    assert len(table) == 8
    for name in names:
        row = table[table["strategy_name"] == name].iloc[0]
        for key, value in registry.get_strategy(name).params.items():
            assert row[f"param_{key}"] == value, key
    pivot = table[table["symbol"] == "ETH/BTC"].pivot(index="param_fast", columns="param_slow", values="total_pnl")
    assert sorted(pivot.index) == [5, 10] and sorted(pivot.columns) == [30, 60]
    assert set(table["param_tp_pct"]) == {2.0}  # a base default every variant inherits
    for symbol in SYMBOLS:
        walker = result.walker_results[symbol]
        for entry in walker.strategies:
            row = table[(table["symbol"] == symbol) & (table["strategy_name"] == entry.strategy_name)].iloc[0]
            assert row["rank"] == entry.rank
            assert same(None if pd.isna(row["metric_value"]) else float(row["metric_value"]), entry.metric)
            assert entry.standard is not None
            assert float(row["max_drawdown_pct"]) == entry.standard.max_drawdown_pct <= 0
            assert float(row["return_pct"]) == pytest.approx(entry.standard.return_pct)
            assert float(row["exposure_time_pct"]) == pytest.approx(entry.standard.exposure_time_pct)
            assert entry.standard.trades == row["total_signals"]


def test_standard_statistics_need_no_registered_frame_to_render(tmp_path):
    """`farm report` in a process that never registered the walker's frame renders the same
    standard statistics: the frame's dates travel in the jobs (their keys hold them)."""
    from farm.run.reduce import reduce_sweep
    from farm.run.sweep import load_manifest

    farm.set_config(base_interval="5m")
    farm.add_exchange("sample", sample_source("5m"))
    farm.add_frame("days", "5m", "2018-01-18", "2018-01-24")
    strategies.register_all()
    farm.add_walker("w", "sample", "days", ["sma_cross", "mean_reversion"])
    store = store_at(tmp_path / "store")
    first = sweep("w", SYMBOLS, executor="local", workers=1, store=store, out=tmp_path / "out")

    farm.clear_registry()  # a fresh reporting process: no frame, no walker registered
    farm.set_config(base_interval="5m")
    again = reduce_sweep(load_manifest(first.sweep_id, store), store, out=tmp_path / "again")
    for symbol in SYMBOLS:
        before = {e.strategy_name: e.standard for e in first.walker_results[symbol].strategies}
        after = {e.strategy_name: e.standard for e in again.walker_results[symbol].strategies}
        assert all(s is not None for s in after.values()) and after == before
