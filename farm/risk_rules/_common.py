"""What the rules share: reading prices from either signal shape, checking factory arguments."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from farm.engine.risk import RiskPayload
from farm.errors import SchemaError

REL_TOL = 1e-9
"""Slack on floors computed from prices: a take-profit placed at exactly 2 × the risk from
float prices (100.1, 99.7, ...) gives 1.9999999999999 and must still count as 2."""

Rule = dict[str, Any]
"""`{"validate": fn, "note": str}`, the shape `farm.add_risk` accepts."""


def rule(validate: Callable[[RiskPayload], None], note: str) -> Rule:
    return {"validate": validate, "note": note}


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (missing, text, NaN, booleans)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def signal_number(payload: RiskPayload, name: str) -> float | None:
    """A price of the pending signal: a dict (the DTO, at creation) or a `SignalRow` (at activation)."""
    signal = payload.pending_signal
    value = signal.get(name) if isinstance(signal, Mapping) else getattr(signal, name, None)
    return number(value)


def entry_price(payload: RiskPayload) -> float | None:
    """The DTO's entry price, or the current price a market signal would open at."""
    price_open = signal_number(payload, "price_open")
    return price_open if price_open is not None else number(payload.current_price)


def count_arg(value: Any, rule_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(f"{rule_name}: expected a whole number >= 0, got {value!r}")
    return value


def positive_arg(value: Any, rule_name: str, *, allow_zero: bool = False) -> float:
    x = number(value)
    if x is None or x < 0 or (x == 0 and not allow_zero):
        expected = "a number >= 0" if allow_zero else "a number > 0"
        raise SchemaError(f"{rule_name}: expected {expected}, got {value!r}")
    return x


def fmt(x: float) -> str:
    """`2`, `1.5`, `0.25`: numbers as people write them in a note."""
    return f"{x:g}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
