"""JavaScript number rendering: expected strings were produced by Node's String() and toFixed()."""

from __future__ import annotations

import math

import numpy as np
import pytest

from farm.engine.jsfmt import fixed, is_js_number, js_number, js_type


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (40000, "40000"),
        (40000.0, "40000"),
        (40000.5, "40000.5"),
        (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-1.5, "-1.5"),
        (0.0, "0"),
        (-0.0, "0"),
        (0.000001, "0.000001"),
        (0.0000015, "0.0000015"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (-1e-7, "-1e-7"),
        (5e-324, "5e-324"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e21, "1e+21"),
        (1.2345678901234568e21, "1.2345678901234568e+21"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (2**60, "1152921504606847000"),  # JS holds a double: shortest digits, then zeros
        (9007199254740993, "9007199254740992"),
        (10**400, "Infinity"),
        (-(10**400), "-Infinity"),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (np.float64(42000.25), "42000.25"),
        (np.int64(7), "7"),
        (np.float32(0.5), "0.5"),
    ],
)
def test_js_number_renders_numbers_like_javascript(value: object, expected: str) -> None:
    assert js_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "undefined"),
        (True, "true"),
        (False, "false"),
        (np.bool_(True), "true"),
        ("100", "100"),
        ("", ""),
        ("long", "long"),
        ({"a": 1}, "[object Object]"),
        ([1, 2.0, None, "x"], "1,2,,x"),
    ],
)
def test_js_number_renders_other_values_like_javascript_string(value: object, expected: str) -> None:
    assert js_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, "number"),
        (1.5, "number"),
        (math.nan, "number"),
        (math.inf, "number"),
        (np.float64(1), "number"),
        (np.int32(1), "number"),
        (True, "boolean"),
        (np.bool_(False), "boolean"),
        (None, "undefined"),
        ("1", "string"),
        ({}, "object"),
        ([], "object"),
        (object(), "object"),
        (len, "function"),
    ],
)
def test_js_type_is_javascript_typeof(value: object, expected: str) -> None:
    assert js_type(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, True),
        (1.0, True),
        (math.nan, True),
        (np.float64(2), True),
        (True, False),
        ("1", False),
        (None, False),
    ],
)
def test_is_js_number_excludes_bools_and_strings(value: object, expected: bool) -> None:
    assert is_js_number(value) is expected


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.4000000000000057, 3, "0.400"),
        (21, 3, "21.000"),
        (-10, 3, "-10.000"),
        (100.123456789, 3, "100.123"),
        (40000.5, 0, "40001"),
        (0.1, 20, "0.10000000000000000555"),
        # exact binary ties round away from zero (Python's format() would give 0.12 and 2)
        (0.125, 2, "0.13"),
        (0.375, 2, "0.38"),
        (2.5, 0, "3"),
        (-2.5, 0, "-3"),
        # decimal-looking ties follow the real binary value, as in JS
        (1.005, 2, "1.00"),
        (8.345, 2, "8.35"),
        (0.0005, 3, "0.001"),
        (123.4565, 3, "123.457"),
        # signs of zero as JS prints them
        (-0.0, 2, "0.00"),
        (-0.0001, 2, "-0.00"),
        (-1e-7, 0, "-0"),
        # non-finite and huge values fall back to String(x)
        (math.nan, 3, "NaN"),
        (math.inf, 3, "Infinity"),
        (-math.inf, 1, "-Infinity"),
        (1e21, 3, "1e+21"),
        (1e20, 1, "100000000000000000000.0"),
        (1.0, 1, "1.0"),
        (1441 / 60 / 24, 1, "1.0"),
        (np.float64(2.345), 1, "2.3"),
    ],
)
def test_fixed_matches_javascript_to_fixed(value: float, digits: int, expected: str) -> None:
    assert fixed(value, digits) == expected


def test_fixed_renders_non_numbers_instead_of_raising() -> None:
    assert fixed(None, 3) == "undefined"
    assert fixed("abc", 3) == "abc"


@pytest.mark.parametrize("digits", [-1, 101])
def test_fixed_rejects_digits_javascript_rejects(digits: int) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        fixed(1.0, digits)
