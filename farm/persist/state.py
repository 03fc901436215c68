"""Live-mode crash safety (SPEC §13): the four state adapters on the `Store` protocol, and the
restore rules of §13.4 as plain functions that live mode calls.

Only live mode writes these records (D6): a backtest keeps its pending signal, scheduled signal,
risk ledger and partial milestones in memory for the length of its task, so a sweep never
touches, and never depends on, state a live process left behind. Restoring is likewise a
live-only step.

Records (keys from `farm.persist.keys.state(kind, name)`, JSON in a versioned envelope):

    state/signal/<symbol>_<strategy>.json     pending signal: a SignalRow or null
    state/schedule/<symbol>_<strategy>.json   scheduled signal: a SignalRow or null
    state/risk/<risk_name>.json               risk ledger: [[key, position], ...]
    state/partial/<symbol>.json               {signal_id: {profit_levels, loss_levels}}

A record that cannot be used (not JSON, another record's envelope, a value that fails
validation) is reported - logged, and published on `listen_error` as a `StateRecordError`
naming the key - and read as absent: a live run must come up even when one file is bad. It is
left in place for inspection unless the caller passes `repair=True`. A store that cannot be
reached, by contrast, raises `StoreError`: starting as if nothing were open would forget real
positions, which is worse than not starting.

Writes are whole-value replacements, atomic for readers on every store, so a crash mid-write
leaves the previous record or the new one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from farm import events
from farm.config import FarmSettings, get_settings
from farm.engine.risk import ActivePosition
from farm.engine.strategy import PartialState
from farm.errors import FarmError
from farm.models import SignalRow
from farm.persist import keys
from farm.persist.state_models import (
    STATE_VERSION,
    VALUE_ADAPTERS,
    PartialLevels,
    StateEnvelope,
    StateKind,
    StoredPosition,
)
from farm.persist.store import Store, describe, open_store

__all__ = [
    "RestoredState", "StateRecordError", "load_partial_levels", "load_pending", "load_risk_positions",
    "load_scheduled", "pair_name", "restore_strategy_state", "save_partial_levels", "save_pending",
    "save_risk_positions", "save_scheduled", "state_store",
]

log = logging.getLogger("farm.persist.state")


class StateRecordError(FarmError):
    """A stored state record that was ignored; `key` and `problem` say which and why."""

    def __init__(self, message: str, *, key: str, problem: str, repaired: bool):
        super().__init__(message)
        self.key = key
        self.problem = problem
        self.repaired = repaired


class RestoredState(NamedTuple):
    """What a strategy adopts on live start (either may be None)."""

    pending: SignalRow | None
    scheduled: SignalRow | None


def state_store(settings: FarmSettings | None = None) -> Store:
    """The store for live state: S3 when FARM_S3_BUCKET is set, else files under
    FARM_DATA_DIR/state (the embedded default).

    Never FARM_REDIS_URL: that Redis is the farm's candle cache and broker, run with TTLs and an
    eviction policy, and a state record evicted under memory pressure is an open position the
    next start no longer knows about. S3 and local files keep what they are given.
    """
    settings = settings or get_settings()
    if settings.s3_bucket:
        return open_store(f"s3://{settings.s3_bucket}/{settings.s3_prefix}")
    return open_store(f"file://{Path(settings.data_dir).resolve() / 'state'}")


def pair_name(symbol: str, strategy_name: str) -> str:
    """`<symbol>_<strategy>` as the reference names it, with `%` and `_` escaped in the symbol,
    so that ("A_B", "C") and ("A", "B_C") never share a record."""
    return f"{symbol.replace('%', '%25').replace('_', '%5F')}_{strategy_name}"


# ---- the four adapters ------------------------------------------------------------------------

def load_pending(store: Store, symbol: str, strategy_name: str, *, repair: bool = False) -> SignalRow | None:
    return _read(store, "signal", pair_name(symbol, strategy_name), repair=repair)


def save_pending(store: Store, symbol: str, strategy_name: str, row: SignalRow | None) -> None:
    """Written on every change: the opened/activated row, then None when it closes (§13.3)."""
    _write(store, "signal", pair_name(symbol, strategy_name), row)


def load_scheduled(store: Store, symbol: str, strategy_name: str, *, repair: bool = False) -> SignalRow | None:
    return _read(store, "schedule", pair_name(symbol, strategy_name), repair=repair)


def save_scheduled(store: Store, symbol: str, strategy_name: str, row: SignalRow | None) -> None:
    """Written on create, then None on activation, cancel or stop (§13.3)."""
    _write(store, "schedule", pair_name(symbol, strategy_name), row)


def load_risk_positions(store: Store, risk_name: str, *, repair: bool = False) -> dict[str, ActivePosition]:
    """The ledger as `RiskRuntime.positions` holds it (`"<strategy>:<symbol>"` → position);
    empty when nothing usable is stored. Called lazily, on the risk profile's first use."""
    pairs = _read(store, "risk", risk_name, repair=repair) or []
    return {key: ActivePosition(**dict(stored)) for key, stored in pairs}


def save_risk_positions(store: Store, risk_name: str, positions: Mapping[str, ActivePosition]) -> None:
    """The whole ledger, after every add or remove (stored as `[[key, position], ...]`)."""
    _write(store, "risk", risk_name, [(key, _stored_position(p)) for key, p in positions.items()])


