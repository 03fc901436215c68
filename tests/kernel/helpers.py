"""Comparing the kernel with the per-tick engine, record for record."""

from __future__ import annotations

import math
from typing import Any

import farm
from farm.config import get_config, set_config
from farm.kernel import KernelRun, run_vectorised

SYMBOL = "K/TEST"


def per_tick(strategy: str, exchange: str = "x", frame: str = "f", symbol: str = SYMBOL) -> tuple[list, list[str]]:
    """The per-tick engine's yielded results and the messages it published on listen_error
    (forced: `Backtest.run` would take the kernel for a strategy with a vectorised form)."""
    errors: list[str] = []
    unsubscribe = farm.listen_error(lambda e: errors.append(str(e)))
    saved = get_config().backtest_path
    set_config(unsafe=True, backtest_path="per-tick")
    try:
        results = list(farm.Backtest.run(symbol, strategy_name=strategy, exchange_name=exchange, frame_name=frame))
    finally:
        set_config(unsafe=True, backtest_path=saved)
        unsubscribe()
    return results, errors


def kernel(strategy: str, exchange: str = "x", frame: str = "f", symbol: str = SYMBOL) -> KernelRun:
    return run_vectorised(symbol, strategy_name=strategy, exchange_name=exchange, frame_name=frame)


def trade_key(r: Any) -> tuple:
    closed = r.action == "closed"
    return (
        r.action, r.signal.position, r.signal.scheduled_at, r.signal.pending_at, r.close_timestamp,
        getattr(r, "close_reason", None), r.signal.price_open, r.pnl.price_close if closed else r.current_price,
    )


def assert_same(expected: list, got: list) -> None:
    """Identical trade lists: timestamps, reasons and prices exactly, PnL to 1e-12, and then
    every field of every record (ids, notes, TP/SL, lifetimes) equal as well."""
    assert [r.action for r in got] == [r.action for r in expected]
    for i, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert trade_key(g) == trade_key(e), f"trade {i}: {trade_key(g)} != {trade_key(e)}"
        if e.action == "closed":
            assert math.isclose(g.pnl.pnl_percentage, e.pnl.pnl_percentage, rel_tol=0, abs_tol=1e-12), i
        assert g.model_dump() == e.model_dump(), f"trade {i}"
