"""A cap on open positions across every strategy and symbol sharing the risk profile."""

from __future__ import annotations

from farm.engine.risk import RiskPayload, RiskRejection
from farm.risk_rules._common import Rule, count_arg, plural, rule


def max_concurrent_positions(n: int) -> Rule:
    """Reject a new signal while `n` positions are open in the profile's ledger."""
    limit = count_arg(n, "max_concurrent_positions")

    def validate(payload: RiskPayload) -> None:
        if payload.active_position_count >= limit:
            raise RiskRejection(f"{plural(payload.active_position_count, 'active position')}, max {limit}")

    return rule(validate, f"max {plural(limit, 'concurrent position')}")
