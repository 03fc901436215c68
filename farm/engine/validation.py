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


def _is_finite(value: Any) -> bool:
    return math.isfinite(_num(value))


def _num(value: Any) -> float:
    """The value as a float for comparisons; non-numbers become NaN so every comparison is false."""
    if not is_js_number(value):
        return math.nan
    try:
        return float(value)
    except OverflowError:  # a Python int beyond the double range is an infinity in JS
        return math.inf if value > 0 else -math.inf


def _le(a: Any, b: Any) -> bool:
    return _num(a) <= _num(b)


def _gt(a: Any, b: Any) -> bool:
    return _num(a) > _num(b)


def _ge(a: Any, b: Any) -> bool:
    return _num(a) >= _num(b)


def _percent_of(numerator: float, base: float) -> float:
    """`numerator / base * 100` as JavaScript evaluates it: dividing by zero gives ±Infinity or NaN."""
    if base == 0:
        if numerator == 0 or math.isnan(numerator):
            return math.nan
        negative = (numerator < 0) != (math.copysign(1.0, base) < 0)
        return -math.inf if negative else math.inf
    return numerator / base * 100


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


# --- rules 2 and 3: prices are finite, positive numbers -----------------------------------


def _finite_line(field: str, value: Any) -> list[str]:
    if _is_finite(value):
        return []
    return [f"{field} must be a finite number, got {js_number(value)} ({js_type(value)})"]


def _positive_line(field: str, value: Any) -> list[str]:
    if _is_finite(value) and value <= 0:
        return [f"{field} must be positive, got {js_number(value)}"]
    return []


def _current_price(c: _Check) -> list[str]:
    return _finite_line("currentPrice", c.current_price) + _positive_line("currentPrice", c.current_price)


def _prices_finite(c: _Check) -> list[str]:
    return (
        _finite_line("priceOpen", c.open)
        + _finite_line("priceTakeProfit", c.tp)
        + _finite_line("priceStopLoss", c.sl)
    )


def _prices_positive(c: _Check) -> list[str]:
    return (
        _positive_line("priceOpen", c.open)
        + _positive_line("priceTakeProfit", c.tp)
        + _positive_line("priceStopLoss", c.sl)
    )


# --- rules 4-6 (long) and 4'-6' (short): where TP, SL, open and the current price sit -------


def _long_price_order(c: _Check) -> list[str]:
    errors: list[str] = []
    if _le(c.tp, c.open):
        errors.append(f"Long: priceTakeProfit ({c.s_tp}) must be > priceOpen ({c.s_open})")
    if _ge(c.sl, c.open):
        errors.append(f"Long: priceStopLoss ({c.s_sl}) must be < priceOpen ({c.s_open})")
    return errors


def _short_price_order(c: _Check) -> list[str]:
    errors: list[str] = []
    if _ge(c.tp, c.open):
        errors.append(f"Short: priceTakeProfit ({c.s_tp}) must be < priceOpen ({c.s_open})")
    if _le(c.sl, c.open):
        errors.append(f"Short: priceStopLoss ({c.s_sl}) must be > priceOpen ({c.s_open})")
    return errors


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


def _long_immediate(c: _Check) -> list[str]:
    """An immediate signal is judged against the current VWAP, even when it names a priceOpen."""
    if c.is_scheduled or not _is_finite(c.current_price):
        return []
    errors: list[str] = []
    if _le(c.current_price, c.sl):
        errors.append(f"Long immediate: currentPrice ({c.s_price}) <= priceStopLoss ({c.s_sl}). {_CLOSED_BY_SL}")
    if _ge(c.current_price, c.tp):
        errors.append(f"Long immediate: currentPrice ({c.s_price}) >= priceTakeProfit ({c.s_tp}). {_CLOSED_BY_TP}")
    return errors


def _short_immediate(c: _Check) -> list[str]:
    if c.is_scheduled or not _is_finite(c.current_price):
        return []
    errors: list[str] = []
    if _ge(c.current_price, c.sl):
        errors.append(f"Short immediate: currentPrice ({c.s_price}) >= priceStopLoss ({c.s_sl}). {_CLOSED_BY_SL}")
    if _le(c.current_price, c.tp):
        errors.append(f"Short immediate: currentPrice ({c.s_price}) <= priceTakeProfit ({c.s_tp}). {_CLOSED_BY_TP}")
    return errors


def _long_scheduled(c: _Check) -> list[str]:
    """A scheduled signal opens at priceOpen later, so priceOpen must sit between SL and TP."""
    if not c.is_scheduled or not _is_finite(c.open):
        return []
    errors: list[str] = []
    if _le(c.open, c.sl):
        errors.append(f"Long scheduled: priceOpen ({c.s_open}) <= priceStopLoss ({c.s_sl}). {_CANCELLED_ON_ACTIVATION}")
    if _ge(c.open, c.tp):
        errors.append(
            f"Long scheduled: priceOpen ({c.s_open}) >= priceTakeProfit ({c.s_tp}). "
            "Signal would close immediately on activation. This is logically impossible for LONG position."
        )
    return errors


