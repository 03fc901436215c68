"""JavaScript-style rendering of values inside user-facing messages.

Users and the reference test-suite match validation messages byte for byte (SPEC §5.5), and
those messages were produced by JavaScript template literals. Python's `str(40000.0)` is
`40000.0` and `str(1e-07)` is `1e-07`; JavaScript prints `40000` and `1e-7`. The helpers here
reproduce the JavaScript output so the same signal fails with the same text in both engines.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import numpy as np

__all__ = ["fixed", "is_js_number", "js_number", "js_type"]


def is_js_number(value: Any) -> bool:
    """Whether JavaScript would see a `number` (NaN and infinities included).

    `bool` is excluded because Python makes it an `int` subclass while JavaScript keeps
    booleans apart; numpy scalars count, since strategies often compute prices with numpy.
    """
    return isinstance(value, numbers.Real) and not _is_bool(value)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def _to_float(value: Any) -> float:
    """The IEEE double JavaScript would hold; huge Python ints overflow to an infinity as in JS."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _shortest_digits(x: float) -> tuple[str, int]:
    """Digits `s` and position `n` with `x == 0.s × 10**n`, `s` as short as round-trip allows.

    Python's `repr` already yields the shortest round-trip digits (the same ones ECMAScript's
    Number::toString picks), so only the layout differs between the two languages.
    """
    sign, digits, exponent = Decimal(repr(x)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    assert isinstance(exponent, int)
    # value = int(digits) × 10**exponent; dropping trailing zeros does not move the point.
    n = len(digits) + exponent
    return text, n


def _format_double(x: float) -> str:
    """ECMAScript Number::toString(x) for radix 10."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"  # both +0 and -0
    if x < 0:
        return "-" + _format_double(-x)
    s, n = _shortest_digits(x)
    k = len(s)
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + s
    e = n - 1
    exp = f"e{'+' if e >= 0 else '-'}{abs(e)}"
    if k == 1:
        return s + exp
    return s[0] + "." + s[1:] + exp


def js_number(value: Any) -> str:
    """Render `value` as JavaScript's `String(value)` would (template literal `${value}`).

    Python `None` stands for a missing key, i.e. JavaScript `undefined`. Numbers use the
    shortest round-trip form with JavaScript's layout (`40000`, `0.1`, `1e+21`, `1.5e-7`).
    """
    if value is None:
        return "undefined"
    if _is_bool(value):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if is_js_number(value):
        return _format_double(_to_float(value))
    if isinstance(value, Mapping):
        return "[object Object]"
    if isinstance(value, list | tuple):
        # Array.prototype.toString: elements joined by commas, null/undefined as "".
        return ",".join("" if item is None else js_number(item) for item in value)
    return str(value)


def js_type(value: Any) -> str:
    """JavaScript's `typeof` for the Python value a user handed over.

    Callables answer `function` because that is what `typeof` says of a JS function; any other
    non-primitive is an `object`.
    """
    if value is None:
        return "undefined"
    if _is_bool(value):
        return "boolean"
    if is_js_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if callable(value):
        return "function"
    return "object"


def fixed(value: Any, digits: int) -> str:
    """JavaScript's `Number.prototype.toFixed(digits)`.

    toFixed rounds the exact binary value of the double, and an exact tie goes away from zero
    (the spec picks "the larger n" after taking the sign off). Python's `round`/`format` round
    half to even, so `format(0.125, ".2f")` is `0.12` where JS gives `0.13`; quantizing the
    exact `Decimal` of the double with ROUND_HALF_UP reproduces JS exactly. Values that only
    look like ties in decimal (1.005 is really 1.00499…) round down in both languages.

    JS-specific edges kept: `NaN`/`Infinity` print as words, |x| ≥ 1e21 falls back to
    `String(x)`, `(-0).toFixed(2)` is `0.00` but `(-0.001).toFixed(2)` is `-0.00`.
    Non-numbers (which would make JS throw) are rendered with `js_number` instead of raising,
    because this only ever feeds error messages.
    """
    if not 0 <= digits <= 100:
        raise ValueError(f"toFixed() digits argument must be between 0 and 100, got {digits}")
    if not is_js_number(value):
        return js_number(value)
    x = _to_float(value)
    if math.isnan(x) or math.isinf(x) or abs(x) >= 1e21:
        return _format_double(x)
    if x == 0:
        x = 0.0  # drop the sign of -0
    # Only an exact binary tie can round differently from Python's format (half to even); the
    # exact test is integer arithmetic on the double's ratio, so the common case stays fast.
    numerator, denominator = x.as_integer_ratio()
    scaled = numerator * 10**digits
    if (2 * scaled) % denominator != 0 or scaled % denominator == 0:
        return f"{x:.{digits}f}"
    with localcontext() as ctx:
        ctx.prec = 130  # |x| < 1e21 and digits <= 100: the result never needs more
        quantum = Decimal(1).scaleb(-digits)
        return f"{Decimal(x).quantize(quantum, rounding=ROUND_HALF_UP):f}"
