"""Report storages, keyed by names as in the reference: what a run produces.

Every run writes to the `Storages` its `RunState` owns. Library runs (`Backtest.run`, the
walker, risk groups) own the process-wide `storages`, which the facades read (D9: the library
API keeps "the last run per (symbol, strategy)" for one process); a farm job owns a private one
and keeps nothing once its result is stored (farm reports are rendered from stored results).
Statistics cover every record (D8); only performance samples are capped (10,000 newest per key).
"""

from __future__ import annotations

from collections import defaultdict, deque
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from farm import registry
from farm.models import CancelledResult, ClosedResult, PartialEvent

Key = tuple[str, str]  # (symbol, strategy_name)

PERFORMANCE_CAP = 10_000


@dataclass
class Storages:
    backtest: dict[Key, list[ClosedResult]] = field(default_factory=lambda: defaultdict(list))
    """Closed results in chronological order."""
    schedule: dict[Key, list[Any]] = field(default_factory=lambda: defaultdict(list))
    """Scheduled / opened-after-waiting / cancelled results in order."""
    partial: dict[Key, list[tuple[str, PartialEvent]]] = field(default_factory=lambda: defaultdict(list))
    performance: dict[Key, deque[tuple[Any, ...]]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=PERFORMANCE_CAP))
    )
    """Compact samples (metric type, duration ms, timestamp, previous timestamp, names)."""
    heat: dict[str, dict[str, list[ClosedResult]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    """strategy → symbol → closed results, both modes, never cleared by runs (reference)."""
    risk: dict[Key, list[Any]] = field(default_factory=lambda: defaultdict(list))
    live: dict[Key, Any] = field(default_factory=dict)
    status: dict[Key, str] = field(default_factory=dict)
    """"pending", "fulfilled" or "rejected" per (symbol, strategy) backtested (`Backtest.list`)."""
    paths: dict[Key, Any] = field(default_factory=dict)
    """The `EnginePath` each (symbol, strategy)'s last backtest took (`Backtest.get_path`)."""
    runtimes: dict[Key, Any] = field(default_factory=dict)
    """The running backtest of each (symbol, strategy): what `Backtest.stop` and a cancel reach.
    A run removes its own when it ends (so the process keeps no candles of finished runs)."""

    def start(self, key: Key, runtime: Any) -> None:
        """A backtest of `key` begins: the storages a run starts afresh (SPEC §5.9) are emptied,
        the others accumulate across runs."""
        self.backtest.pop(key, None)
        self.schedule.pop(key, None)
        self.runtimes[key] = runtime
        self.status[key] = "pending"

    def finish(self, key: Key, runtime: Any, status: str) -> None:
        self.status[key] = status
        if self.runtimes.get(key) is runtime:
            del self.runtimes[key]

    def record(self, result: Any, *, backtest: bool) -> None:
        """Feed every storage that reads this result (what the reference's collectors subscribe to)."""
        action = result.action
        key = (result.symbol, result.strategy_name)
        if action == "closed":
            if backtest:
                self.backtest[key].append(result)
            self.heat[result.strategy_name][result.symbol].append(result)
        elif action == "scheduled" or action == "cancelled" or (
            action == "opened" and result.signal.scheduled_at != result.signal.pending_at
        ):
            self.schedule[key].append(result)

    def clear(self) -> None:
        for value in (self.backtest, self.schedule, self.partial, self.performance, self.heat, self.risk, self.live,
                      self.status, self.paths, self.runtimes):
            value.clear()


storages = Storages()
"""The library API's storages: library runs write here, the facades read here."""
registry.on_clear(storages.clear)

keep_partials: ContextVar[bool] = ContextVar("farm_keep_partials", default=True)
"""Whether backtests run in this context keep their partial milestones in `storages.partial`.
A farm job sets it False: its stored result carries statistics only and its storages end with
it, so the kernel path need not rebuild milestones nobody reads (per trade they cost more than
the kernel run). Partial listeners still receive every milestone."""


def record_result(result: Any, *, backtest: bool) -> None:
    """Record into the process-wide storages (a result produced outside any run)."""
    storages.record(result, backtest=backtest)


__all__ = ["CancelledResult", "ClosedResult", "Key", "Storages", "keep_partials", "record_result", "storages"]
