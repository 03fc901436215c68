"""The ambient execution context behind `get_candles`, `get_average_price`, `get_date`, `get_mode`.

A run sets one `RunContext` in a ContextVar and moves its `when` forward tick by tick (an
attribute store, not a ContextVar set per tick). Nested or interleaved runs each set their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from farm.errors import ContextError

if TYPE_CHECKING:
    from farm.engine.exchange import ExchangeClient


@dataclass(slots=True)
class RunContext:
    """What the reference splits into an execution context (symbol, when, backtest) and a
    method context (strategy, exchange, frame names)."""

    symbol: str
    strategy_name: str
    exchange_name: str
    frame_name: str
    backtest: bool
    exchange: ExchangeClient
    when: int = 0
    """Current time, ms since epoch (UTC)."""
    extra: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[RunContext | None] = ContextVar("farm_run_context", default=None)


def current() -> RunContext:
    ctx = _current.get()
    if ctx is None:
        raise ContextError(
            "no strategy is running: get_candles/get_average_price/get_date/get_mode/format_* "
            "work only inside get_signal (or a callback) during Backtest.run or Live.run"
        )
    return ctx


def current_or_none() -> RunContext | None:
    return _current.get()


@contextmanager
def use(ctx: RunContext) -> Iterator[RunContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
