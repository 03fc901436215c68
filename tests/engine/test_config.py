"""Global configuration (SPEC §1): defaults, the §1.2 validator, restore-on-failure, `unsafe`."""

from __future__ import annotations

import math
import re

import pytest

import farm

DEFAULTS = {
    "schedule_await_minutes": 120,
    "avg_price_candles_count": 5,
    "percent_slippage": 0.1,
    "percent_fee": 0.1,
    "min_takeprofit_distance_percent": 0.5,
    "min_stoploss_distance_percent": 0.5,
    "max_stoploss_distance_percent": 20,
    "max_signal_lifetime_minutes": 1440,
    "max_signal_generation_seconds": 180,
    "get_candles_retry_count": 3,
    "get_candles_retry_delay_ms": 5000,
    "get_candles_price_anomaly_threshold_factor": 1000,
    "get_candles_min_candles_for_median": 5,
    "report_show_signal_note": False,
}

HEADER = "GLOBAL_CONFIG validation failed:"


def numbered(message: str) -> list[str]:
    """The numbered problem lines of a validation error, without their numbers."""
    lines = message.split("\n")
    assert lines[0] == HEADER
    body = lines[1:]
    for i, line in enumerate(body, 1):
        assert line.startswith(f"  {i}. "), line
    return [line.split(". ", 1)[1] for line in body]


def config_error(**fields) -> str:
    with pytest.raises(farm.ConfigError) as info:
        farm.set_config(**fields)
    return str(info.value)


# ---- §1.1 defaults -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), sorted(DEFAULTS.items()))
def test_default_value(name, value):
    default = farm.get_default_config()
    assert getattr(default, name) == value
    # the autouse fixture leaves the defaults in force
    assert getattr(farm.get_config(), name) == value


def test_camel_case_names_are_not_fields():
    with pytest.raises(farm.ConfigError, match="unknown config field 'CC_PERCENT_FEE'"):
        farm.set_config(CC_PERCENT_FEE=0.2)


def test_get_config_returns_current_and_default_config_stays():
    farm.set_config(schedule_await_minutes=60, percent_fee=0.05)
    cfg = farm.get_config()
    assert cfg.schedule_await_minutes == 60
    assert cfg.percent_fee == 0.05
    # untouched fields keep their previous values (shallow merge)
    assert cfg.percent_slippage == 0.1
    assert cfg.get_candles_retry_count == 3
    assert farm.get_default_config().schedule_await_minutes == 120
    assert farm.get_default_config().percent_fee == 0.1


def test_set_config_merges_successive_calls():
    farm.set_config(schedule_await_minutes=60)
    farm.set_config(percent_fee=0.05)
    cfg = farm.get_config()
    assert (cfg.schedule_await_minutes, cfg.percent_fee) == (60, 0.05)


def test_set_config_returns_the_new_config():
    returned = farm.set_config(avg_price_candles_count=7)
    assert returned.avg_price_candles_count == 7
    assert farm.get_config().avg_price_candles_count == 7


def test_config_objects_cannot_be_mutated_in_place():
    cfg = farm.get_config()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        cfg.percent_fee = 0.5  # type: ignore[misc]
    with pytest.raises(Exception):  # noqa: B017
        farm.get_default_config().percent_fee = 0.5  # type: ignore[misc]
    assert farm.get_config().percent_fee == 0.1
    assert farm.get_default_config().percent_fee == 0.1


# ---- §1.2 rules --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-0.01, -1, math.nan, math.inf])
@pytest.mark.parametrize("name", ["percent_slippage", "percent_fee"])
def test_slippage_and_fee_must_be_non_negative(name, value):
    problems = numbered(config_error(**{name: value}))
    assert any(p.startswith(f"{name} must be a non-negative number") for p in problems), problems


@pytest.mark.parametrize("name", ["percent_slippage", "percent_fee"])
def test_zero_slippage_and_fee_are_valid(name):
    farm.set_config(**{name: 0})
    assert getattr(farm.get_config(), name) == 0


@pytest.mark.parametrize("value", [0, -0.5, math.nan, math.inf])
def test_min_takeprofit_must_be_positive(value):
    problems = numbered(config_error(min_takeprofit_distance_percent=value))
    assert problems == [f"min_takeprofit_distance_percent must be a positive number, got {float(value)}"]


def test_min_takeprofit_equal_to_trading_costs_is_accepted():
    # 2 x 0.1 slippage + 2 x 0.1 fee = 0.4
    farm.set_config(min_takeprofit_distance_percent=0.4)
    assert farm.get_config().min_takeprofit_distance_percent == 0.4


