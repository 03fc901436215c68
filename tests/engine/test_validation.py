"""Signal validation, SPEC §5.5: every rule, both sides, exact message lines."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from farm.config import EngineConfig, get_config
from farm.engine.validation import validate_signal
from farm.errors import SignalValidationError

NOW = 1_700_000_000_000

SL_CLOSE = (
    "Signal would be immediately closed by stop loss. Cannot open position that is already stopped out."
)
TP_CLOSE = "Signal would be immediately closed by take profit. The profit opportunity has already passed."
CANCELLED = "Signal would be immediately cancelled on activation. Cannot activate position that is already stopped out."
LIFETIME_TAIL = "to prevent strategy deadlock. Eternal signals block risk limits and prevent new trades."

CONFIGS = {
    # the engine defaults, spelled out so the tests do not depend on them
    "default": EngineConfig(
        min_takeprofit_distance_percent=0.5,
        min_stoploss_distance_percent=0.5,
        max_stoploss_distance_percent=20,
        max_signal_lifetime_minutes=1440,
    ),
    # every optional check disabled, as the reference test-suite mostly runs
    "off": EngineConfig(
        min_takeprofit_distance_percent=0,
        min_stoploss_distance_percent=0,
        max_stoploss_distance_percent=0,
        max_signal_lifetime_minutes=0,
    ),
}

BASE = {
    "id": "sig-1",
    "symbol": "BTCUSDT",
    "strategy_name": "strat",
    "exchange_name": "binance",
    "scheduled_at": NOW,
    "pending_at": NOW,
    "is_scheduled": False,
    "minute_estimated_time": 60,
    "price_open": 100,
}
LONG = {**BASE, "position": "long", "price_take_profit": 110, "price_stop_loss": 95}
SHORT = {**BASE, "position": "short", "price_take_profit": 90, "price_stop_loss": 105}
SIDES = {"long": LONG, "short": SHORT}

MISSING = object()
"""An override value that deletes the key from the row."""


@pytest.fixture(params=["default"])
def config(request: pytest.FixtureRequest) -> EngineConfig:
    return CONFIGS[request.param]


def make_row(side: str, overrides: dict[str, Any]) -> dict[str, Any]:
    row = dict(SIDES[side])
    for key, value in overrides.items():
        if value is MISSING:
            row.pop(key, None)
        else:
            row[key] = value
    return row


def failure(row: dict[str, Any], current_price: Any, is_scheduled: bool, config: EngineConfig) -> str | None:
    try:
        validate_signal(row, current_price, is_scheduled, config)
    except SignalValidationError as exc:
        return str(exc)
    return None


# (id, side, row overrides, current price, is_scheduled, config name, expected lines)
SCENARIOS: list[tuple[str, str, dict[str, Any], Any, bool, str, list[str]]] = [
    # ---- rule 1: identity -------------------------------------------------------------
    (
        "id-empty",
        "long",
        {"id": ""},
        100,
        False,
        "default",
        ["id is required and must be a non-empty string"],
    ),
    (
        "id-missing",
        "short",
        {"id": MISSING},
        100,
        False,
        "default",
        ["id is required and must be a non-empty string"],
    ),
    ("exchange-none", "long", {"exchange_name": None}, 100, False, "default", ["exchangeName is required"]),
    ("strategy-empty", "short", {"strategy_name": ""}, 100, False, "default", ["strategyName is required"]),
    (
        "symbol-empty",
        "long",
        {"symbol": ""},
        100,
        False,
        "default",
        ["symbol is required and must be a non-empty string"],
    ),
    (
        "is-scheduled-missing",
        "short",
        {"is_scheduled": MISSING},
        100,
        False,
        "default",
        ["_isScheduled is required"],
    ),
    ("is-scheduled-false-ok", "long", {"is_scheduled": False}, 100, False, "default", []),
    (
        "position-missing",
        "long",
        {"position": MISSING},
        100,
        False,
        "default",
        [
            'position is required and must be "long" or "short"',
            'position must be "long" or "short", got "undefined"',
        ],
    ),
    (
        "position-flat",
        "long",
        {"position": "flat"},
        100,
        False,
        "default",
        ['position must be "long" or "short", got "flat"'],
    ),
    (
        "position-upper",
        "short",
        {"position": "SHORT"},
        100,
        False,
        "default",
        ['position must be "long" or "short", got "SHORT"'],
    ),
    (
        "position-number",
        "long",
        {"position": 1},
        100,
        False,
        "default",
        ['position must be "long" or "short", got "1"'],
    ),
    # ---- rule 2: current price --------------------------------------------------------
    (
        "cp-nan",
        "long",
        {},
        math.nan,
        False,
        "default",
        ["currentPrice must be a finite number, got NaN (number)"],
    ),
    (
        "cp-none",
        "short",
        {},
        None,
        False,
        "default",
        ["currentPrice must be a finite number, got undefined (undefined)"],
    ),
    (
        "cp-inf",
        "long",
        {},
        math.inf,
        False,
        "default",
        ["currentPrice must be a finite number, got Infinity (number)"],
    ),
    (
        "cp-string",
        "short",
        {},
        "100",
        False,
        "default",
        ["currentPrice must be a finite number, got 100 (string)"],
    ),
    (
        "cp-zero-long",
        "long",
        {},
        0,
        False,
        "default",
        [
            "currentPrice must be positive, got 0",
            f"Long immediate: currentPrice (0) <= priceStopLoss (95). {SL_CLOSE}",
        ],
    ),
    (
        "cp-negative-short",
        "short",
        {},
        -1.5,
        False,
        "default",
        [
            "currentPrice must be positive, got -1.5",
            f"Short immediate: currentPrice (-1.5) <= priceTakeProfit (90). {TP_CLOSE}",
        ],
    ),
    (
        "cp-nan-scheduled",
        "long",
        {"is_scheduled": True},
        math.nan,
        True,
        "default",
        ["currentPrice must be a finite number, got NaN (number)"],
    ),
    # ---- rule 3: prices finite and positive -------------------------------------------
    (
        "open-nan",
        "long",
        {"price_open": math.nan},
        100,
        False,
        "default",
        ["priceOpen must be a finite number, got NaN (number)"],
    ),
    (
        "open-none",
        "short",
        {"price_open": None},
        100,
        False,
        "default",
        ["priceOpen must be a finite number, got undefined (undefined)"],
    ),
    (
        "tp-missing",
        "long",
        {"price_take_profit": MISSING},
        100,
        False,
        "default",
        ["priceTakeProfit must be a finite number, got undefined (undefined)"],
    ),
    (
        "tp-inf",
        "long",
        {"price_take_profit": math.inf},
        100,
        False,
        "default",
        ["priceTakeProfit must be a finite number, got Infinity (number)"],
    ),
    (
        "sl-string",
        "long",
        {"price_stop_loss": "95"},
        100,
        False,
        "default",
        ["priceStopLoss must be a finite number, got 95 (string)"],
    ),
    (
        "sl-bool",
        "short",
        {"price_stop_loss": True},
        100,
        False,
        "default",
        ["priceStopLoss must be a finite number, got true (boolean)"],
    ),
    (
        "tp-dict",
        "short",
        {"price_take_profit": {}},
        100,
        False,
        "default",
        ["priceTakeProfit must be a finite number, got [object Object] (object)"],
    ),
    (
        "sl-minus-inf",
        "long",
        {"price_stop_loss": -math.inf},
        100,
        False,
        "default",
        [
            "priceStopLoss must be a finite number, got -Infinity (number)",
            "Long: StopLoss too far from priceOpen (Infinity%). Maximum distance: 20% to protect capital. "
            "Current: SL=-Infinity, Open=100",
        ],
    ),
    (
        "sl-zero",
        "long",
        {"price_stop_loss": 0},
        100,
        False,
        "off",
        ["priceStopLoss must be positive, got 0"],
    ),
    (
        "tp-negative-short",
        "short",
        {"price_take_profit": -90},
        100,
        False,
        "off",
        ["priceTakeProfit must be positive, got -90"],
    ),
    (
        "all-three-nan",
        "short",
        {"price_open": math.nan, "price_take_profit": math.nan, "price_stop_loss": math.nan},
        100,
        True,
        "default",
        [
            "priceOpen must be a finite number, got NaN (number)",
            "priceTakeProfit must be a finite number, got NaN (number)",
            "priceStopLoss must be a finite number, got NaN (number)",
        ],
    ),
    (
        "open-zero-divides-like-js",
        "long",
        {"price_open": 0},
        100,
        False,
        "default",
        [
            "priceOpen must be positive, got 0",
            "Long: priceStopLoss (95) must be < priceOpen (0)",
            "Long: StopLoss too close to priceOpen (-Infinity%). Minimum distance: 0.5% to avoid instant stop out "
            "on market volatility. Current: SL=95, Open=0",
        ],
    ),
    # ---- rule 4 / 4': price order (current price chosen so rule 5 stays quiet) --------
    (
        "long-tp-below-open",
        "long",
        {"price_take_profit": 99},
        98,
        False,
        "off",
        ["Long: priceTakeProfit (99) must be > priceOpen (100)"],
    ),
    (
        "long-sl-above-open",
        "long",
        {"price_stop_loss": 101},
        102,
        False,
        "off",
        ["Long: priceStopLoss (101) must be < priceOpen (100)"],
    ),
    (
        "long-open-as-float",
        "long",
        {"price_open": 40000.0, "price_take_profit": 39000.0, "price_stop_loss": 30000.0},
        38000.0,
        False,
        "off",
        ["Long: priceTakeProfit (39000) must be > priceOpen (40000)"],
    ),
    (
        "short-tp-above-open",
        "short",
        {"price_take_profit": 101},
        102,
        False,
        "off",
        ["Short: priceTakeProfit (101) must be < priceOpen (100)"],
    ),
    (
        "short-sl-below-open",
        "short",
        {"price_stop_loss": 99},
        98,
        False,
        "off",
        ["Short: priceStopLoss (99) must be > priceOpen (100)"],
    ),
    # ---- rule 5 / 5': immediate signals vs the current price --------------------------
    (
        "long-cp-at-sl",
        "long",
        {},
        95,
        False,
        "off",
        [f"Long immediate: currentPrice (95) <= priceStopLoss (95). {SL_CLOSE}"],
    ),
    (
        "long-cp-below-sl",
        "long",
        {},
        94.5,
        False,
        "off",
        [f"Long immediate: currentPrice (94.5) <= priceStopLoss (95). {SL_CLOSE}"],
    ),
    (
        "long-cp-at-tp",
        "long",
        {},
        110,
        False,
        "off",
        [f"Long immediate: currentPrice (110) >= priceTakeProfit (110). {TP_CLOSE}"],
    ),
    (
        "long-cp-above-tp",
        "long",
        {},
        120.25,
        False,
        "off",
        [f"Long immediate: currentPrice (120.25) >= priceTakeProfit (110). {TP_CLOSE}"],
    ),
    (
        "short-cp-at-sl",
        "short",
        {},
        105,
        False,
        "off",
        [f"Short immediate: currentPrice (105) >= priceStopLoss (105). {SL_CLOSE}"],
    ),
    (
        "short-cp-above-sl",
        "short",
        {},
        106,
        False,
        "off",
        [f"Short immediate: currentPrice (106) >= priceStopLoss (105). {SL_CLOSE}"],
    ),
    (
        "short-cp-at-tp",
        "short",
        {},
        90,
        False,
        "off",
        [f"Short immediate: currentPrice (90) <= priceTakeProfit (90). {TP_CLOSE}"],
    ),
    (
        "short-cp-below-tp",
        "short",
        {},
        80,
        False,
        "off",
        [f"Short immediate: currentPrice (80) <= priceTakeProfit (90). {TP_CLOSE}"],
    ),
    (
        "tiny-prices-in-exponent-form",
        "long",
        {"price_open": 3e-7, "price_take_profit": 4e-7, "price_stop_loss": 2e-7},
        1e-7,
        False,
        "off",
        [f"Long immediate: currentPrice (1e-7) <= priceStopLoss (2e-7). {SL_CLOSE}"],
    ),
    # rule 5 is skipped for scheduled signals: the current price is expected to be away from priceOpen
    ("long-scheduled-ignores-cp", "long", {"is_scheduled": True}, 120, True, "off", []),
    ("short-scheduled-ignores-cp", "short", {"is_scheduled": True}, 80, True, "off", []),
    # ---- rule 6 / 6': scheduled signals, priceOpen between SL and TP ------------------
    (
        "long-scheduled-open-at-sl",
        "long",
        {"price_open": 95, "is_scheduled": True},
        120,
        True,
        "off",
        [
            "Long: priceStopLoss (95) must be < priceOpen (95)",
            f"Long scheduled: priceOpen (95) <= priceStopLoss (95). {CANCELLED}",
        ],
    ),
    (
        "long-scheduled-open-at-tp",
        "long",
        {"price_open": 110, "is_scheduled": True},
        120,
        True,
        "off",
        [
            "Long: priceTakeProfit (110) must be > priceOpen (110)",
            "Long scheduled: priceOpen (110) >= priceTakeProfit (110). "
            "Signal would close immediately on activation. This is logically impossible for LONG position.",
        ],
    ),
    (
        "short-scheduled-open-at-sl",
        "short",
        {"price_open": 105, "is_scheduled": True},
        80,
        True,
        "off",
        [
            "Short: priceStopLoss (105) must be > priceOpen (105)",
            f"Short scheduled: priceOpen (105) >= priceStopLoss (105). {CANCELLED}",
        ],
    ),
    (
        "short-scheduled-open-below-tp",
        "short",
        {"price_open": 89, "is_scheduled": True},
        80,
        True,
        "off",
        [
            "Short: priceTakeProfit (90) must be < priceOpen (89)",
            "Short scheduled: priceOpen (89) <= priceTakeProfit (90). "
            "Signal would close immediately on activation. This is logically impossible for SHORT position.",
        ],
    ),
    # the same bad priceOpen on an immediate signal: rule 6 is not applied, rule 5 uses the current price
    (
        "long-immediate-open-at-sl",
        "long",
        {"price_open": 95},
        100,
        False,
        "off",
        ["Long: priceStopLoss (95) must be < priceOpen (95)"],
    ),
    # an immediate signal with a fine priceOpen still fails when the VWAP is past its stop-loss
    (
        "long-immediate-vwap-past-sl",
        "long",
        {},
        94,
        False,
        "off",
        [f"Long immediate: currentPrice (94) <= priceStopLoss (95). {SL_CLOSE}"],
    ),
    # ---- rules 7-9 / 7'-9': distances -------------------------------------------------
    (
        "long-tp-too-close",
        "long",
        {"price_take_profit": 100.4},
        100,
        False,
        "default",
        [
            "Long: TakeProfit too close to priceOpen (0.400%). Minimum distance: 0.5% to cover trading fees. Current: TP=100.4, Open=100"
        ],
    ),
    ("long-tp-at-min", "long", {"price_take_profit": 100.5}, 100, False, "default", []),
    (
        "long-sl-too-close",
        "long",
        {"price_stop_loss": 99.6},
        100,
        False,
        "default",
        [
            "Long: StopLoss too close to priceOpen (0.400%). Minimum distance: 0.5% to avoid instant stop out on market "
            "volatility. Current: SL=99.6, Open=100"
        ],
    ),
    (
        "long-sl-too-far",
        "long",
        {"price_stop_loss": 79},
        100,
        False,
        "default",
        [
            "Long: StopLoss too far from priceOpen (21.000%). Maximum distance: 20% to protect capital. Current: SL=79, Open=100"
        ],
    ),
    ("long-sl-at-max", "long", {"price_stop_loss": 80}, 100, False, "default", []),
    (
        "short-tp-too-close",
        "short",
        {"price_take_profit": 99.6},
        100,
        False,
        "default",
        [
            "Short: TakeProfit too close to priceOpen (0.400%). Minimum distance: 0.5% to cover trading fees. Current: TP=99.6, Open=100"
        ],
    ),
    (
        "short-sl-too-close",
        "short",
        {"price_stop_loss": 100.4},
        100,
        False,
        "default",
        [
            "Short: StopLoss too close to priceOpen (0.400%). Minimum distance: 0.5% to avoid instant stop out on market "
            "volatility. Current: SL=100.4, Open=100"
        ],
    ),
    (
        "short-sl-too-far",
        "short",
        {"price_stop_loss": 121},
        100,
        False,
        "default",
        [
            "Short: StopLoss too far from priceOpen (21.000%). Maximum distance: 20% to protect capital. Current: SL=121, Open=100"
        ],
    ),
    ("short-sl-at-max", "short", {"price_stop_loss": 120}, 100, False, "default", []),
    # 0 disables each distance check
    ("long-tp-close-disabled", "long", {"price_take_profit": 100.4}, 100, False, "off", []),
    ("long-sl-close-disabled", "long", {"price_stop_loss": 99.6}, 100, False, "off", []),
    ("long-sl-far-disabled", "long", {"price_stop_loss": 1}, 100, False, "off", []),
    ("short-tp-close-disabled", "short", {"price_take_profit": 99.6}, 100, False, "off", []),
    ("short-sl-close-disabled", "short", {"price_stop_loss": 100.4}, 100, False, "off", []),
    ("short-sl-far-disabled", "short", {"price_stop_loss": 500}, 100, False, "off", []),
    # ---- rule 10: minuteEstimatedTime positive and whole -----------------------------
    (
        "met-zero",
        "long",
        {"minute_estimated_time": 0},
        100,
        False,
        "default",
        ["minuteEstimatedTime must be positive, got 0"],
    ),
    (
        "met-negative",
        "short",
        {"minute_estimated_time": -5},
        100,
        False,
        "default",
        ["minuteEstimatedTime must be positive, got -5"],
    ),
    (
        "met-fraction",
        "long",
        {"minute_estimated_time": 1.5},
        100,
        False,
        "default",
        ["minuteEstimatedTime must be an integer (whole number), got 1.5"],
    ),
    (
        "met-negative-fraction",
        "short",
        {"minute_estimated_time": -0.5},
        100,
        False,
        "default",
        [
            "minuteEstimatedTime must be positive, got -0.5",
            "minuteEstimatedTime must be an integer (whole number), got -0.5",
        ],
    ),
    (
        "met-missing",
        "long",
        {"minute_estimated_time": MISSING},
        100,
        False,
        "default",
        ["minuteEstimatedTime must be an integer (whole number), got undefined"],
    ),
    (
        "met-nan",
        "short",
        {"minute_estimated_time": math.nan},
        100,
        False,
        "default",
        ["minuteEstimatedTime must be an integer (whole number), got NaN"],
    ),
    (
        "met-string",
        "long",
        {"minute_estimated_time": "60"},
        100,
        False,
        "default",
        ["minuteEstimatedTime must be an integer (whole number), got 60"],
    ),
    ("met-integral-float", "short", {"minute_estimated_time": 60.0}, 100, False, "default", []),
    # ---- rule 11: lifetime cap (0 disables) -------------------------------------------
    (
        "met-over-cap",
        "long",
        {"minute_estimated_time": 1441},
        100,
        False,
        "default",
        [
            f"minuteEstimatedTime too large (1441 minutes = 1.0 days). Maximum: 1440 minutes (1 days) {LIFETIME_TAIL}"
        ],
    ),
    (
        "met-week",
        "short",
        {"minute_estimated_time": 10080},
        100,
        False,
        "default",
        [
            f"minuteEstimatedTime too large (10080 minutes = 7.0 days). Maximum: 1440 minutes (1 days) {LIFETIME_TAIL}"
        ],
    ),
    ("met-at-cap", "long", {"minute_estimated_time": 1440}, 100, False, "default", []),
    ("met-cap-disabled", "short", {"minute_estimated_time": 10**6}, 100, False, "off", []),
    (
        "met-infinite",
        "long",
        {"minute_estimated_time": math.inf},
        100,
        False,
        "default",
        [
            "minuteEstimatedTime must be an integer (whole number), got Infinity",
            f"minuteEstimatedTime too large (Infinity minutes = Infinity days). Maximum: 1440 minutes (1 days) {LIFETIME_TAIL}",
        ],
    ),
    # ---- rule 12: timestamps ----------------------------------------------------------
    (
        "scheduled-at-zero",
        "long",
        {"scheduled_at": 0},
        100,
        False,
        "default",
        ["scheduledAt must be positive, got 0"],
    ),
    (
        "pending-at-negative",
        "short",
        {"pending_at": -1},
        100,
        False,
        "default",
        ["pendingAt must be positive, got -1"],
    ),
    (
        "pending-at-missing",
        "long",
        {"pending_at": MISSING},
        100,
        False,
        "default",
        ["pendingAt must be a finite number, got undefined (undefined)"],
    ),
    # ---- valid signals ---------------------------------------------------------------
    ("long-immediate-valid", "long", {}, 100, False, "default", []),
    ("short-immediate-valid", "short", {}, 100, False, "default", []),
    ("long-scheduled-valid", "long", {"is_scheduled": True}, 103, True, "default", []),
    ("short-scheduled-valid", "short", {"is_scheduled": True}, 97, True, "default", []),
    (
        "numpy-values-valid",
        "long",
        {
            "price_open": np.float64(42000.5),
            "price_take_profit": np.float64(43000),
            "price_stop_loss": np.int64(41000),
        },
        np.float64(42000),
        False,
        "default",
        [],
    ),
]


@pytest.mark.parametrize(
    ("side", "overrides", "current_price", "is_scheduled", "config_name", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in SCENARIOS],
)
def test_rules(
    side: str,
    overrides: dict[str, Any],
    current_price: Any,
    is_scheduled: bool,
    config_name: str,
    expected: list[str],
) -> None:
    row = make_row(side, overrides)
    message = failure(row, current_price, is_scheduled, CONFIGS[config_name])
    if not expected:
        assert message is None
        return
    position = overrides.get("position", side)
    header = f"Invalid signal for {'undefined' if position is MISSING else position} position:"
    assert message == "\n".join([header, *expected])


def test_errors_accumulate_in_rule_order(config: EngineConfig) -> None:
    row = make_row(
        "long",
        {
            "id": "",
            "price_take_profit": 90,
            "price_stop_loss": 105,
            "minute_estimated_time": 1.5,
            "pending_at": 0,
        },
    )
    assert failure(row, math.nan, False, config) == "\n".join(
        [
            "Invalid signal for long position:",
            "id is required and must be a non-empty string",
            "currentPrice must be a finite number, got NaN (number)",
            "Long: priceTakeProfit (90) must be > priceOpen (100)",
            "Long: priceStopLoss (105) must be < priceOpen (100)",
            "Long: TakeProfit too close to priceOpen (-10.000%). Minimum distance: 0.5% to cover trading fees. "
            "Current: TP=90, Open=100",
            "Long: StopLoss too close to priceOpen (-5.000%). Minimum distance: 0.5% to avoid instant stop out on "
            "market volatility. Current: SL=105, Open=100",
            "minuteEstimatedTime must be an integer (whole number), got 1.5",
            "pendingAt must be positive, got 0",
        ]
    )


def test_short_errors_accumulate_with_negative_open(config: EngineConfig) -> None:
    row = make_row("short", {"price_open": -100, "is_scheduled": True})
    assert failure(row, 100, True, config) == "\n".join(
        [
            "Invalid signal for short position:",
            "priceOpen must be positive, got -100",
            "Short: priceTakeProfit (90) must be < priceOpen (-100)",
            "Short scheduled: priceOpen (-100) <= priceTakeProfit (90). "
            "Signal would close immediately on activation. This is logically impossible for SHORT position.",
            "Short: StopLoss too close to priceOpen (-205.000%). Minimum distance: 0.5% to avoid instant stop out "
            "on market volatility. Current: SL=105, Open=-100",
        ]
    )


def test_missing_position_skips_side_rules_but_reports_everything_else(config: EngineConfig) -> None:
    row = make_row("long", {"position": MISSING, "price_take_profit": 1, "symbol": ""})
    assert failure(row, 100, False, config) == "\n".join(
        [
            "Invalid signal for undefined position:",
            "symbol is required and must be a non-empty string",
            'position is required and must be "long" or "short"',
            'position must be "long" or "short", got "undefined"',
        ]
    )


def test_error_type_and_header() -> None:
    with pytest.raises(SignalValidationError) as info:
        validate_signal(make_row("short", {"price_stop_loss": 99}), 98, False, CONFIGS["off"])
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("Invalid signal for short position:\n")


@pytest.mark.parametrize("side", ["long", "short"])
def test_valid_signal_returns_none(side: str, config: EngineConfig) -> None:
    assert validate_signal(make_row(side, {}), 100, False, config) is None


def test_uses_the_config_it_is_given_not_the_global_one() -> None:
    strict = EngineConfig(max_signal_lifetime_minutes=100)
    assert get_config().max_signal_lifetime_minutes != 100
    message = failure(make_row("long", {"minute_estimated_time": 101}), 100, False, strict)
    assert message is not None
    assert "minuteEstimatedTime too large (101 minutes = 0.1 days). Maximum: 100 minutes (0 days)" in message


def test_row_is_not_modified(config: EngineConfig) -> None:
    row = make_row("long", {"price_take_profit": 99})
    snapshot = dict(row)
    failure(row, 100, False, config)
    assert row == snapshot
