"""Process-wide report storages of the library API, keyed by names as in the reference (D9).

Farm reports never read these: they are rendered from stored task results. Statistics cover
every record (D8); only performance samples are capped (10,000 newest per key).
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

    def forget(self, symbol: str, strategy_name: str) -> None:
        """Drop every record of one (symbol, strategy): farm workers run many jobs per process."""
        key = (symbol, strategy_name)
        for store in (self.backtest, self.schedule, self.partial, self.performance, self.risk, self.live):
            store.pop(key, None)
        by_symbol = self.heat.get(strategy_name)
        if by_symbol is not None:
            by_symbol.pop(symbol, None)
            if not by_symbol:
                self.heat.pop(strategy_name, None)

    def clear(self) -> None:
        for value in (self.backtest, self.schedule, self.partial, self.performance, self.heat, self.risk, self.live):
            value.clear()


storages = Storages()
registry.on_clear(storages.clear)

keep_partials: ContextVar[bool] = ContextVar("farm_keep_partials", default=True)
"""Whether backtests run in this context keep their partial milestones in `storages.partial`.
A farm job sets it False: its stored result carries statistics only and the storages are dropped
after each job, so the kernel path need not rebuild milestones nobody reads (per trade they cost
more than the kernel run). Partial listeners still receive every milestone."""


def record_result(result: Any, *, backtest: bool) -> None:
    """Feed every storage that reads this result (what the reference's collectors subscribe to)."""
    action = result.action
    key = (result.symbol, result.strategy_name)
    if action == "closed":
        if backtest:
            storages.backtest[key].append(result)
        storages.heat[result.strategy_name][result.symbol].append(result)
    elif action == "scheduled" or action == "cancelled" or (
        action == "opened" and result.signal.scheduled_at != result.signal.pending_at
    ):
        storages.schedule[key].append(result)


__all__ = ["CancelledResult", "ClosedResult", "Key", "Storages", "keep_partials", "record_result", "storages"]
