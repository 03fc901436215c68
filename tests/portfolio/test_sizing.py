"""Position sizing (SPEC §9): the reference numbers, exactly, the caps in order, the errors."""

from __future__ import annotations

from typing import Any

import pytest

import farm
from farm.engine.sizing import SizingParams, apply_caps
from farm.errors import SizingError

PositionSize = farm.PositionSize


def fixed(pct: float, **caps: Any) -> None:
    farm.add_sizing("fixed", "fixed-percentage", risk_percentage=pct, **caps)


# ---- the reference numbers ----------------------------------------------------------------------


def test_fixed_percentage():
    """2 % of 10,000 = 200 at risk over a 1,000 stop distance → 0.2."""
    fixed(2)
    assert PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_000, sizing_name="fixed") == 0.2


def test_fixed_percentage_short_side_stop():
    """The stop distance is absolute: a short's stop above the entry sizes the same."""
    fixed(2)
    assert PositionSize.fixed_percentage("BTC", 10_000, 50_000, 51_000, sizing_name="fixed") == 0.2


def test_kelly_criterion():
    """k = (0.55·1.5 − 0.45)/1.5 = 0.25; quarter Kelly 0.0625 of 10,000 at 50,000 → 0.0125."""
    farm.add_sizing("kelly", "kelly-criterion", kelly_multiplier=0.25)
    assert PositionSize.kelly_criterion("BTC", 10_000, 50_000, 0.55, 1.5, sizing_name="kelly") == 0.012500000000000002


def test_kelly_multiplier_defaults_to_a_quarter():
    farm.add_sizing("kelly", "kelly-criterion")
    assert PositionSize.kelly_criterion("BTC", 10_000, 50_000, 0.55, 1.5, sizing_name="kelly") == 0.012500000000000002


def test_kelly_multiplier_zero_buys_nothing():
    farm.add_sizing("kelly", "kelly-criterion", kelly_multiplier=0)
    assert PositionSize.kelly_criterion("BTC", 10_000, 50_000, 0.55, 1.5, sizing_name="kelly") == 0


def test_kelly_with_a_negative_edge_buys_nothing():
    """k = (0.3·1 − 0.7)/1 = −0.4 → 0."""
    farm.add_sizing("kelly", "kelly-criterion")
    assert PositionSize.kelly_criterion("BTC", 10_000, 50_000, 0.3, 1.0, sizing_name="kelly") == 0


def test_atr_based():
    """2 % of 10,000 = 200 over a stop of 2 × 500 = 1,000 → 0.2."""
    farm.add_sizing("atr", "atr-based", risk_percentage=2, atr_multiplier=2)
    assert PositionSize.atr_based("BTC", 10_000, 50_000, 500, sizing_name="atr") == 0.2


def test_atr_multiplier_defaults_to_two():
    farm.add_sizing("atr", "atr-based", risk_percentage=2)
    assert PositionSize.atr_based("BTC", 10_000, 50_000, 500, sizing_name="atr") == 0.2


def test_fixed_capped_by_max_position_percentage():
    """50 % of 10,000 over 1,000 = 5, capped at 10 % of 10,000 / 50,000 = 0.02."""
    fixed(50, max_position_percentage=10)
    assert PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_000, sizing_name="fixed") == 0.02


def test_min_position_size_not_binding():
    """0.01 % of 10,000 = 1 over 100 → 0.01, above the 0.001 floor."""
    fixed(0.01, min_position_size=0.001)
    assert PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_900, sizing_name="fixed") == 0.01


def test_min_position_size_binding():
    """Same trade with a 0.05 floor → 0.05."""
    fixed(0.01, min_position_size=0.05)
    assert PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_900, sizing_name="fixed") == 0.05


def test_max_position_size():
    """0.2 capped at 0.01."""
    fixed(2, max_position_size=0.01)
    assert PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_000, sizing_name="fixed") == 0.01


# ---- cap order: balance share, then floor, then absolute cap -----------------------------------


def test_the_floor_overrides_the_balance_share_cap():
    """5 → 0.02 (10 % share) → 0.05 (floor wins, it comes after the share cap)."""
    fixed(50, max_position_percentage=10, min_position_size=0.05)
    assert PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_000, sizing_name="fixed") == 0.05


def test_the_absolute_cap_overrides_the_floor():
    """0.2 → floor 0.5 → absolute cap 0.3."""
    fixed(2, min_position_size=0.5, max_position_size=0.3)
    assert PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_000, sizing_name="fixed") == 0.3