def test_min_takeprofit_below_trading_costs_is_rejected():
    message = config_error(min_takeprofit_distance_percent=0.3)
    problems = numbered(message)
    assert len(problems) == 1
    assert "min_takeprofit_distance_percent" in problems[0]
    assert "too low to cover trading costs" in problems[0]
    assert farm.get_config().min_takeprofit_distance_percent == 0.5


def test_trading_cost_rule_uses_the_new_fee_and_slippage():
    # 2 x 0.2 + 2 x 0.1 = 0.6 > default 0.5
    problems = numbered(config_error(percent_slippage=0.2))
    assert len(problems) == 1
    assert "too low to cover trading costs" in problems[0]
    farm.set_config(percent_slippage=0.2, min_takeprofit_distance_percent=0.7)
    assert farm.get_config().percent_slippage == 0.2


@pytest.mark.parametrize("name", ["min_stoploss_distance_percent", "max_stoploss_distance_percent"])
@pytest.mark.parametrize("value", [0, -3])
def test_stoploss_distances_must_be_positive(name, value):
    problems = numbered(config_error(**{name: value}))
    assert f"{name} must be a positive number, got {float(value)}" in problems


def test_min_stoploss_must_be_less_than_max():
    problems = numbered(config_error(min_stoploss_distance_percent=20))
    assert len(problems) == 1
    assert "min_stoploss_distance_percent" in problems[0]
    assert "must be less than" in problems[0]
    problems = numbered(config_error(max_stoploss_distance_percent=0.4))
    assert len(problems) == 1
    assert "must be less than" in problems[0]
    farm.set_config(min_stoploss_distance_percent=19.99)
    assert farm.get_config().min_stoploss_distance_percent == 19.99


def test_less_than_rule_is_skipped_when_a_distance_is_not_finite():
    problems = numbered(config_error(min_stoploss_distance_percent=math.inf))
    assert problems == ["min_stoploss_distance_percent must be a positive number, got inf"]


POSITIVE_INTEGERS = [
    "schedule_await_minutes",
    "max_signal_lifetime_minutes",
    "max_signal_generation_seconds",
    "avg_price_candles_count",
    "get_candles_price_anomaly_threshold_factor",
    "get_candles_min_candles_for_median",
]


@pytest.mark.parametrize("value", [0, -1])
@pytest.mark.parametrize("name", POSITIVE_INTEGERS)
def test_positive_integer_fields(name, value):
    problems = numbered(config_error(**{name: value}))
    assert len(problems) == 1
    assert problems[0].startswith(f"{name} must be a positive integer")


@pytest.mark.parametrize(
    "name", ["max_signal_generation_seconds", "get_candles_price_anomaly_threshold_factor"]
)
def test_positive_integer_rejects_fractions(name):
    problems = numbered(config_error(**{name: 2.5}))
    assert problems == [f"{name} must be a positive integer, got 2.5"]


@pytest.mark.parametrize("name", POSITIVE_INTEGERS)
def test_positive_integer_accepts_one(name):
    farm.set_config(**{name: 1})
    assert getattr(farm.get_config(), name) == 1


@pytest.mark.parametrize("name", ["get_candles_retry_count", "get_candles_retry_delay_ms"])
def test_non_negative_integer_fields(name):
    problems = numbered(config_error(**{name: -1}))
    assert problems == [f"{name} must be a non-negative integer, got -1"]
    farm.set_config(**{name: 0})
    assert getattr(farm.get_config(), name) == 0


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("get_candles_retry_delay_ms", "must be a non-negative integer"),
        ("get_candles_retry_count", "must be a non-negative integer"),
        ("schedule_await_minutes", "must be a positive integer"),
    ],
)
def test_fractional_value_of_integer_field_uses_spec_message(name, fragment):
    message = config_error(**{name: 2.5})
    assert numbered(message) == [f"{name} {fragment}, got 2.5"]
    assert getattr(farm.get_config(), name) == farm.get_default_config().model_dump()[name]


def test_whole_number_floats_are_accepted_for_integer_fields():
    farm.set_config(schedule_await_minutes=60.0, get_candles_retry_count=2.0)
    cfg = farm.get_config()
    assert cfg.schedule_await_minutes == 60
    assert cfg.get_candles_retry_count == 2
    assert isinstance(cfg.schedule_await_minutes, int)
    assert isinstance(cfg.get_candles_retry_count, int)


def test_unsafe_skips_the_integer_rules():
    farm.set_config(unsafe=True, get_candles_retry_count=-1, schedule_await_minutes=0)
    assert farm.get_config().get_candles_retry_count == -1
    assert farm.get_config().schedule_await_minutes == 0


