"""The main job on the embedded default: the bundled strategies on the bundled real candles.

No servers, no network: four 5m crypto pairs shipped in the package, three example strategies,
markdown reports on disk. `register_demo()` is importable (FARM_IMPORTS=farm.demo) so the
same setup runs from the CLI, the tests and, later, farm workers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import farm
from farm import registry
from farm.data.sample import sample_source, sample_symbols
from farm.reports.files import write_report
from farm.reports.markdown import num, pct_signed, table

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


@dataclass(frozen=True)
class DemoRow:
    symbol: str
    strategy_name: str
    stats: object
    report: Path


def run_demo(
    out: Path, on_progress: Callable[[str, str, float], None] | None = None
) -> tuple[list[DemoRow], Path]:
    """Backtest every strategy on every sample symbol; write one report each and a summary."""
    names = register_demo()
    rows: list[DemoRow] = []
    for symbol in demo_symbols():
        for name in names:
            unsubscribe = None
            if on_progress is not None:
                unsubscribe = farm.listen_backtest_progress(
                    lambda e, s=symbol, n=name: on_progress(s, n, e.progress)
                )
            try:
                for _ in farm.Backtest.run(symbol, strategy_name=name, exchange_name=EXCHANGE, frame_name=FRAME):
                    pass
            finally:
                if unsubscribe is not None:
                    unsubscribe()
            report = write_report(
                farm.Backtest.get_report(symbol, name), "backtest", f"{symbol}_{name}.md", out / "backtest"
            )
            rows.append(DemoRow(symbol, name, farm.Backtest.get_data(symbol, name), report))
    summary = write_report(render_summary(rows), "demo", "summary.md", out)
    return rows, summary


def render_summary(rows: list[DemoRow]) -> str:
    header = ["Symbol", "Strategy", "Trades", "Win rate", "Total PNL", "Sharpe", "Report"]
    body = [
        [
            r.symbol, r.strategy_name, str(r.stats.total_signals),
            "N/A" if r.stats.win_rate is None else f"{r.stats.win_rate:.1f}%",
            pct_signed(r.stats.total_pnl), num(r.stats.sharpe_ratio, 3),
            f"[{r.report.name}](backtest/{r.report.name})",
        ]
        for r in rows
    ]
    return "\n".join(
        [
            "# Demo: bundled strategies on bundled real candles",
            "",
            f"Frame {START} → {END}, base interval {BASE_INTERVAL}, fees and slippage 0.1 % per side.",
            "",
            table(header, body),
            "",
        ]
    )
