"""Data collection (SPEC §12.2): for each training range, each source's rows become a user and
an assistant message, and the user's `get_prompt` turns the conversation so far into a strategy.

A training range is one unit of work (`collect_range`): its own message history, no state shared
with the other ranges, so ranges run side by side (`workers`) and give the same entries in the
same order whatever ran them. The LLM behind `get_prompt` (when it uses `farm.optimizer.ask_text`)
answers from the reply store on a re-run, so collecting again costs no LLM call and a range whose
data changed recomputes only its own prompts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from farm import events, registry
from farm.models import Model
from farm.optimizer.sources import DateRange, Source, paginate, to_range, to_source
from farm.optimizer.templates import resolve_template
from farm.schemas import OptimizerSchema


class OptimizerProgress(Model):
    """`listen_optimizer_progress` payload."""

    optimizer_name: str
    symbol: str
    total_sources: int
    processed_sources: int
    progress: float


@dataclass
class OptimizerEntry:
    """One (training range, source): the range's shared message list and the strategy prompt
    `get_prompt` returned after this source."""

    symbol: str
    name: str
    messages: list[dict[str, str]]
    strategy: str
    range_index: int = 0
    range: DateRange | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OptimizerPlan:
    """A registered optimizer with its ranges, sources and template resolved and checked."""

    schema: OptimizerSchema
    ranges: list[DateRange]
    test_range: DateRange
    sources: list[Source]
    template: dict[str, Callable[..., str]]

    @property
    def name(self) -> str:
        return self.schema.optimizer_name

    def callback(self, name: str, *args: Any) -> None:
        fn = self.schema.callbacks.get(name)
        if fn is not None:
            fn(*args)


def plan_optimizer(optimizer_name: str) -> OptimizerPlan:
    schema = registry.optimizers.get(optimizer_name, "Optimizer")
    owner = f"optimizer {optimizer_name}"
    return OptimizerPlan(
        schema=schema,
        ranges=[to_range(r, f"{owner}: range_train[{i}]") for i, r in enumerate(schema.range_train)],
        test_range=to_range(schema.range_test, f"{owner}: range_test"),
        sources=[to_source(s, f"{owner}: source[{i}]") for i, s in enumerate(schema.source)],
        template=resolve_template(schema.template, owner),
    )


class _Progress:
    """The shared processed-sources counter; events are emitted under its lock, in order."""

    def __init__(self, plan: OptimizerPlan, symbol: str):
        self.plan, self.symbol = plan, symbol
        self.total = len(plan.ranges) * len(plan.sources)
        self.processed = 0
        self.lock = threading.Lock()

    def advance(self) -> None:
        with self.lock:
            self.processed += 1

    def emit(self) -> None:
        with self.lock:
            if events.optimizer_progress.has_listeners:
                events.optimizer_progress.emit(OptimizerProgress(
                    optimizer_name=self.plan.name, symbol=self.symbol, total_sources=self.total,
                    processed_sources=self.processed, progress=self.processed / self.total if self.total else 1.0,
                ))


def collect_range(plan: OptimizerPlan, symbol: str, index: int, progress: _Progress | None = None) -> list[OptimizerEntry]:
    """One training range: a new message list, then per source its rows, two messages and a
    prompt. `get_prompt` sees a snapshot of the list as it is after that source (2, 4, ...
    messages); every entry of the range holds the one shared list."""
    window = plan.ranges[index]
    messages: list[dict[str, str]] = []
    entries: list[OptimizerEntry] = []
    for source in plan.sources:
        if progress is not None:
            progress.emit()
        data = paginate(source, symbol, window)
        plan.callback("on_source_data", symbol, source.name, data, window.start_date, window.end_date)
        user = source.user or plan.template["get_user_message"]
        assistant = source.assistant or plan.template["get_assistant_message"]
        messages.append({"role": "user", "content": str(user(symbol, data, source.name))})
        messages.append({"role": "assistant", "content": str(assistant(symbol, data, source.name))})
        strategy = plan.schema.get_prompt(symbol, [dict(m) for m in messages])
        if not isinstance(strategy, str):
            raise TypeError(f"optimizer {plan.name}: get_prompt must return a string, got {type(strategy).__name__}")
        entries.append(OptimizerEntry(symbol=symbol, name=source.name, messages=messages, strategy=strategy,
                                      range_index=index, range=window))
        if progress is not None:
            progress.advance()
    return entries


def get_data(symbol: str, optimizer_name: str, *, workers: int = 1) -> list[OptimizerEntry]:
    """Every (range, source) entry in range order, then source order. `workers` > 1 collects
    that many ranges at once (threads: sources and LLMs are network-bound)."""
    plan = plan_optimizer(optimizer_name)
    return collect(plan, symbol, workers=workers)


def collect(plan: OptimizerPlan, symbol: str, *, workers: int = 1) -> list[OptimizerEntry]:
    progress = _Progress(plan, symbol)
    indices = range(len(plan.ranges))
    if workers <= 1 or len(plan.ranges) == 1:
        per_range = [collect_range(plan, symbol, i, progress) for i in indices]
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(plan.ranges)), thread_name_prefix="optimizer") as pool:
            per_range = list(pool.map(lambda i: collect_range(plan, symbol, i, progress), indices))
    result = [entry for entries in per_range for entry in entries]
    with progress.lock:
        progress.processed = progress.total
    progress.emit()
    plan.callback("on_data", symbol, result)
    return result


__all__ = ["OptimizerEntry", "OptimizerPlan", "OptimizerProgress", "collect", "collect_range", "get_data",
           "plan_optimizer"]
