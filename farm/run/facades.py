"""`farm.Schedule`, `farm.Performance`, `farm.Partial`, `farm.Heat`: statistics and reports over the
process-wide storages the runs feed (SPEC §11.3, §11.4, §11.5, §11.7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from farm import registry
from farm.config import get_config
from farm.reports.files import write_report
from farm.run.storage import storages


def _check(strategy_name: str, where: str) -> str:
    """Validate the strategy and its risks; return its canonical name (variants)."""
    schema = registry.get_strategy(strategy_name, source=where)
    for risk_name in schema.risk_names:
        registry.risks.get(risk_name, source=where)
    return schema.strategy_name


class ScheduleFacade:
    def get_data(self, symbol: str, strategy_name: str) -> Any:
        from farm.stats import schedule_entry, schedule_statistics

        strategy_name = _check(strategy_name, "Schedule.get_data")
        entries = [e for e in map(schedule_entry, storages.schedule.get((symbol, strategy_name), [])) if e]
        return schedule_statistics(entries)

    def get_report(self, symbol: str, strategy_name: str) -> str:
        from farm.reports.schedule import render_schedule_report

        cfg = get_config()
        return render_schedule_report(
            strategy_name, self.get_data(symbol, strategy_name),
            show_note=cfg.report_show_signal_note, max_rows=cfg.report_max_rows,
        )

    def dump(self, symbol: str, strategy_name: str, path: str | Path | None = None) -> Path:
        return write_report(self.get_report(symbol, strategy_name), "schedule", f"{strategy_name}.md", path)


class PerformanceFacade:
    def get_data(self, symbol: str, strategy_name: str) -> Any:
        from farm.run.backtest import performance_event
        from farm.stats import performance_statistics

        strategy_name = _check(strategy_name, "Performance.get_data")
        samples = storages.performance.get((symbol, strategy_name), [])
        return performance_statistics(strategy_name, [performance_event(s) for s in samples])

    def get_report(self, symbol: str, strategy_name: str) -> str:
        from farm.reports.performance import render_performance_report

        return render_performance_report(strategy_name, self.get_data(symbol, strategy_name))

    def dump(self, symbol: str, strategy_name: str, path: str | Path | None = None) -> Path:
        return write_report(self.get_report(symbol, strategy_name), "performance", f"{strategy_name}.md", path)


class PartialFacade:
    def get_data(self, symbol: str, strategy_name: str) -> Any:
        from farm.stats import partial_entry, partial_statistics

        strategy_name = _check(strategy_name, "Partial.get_data")
        entries = [partial_entry(e, kind) for kind, e in storages.partial.get((symbol, strategy_name), [])]
        return partial_statistics(entries)

    def get_report(self, symbol: str, strategy_name: str) -> str:
        from farm.reports.partial import render_partial_report

        return render_partial_report(
            symbol, strategy_name, self.get_data(symbol, strategy_name), max_rows=get_config().report_max_rows
        )

    def dump(self, symbol: str, strategy_name: str, path: str | Path | None = None) -> Path:
        return write_report(
            self.get_report(symbol, strategy_name), "partial", f"{symbol}_{strategy_name}.md", path
        )


class HeatFacade:
    """`farm.Heat`: one strategy's closed trades of every symbol, backtest and live (§11.4)."""

    def get_data(self, strategy_name: str) -> Any:
        from farm.heat import heatmap_statistics

        strategy_name = _check(strategy_name, "Heat.get_data")
        return heatmap_statistics(storages.heat.get(strategy_name, {}))

    def get_report(self, strategy_name: str) -> str:
        from farm.reports.heat import render_heat_report

        return render_heat_report(strategy_name, self.get_data(strategy_name))

    def dump(self, strategy_name: str, path: str | Path | None = None) -> Path:
        return write_report(self.get_report(strategy_name), "heatmap", f"{strategy_name}.md", path)


Schedule = ScheduleFacade()
Performance = PerformanceFacade()
Partial = PartialFacade()
Heat = HeatFacade()
