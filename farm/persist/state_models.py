"""The JSON shapes of live-mode state records (SPEC §13.2), validated on every read.

Each record sits in an envelope naming its kind and entity: a key holds bytes anyone could have
written (an older farm, another tool, a half-finished manual edit), and the envelope is what
lets a reader tell "this is my record" from "this only sits where mine should".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from farm.models import SignalRow

STATE_VERSION = 1
"""Bumped when a value's shape changes incompatibly; a reader ignores versions it does not know."""

StateKind = Literal["signal", "schedule", "risk", "partial"]
"""The `<kind>` segment of `keys.state(kind, name)`, one per SPEC §13.2 adapter."""


class StateEnvelope(BaseModel):
    """`{"version": 1, "kind": ..., "name": ..., "value": ...}`; `value` is validated per kind."""

    model_config = ConfigDict(extra="forbid")

    version: int
    kind: str
    name: str
    value: Any


class StoredPosition(BaseModel):
    """An `ActivePosition` as stored. `signal` is kept only when it is a `SignalRow` (the
    reference always writes null; no check reads it after a restart)."""

    model_config = ConfigDict(extra="forbid")

    signal: SignalRow | None = None
    strategy_name: str
    symbol: str
    exchange_name: str = ""
    open_timestamp: int
    close_timestamp: int | None = None


class PartialLevels(BaseModel):
    """The milestones already emitted for one signal, so a restart does not emit them again."""

    model_config = ConfigDict(extra="forbid")

    profit_levels: list[int]
    loss_levels: list[int]


VALUE_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "signal": TypeAdapter(SignalRow | None),
    "schedule": TypeAdapter(SignalRow | None),
    "risk": TypeAdapter(list[tuple[str, StoredPosition]]),
    "partial": TypeAdapter(dict[str, PartialLevels]),
}
"""How each kind's `value` is validated (and dumped back to JSON)."""
