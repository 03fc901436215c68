"""Signal validation (SPEC §5.5): every rule runs, every failure is reported, then one error.

A strategy author fixing a rejected signal wants all the problems at once, not one per
backtest run, so the rules below return lists of lines and `validate_signal` joins them.
The message texts are the reference engine's, byte for byte where users match on them: field
names in camelCase, numbers rendered the JavaScript way (`farm.engine.jsfmt`).

Values come straight from user code, so any of them may be missing (`None`), NaN, a string or
a bool. Only real numbers (int/float and numpy scalars, never bool) count as numbers; anything
else fails the "finite number" rules and, like NaN, makes every ordering comparison false, so
one bad field produces one clear line instead of a cascade of nonsense comparisons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from farm.config import EngineConfig
from farm.engine import steps
from farm.engine.jsfmt import fixed, is_js_number, js_number, js_type
from farm.errors import SignalValidationError

__all__ = ["validate_signal"]


@dataclass
class _Check:
    """One validation's inputs, with the row's fields pulled out once under readable names."""

    row: Mapping[str, Any]
    current_price: Any
    is_scheduled: bool
    config: EngineConfig
    tp_distance: float = math.nan
    sl_distance: float = math.nan
    """Distances from priceOpen in percent, as the compiled rule measured them (for messages)."""

    @property
    def position(self) -> str | None:
        """The position if it is a string; anything else cannot be long or short."""
        value = self.row.get("position")
        return value if isinstance(value, str) else None

    @property
    def open(self) -> Any:
        return self.row.get("price_open")

    @property
    def tp(self) -> Any:
        return self.row.get("price_take_profit")

    @property
    def sl(self) -> Any:
        return self.row.get("price_stop_loss")

    # Rendered only when a rule fails: formatting numbers the JS way is the costly part.
    @cached_property
    def s_open(self) -> str:
        return js_number(self.open)

    @cached_property
    def s_tp(self) -> str:
        return js_number(self.tp)

    @cached_property
    def s_sl(self) -> str:
        return js_number(self.sl)

    @cached_property
    def s_price(self) -> str:
        return js_number(self.current_price)

    @property
    def minutes(self) -> Any:
        return self.row.get("minute_estimated_time")


_Rule = Callable[[_Check], list[str]]
_POSITIONS = ("long", "short")


# --- numeric helpers (JavaScript semantics for the values users can send) -----------------


def _num(value: Any) -> float:
    """The value as a float for the compiled rules; non-numbers become NaN so every comparison
    is false."""
    if not is_js_number(value):
        return math.nan
    try:
        return float(value)
    except OverflowError:  # a Python int beyond the double range is an infinity in JS
        return math.inf if value > 0 else -math.inf


def _blank(value: Any) -> bool:
    """The reference's "required" test: undefined, null or the empty string."""
    return value is None or (isinstance(value, str) and value == "")


# --- rule 1: identity ---------------------------------------------------------------------


def _identity(c: _Check) -> list[str]:
    errors: list[str] = []
    if _blank(c.row.get("id")):
        errors.append("id is required and must be a non-empty string")
    if _blank(c.row.get("exchange_name")):
        errors.append("exchangeName is required")
    if _blank(c.row.get("strategy_name")):
        errors.append("strategyName is required")
    if _blank(c.row.get("symbol")):
        errors.append("symbol is required and must be a non-empty string")
    if c.row.get("is_scheduled") is None:
        errors.append("_isScheduled is required")
    position = c.row.get("position")
    if position is None:
        errors.append('position is required and must be "long" or "short"')
    if c.position not in _POSITIONS:
        errors.append(f'position must be "long" or "short", got "{js_number(position)}"')
    return errors


# --- rules 2-11: the numbers, decided by the compiled rule the kernel runs too ------------
# `steps.check_numbers` returns one bit per failed rule; here each bit becomes its line.


def _finite_line(field: str, value: Any) -> str:
    return f"{field} must be a finite number, got {js_number(value)} ({js_type(value)})"


