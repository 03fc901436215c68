"""A floor on how far the take-profit lies from the entry: trades that cannot beat fees and
slippage are not worth a slot in the portfolio."""

from __future__ import annotations

from farm.engine.risk import RiskPayload, RiskRejection
from farm.risk_rules._common import REL_TOL, Rule, entry_price, fmt, positive_arg, rule, signal_number


def min_take_profit_distance(percent: float) -> Rule:
    """Reject a signal whose take-profit is less than `percent` % of the entry price away."""
    floor = positive_arg(percent, "min_take_profit_distance", allow_zero=True)

    def validate(payload: RiskPayload) -> None:
        entry = entry_price(payload)
        take_profit = signal_number(payload, "price_take_profit")
        if entry is None or take_profit is None or entry <= 0:
            return  # malformed: signal validation rejects it with the real reason
        distance = abs(take_profit - entry) / entry * 100
        if distance < floor * (1 - REL_TOL):
            raise RiskRejection(f"take profit {distance:.4g}% from entry, below {fmt(floor)}%")

    return rule(validate, f"take profit at least {fmt(floor)}% from entry")
