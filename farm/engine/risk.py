"""Risk profiles at run time (SPEC §8 with D4, D6): fail-fast validations over a ledger of
active positions shared by every strategy and symbol that use the profile in one run.

A ledger belongs to one run: the run (`farm.run.state.RunState`) keeps a `RiskRuntime` per
risk name and starts each backtest with fresh ones (D6); a runner that steps several
strategies together (a risk group) asks `risk_for` for each strategy after one fresh start, so
they share one ledger. No ledger is visible outside its run. Backtests never write the ledger
anywhere (D6); live mode persists it through its own store.

How a validation answers (Python has no "throw a non-error value"):

* it returns `None` or `True` → passes; it raises anything (`RiskRejection` reads well) or
  returns `False` → rejects;
* it returns anything else (a number, a string, ...) → rejects with a `TypeError`: the
  answer is ambiguous, and a portfolio rule that cannot say "yes" must not let a trade in;
* it returns an awaitable (an `async def` validation) → awaited, then read as above.

Every failing validation is published on `listen_validation` (its exception, or the
`RiskRejection`/`TypeError` standing in for the return value), so a validation with a bug
rejects and is visible, and never stops the run.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from farm import events
from farm.models import RiskEvent
from farm.schemas import RiskSchema

__all__ = [
    "ActivePosition", "MergedRisk", "NoRisk", "RiskPayload", "RiskRejection", "RiskRuntime", "risk_for",
]

log = logging.getLogger("farm.risk")

NO_NOTE = "N/A"


class ActivePosition(BaseModel):
    """One open position in a risk ledger, keyed `"<strategy>:<symbol>"` (SPEC §8.3).

    `symbol` is not in the reference's record (it hides in the key); it is here so that a
    validation can count positions per symbol.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    signal: Any = None
    strategy_name: str
    symbol: str
    exchange_name: str = ""
    open_timestamp: int
    close_timestamp: int | None = None
    """Set in backtests, where a signal's close time is known when it opens: the position counts
    for checks at times in `[open_timestamp, close_timestamp)`, so strategies stepped together
    (a risk group) share one timeline."""

    def open_at(self, timestamp: int) -> bool:
        return self.open_timestamp <= timestamp and (self.close_timestamp is None or timestamp < self.close_timestamp)