def _positive_line(field: str, value: Any) -> str:
    return f"{field} must be positive, got {js_number(value)}"


_CLOSED_BY_SL = (
    "Signal would be immediately closed by stop loss. Cannot open position that is already stopped out."
)
_CLOSED_BY_TP = (
    "Signal would be immediately closed by take profit. The profit opportunity has already passed."
)
_CANCELLED_ON_ACTIVATION = (
    "Signal would be immediately cancelled on activation. "
    "Cannot activate position that is already stopped out."
)

_Line = Callable[["_Check"], str]

_PRICE_LINES: tuple[tuple[int, _Line], ...] = (
    (steps.CURRENT_NOT_FINITE, lambda c: _finite_line("currentPrice", c.current_price)),
    (steps.CURRENT_NOT_POSITIVE, lambda c: _positive_line("currentPrice", c.current_price)),
    (steps.OPEN_NOT_FINITE, lambda c: _finite_line("priceOpen", c.open)),
    (steps.TP_NOT_FINITE, lambda c: _finite_line("priceTakeProfit", c.tp)),
    (steps.SL_NOT_FINITE, lambda c: _finite_line("priceStopLoss", c.sl)),
    (steps.OPEN_NOT_POSITIVE, lambda c: _positive_line("priceOpen", c.open)),
    (steps.TP_NOT_POSITIVE, lambda c: _positive_line("priceTakeProfit", c.tp)),
    (steps.SL_NOT_POSITIVE, lambda c: _positive_line("priceStopLoss", c.sl)),
)


def _side_lines(side: str, below: str, above: str, short: bool) -> tuple[tuple[int, _Line], ...]:
    """Rules 4-9 for one side; `below`/`above` are the comparison words of its TP rule (long:
    TP must be > open, so a failure reads "<=" for the immediate SL check and ">=" for TP)."""
    word = "SHORT" if short else "LONG"
    tp_rel, sl_rel = ("<", ">") if short else (">", "<")
    return (
        (steps.TP_WRONG_SIDE, lambda c: f"{side}: priceTakeProfit ({c.s_tp}) must be {tp_rel} priceOpen ({c.s_open})"),
        (steps.SL_WRONG_SIDE, lambda c: f"{side}: priceStopLoss ({c.s_sl}) must be {sl_rel} priceOpen ({c.s_open})"),
        (steps.IMMEDIATE_AT_SL,
         lambda c: f"{side} immediate: currentPrice ({c.s_price}) {below} priceStopLoss ({c.s_sl}). {_CLOSED_BY_SL}"),
        (steps.IMMEDIATE_AT_TP,
         lambda c: f"{side} immediate: currentPrice ({c.s_price}) {above} priceTakeProfit ({c.s_tp}). {_CLOSED_BY_TP}"),
        (steps.SCHEDULED_AT_SL,
         lambda c: f"{side} scheduled: priceOpen ({c.s_open}) {below} priceStopLoss ({c.s_sl}). "
                   f"{_CANCELLED_ON_ACTIVATION}"),
        (steps.SCHEDULED_AT_TP,
         lambda c: f"{side} scheduled: priceOpen ({c.s_open}) {above} priceTakeProfit ({c.s_tp}). "
                   f"Signal would close immediately on activation. This is logically impossible for {word} position."),
        (steps.TP_TOO_CLOSE,
         lambda c: f"{side}: TakeProfit too close to priceOpen ({fixed(c.tp_distance, 3)}%). "
                   f"Minimum distance: {js_number(c.config.min_takeprofit_distance_percent)}% to cover trading fees. "
                   f"Current: TP={c.s_tp}, Open={c.s_open}"),
        (steps.SL_TOO_CLOSE,
         lambda c: f"{side}: StopLoss too close to priceOpen ({fixed(c.sl_distance, 3)}%). "
                   f"Minimum distance: {js_number(c.config.min_stoploss_distance_percent)}% to avoid instant stop "
                   f"out on market volatility. Current: SL={c.s_sl}, Open={c.s_open}"),
        (steps.SL_TOO_FAR,
         lambda c: f"{side}: StopLoss too far from priceOpen ({fixed(c.sl_distance, 3)}%). "
                   f"Maximum distance: {js_number(c.config.max_stoploss_distance_percent)}% to protect capital. "
                   f"Current: SL={c.s_sl}, Open={c.s_open}"),
    )