def _stored_position(p: ActivePosition) -> StoredPosition:
    return StoredPosition(
        signal=p.signal if isinstance(p.signal, SignalRow) else None, strategy_name=p.strategy_name,
        symbol=p.symbol, exchange_name=p.exchange_name, open_timestamp=p.open_timestamp,
        close_timestamp=p.close_timestamp,
    )


def load_partial_levels(store: Store, symbol: str, *, repair: bool = False) -> dict[str, PartialState]:
    """Milestones already emitted, by signal id (`StrategyRuntime.partials`); empty when
    nothing usable is stored. Called lazily, on the tracker's first use."""
    levels = _read(store, "partial", symbol, repair=repair) or {}
    return {
        signal_id: PartialState(profit=set(lv.profit_levels), loss=set(lv.loss_levels))
        for signal_id, lv in levels.items()
    }


def save_partial_levels(store: Store, symbol: str, levels: Mapping[str, PartialState]) -> None:
    """The whole map for `symbol`, after a new level or a clear. One record per symbol (as the
    reference): strategies sharing a symbol keep their signals' entries by updating the loaded
    map, not by writing only their own."""
    _write(store, "partial", symbol, {
        signal_id: PartialLevels(profit_levels=sorted(st.profit), loss_levels=sorted(st.loss))
        for signal_id, st in levels.items()
    })


# ---- restore (SPEC §13.4) ---------------------------------------------------------------------

def restore_strategy_state(
    store: Store, symbol: str, strategy_name: str, exchange_name: str, *, repair: bool = False
) -> RestoredState:
    """Pending first, then scheduled; a stored row made under another strategy or exchange name
    stops the restore there (a mismatched pending signal means the scheduled one is not even
    read). Rows are adopted as stored, with no other check: timing continues from their own
    `pending_at`, so one whose lifetime has passed closes on the first tick."""
    pending = load_pending(store, symbol, strategy_name, repair=repair)
    if pending is not None and _mismatch("pending", pending, strategy_name, exchange_name):
        return RestoredState(None, None)
    scheduled = load_scheduled(store, symbol, strategy_name, repair=repair)
    if scheduled is not None and _mismatch("scheduled", scheduled, strategy_name, exchange_name):
        return RestoredState(pending, None)
    return RestoredState(pending, scheduled)


def _mismatch(what: str, row: SignalRow, strategy_name: str, exchange_name: str) -> bool:
    if row.strategy_name == strategy_name and row.exchange_name == exchange_name:
        return False
    log.info(
        "not restoring %s signal %s of %s: stored for strategy %r on exchange %r, running %r on %r",
        what, row.id, row.symbol, row.strategy_name, row.exchange_name, strategy_name, exchange_name,
    )
    return True


# ---- envelope I/O -----------------------------------------------------------------------------

def _write(store: Store, kind: StateKind, name: str, value: Any) -> None:
    envelope = {
        "version": STATE_VERSION, "kind": kind, "name": name,
        "value": VALUE_ADAPTERS[kind].dump_python(value, mode="json"),
    }
    data = json.dumps(envelope, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    store.write(keys.state(kind, name), data.encode())


def _read(store: Store, kind: StateKind, name: str, *, repair: bool) -> Any:
    """The validated value, or None when absent or unusable (reported)."""
    key = keys.state(kind, name)
    data = store.read(key)
    if data is None:
        return None
    try:
        raw = json.loads(data, parse_constant=_no_constants)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        return _ignore(store, key, f"not JSON ({exc})", repair)
    try:
        envelope = StateEnvelope.model_validate(raw)
    except ValidationError as exc:
        return _ignore(store, key, f"not a state record envelope ({_brief(exc)})", repair)
    if envelope.version != STATE_VERSION:
        return _ignore(store, key, f"unknown record version {envelope.version} (this farm reads {STATE_VERSION})",
                       repair)
    if (envelope.kind, envelope.name) != (kind, name):
        return _ignore(store, key, f"holds a {envelope.kind!r} record for {envelope.name!r}, "
                                   f"expected {kind!r} for {name!r}", repair)
    try:
        return VALUE_ADAPTERS[kind].validate_python(envelope.value)
    except ValidationError as exc:
        return _ignore(store, key, f"invalid {kind} value ({_brief(exc)})", repair)


def _ignore(store: Store, key: str, problem: str, repair: bool) -> None:
    if repair:
        store.delete(key)
    fate = "deleted (repair=True)" if repair else "left in place (repair=True deletes it)"
    error = StateRecordError(
        f"{describe(store)}: state record {key!r} ignored, read as absent: {problem}; {fate}",
        key=key, problem=problem, repaired=repair,
    )
    log.warning("%s", error)
    events.error.emit(error)
    return None


def _no_constants(token: str) -> None:
    """Python's json accepts NaN/Infinity; JSON does not, and no record of ours contains them."""
    raise ValueError(f"{token} is not JSON")


def _brief(exc: ValidationError, limit: int = 3) -> str:
    """Pydantic's message spans lines and links; a log line wants the fields and reasons."""
    errors = exc.errors()
    parts = [f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in errors[:limit]]
    more = len(errors) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
