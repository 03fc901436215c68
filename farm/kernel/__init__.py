"""The fast path for sweeps: vectorised strategies on a compiled lifecycle kernel (issue #6).

A strategy may come in vectorised form, `signals(candles, **params)` returning per-bar rows
(`farm.kernel.signals`); `farm.kernel.run` backtests it with the compiled driver
(`farm.kernel.numba_kernel`) over the lifecycle steps the per-tick engine runs too
(`farm.engine.steps`), and gives the per-tick engine's closed and cancelled records.
"""

from __future__ import annotations

from farm.kernel.market import KernelConfig, KernelUnsupported, Market, load_market
from farm.kernel.run import KernelRun, Trades, kernel_blockers, run_arrays, run_sweep, run_vectorised
from farm.kernel.signals import SignalTable, as_get_signal, average_prices, to_table

__all__ = [
    "KernelConfig",
    "KernelRun",
    "KernelUnsupported",
    "Market",
    "SignalTable",
    "Trades",
    "as_get_signal",
    "average_prices",
    "kernel_blockers",
    "load_market",
    "run_arrays",
    "run_sweep",
    "run_vectorised",
    "to_table",
]
