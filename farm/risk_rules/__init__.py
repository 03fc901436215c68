"""Ready-made risk validations: each factory returns `{"validate": fn, "note": str}` for
`farm.add_risk(name, [...])`, the note naming the rule in the Risk report.

    farm.add_risk("portfolio", [farm.max_concurrent_positions(3), farm.min_reward_risk(2)])

A rule that cannot read a number it needs from the signal (missing or not a number) allows
it: that signal is malformed, and signal validation (SPEC §5.5) rejects it right after the
risk check with a message about the real problem, instead of a misleading risk rejection.
"""

from farm.risk_rules.concurrent import max_concurrent_positions
from farm.risk_rules.per_symbol import max_positions_per_symbol
from farm.risk_rules.reward_risk import min_reward_risk
from farm.risk_rules.take_profit_distance import min_take_profit_distance

__all__ = ["max_concurrent_positions", "max_positions_per_symbol", "min_reward_risk", "min_take_profit_distance"]
