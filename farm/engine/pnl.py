"""Profit and loss of one closed signal with fees and slippage (SPEC §6)."""

from __future__ import annotations

from farm.models import PnL


def pnl_percentage(position: str, price_open: float, price_close: float, slippage_pct: float, fee_pct: float) -> float:
    s = slippage_pct / 100
    if position == "long":
        open_ = price_open * (1 + s)
        close = price_close * (1 - s)
        return (close - open_) / open_ * 100 - 2 * fee_pct
    open_ = price_open * (1 - s)
    close = price_close * (1 + s)
    return (open_ - close) / open_ * 100 - 2 * fee_pct


def compute_pnl(position: str, price_open: float, price_close: float, slippage_pct: float, fee_pct: float) -> PnL:
    return PnL(
        pnl_percentage=pnl_percentage(position, price_open, price_close, slippage_pct, fee_pct),
        price_open=price_open,
        price_close=price_close,
    )
