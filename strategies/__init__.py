"""Example strategies users copy: one per module, each registering itself with `register()`.

Import a module to register its strategy (workers do this through FARM_IMPORTS):

    import strategies.sma_cross          # registers "sma_cross"
    farm.grid("sma_cross", fast=[5, 10], slow=[50, 100])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import farm
from farm.schemas import StrategySchema

EXAMPLES = ("strategies.sma_cross", "strategies.mean_reversion", "strategies.breakout_retest")


def register_once(name: str, interval: str, get_signal: Callable[..., Any], params: dict[str, Any],
                  note: str, signals: Callable[..., Any] | None = None) -> StrategySchema:
    """Register a strategy unless it already is (modules are imported once, registries can be
    cleared and refilled, e.g. between tests); `signals` is its vectorised form, if any."""
    for schema in farm.list_strategies():
        if schema.strategy_name == name:
            return schema
    return farm.add_strategy(name, interval, get_signal, params=params, note=note, signals=signals)


def register_all() -> list[str]:
    """Register every example (again, after `farm.clear_registry()`); returns their names."""
    names = []
    for module_name in EXAMPLES:
        module = importlib.import_module(module_name)
        names.append(module.register().strategy_name)
    return names
