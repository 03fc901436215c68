"""Tests of statistics (farm.stats) and markdown reports (farm.reports).

Record factories live here so both test modules build trades the same way.
"""

from __future__ import annotations

from farm.models import (
    ActiveResult,
    CancelledResult,
    ClosedResult,
    IdleResult,
    OpenedResult,
    PartialEvent,
    PerformanceEvent,
    PnL,
    ScheduledResult,
    SignalRow,
)

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00.000Z
MIN = 60_000
COMMON = {"strategy_name": "strat", "exchange_name": "ex", "symbol": "BTCUSDT"}


def signal(
    sid: str = "s1",
    *,
    position: str = "long",
    pending_at: int = T0,
    scheduled_at: int | None = None,
    price_open: float = 42000.0,
    tp: float = 43000.0,
    sl: float = 41000.0,
    note: str = "",
) -> SignalRow:
    return SignalRow(
        id=sid,
        position=position,
        price_open=price_open,
        price_take_profit=tp,
        price_stop_loss=sl,
        minute_estimated_time=60,
        note=note,
        scheduled_at=pending_at if scheduled_at is None else scheduled_at,
        pending_at=pending_at,
        **COMMON,
    )


def closed(
    sid: str,
    pnl: float,
    *,
    pending_at: int = T0,
    minutes: float = 60,
    close_price: float = 43000.0,
    reason: str = "take_profit",
    **signal_kw: object,
) -> ClosedResult:
    s = signal(sid, pending_at=pending_at, **signal_kw)  # type: ignore[arg-type]
    return ClosedResult(
        signal=s,
        current_price=close_price,
        close_reason=reason,
        close_timestamp=pending_at + round(minutes * MIN),
        pnl=PnL(pnl_percentage=pnl, price_open=s.price_open, price_close=close_price),
        **COMMON,
    )


def idle(price: float = 42000.0) -> IdleResult:
    return IdleResult(current_price=price, **COMMON)


def opened(sid: str = "s1", **kw: object) -> OpenedResult:
    s = signal(sid, **kw)  # type: ignore[arg-type]
    return OpenedResult(signal=s, current_price=s.price_open, **COMMON)


def active(sid: str = "s1", price: float = 42500.0, tp: float = 50.0, sl: float = 0.0) -> ActiveResult:
    return ActiveResult(signal=signal(sid), current_price=price, percent_tp=tp, percent_sl=sl, **COMMON)


def scheduled(sid: str, at: int, price: float = 42100.0) -> ScheduledResult:
    return ScheduledResult(signal=signal(sid, pending_at=at, scheduled_at=at), current_price=price, **COMMON)


def cancelled(sid: str, scheduled_at: int, close_at: int, price: float = 40900.0) -> CancelledResult:
    s = signal(sid, pending_at=scheduled_at, scheduled_at=scheduled_at)
    return CancelledResult(signal=s, current_price=price, close_timestamp=close_at, **COMMON)


def partial(level: int, *, ts: int = T0, price: float = 42100.0, backtest: bool = True) -> PartialEvent:
    return PartialEvent(
        data=signal("s1"), current_price=price, level=level, backtest=backtest, timestamp=ts, **COMMON
    )


def perf(metric: str, duration: float, ts: int, prev: int | None = None) -> PerformanceEvent:
    return PerformanceEvent(
        timestamp=ts, previous_timestamp=prev, metric_type=metric, duration=duration, backtest=True, **COMMON
    )
