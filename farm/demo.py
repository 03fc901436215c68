"""The main job on the embedded default: a walker sweep of the bundled strategies (and an SMA
parameter grid) over the bundled real candles.

No servers, no network: four 5m crypto pairs shipped in the package, a local process pool,
reports and results on disk. `register_demo()` is importable (FARM_IMPORTS=farm.demo) so the
same setup runs from the CLI, the tests and, later, farm workers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import farm
from farm import registry
from farm.data.sample import sample_source, sample_symbols
from farm.persist import open_store
from farm.run.reduce import SweepResult
from farm.run.sweep import SweepProgress, sweep

EXCHANGE = "sample"
FRAME = "sample-jan-2018"
START = "2018-01-11T00:00:00Z"
END = "2018-01-29T23:55:00Z"
BASE_INTERVAL = "5m"


def demo_symbols() -> list[str]:
    return [s for s, interval in sample_symbols().items() if interval == BASE_INTERVAL]


def register_demo() -> list[str]:
    """Register the sample exchange, frame and example strategies (idempotent); set the base
    interval to the sample's 5m. Returns the strategy names."""
    import strategies

    farm.set_config(base_interval=BASE_INTERVAL)
    if not registry.exchanges.has(EXCHANGE):
        farm.add_exchange(EXCHANGE, sample_source(BASE_INTERVAL), note="bundled real 5m candles")
    if not registry.frames.has(FRAME):
        farm.add_frame(FRAME, BASE_INTERVAL, START, END, note="the span every bundled 5m pair covers")
    return strategies.register_all()


WALKER = "demo"


def register_demo_walker() -> list[str]:
    """The demo's walker: the three examples plus a grid of SMA crossover variants."""
    names = register_demo()
    grid = farm.grid("sma_cross", fast=[5, 10, 20], slow=[50, 100])
    if not registry.walkers.has(WALKER):
        farm.add_walker(WALKER, EXCHANGE, FRAME, names + grid, metric="sharpe_ratio",
                        note="bundled strategies and an SMA parameter grid on the bundled pairs")
    return names + grid


def run_demo(out: Path, on_progress: Callable[[SweepProgress], object] | None = None, *,
             workers: int | None = None) -> SweepResult:
    """A local walker sweep (process pool, files on disk): walker reports per symbol, heat
    reports per strategy, the heatmap as markdown summary, PNG and HTML."""
    register_demo_walker()
    store = open_store(f"file://{(out / '.store').resolve()}")
    return sweep(WALKER, demo_symbols(), executor="local", out=out, store=store, workers=workers,
                 on_progress=on_progress)