@pytest.mark.parametrize(
    ("quantity", "caps", "expected"),
    [
        (5.0, {"max_position_percentage": 10}, 0.02),
        (5.0, {"max_position_percentage": 10, "min_position_size": 0.05}, 0.05),
        (5.0, {"max_position_percentage": 10, "min_position_size": 0.05, "max_position_size": 0.03}, 0.03),
        (0.001, {"min_position_size": 0.01, "max_position_size": 1}, 0.01),
        (0.2, {}, 0.2),
    ],
)
def test_apply_caps(quantity, caps, expected):
    assert apply_caps(quantity, 10_000, 50_000, **caps) == expected


# ---- callback -----------------------------------------------------------------------------------


def test_on_calculate_receives_the_final_quantity_and_the_call():
    seen: list[tuple[float, SizingParams]] = []
    fixed(50, max_position_percentage=10, callbacks={"on_calculate": lambda q, p: seen.append((q, p))})
    PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_000, sizing_name="fixed")
    ((quantity, params),) = seen
    assert quantity == 0.02
    assert (params.method, params.symbol, params.balance, params.price_open, params.price_stop_loss) == (
        "fixed-percentage", "BTC", 10_000, 50_000, 49_000)


def test_a_failing_on_calculate_is_reported_and_the_quantity_stands():
    errors: list[BaseException] = []
    farm.listen_error(errors.append)

    def boom(quantity: float, params: Any) -> None:
        raise RuntimeError("logger down")

    fixed(2, callbacks={"on_calculate": boom})
    assert PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_000, sizing_name="fixed") == 0.2
    assert [str(e) for e in errors] == ["logger down"]


# ---- errors -------------------------------------------------------------------------------------


def test_unknown_sizing():
    with pytest.raises(SizingError, match="sizing nope not found"):
        PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_000, sizing_name="nope")
    with pytest.raises(farm.NotFoundError, match="not found"):
        PositionSize.atr_based("BTC", 10_000, 50_000, 500, sizing_name="nope")


@pytest.mark.parametrize(
    ("call", "configured", "called"),
    [
        (lambda: PositionSize.kelly_criterion("BTC", 10_000, 50_000, 0.55, 1.5, sizing_name="fixed"),
         "fixed-percentage", "kelly-criterion"),
        (lambda: PositionSize.atr_based("BTC", 10_000, 50_000, 500, sizing_name="fixed"),
         "fixed-percentage", "atr-based"),
        (lambda: PositionSize.fixed_percentage("BTC", 10_000, 50_000, 49_000, sizing_name="kelly"),
         "kelly-criterion", "fixed-percentage"),
    ],
)
def test_method_mismatch(call, configured, called):
    fixed(2)
    farm.add_sizing("kelly", "kelly-criterion")
    with pytest.raises(SizingError, match=f"method mismatch: configured {configured}, called {called}"):
        call()


def test_zero_stop_distance():
    fixed(2)
    with pytest.raises(SizingError, match="Stop-loss distance cannot be zero"):
        PositionSize.fixed_percentage("BTC", 10_000, 50_000, 50_000, sizing_name="fixed")


@pytest.mark.parametrize("win_rate", [0, 1, -0.1, 1.5])
def test_kelly_win_rate_strictly_between_zero_and_one(win_rate):
    farm.add_sizing("kelly", "kelly-criterion")
    with pytest.raises(SizingError, match="win_rate must be between 0 and 1"):
        PositionSize.kelly_criterion("BTC", 10_000, 50_000, win_rate, 1.5, sizing_name="kelly")


@pytest.mark.parametrize("ratio", [0, -1])
def test_kelly_win_loss_ratio_positive(ratio):
    farm.add_sizing("kelly", "kelly-criterion")
    with pytest.raises(SizingError, match="win_loss_ratio must be positive"):
        PositionSize.kelly_criterion("BTC", 10_000, 50_000, 0.55, ratio, sizing_name="kelly")


@pytest.mark.parametrize("atr", [0, -500])
def test_atr_positive(atr):
    farm.add_sizing("atr", "atr-based", risk_percentage=2)
    with pytest.raises(SizingError, match="ATR must be positive"):
        PositionSize.atr_based("BTC", 10_000, 50_000, atr, sizing_name="atr")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10_000, 0, 49_000), "price_open must be positive"),
        ((float("nan"), 50_000, 49_000), "balance must be a finite number"),
        ((10_000, 50_000, float("inf")), "price_stop_loss must be a finite number"),
        ((10_000, "lots", 49_000), "price_open"),
    ],
)
def test_bad_numbers(args, message):
    fixed(2)
    with pytest.raises(SizingError, match=message):
        PositionSize.fixed_percentage("BTC", *args, sizing_name="fixed")
