"""A floor on the reward/risk ratio: distance to take-profit over distance to stop-loss."""

from __future__ import annotations

from farm.engine.risk import RiskPayload, RiskRejection
from farm.risk_rules._common import REL_TOL, Rule, entry_price, fmt, positive_arg, rule, signal_number


def min_reward_risk(ratio: float) -> Rule:
    """Reject a signal whose `|TP − entry| / |entry − SL|` is below `ratio`."""
    floor = positive_arg(ratio, "min_reward_risk")

    def validate(payload: RiskPayload) -> None:
        entry = entry_price(payload)
        take_profit = signal_number(payload, "price_take_profit")
        stop_loss = signal_number(payload, "price_stop_loss")
        if entry is None or take_profit is None or stop_loss is None or stop_loss == entry:
            return  # malformed: signal validation rejects it with the real reason
        reward_risk = abs(take_profit - entry) / abs(entry - stop_loss)
        if reward_risk < floor * (1 - REL_TOL):
            raise RiskRejection(f"reward/risk {reward_risk:.4g} below {fmt(floor)}")

    return rule(validate, f"reward/risk at least {fmt(floor)}")
