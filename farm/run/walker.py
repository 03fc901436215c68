"""The walker (SPEC §10): one backtest per strategy, in order, ranked by a metric.

A walk is a loop over `run_backtest`; everything else is bookkeeping the reference does
around it: callbacks, progress and per-strategy events, a best-so-far, and stop requests on
the walker-stop channel, filtered by symbol *and* walker so two walkers on one symbol never
stop each other. Results are kept per `(symbol, walker)` as `(strategy, statistics)` pairs
and ranked by the pure `walker_results`, the same function the farm uses on stored results.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farm import events, registry
from farm.config import get_config
from farm.errors import FarmError
from farm.models import DoneEvent, Model
from farm.reports.walker import (
    WalkerResults,
    check_metric,
    metric_value,
    render_walker_report,
    walker_results,
)
from farm.run import backtest as _backtest
from farm.run.background import BackgroundRun
from farm.run.state import RunState
from farm.schemas import WalkerSchema
from farm.stats import BacktestStatistics, backtest_statistics

__all__ = ["Walker", "WalkerEvent", "WalkerFacade", "WalkerProgress", "WalkerStop", "run_walker"]


class WalkerProgress(Model):
    """`listen_walker_progress` payload: strategies finished so far."""

    walker_name: str
    exchange_name: str
    frame_name: str
    symbol: str
    total_strategies: int
    processed_strategies: int
    progress: float


class WalkerEvent(Model):
    """One tested strategy (`listen_walker` payload and what `Walker.run` yields)."""

    walker_name: str
    exchange_name: str
    frame_name: str
    symbol: str
    strategy_name: str
    stats: BacktestStatistics
    metric_value: float | None
    metric: str
    best_metric: float | None
    best_strategy: str | None
    strategies_tested: int
    total_strategies: int


class WalkerStop(Model):
    """A stop request on the walker-stop channel (one per strategy of the walker)."""

    symbol: str
    strategy_name: str
    walker_name: str


@dataclass
class _Record:
    exchange_name: str
    frame_name: str
    metric: str
    total_strategies: int
    entries: list[tuple[str, BacktestStatistics | None]] = field(default_factory=list)


_records: dict[tuple[str, str], _Record] = {}
_status: dict[tuple[str, str], str] = {}


def _reset() -> None:
    _records.clear()
    _status.clear()


registry.on_clear(_reset)


def validate_walker(walker_name: str) -> tuple[WalkerSchema, list[str]]:
    """Check the walker, its metric, exchange, frame, strategies and their risks before anything
    runs (a typo found after an hour of backtests is an hour lost). Returns the canonical
    strategy names (a variant spelled another way keeps one storage)."""
    walker = registry.walkers.get(walker_name, source="walker")
    owner = f"walker {walker_name}"
    check_metric(walker.metric, owner)
    registry.exchanges.get(walker.exchange_name, source=owner)
    registry.frames.get(walker.frame_name, source=owner)
    names: list[str] = []
    for strategy_name in walker.strategies:
        schema = registry.get_strategy(strategy_name, source=owner)
        for risk_name in schema.risk_names:
            registry.risks.get(risk_name, source=f"strategy {schema.strategy_name}")
        names.append(schema.strategy_name)
    return walker, names


class _Walk:
    """One walk: its run (one `RunState` for all its backtests, so the candles load once; each
    backtest starts fresh risk ledgers), stop requests, and which strategy it is testing now."""

    def __init__(self, symbol: str, walker_name: str, run: RunState):
        self.symbol = symbol
        self.walker_name = walker_name
        self.run = run
        self.requested: set[str] = set()
        self.current: str | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def listen(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = events.walker_stop.subscribe(self._on_stop)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_stop(self, request: WalkerStop) -> None:
        if request.symbol != self.symbol or request.walker_name != self.walker_name:
            return
        self.requested.add(request.strategy_name)
        if request.strategy_name == self.current:
            self.halt()

    def halt(self) -> None:
        """Stop the backtest in progress: no new signals, an open one runs to its close."""
        if self.current is not None:
            runtime = self.run.running.get((self.symbol, self.current))
            if runtime is not None:
                runtime.stop()


def _callback(walker: WalkerSchema, name: str, *args: Any) -> None:
    fn = walker.callbacks.get(name)
    if fn is not None:
        fn(*args)


def _record(key: tuple[str, str], walker: WalkerSchema, total: int, name: str,
            stats: BacktestStatistics | None) -> None:
    record = _records.get(key)
    if record is None:
        record = _records[key] = _Record(walker.exchange_name, walker.frame_name, walker.metric, total)
    record.entries.append((name, stats))


def _results(symbol: str, walker_name: str, record: _Record) -> WalkerResults:
    return walker_results(
        walker_name, symbol, record.exchange_name, record.frame_name, record.metric, list(record.entries),
        total_strategies=record.total_strategies,
    )


def run_walker(symbol: str, *, walker_name: str) -> Iterator[WalkerEvent]:
    """Validate at once, then return the walk (an iterator of `WalkerEvent`s)."""
    walker, names = validate_walker(walker_name)
    return _walking(symbol, walker, names, walker_name)


def _walking(symbol: str, walker: WalkerSchema, names: list[str], walker_name: str) -> Iterator[WalkerEvent]:
    """The walk's run starts with the iteration (the config in force then), as a backtest's does."""
    run = RunState()
    yield from run.iterate(lambda: _walk(symbol, walker, names, _Walk(symbol, walker_name, run)))


def _walk(symbol: str, walker: WalkerSchema, names: list[str], walk: _Walk) -> Iterator[WalkerEvent]:
    walker_name, metric = walker.walker_name, walker.metric
    key = (symbol, walker_name)
    total = len(names)
    ids = {"walker_name": walker_name, "exchange_name": walker.exchange_name,
           "frame_name": walker.frame_name, "symbol": symbol}
    into = walk.run.storages
    _records.pop(key, None)
    for name in names:
        into.backtest.pop((symbol, name), None)
        into.schedule.pop((symbol, name), None)
    best_metric: float | None = None
    best_strategy: str | None = None
    tested = 0
    _status[key] = "pending"
    try:
        walk.listen()
        for name in names:
            if name in walk.requested:
                break
            _callback(walker, "on_strategy_start", name, symbol)
            walk.current = name
            if name in walk.requested:  # a stop that arrived between the check and `current`
                walk.current = None
                break
            try:
                for _ in _backtest.run_backtest(
                    symbol, strategy_name=name, exchange_name=walker.exchange_name, frame_name=walker.frame_name,
                    run=walk.run,
                ):
                    if name in walk.requested:
                        walk.halt()  # the runtime exists now even if the request came first
            except Exception as exc:  # noqa: BLE001 - reported; the walk goes on (§10)
                events.error.emit(exc)
                _callback(walker, "on_strategy_error", name, symbol, exc)
                _record(key, walker, total, name, None)
                continue
            finally:
                walk.current = None
            stats = backtest_statistics(into.backtest.get((symbol, name), []))
            value = metric_value(stats, metric)
            if value is not None and (best_metric is None or value > best_metric):
                best_metric, best_strategy = value, name
            tested += 1
            _record(key, walker, total, name, stats)
            events.walker_progress.emit(
                WalkerProgress(total_strategies=total, processed_strategies=tested, progress=tested / total, **ids)
            )
            _callback(walker, "on_strategy_complete", name, symbol, stats, value)
            event = WalkerEvent(
                strategy_name=name, stats=stats, metric_value=value, metric=metric, best_metric=best_metric,
                best_strategy=best_strategy, strategies_tested=tested, total_strategies=total, **ids,
            )
            events.walker.emit(event)
            yield event
        record = _records.get(key) or _Record(walker.exchange_name, walker.frame_name, metric, total)
        results = _results(symbol, walker_name, record)
        _callback(walker, "on_complete", results)
        events.walker_complete.emit(results)
        _status[key] = "fulfilled"
    except BaseException:
        _status[key] = "rejected"
        raise
    finally:
        walk.close()


class WalkerFacade:
    """`farm.Walker`: run, background, stop, get_data, get_report, dump, list."""

    def run(self, symbol: str, *, walker_name: str) -> Iterator[WalkerEvent]:
        return run_walker(symbol, walker_name=walker_name)

    def background(self, symbol: str, *, walker_name: str) -> Callable[[], None]:
        """Walk on a thread; emit done-walker once; return a cancel function.

        Done-walker comes when nothing is left to record: at once if `cancel` finds the walk
        between strategies (or finished), else when the stopped backtest has wound down.
        """
        walker, names = validate_walker(walker_name)
        walk = _Walk(symbol, walker_name, RunState())  # the config in force now
        walk.listen()  # now, so a cancel before the thread gets going is not lost
        payload = DoneEvent(exchange_name=walker.exchange_name, strategy_name=walker_name, backtest=True, symbol=symbol)
        run = BackgroundRun(lambda: walk.run.iterate(lambda: _walk(symbol, walker, names, walk)),
                            lambda: events.done_walker.emit(payload), f"walker-{symbol}-{walker_name}").start()

        def cancel() -> None:
            self.stop(symbol, walker_name)
            if walk.current is None:
                run.done()

        cancel.thread = run.thread  # type: ignore[attr-defined]
        return cancel

    def stop(self, symbol: str, walker_name: str) -> None:
        """Ask the walk of `walker_name` on `symbol` to stop: the strategy in progress stops
        taking signals and no later strategy starts. Other walkers are not affected."""
        walker = registry.walkers.get(walker_name, source="Walker.stop")
        for listed in walker.strategies:
            strategy_name = listed
            with contextlib.suppress(FarmError):  # never registered: no walk can be running it
                strategy_name = registry.get_strategy(listed).strategy_name
            events.walker_stop.emit(WalkerStop(symbol=symbol, strategy_name=strategy_name, walker_name=walker_name))

    def get_data(self, symbol: str, walker_name: str) -> WalkerResults:
        registry.walkers.get(walker_name, source="Walker.get_data")
        record = _records.get((symbol, walker_name))
        if record is None:
            raise FarmError(f"No walker data available for walker {walker_name} symbol {symbol}")
        return _results(symbol, walker_name, record)

    def get_report(self, symbol: str, walker_name: str) -> str:
        return render_walker_report(self.get_data(symbol, walker_name), max_rows=get_config().report_max_rows)

    def dump(self, symbol: str, walker_name: str, path: str | Path | None = None) -> Path:
        """Write `<walker>_<symbol>.md` (the symbol is in the name: one walker runs on many)."""
        from farm.reports.files import write_report

        return write_report(self.get_report(symbol, walker_name), "walker", f"{walker_name}_{symbol}.md", path)

    def list(self) -> list[dict[str, str]]:
        return [
            {"id": f"{s}:{w}", "symbol": s, "walker_name": w, "status": status}
            for (s, w), status in _status.items()
        ]


Walker = WalkerFacade()
