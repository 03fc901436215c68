"""A cap on open positions in one symbol, however many strategies trade it."""

from __future__ import annotations

from farm.engine.risk import RiskPayload, RiskRejection
from farm.risk_rules._common import Rule, count_arg, plural, rule


def max_positions_per_symbol(n: int) -> Rule:
    """Reject a new signal on a symbol where `n` positions of the profile are open."""
    limit = count_arg(n, "max_positions_per_symbol")

    def validate(payload: RiskPayload) -> None:
        count = sum(1 for p in payload.active_positions if p.symbol == payload.symbol)
        if count >= limit:
            raise RiskRejection(f"{plural(count, 'active position')} on {payload.symbol}, max {limit}")

    return rule(validate, f"max {plural(limit, 'position')} per symbol")
