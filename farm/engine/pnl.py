"""Profit and loss of one closed signal with fees and slippage (SPEC §6): the record around
the compiled rule `farm.engine.steps.pnl`, which the kernel calls as well."""

from __future__ import annotations

from farm.engine import steps
from farm.models import PnL


def pnl_percentage(position: str, price_open: float, price_close: float, slippage_pct: float, fee_pct: float) -> float:
    return steps.pnl(1 if position == "long" else -1, float(price_open), float(price_close), float(slippage_pct),
                     float(fee_pct))


def compute_pnl(position: str, price_open: float, price_close: float, slippage_pct: float, fee_pct: float) -> PnL:
    return PnL(
        pnl_percentage=pnl_percentage(position, price_open, price_close, slippage_pct, fee_pct),
        price_open=price_open,
        price_close=price_close,
    )
