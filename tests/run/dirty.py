"""What the dirty-process tests (issue #10) share with the processes they start: a fresh Python
process computing the reference answer, and a long-lived Celery worker. Importable by name (it
goes in FARM_IMPORTS) and registers on import, as `tests.farm.helpers` does.

The trap: under `ANOMALY` the exchange checks reject candles of ETH/BTC that the default config
accepts. A run under it leaves those marks on the candle series it loaded; a later run of the
same symbol that reuses the series (a process-wide memo) fails ticks a fresh process passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import farm
from farm import registry
from farm.persist import open_store
from tests.farm import helpers
from tests.farm.names import EXCHANGE, SMA_A

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "ETH/BTC"
EARLY = "rs-early"
LATE = "rs-late"
"""Two frames over the same symbol (and, by name, the walkers sweeping them): the late one's
history reaches into the early one's candles."""
ANOMALY = {"get_candles_price_anomaly_threshold_factor": 1.02, "get_candles_retry_count": 1,
           "get_candles_retry_delay_ms": 0}
GRID = {"fast": [3, 5, 8]}


def register() -> None:
    helpers.register()
    if registry.frames.has(EARLY):
        return
    farm.add_frame(EARLY, "5m", "2018-01-12T00:00:00Z", "2018-01-14T00:00:00Z")
    farm.add_frame(LATE, "5m", "2018-01-14T00:00:00Z", "2018-01-17T00:00:00Z")
    farm.add_walker(EARLY, EXCHANGE, EARLY, farm.grid("tf_sma", **GRID))
    farm.add_walker(LATE, EXCHANGE, LATE, farm.grid("tf_sma", **GRID))


def trades(frame_name: str, strategy_name: str = SMA_A, exchange_name: str = EXCHANGE) -> list[list[Any]]:
    """A library backtest's results, as JSON-able rows."""
    out = farm.Backtest.run(SYMBOL, strategy_name=strategy_name, exchange_name=exchange_name, frame_name=frame_name)
    return [[r.action, r.signal.scheduled_at, r.close_timestamp, getattr(r, "close_reason", None),
             r.pnl.pnl_percentage if r.action == "closed" else None] for r in out]


def in_fresh_process(code: str) -> Any:
    """Run `code` (after `import tests.run.dirty as dirty`) in a new Python process and return
    what it printed, read as JSON: the answer no earlier run can have touched."""
    done = subprocess.run(
        [sys.executable, "-c", f"import json\nimport tests.run.dirty as dirty\n{code}"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def fresh_sweep(walker_name: str, config: dict[str, Any], store_path: str) -> None:
    """The sweep's jobs as one block, in this (fresh) process, into a file store."""
    from farm.run.execute import execute_block_and_store
    from farm.run.sweep import plan_sweep

    farm.set_config(unsafe=True, **config)
    jobs = plan_sweep(walker_name, [SYMBOL]).jobs
    statuses = execute_block_and_store(jobs, open_store(f"file://{store_path}"))
    print(json.dumps(statuses))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


register()