def _short_scheduled(c: _Check) -> list[str]:
    if not c.is_scheduled or not _is_finite(c.open):
        return []
    errors: list[str] = []
    if _ge(c.open, c.sl):
        errors.append(
            f"Short scheduled: priceOpen ({c.s_open}) >= priceStopLoss ({c.s_sl}). {_CANCELLED_ON_ACTIVATION}"
        )
    if _le(c.open, c.tp):
        errors.append(
            f"Short scheduled: priceOpen ({c.s_open}) <= priceTakeProfit ({c.s_tp}). "
            "Signal would close immediately on activation. This is logically impossible for SHORT position."
        )
    return errors


# --- rules 7-9 and 7'-9': distances from priceOpen, in percent (a config value of 0 disables) --


def _distance_rules(c: _Check, side: str, tp_distance: float, sl_distance: float) -> list[str]:
    """Shared by both sides: the caller measures each distance in the direction of its side."""
    errors: list[str] = []
    cfg = c.config
    min_tp = cfg.min_takeprofit_distance_percent
    if min_tp and tp_distance < min_tp:
        errors.append(
            f"{side}: TakeProfit too close to priceOpen ({fixed(tp_distance, 3)}%). "
            f"Minimum distance: {js_number(min_tp)}% to cover trading fees. "
            f"Current: TP={c.s_tp}, Open={c.s_open}"
        )
    min_sl = cfg.min_stoploss_distance_percent
    if min_sl and sl_distance < min_sl:
        errors.append(
            f"{side}: StopLoss too close to priceOpen ({fixed(sl_distance, 3)}%). "
            f"Minimum distance: {js_number(min_sl)}% to avoid instant stop out on market volatility. "
            f"Current: SL={c.s_sl}, Open={c.s_open}"
        )
    max_sl = cfg.max_stoploss_distance_percent
    if max_sl and sl_distance > max_sl:
        errors.append(
            f"{side}: StopLoss too far from priceOpen ({fixed(sl_distance, 3)}%). "
            f"Maximum distance: {js_number(max_sl)}% to protect capital. "
            f"Current: SL={c.s_sl}, Open={c.s_open}"
        )
    return errors


def _long_distances(c: _Check) -> list[str]:
    op, tp, sl = _num(c.open), _num(c.tp), _num(c.sl)
    return _distance_rules(c, "Long", _percent_of(tp - op, op), _percent_of(op - sl, op))


def _short_distances(c: _Check) -> list[str]:
    op, tp, sl = _num(c.open), _num(c.tp), _num(c.sl)
    return _distance_rules(c, "Short", _percent_of(op - tp, op), _percent_of(sl - op, op))


_LONG_RULES: tuple[_Rule, ...] = (_long_price_order, _long_immediate, _long_scheduled, _long_distances)
_SHORT_RULES: tuple[_Rule, ...] = (_short_price_order, _short_immediate, _short_scheduled, _short_distances)


def _side(c: _Check) -> list[str]:
    """Rules 4-9 apply only to a recognised position; an unknown one was reported by rule 1."""
    if c.position == "long":
        rules = _LONG_RULES
    elif c.position == "short":
        rules = _SHORT_RULES
    else:
        return []
    return [line for rule in rules for line in rule(c)]


# --- rules 10-12: time --------------------------------------------------------------------


def _minutes(c: _Check) -> list[str]:
    """Positive (for numbers; NaN and non-numbers are left to the integer test) and whole."""
    errors: list[str] = []
    minutes = c.minutes
    if _le(minutes, 0):
        errors.append(f"minuteEstimatedTime must be positive, got {js_number(minutes)}")
    if not (_is_finite(minutes) and _num(minutes).is_integer()):
        errors.append(f"minuteEstimatedTime must be an integer (whole number), got {js_number(minutes)}")
    return errors


def _lifetime(c: _Check) -> list[str]:
    """Cap the lifetime: an endless signal would hold its risk slot and block every new trade."""
    limit = c.config.max_signal_lifetime_minutes
    if not limit or not _gt(c.minutes, limit):
        return []
    minutes = _num(c.minutes)
    return [
        f"minuteEstimatedTime too large ({js_number(c.minutes)} minutes = {fixed(minutes / 60 / 24, 1)} days). "
        f"Maximum: {js_number(limit)} minutes ({fixed(limit / 60 / 24, 0)} days) to prevent strategy deadlock. "
        "Eternal signals block risk limits and prevent new trades."
    ]


def _timestamps(c: _Check) -> list[str]:
    errors: list[str] = []
    for field, key in (("scheduledAt", "scheduled_at"), ("pendingAt", "pending_at")):
        value = c.row.get(key)
        errors += _finite_line(field, value) + _positive_line(field, value)
    return errors


_RULES: tuple[_Rule, ...] = (
    _identity,  # 1
    _current_price,  # 2
    _prices_finite,  # 3 (finite)
    _prices_positive,  # 3 (positive)
    _side,  # 4-9 / 4'-9'
    _minutes,  # 10
    _lifetime,  # 11
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
