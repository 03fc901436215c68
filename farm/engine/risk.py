"""Risk profiles at run time (SPEC §8 with D4, D6): fail-fast validations over a ledger of
active positions shared by every strategy and symbol that use the profile in one run.

Backtests never write the ledger anywhere (D6); live mode persists it through its own store.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from farm import events, registry
from farm.models import RiskEvent
from farm.schemas import RiskSchema


class ActivePosition(BaseModel):
    model_config = ConfigDict(frozen=True)

    signal: Any = None
    strategy_name: str
    exchange_name: str = ""
    open_timestamp: int


class RiskPayload(BaseModel):
    """What each validation receives (attribute access, SPEC §8.2)."""

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


class RiskRuntime:
    def __init__(self, schema: RiskSchema):
        self.schema = schema
        self.name = schema.risk_name
        self.positions: dict[str, ActivePosition] = {}

    def check(self, *, symbol: str, pending_signal: Any, strategy_name: str, exchange_name: str,
              current_price: float, timestamp: int, backtest: bool) -> bool:
        payload = RiskPayload(
            symbol=symbol, pending_signal=pending_signal, strategy_name=strategy_name,
            exchange_name=exchange_name, current_price=current_price, timestamp=timestamp,
            active_position_count=len(self.positions), active_positions=list(self.positions.values()),
        )
        for validation in self.schema.validations:
            fn = validation["validate"] if isinstance(validation, Mapping) else validation
            note = validation.get("note") if isinstance(validation, Mapping) else None
            try:
                result = fn(payload)
                if inspect.isawaitable(result):
                    result = asyncio.run(_await(result))
                if result is False:
                    raise RiskRejection(note or "validation returned False")
            except Exception as exc:  # noqa: BLE001 - any exception from a validation rejects
                events.validation.emit(exc)
                self._reject(payload, note or "N/A", backtest)
                return False
        on_allowed = self.schema.callbacks.get("on_allowed")
        if on_allowed is not None:
            on_allowed(symbol, payload)
        return True

    def _reject(self, payload: RiskPayload, comment: str, backtest: bool) -> None:
        if events.risk.has_listeners:
            events.risk.emit(
                RiskEvent(
                    symbol=payload.symbol, pending_signal=payload.pending_signal,
                    strategy_name=payload.strategy_name, exchange_name=payload.exchange_name,
                    current_price=payload.current_price,
                    active_position_count=payload.active_position_count, comment=comment,
                    # Backtests stamp the tick time so reruns render identical reports.
                    timestamp=payload.timestamp if backtest else int(time.time() * 1000),
                )
            )
        on_rejected = self.schema.callbacks.get("on_rejected")
        if on_rejected is not None:
            on_rejected(payload.symbol, payload)

    def add(self, strategy_name: str, symbol: str, timestamp: int) -> None:
        self.positions[f"{strategy_name}:{symbol}"] = ActivePosition(
            strategy_name=strategy_name, open_timestamp=timestamp
        )

    def remove(self, strategy_name: str, symbol: str) -> None:
        self.positions.pop(f"{strategy_name}:{symbol}", None)


async def _await(awaitable: Any) -> Any:
    return await awaitable


class MergedRisk:
    """Several profiles: every member checks (no short-circuit across members), all must allow."""

    def __init__(self, members: list[RiskRuntime]):
        self.members = members

    def check(self, **kwargs: Any) -> bool:
        results = [m.check(**kwargs) for m in self.members]
        return all(results)

    def add(self, strategy_name: str, symbol: str, timestamp: int) -> None:
        for m in self.members:
            m.add(strategy_name, symbol, timestamp)

    def remove(self, strategy_name: str, symbol: str) -> None:
        for m in self.members:
            m.remove(strategy_name, symbol)


class NoRisk:
    def check(self, **kwargs: Any) -> bool:
        return True

    def add(self, strategy_name: str, symbol: str, timestamp: int) -> None:
        pass

    def remove(self, strategy_name: str, symbol: str) -> None:
        pass


_runtimes: dict[str, RiskRuntime] = {}


def risk_runtime(name: str) -> RiskRuntime:
    """Memoized per risk name: strategies of one run share the ledger."""
    rt = _runtimes.get(name)
    if rt is None:
        rt = _runtimes[name] = RiskRuntime(registry.risks.get(name, source="risk"))
    return rt


def risk_for(names: list[str]) -> RiskRuntime | MergedRisk | NoRisk:
    if not names:
        return NoRisk()
    if len(names) == 1:
        return risk_runtime(names[0])
    return MergedRisk([risk_runtime(n) for n in names])


def drop_risks(names: list[str]) -> None:
    for n in names:
        _runtimes.pop(n, None)


registry.on_clear(_runtimes.clear)
