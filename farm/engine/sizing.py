"""Position sizing (SPEC §9): how much to buy, from the balance, the risk per trade and the
market, as pure functions; `calculate` applies a registered sizing's method, caps and callback.

The arithmetic follows the reference operation by operation (e.g. `balance · (pct / 100)`),
so quantities agree with it to the last bit, not only approximately.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from farm import events
from farm.errors import NotFoundError, SizingError
from farm.schemas import SizingSchema

__all__ = [
    "DEFAULT_ATR_MULTIPLIER", "DEFAULT_KELLY_MULTIPLIER", "SizingNotFoundError", "SizingParams", "apply_caps",
    "atr_based", "calculate", "fixed_percentage", "kelly_criterion",
]

log = logging.getLogger("farm.sizing")

Method = Literal["fixed-percentage", "kelly-criterion", "atr-based"]

DEFAULT_KELLY_MULTIPLIER = 0.25
"""Quarter Kelly: the full Kelly fraction is far too aggressive for estimated win rates."""
DEFAULT_ATR_MULTIPLIER = 2.0


class SizingNotFoundError(NotFoundError, SizingError):
    """An unknown sizing name: a registry miss like any other, and a sizing error, so one
    `except SizingError` around a sizing call catches every way it can fail."""


class SizingParams(BaseModel):
    """What a sizing call was asked (handed to `on_calculate` with the quantity)."""

    model_config = ConfigDict(frozen=True)

    method: Method
    symbol: str
    balance: float
    price_open: float
    price_stop_loss: float | None = None
    win_rate: float | None = None
    win_loss_ratio: float | None = None
    atr: float | None = None


def fixed_percentage(balance: float, price_open: float, price_stop_loss: float, risk_percentage: float) -> float:
    """Risk `risk_percentage` % of the balance between entry and stop-loss."""
    risk_amount = balance * (risk_percentage / 100)
    stop_distance = abs(price_open - price_stop_loss)
    if stop_distance == 0:
        raise SizingError("Stop-loss distance cannot be zero")
    return risk_amount / stop_distance


def kelly_criterion(
    balance: float, price_open: float, win_rate: float, win_loss_ratio: float,
    kelly_multiplier: float = DEFAULT_KELLY_MULTIPLIER,
) -> float:
    """A fraction of the Kelly bet; a negative edge buys nothing."""
    if not 0 < win_rate < 1:
        raise SizingError(f"win_rate must be between 0 and 1 (exclusive), got {win_rate}")
    if not win_loss_ratio > 0:
        raise SizingError(f"win_loss_ratio must be positive, got {win_loss_ratio}")
    kelly = (win_rate * win_loss_ratio - (1 - win_rate)) / win_loss_ratio
    return (balance * (max(0.0, kelly) * kelly_multiplier)) / price_open


def atr_based(
    balance: float, atr: float, risk_percentage: float, atr_multiplier: float = DEFAULT_ATR_MULTIPLIER
) -> float:
    """Risk `risk_percentage` % of the balance over a stop `atr_multiplier` ATRs away."""
    if not atr > 0:
        raise SizingError(f"ATR must be positive, got {atr}")
    return balance * (risk_percentage / 100) / (atr * atr_multiplier)


def apply_caps(
    quantity: float, balance: float, price_open: float, *, max_position_percentage: float | None = None,
    min_position_size: float | None = None, max_position_size: float | None = None,
) -> float:
    """SPEC §9 order: the balance share cap, then the floor, then the absolute cap.

    So an absolute cap wins over the floor, and the floor wins over the balance share.
    """
    if max_position_percentage is not None:
        quantity = min(quantity, balance * max_position_percentage / 100 / price_open)
    if min_position_size is not None:
        quantity = max(quantity, min_position_size)
    if max_position_size is not None:
        quantity = min(quantity, max_position_size)
    return quantity


def calculate(schema: SizingSchema, params: SizingParams) -> float:
    """The quantity for `params` under `schema`: method, caps, then `on_calculate`."""
    if params.method != schema.method:
        raise SizingError(
            f"sizing {schema.sizing_name}: method mismatch: configured {schema.method}, called {params.method}"
        )
    _check_finite(params)
    if params.price_open <= 0:
        raise SizingError(f"price_open must be positive, got {params.price_open}")
    if params.method == "fixed-percentage":
        assert params.price_stop_loss is not None and schema.risk_percentage is not None
        quantity = fixed_percentage(params.balance, params.price_open, params.price_stop_loss, schema.risk_percentage)
    elif params.method == "kelly-criterion":
        assert params.win_rate is not None and params.win_loss_ratio is not None
        multiplier = DEFAULT_KELLY_MULTIPLIER if schema.kelly_multiplier is None else schema.kelly_multiplier
        quantity = kelly_criterion(params.balance, params.price_open, params.win_rate, params.win_loss_ratio, multiplier)
    else:
        assert params.atr is not None and schema.risk_percentage is not None
        multiplier = DEFAULT_ATR_MULTIPLIER if schema.atr_multiplier is None else schema.atr_multiplier
        quantity = atr_based(params.balance, params.atr, schema.risk_percentage, multiplier)
    quantity = apply_caps(
        quantity, params.balance, params.price_open,
        max_position_percentage=schema.max_position_percentage,
        min_position_size=schema.min_position_size,
        max_position_size=schema.max_position_size,
    )
    _notify(schema, quantity, params)
    return quantity


def _check_finite(params: SizingParams) -> None:
    """NaN slips through every comparison above and would come back as a NaN quantity."""
    for name, value in params.model_dump(exclude={"method", "symbol"}).items():
        if value is not None and not math.isfinite(value):
            raise SizingError(f"{name} must be a finite number, got {value}")


def _notify(schema: SizingSchema, quantity: float, params: SizingParams) -> None:
    """A failing `on_calculate` (usually logging) is reported; the quantity still stands."""
    fn: Any = schema.callbacks.get("on_calculate")
    if fn is None:
        return
    try:
        fn(quantity, params)
    except Exception as exc:  # noqa: BLE001 - published on listen_error, as the reference does
        log.warning("sizing %s: on_calculate raised %s: %s", schema.sizing_name, type(exc).__name__, exc)
        events.error.emit(exc)
