"""From what `get_signal` returned to a validated `SignalRow` (SPEC §5.4 steps 7–8, §5.5)."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from farm.config import EngineConfig
from farm.engine.notes import normalize_note
from farm.engine.validation import validate_signal
from farm.errors import SignalValidationError
from farm.models import SignalRow

# Users porting from backtest-kit return camelCase keys; accept them as the same fields.
_CAMEL = {
    "priceOpen": "price_open",
    "priceTakeProfit": "price_take_profit",
    "priceStopLoss": "price_stop_loss",
    "minuteEstimatedTime": "minute_estimated_time",
}


def dto_to_dict(raw: Any) -> dict[str, Any]:
    """Only the keys the user actually set: an explicit `None` is kept (it overrides defaults
    and then fails validation, as in the reference), an absent key is absent."""
    if isinstance(raw, BaseModel):
        data = raw.model_dump(exclude_unset=True)
    elif isinstance(raw, Mapping):
        data = dict(raw)
    elif dataclasses.is_dataclass(raw) and not isinstance(raw, type):
        data = dataclasses.asdict(raw)
    else:
        raise SignalValidationError(
            f"get_signal must return None, a dict or a farm.SignalDto, got {type(raw).__name__}"
        )
    return {_CAMEL.get(k, k): v for k, v in data.items()}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def signal_id(exchange_name: str, strategy_name: str, symbol: str, timestamp: int) -> str:
    """Deterministic, unique within a run (one signal per strategy and symbol at a time, each
    created at a distinct tick): reruns and farm workers render byte-identical reports."""
    digest = hashlib.blake2b(f"{exchange_name}|{strategy_name}|{symbol}|{timestamp}".encode(), digest_size=8)
    return digest.hexdigest()


def build_row(
    dto: dict[str, Any],
    *,
    current_price: float,
    timestamp: int,
    symbol: str,
    strategy_name: str,
    exchange_name: str,
    config: EngineConfig,
) -> SignalRow:
    """Immediate (at the DTO's entry or the current VWAP) or scheduled (limit entry not reached)."""
    names = {"symbol": symbol, "strategy_name": strategy_name, "exchange_name": exchange_name}
    times = {"scheduled_at": timestamp, "pending_at": timestamp}
    position = dto.get("position")
    fresh_id = signal_id(exchange_name, strategy_name, symbol, timestamp)
    note = normalize_note(dto.get("note"))
    if dto.get("price_open") is not None:
        price_open = dto["price_open"]
        reached = is_number(price_open) and (
            (position == "long" and current_price <= price_open)
            or (position == "short" and current_price >= price_open)
        )
        row: dict[str, Any] = {
            "id": dto.get("id") if dto.get("id") is not None else fresh_id,
            "position": position,
            "price_open": price_open,
            "price_take_profit": dto.get("price_take_profit"),
            "price_stop_loss": dto.get("price_stop_loss"),
            "minute_estimated_time": dto.get("minute_estimated_time"),
            "note": note,
            **names,
            **times,
            "is_scheduled": not reached,
        }
    else:
        row = {"id": fresh_id, "price_open": current_price, **dto, "note": note, **names, **times, "is_scheduled": False}
    validate_signal(row, current_price, row["is_scheduled"], config)
    met = row["minute_estimated_time"]
    row["minute_estimated_time"] = int(met) if isinstance(met, float) and math.isfinite(met) else met
    row["id"] = str(row["id"])
    return SignalRow(**row)