# ---- one error for many problems, restore on failure --------------------------------------


def test_all_problems_are_collected_in_one_numbered_error():
    message = config_error(
        percent_slippage=-1, percent_fee=-2, schedule_await_minutes=0, get_candles_retry_count=-1
    )
    assert message.startswith(HEADER + "\n")
    problems = numbered(message)
    assert len(problems) == 4
    assert problems[0].startswith("percent_slippage must be a non-negative number")
    assert problems[1].startswith("percent_fee must be a non-negative number")
    assert any(p.startswith("schedule_await_minutes must be a positive integer") for p in problems)
    assert any(p.startswith("get_candles_retry_count must be a non-negative integer") for p in problems)
    assert re.search(r"^  4\. ", message, re.MULTILINE)
    assert not re.search(r"^  5\. ", message, re.MULTILINE)


def test_failed_set_config_restores_previous_values():
    farm.set_config(percent_fee=0.05, schedule_await_minutes=30)
    before = farm.get_config()
    config_error(percent_fee=0.07, schedule_await_minutes=45, percent_slippage=-1)
    after = farm.get_config()
    assert after.percent_fee == 0.05
    assert after.schedule_await_minutes == 30
    assert after.percent_slippage == 0.1
    assert after.model_dump() == before.model_dump()


def test_failed_type_check_restores_previous_values():
    farm.set_config(percent_fee=0.05)
    message = config_error(percent_fee="lots", schedule_await_minutes=30)
    assert message.startswith(HEADER)
    assert "percent_fee" in message
    assert farm.get_config().percent_fee == 0.05
    assert farm.get_config().schedule_await_minutes == 120


def test_unknown_field_is_rejected_and_named():
    message = config_error(no_such_option=1, percent_fee=0.05)
    assert message.startswith(HEADER)
    assert "no_such_option" in message
    assert farm.get_config().percent_fee == 0.1


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError, match="GLOBAL_CONFIG validation failed:"):
        farm.set_config(percent_fee=-1)


# ---- unsafe ------------------------------------------------------------------------------


def test_unsafe_allows_zero_distances():
    farm.set_config(
        unsafe=True,
        min_takeprofit_distance_percent=0,
        min_stoploss_distance_percent=0,
        max_stoploss_distance_percent=0,
        max_signal_lifetime_minutes=0,
    )
    cfg = farm.get_config()
    assert cfg.min_takeprofit_distance_percent == 0
    assert cfg.min_stoploss_distance_percent == 0
    assert cfg.max_stoploss_distance_percent == 0
    assert cfg.max_signal_lifetime_minutes == 0


def test_the_same_zero_distance_is_rejected_without_unsafe():
    problems = numbered(config_error(min_takeprofit_distance_percent=0, min_stoploss_distance_percent=0))
    assert problems == [
        "min_takeprofit_distance_percent must be a positive number, got 0.0",
        "min_stoploss_distance_percent must be a positive number, got 0.0",
    ]


def test_unsafe_still_rejects_unknown_fields_and_wrong_types():
    with pytest.raises(farm.ConfigError, match="unknown config field 'bogus'"):
        farm.set_config(unsafe=True, bogus=1)
    with pytest.raises(farm.ConfigError, match="percent_fee"):
        farm.set_config(unsafe=True, percent_fee="abc")
    assert farm.get_config().percent_fee == 0.1


def test_safe_call_after_unsafe_validates_the_merged_config():
    farm.set_config(unsafe=True, min_stoploss_distance_percent=0)
    # a safe call validates the whole merged config, including the unsafe value
    problems = numbered(config_error(percent_fee=0.05))
    assert problems == ["min_stoploss_distance_percent must be a positive number, got 0.0"]
    assert farm.get_config().percent_fee == 0.1
    assert farm.get_config().min_stoploss_distance_percent == 0


def test_every_kind_of_problem_is_reported_at_once():
    """Unknown names, wrong types and broken rules of several fields come in one error (the
    rules still run on the fields whose type was right), and nothing changes."""
    before = farm.get_config()
    with pytest.raises(farm.ConfigError) as info:
        farm.set_config(percent_fee=-1, avg_price_candles_count="x", bogus=3)
    lines = str(info.value).splitlines()
    assert lines[0] == "GLOBAL_CONFIG validation failed:"
    assert lines[1:] == [
        "  1. unknown config field 'bogus'",
        "  2. avg_price_candles_count: Input should be a valid integer, unable to parse string as an integer (got 'x')",
        "  3. percent_fee must be a non-negative number, got -1.0",
    ]
    assert farm.get_config() == before