class RiskPayload(BaseModel):
    """What each validation receives (attribute access, SPEC §8.2).

    `pending_signal` is the signal DTO as a dict at creation (`price_open` may be absent:
    the signal would open at `current_price`) and the `farm.SignalRow` at a scheduled
    signal's activation.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    symbol: str
    pending_signal: Any
    strategy_name: str
    exchange_name: str
    current_price: float
    timestamp: int
    active_position_count: int
    active_positions: list[ActivePosition]


class RiskRejection(Exception):
    """Raised by a validation to reject (any exception does; this one reads well)."""


Validation = Callable[[RiskPayload], Any] | Mapping[str, Any]

class RiskRuntime:
    """One risk profile in one run: its validations and its ledger. `sink` receives each
    rejection, listeners or not (the run's Risk storage: a hook rather than an import, so the
    engine does not reach up into `farm.run`)."""

    def __init__(self, schema: RiskSchema, sink: Callable[[RiskEvent], None] | None = None):
        self.schema = schema
        self.name = schema.risk_name
        self.positions: dict[str, ActivePosition] = {}
        self._sink = sink

    def check(self, *, symbol: str, pending_signal: Any, strategy_name: str, exchange_name: str,
              current_price: float, timestamp: int, backtest: bool) -> bool:
        if isinstance(pending_signal, dict):
            # The engine builds the signal from this dict after the check: a validation that
            # edits its payload must not change the trade.
            pending_signal = dict(pending_signal)
        active = [p for p in self.positions.values() if p.open_at(timestamp)]
        payload = RiskPayload(
            symbol=symbol, pending_signal=pending_signal, strategy_name=strategy_name,
            exchange_name=exchange_name, current_price=current_price, timestamp=timestamp,
            active_position_count=len(active), active_positions=active,
        )
        for index, validation in enumerate(self.schema.validations):
            fn, note = _unpack(validation)
            failure = _run_validation(fn, payload, f"risk {self.name}: validation[{index}]")
            if failure is not None:
                log.debug("risk %s rejected %s on %s: %s", self.name, strategy_name, symbol, failure)
                events.validation.emit(failure)
                self._reject(payload, note or NO_NOTE, backtest)
                return False
        self._callback("on_allowed", symbol, payload)
        return True

    def _reject(self, payload: RiskPayload, comment: str, backtest: bool) -> None:
        event = RiskEvent(
            symbol=payload.symbol, pending_signal=payload.pending_signal,
            strategy_name=payload.strategy_name, exchange_name=payload.exchange_name,
            current_price=payload.current_price,
            active_position_count=payload.active_position_count, comment=comment,
            # Backtests stamp the tick time (not the wall clock of §8.2) so that a rerun, or the
            # same task on another worker, renders an identical report.
            timestamp=payload.timestamp if backtest else int(time.time() * 1000),
        )
        if self._sink is not None:
            self._sink(event)
        if events.risk.has_listeners:
            events.risk.emit(event)
        self._callback("on_rejected", payload.symbol, payload)

    def _callback(self, name: str, symbol: str, payload: RiskPayload) -> None:
        """A failing notification callback is reported, not allowed to flip the decision."""
        fn = self.schema.callbacks.get(name)
        if fn is None:
            return
        try:
            fn(symbol, payload)
        except Exception as exc:  # noqa: BLE001 - published on listen_error, as the reference does
            log.warning("risk %s: callback %s raised %s: %s", self.name, name, type(exc).__name__, exc)
            events.error.emit(exc)

    def add(self, strategy_name: str, symbol: str, timestamp: int, *, signal: Any = None,
            exchange_name: str = "") -> None:
        """Record an opened position; the same strategy and symbol again overwrites it."""
        self.positions[f"{strategy_name}:{symbol}"] = ActivePosition(
            signal=signal, strategy_name=strategy_name, symbol=symbol, exchange_name=exchange_name,
            open_timestamp=timestamp,
        )

    def remove(self, strategy_name: str, symbol: str, *, at: int | None = None) -> None:
        """Close a position: at once (live), or as of `at` (backtests: the close candle's time,
        known before the other strategies of the run have reached it)."""
        key = f"{strategy_name}:{symbol}"
        if at is None:
            self.positions.pop(key, None)
        elif key in self.positions:
            self.positions[key] = self.positions[key].model_copy(update={"close_timestamp": at})


def _unpack(validation: Validation) -> tuple[Callable[[RiskPayload], Any], str | None]:
    if isinstance(validation, Mapping):
        note = validation.get("note")
        return validation["validate"], str(note) if note else None
    return validation, None


def _run_validation(fn: Callable[[RiskPayload], Any], payload: RiskPayload, where: str) -> BaseException | None:
    """None when the validation passes, else the exception that stands for its rejection."""
    try:
        result = _resolve(fn(payload))
    except Exception as exc:  # noqa: BLE001 - any exception from a validation rejects
        return exc
    if result is None or result is True:
        return None
    if isinstance(result, bool | np.bool_):
        return None if result else RiskRejection(f"{where} returned False")
    return TypeError(
        f"{where} returned {type(result).__name__} {result!r}; a validation returns None/True "
        "to allow, False or raises to reject"
    )


def _resolve(value: Any) -> Any:
    """The result of an `async def` validation; a plain value as it is."""
    if not inspect.isawaitable(value):
        return value
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(value))
    # Called from async code (a loop is running in this thread): finish on a helper thread, in
    # this context (the run's config and state: a new thread would start with an empty one).
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, _await(value)).result()


async def _await(awaitable: Any) -> Any:
    return await awaitable


class MergedRisk:
    """Several profiles: every member checks (no short-circuit across members), all must allow."""

    def __init__(self, members: list[RiskRuntime]):
        self.members = members

    def check(self, **kwargs: Any) -> bool:
        results = [m.check(**kwargs) for m in self.members]
        return all(results)

    def add(self, strategy_name: str, symbol: str, timestamp: int, **kwargs: Any) -> None:
        for m in self.members:
            m.add(strategy_name, symbol, timestamp, **kwargs)

    def remove(self, strategy_name: str, symbol: str, *, at: int | None = None) -> None:
        for m in self.members:
            m.remove(strategy_name, symbol, at=at)


class NoRisk:
    """A strategy without risk profiles: always allowed, nothing recorded."""

    def check(self, **kwargs: Any) -> bool:
        return True

    def add(self, strategy_name: str, symbol: str, timestamp: int, **kwargs: Any) -> None:
        pass

    def remove(self, strategy_name: str, symbol: str, *, at: int | None = None) -> None:
        pass


def risk_for(names: list[str], runtime: Callable[[str], RiskRuntime]) -> RiskRuntime | MergedRisk | NoRisk:
    """SPEC §8.4: no names → no-op, one → that profile, several → merged (in the given order);
    `runtime(name)` is the run's ledger of a profile."""
    if not names:
        return NoRisk()
    if len(names) == 1:
        return runtime(names[0])
    return MergedRisk([runtime(n) for n in names])