_LONG_LINES = _side_lines("Long", "<=", ">=", short=False)
_SHORT_LINES = _side_lines("Short", ">=", "<=", short=True)


def _lifetime_line(c: _Check) -> str:
    """Cap the lifetime: an endless signal would hold its risk slot and block every new trade."""
    limit = c.config.max_signal_lifetime_minutes
    return (
        f"minuteEstimatedTime too large ({js_number(c.minutes)} minutes = {fixed(_num(c.minutes) / 60 / 24, 1)} days). "
        f"Maximum: {js_number(limit)} minutes ({fixed(limit / 60 / 24, 0)} days) to prevent strategy deadlock. "
        "Eternal signals block risk limits and prevent new trades."
    )


_TIME_LINES: tuple[tuple[int, _Line], ...] = (
    (steps.MINUTES_NOT_POSITIVE, lambda c: f"minuteEstimatedTime must be positive, got {js_number(c.minutes)}"),
    (steps.MINUTES_NOT_INTEGER,
     lambda c: f"minuteEstimatedTime must be an integer (whole number), got {js_number(c.minutes)}"),
    (steps.MINUTES_TOO_LARGE, _lifetime_line),
)


def _numbers(c: _Check) -> list[str]:
    """Rules 2-11: one compiled decision (`steps.check_numbers`), then a line per failed rule.
    Rules 4-9 apply only to a recognised position; an unknown one was reported by rule 1."""
    cfg = c.config
    side = 1 if c.position == "long" else -1 if c.position == "short" else 0
    mask, c.tp_distance, c.sl_distance = steps.check_numbers(
        side, _num(c.open), _num(c.tp), _num(c.sl), _num(c.minutes), _num(c.current_price), bool(c.is_scheduled),
        float(cfg.min_takeprofit_distance_percent), float(cfg.min_stoploss_distance_percent),
        float(cfg.max_stoploss_distance_percent), float(cfg.max_signal_lifetime_minutes),
    )
    if not mask:
        return []
    lines = _PRICE_LINES + (_LONG_LINES if side > 0 else _SHORT_LINES if side < 0 else ()) + _TIME_LINES
    return [line(c) for bit, line in lines if mask & bit]


# --- rule 12: timestamps --------------------------------------------------------------------


def _timestamps(c: _Check) -> list[str]:
    errors: list[str] = []
    for field, key in (("scheduledAt", "scheduled_at"), ("pendingAt", "pending_at")):
        value = _num(c.row.get(key))
        if not math.isfinite(value):
            errors.append(_finite_line(field, c.row.get(key)))
        elif value <= 0:
            errors.append(_positive_line(field, c.row.get(key)))
    return errors


_RULES: tuple[_Rule, ...] = (
    _identity,  # 1
    _numbers,  # 2-11
    _timestamps,  # 12
)


def validate_signal(
    row: Mapping[str, Any], current_price: Any, is_scheduled: bool, config: EngineConfig
) -> None:
    """Raise `SignalValidationError` listing every rule of SPEC §5.5 that `row` breaks.

    `current_price` is the VWAP at generation time; `is_scheduled` selects rule 5 (immediate:
    the current price must lie between SL and TP) or rule 6 (scheduled: priceOpen must).
    `config` is passed in rather than read globally so one run validates with one config.
    """
    check = _Check(row=row, current_price=current_price, is_scheduled=is_scheduled, config=config)
    errors = [line for rule in _RULES for line in rule(check)]
    if errors:
        position = js_number(row.get("position"))
        raise SignalValidationError(f"Invalid signal for {position} position:\n" + "\n".join(errors))
