"""`farm.Schedule`, `farm.Performance`, `farm.Partial`, `farm.Heat`, `farm.Risk`: statistics and
reports over the process-wide storages library runs feed (SPEC §11.3, §11.4, §11.5, §11.7, §11.8);
`farm.PositionSize`: quantities from registered sizings (§9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from farm import registry
from farm.config import get_config
from farm.engine.sizing import SizingNotFoundError, SizingParams, calculate
from farm.errors import NotFoundError, SizingError
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


class RiskFacade:
    """`farm.Risk`: the signals a strategy's risk profiles rejected on one symbol (§11.8)."""

    def get_data(self, symbol: str, strategy_name: str) -> Any:
        from farm.stats import risk_statistics

        strategy_name = _check(strategy_name, "Risk.get_data")
        return risk_statistics(storages.risk.get((symbol, strategy_name), []))

    def get_report(self, symbol: str, strategy_name: str) -> str:
        from farm.reports.risk import render_risk_report

        cfg = get_config()
        return render_risk_report(
            symbol, strategy_name, self.get_data(symbol, strategy_name),
            show_note=cfg.report_show_signal_note, max_rows=cfg.report_max_rows,
        )

    def dump(self, symbol: str, strategy_name: str, path: str | Path | None = None) -> Path:
        return write_report(self.get_report(symbol, strategy_name), "risk", f"{symbol}_{strategy_name}.md", path)


class PositionSizeFacade:
    """`farm.PositionSize`: quantities from a registered sizing (§9); errors are `SizingError`."""

    def fixed_percentage(
        self, symbol: str, balance: float, price_open: float, price_stop_loss: float, *, sizing_name: str
    ) -> float:
        return _size(sizing_name, "fixed-percentage", symbol=symbol, balance=balance, price_open=price_open,
                     price_stop_loss=price_stop_loss)

    def kelly_criterion(
        self, symbol: str, balance: float, price_open: float, win_rate: float, win_loss_ratio: float, *,
        sizing_name: str,
    ) -> float:
        return _size(sizing_name, "kelly-criterion", symbol=symbol, balance=balance, price_open=price_open,
                     win_rate=win_rate, win_loss_ratio=win_loss_ratio)

    def atr_based(self, symbol: str, balance: float, price_open: float, atr: float, *, sizing_name: str) -> float:
        return _size(sizing_name, "atr-based", symbol=symbol, balance=balance, price_open=price_open, atr=atr)


def _size(sizing_name: str, method: str, **fields: Any) -> float:
    try:
        schema = registry.sizings.get(sizing_name, source=f"PositionSize.{method.replace('-', '_')}")
    except NotFoundError as exc:
        raise SizingNotFoundError(str(exc)) from None
    try:
        params = SizingParams(method=method, **fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SizingError(f"sizing {sizing_name}: {problems}") from None
    return calculate(schema, params)


Schedule = ScheduleFacade()
Performance = PerformanceFacade()
Partial = PartialFacade()
Heat = HeatFacade()
Risk = RiskFacade()
PositionSize = PositionSizeFacade()
