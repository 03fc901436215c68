"""Report statistics (SPEC §11.1, §11.2, §11.3, §11.5, §11.7, §11.8) as pure functions of records.

Every function here takes records and returns a pydantic statistics model; nothing subscribes
to events or keeps global state, so the same stored task results give the same statistics on
any worker (D9). Rendering lives in `farm.reports`.

Conventions:

* Inputs are in the order things happened (oldest first); the lists stored in the statistics
  models are newest first, as the reference's reports show them. The live report is the one
  exception: its entries are built by `LiveEventLog`, whose coalescing rules are defined on
  the newest-first list, so `live_statistics` takes that list as it is.
* D8: statistics cover every record given; only renderers cap the number of table rows.
* Sums run over the newest-first list, left to right, exactly as the reference's
  `Array.reduce`, so results match it to the last bit (float addition is not associative).
* A statistic that is not a finite number becomes `None` ("unsafe", rendered "N/A").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from farm.engine.notes import normalize_note
from farm.models import (
    ActiveResult,
    CancelledResult,
    ClosedResult,
    IdleResult,
    Model,
    OpenedResult,
    PartialEvent,
    PerformanceEvent,
    RiskEvent,
    ScheduledResult,
    SignalRow,
)

AnyResult = IdleResult | ScheduledResult | OpenedResult | ActiveResult | ClosedResult | CancelledResult

MS_PER_DAY = 86_400_000
MS_PER_MINUTE = 60_000
MINUTES_PER_DAY = 1440
SQRT_365 = math.sqrt(365)

__all__ = [
    "BacktestStatistics",
    "LiveEvent",
    "LiveEventLog",
    "LiveStatistics",
    "MetricStats",
    "PartialEntry",
    "PartialStatistics",
    "PerformanceStatistics",
    "ScheduleEntry",
    "ScheduleStatistics",
    "backtest_statistics",
    "js_round",
    "live_statistics",
    "partial_entry",
    "partial_statistics",
    "percentile",
    "performance_statistics",
    "safe",
    "schedule_entry",
    "schedule_statistics",
]


# ---- helpers ---------------------------------------------------------------------------


def safe(x: object) -> float | None:
    """`None` for anything the reference calls unsafe: not a number, NaN or ±Infinity.

    Booleans count as not-a-number, as `typeof true !== "number"` in the reference.
    """
    if isinstance(x, bool | np.bool_) or not isinstance(x, int | float | np.integer | np.floating):
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def js_round(x: float) -> int:
    """JavaScript `Math.round`: halves go toward +Infinity (2.5 → 3, −2.5 → −2).

    Python's `round` is half-to-even, which would turn a 2.5-minute duration into 2 where the
    reference shows 3. `x − floor(x)` is exact for doubles, so the comparison is too.
    """
    f = math.floor(x)
    return int(f + 1 if x - f >= 0.5 else f)


def _js_sum(values: Iterable[float]) -> float:
    """Plain left-to-right addition, like `reduce((s, v) => s + v, 0)`.

    Not `sum()`: since Python 3.12 it compensates float rounding, which would make results
    differ from the reference in the last bits.
    """
    total: float = 0
    for v in values:
        total += v
    return total


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """`sorted[max(0, ceil(n·p/100) − 1)]` (nearest rank); 0 for an empty list."""
    n = len(sorted_values)
    if n == 0:
        return 0.0
    return sorted_values[max(0, math.ceil((n * p) / 100) - 1)]


class _ReturnMetrics(NamedTuple):
    """Per-trade metrics shared by the backtest and live statistics (§11.1)."""

    std_dev: float
    sharpe_ratio: float
    annualized_sharpe_ratio: float
    avg_win: float
    avg_loss: float
    certainty_ratio: float


def _return_metrics(returns: Sequence[float], avg_pnl: float) -> _ReturnMetrics:
    """Population std, Sharpe (0 when std is 0), √365 annualisation, certainty ratio.

    `returns` must be newest first; the arithmetic order is the reference's.
    """
    n = len(returns)
    variance = _js_sum((r - avg_pnl) * (r - avg_pnl) for r in returns) / n
    std_dev = math.sqrt(variance)
    sharpe = avg_pnl / std_dev if std_dev > 0 else 0.0
    wins = [r for r in returns if r > 0]
    losses = [r for r in returns if r < 0]
    avg_win = _js_sum(wins) / len(wins) if wins else 0.0
    avg_loss = _js_sum(losses) / len(losses) if losses else 0.0
    certainty = avg_win / abs(avg_loss) if avg_loss < 0 else 0.0
    return _ReturnMetrics(
        std_dev=std_dev,
        sharpe_ratio=sharpe,
        annualized_sharpe_ratio=sharpe * SQRT_365,
        avg_win=avg_win,
        avg_loss=avg_loss,
        certainty_ratio=certainty,
    )


def _expected_yearly_returns(avg_pnl: float, avg_duration_days: float) -> float:
    """Average PnL times the number of back-to-back trades of average length in a year."""
    trades_per_year = 365 / avg_duration_days if avg_duration_days > 0 else 0
    return avg_pnl * trades_per_year


# ---- §11.1 backtest --------------------------------------------------------------------


class BacktestStatistics(Model):
    """`Backtest.get_data`: metrics over every closed signal of a run (D8)."""

    signal_list: list[ClosedResult] = []
    """Closed results, newest first."""
    total_signals: int = 0
    win_count: int = 0
    loss_count: int = 0
    win_rate: float | None = None
    avg_pnl: float | None = None
    total_pnl: float | None = None
    std_dev: float | None = None
    sharpe_ratio: float | None = None
    annualized_sharpe_ratio: float | None = None
    certainty_ratio: float | None = None
    expected_yearly_returns: float | None = None
    # Extensions (not in the reference's model; its formulas compute them on the way):
    avg_win: float | None = None
    avg_loss: float | None = None
    avg_duration_days: float | None = None


def backtest_statistics(closed: Sequence[ClosedResult]) -> BacktestStatistics:
    """Statistics of §11.1 over `closed` (oldest first), without the reference's 250 cap."""
    if not closed:
        return BacktestStatistics()
    signals = list(reversed(closed))
    n = len(signals)
    returns = [s.pnl.pnl_percentage for s in signals]
    win_count = sum(1 for r in returns if r > 0)
    loss_count = sum(1 for r in returns if r < 0)
    avg_pnl = _js_sum(returns) / n
    total_pnl = _js_sum(returns)
    win_rate = (win_count / n) * 100
    avg_duration_ms = sum(s.close_timestamp - s.signal.pending_at for s in signals) / n
    avg_duration_days = avg_duration_ms / MS_PER_DAY
    m = _return_metrics(returns, avg_pnl)
    return BacktestStatistics(
        signal_list=signals,
        total_signals=n,
        win_count=win_count,
        loss_count=loss_count,
        win_rate=safe(win_rate),
        avg_pnl=safe(avg_pnl),
        total_pnl=safe(total_pnl),
        std_dev=safe(m.std_dev),
        sharpe_ratio=safe(m.sharpe_ratio),
        annualized_sharpe_ratio=safe(m.annualized_sharpe_ratio),
        certainty_ratio=safe(m.certainty_ratio),
        expected_yearly_returns=safe(_expected_yearly_returns(avg_pnl, avg_duration_days)),
        avg_win=safe(m.avg_win),
        avg_loss=safe(m.avg_loss),
        avg_duration_days=safe(avg_duration_days),
    )


# ---- §11.2 live ------------------------------------------------------------------------


class LiveEvent(Model):
    """One row of the live report; fields a given action does not have stay `None`."""

    timestamp: int
    action: Literal["idle", "opened", "active", "closed"]
    current_price: float
    symbol: str | None = None
    signal_id: str | None = None
    position: str | None = None
    note: str | None = None
    open_price: float | None = None
    take_profit: float | None = None
    stop_loss: float | None = None
    percent_tp: float | None = None
    percent_sl: float | None = None
    pnl: float | None = None
    close_reason: str | None = None
    duration: int | None = None
    """Minutes from `pending_at` to close, rounded as JavaScript does."""


def _signal_fields(s: SignalRow) -> dict[str, Any]:
    """What every live event row says about its signal."""
    return {
        "symbol": s.symbol, "signal_id": s.id, "position": s.position, "note": s.note,
        "open_price": s.price_open, "take_profit": s.price_take_profit, "stop_loss": s.price_stop_loss,
    }


class LiveEventLog:
    """The live report's event list (newest first) with the reference's coalescing rules.

    Idle ticks and repeated active ticks of one signal would otherwise fill the list with
    near-identical rows; the reference replaces an earlier row in place instead. The rules are
    reproduced as specified, including their oddity: the idle row that gets replaced is the
    *oldest* idle (highest index), so after a trade a new idle tick may overwrite the idle row
    at the bottom of the list rather than appear on top.

    `max_events=None` keeps every row (D8); a number keeps only the newest rows.
    """

    def __init__(self, events: Iterable[LiveEvent] = (), *, max_events: int | None = None):
        self._events: list[LiveEvent] = list(events)
        self._max_events = max_events

    @property
    def events(self) -> list[LiveEvent]:
        """A copy of the rows, newest first."""
        return list(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def _insert(self, event: LiveEvent) -> None:
        self._events.insert(0, event)
        if self._max_events is not None and len(self._events) > self._max_events:
            self._events.pop()

    def add(self, result: AnyResult, now: int) -> None:
        """Record one live tick result; `now` (ms) stamps idle and active rows.

        Scheduled and cancelled results are not part of the live report (§11.2).
        """
        if isinstance(result, IdleResult):
            self.add_idle(result.current_price, now)
        elif isinstance(result, OpenedResult):
            self.add_opened(result)
        elif isinstance(result, ActiveResult):
            self.add_active(result, now)
        elif isinstance(result, ClosedResult):
            self.add_closed(result)

    def add_idle(self, current_price: float, now: int) -> None:
        event = LiveEvent(timestamp=now, action="idle", current_price=current_price)
        idx = next((i for i in range(len(self._events) - 1, -1, -1) if self._events[i].action == "idle"), -1)
        if idx != -1 and not any(e.action in ("opened", "active") for e in self._events[idx + 1 :]):
            self._events[idx] = event
            return
        self._insert(event)

    def add_opened(self, result: OpenedResult) -> None:
        s = result.signal
        self._insert(
            LiveEvent(
                timestamp=s.pending_at,
                action="opened",
                current_price=s.price_open,
                **_signal_fields(s),
            )
        )

    def add_active(self, result: ActiveResult, now: int) -> None:
        s = result.signal
        event = LiveEvent(
            timestamp=now,
            action="active",
            current_price=result.current_price,
            **_signal_fields(s),
            percent_tp=result.percent_tp,
            percent_sl=result.percent_sl,
        )
        for i in range(len(self._events) - 1, -1, -1):
            e = self._events[i]
            if e.action == "active" and e.signal_id == s.id:
                self._events[i] = event
                return
        self._insert(event)

    def add_closed(self, result: ClosedResult) -> None:
        s = result.signal
        self._insert(
            LiveEvent(
                timestamp=result.close_timestamp,
                action="closed",
                current_price=result.current_price,
                **_signal_fields(s),
                pnl=result.pnl.pnl_percentage,
                close_reason=result.close_reason,
                duration=js_round((result.close_timestamp - s.pending_at) / MS_PER_MINUTE),
            )
        )


class LiveStatistics(Model):
    """`Live.get_data`: the event rows plus §11.1's metrics over the closed rows."""

    event_list: list[LiveEvent] = []
    """Newest first."""
    total_events: int = 0
    total_closed: int = 0
    win_count: int = 0
    loss_count: int = 0
    win_rate: float | None = None
    avg_pnl: float | None = None
    total_pnl: float | None = None
    std_dev: float | None = None
    sharpe_ratio: float | None = None
    annualized_sharpe_ratio: float | None = None
    certainty_ratio: float | None = None
    expected_yearly_returns: float | None = None


def live_statistics(events: LiveEventLog | Sequence[LiveEvent]) -> LiveStatistics:
    """Statistics of §11.2 over a `LiveEventLog` or its newest-first `events` list.

    With rows but no closed trade the metrics are 0 and only the win rate is `None` (0/0).
    Expected yearly returns use the rounded `duration` minutes, as the reference does.
    """
    rows = events.events if isinstance(events, LiveEventLog) else list(events)
    if not rows:
        return LiveStatistics()
    closed = [e for e in rows if e.action == "closed"]
    total_closed = len(closed)
    returns = [e.pnl or 0.0 for e in closed]
    win_count = sum(1 for r in returns if r > 0)
    loss_count = sum(1 for r in returns if r < 0)
    total_pnl = _js_sum(returns)
    if total_closed == 0:
        return LiveStatistics(
            event_list=rows,
            total_events=len(rows),
            avg_pnl=0.0,
            total_pnl=safe(total_pnl),
            std_dev=0.0,
            sharpe_ratio=0.0,
            annualized_sharpe_ratio=0.0,
            certainty_ratio=0.0,
            expected_yearly_returns=0.0,
        )
    avg_pnl = _js_sum(returns) / total_closed
    win_rate = (win_count / total_closed) * 100
    m = _return_metrics(returns, avg_pnl)
    avg_duration_min = _js_sum(e.duration or 0 for e in closed) / total_closed
    avg_duration_days = avg_duration_min / MINUTES_PER_DAY
    return LiveStatistics(
        event_list=rows,
        total_events=len(rows),
        total_closed=total_closed,
        win_count=win_count,
        loss_count=loss_count,
        win_rate=safe(win_rate),
        avg_pnl=safe(avg_pnl),
        total_pnl=safe(total_pnl),
        std_dev=safe(m.std_dev),
        sharpe_ratio=safe(m.sharpe_ratio),
        annualized_sharpe_ratio=safe(m.annualized_sharpe_ratio),
        certainty_ratio=safe(m.certainty_ratio),
        expected_yearly_returns=safe(_expected_yearly_returns(avg_pnl, avg_duration_days)),
    )


# ---- §11.3 schedule --------------------------------------------------------------------


class ScheduleEntry(Model):
    """One row of the scheduled-signals report."""

    timestamp: int
    action: Literal["scheduled", "opened", "cancelled"]
    symbol: str
    signal_id: str
    position: str
    note: str = ""
    current_price: float
    price_open: float
    take_profit: float
    stop_loss: float
    close_timestamp: int | None = None
    duration: int | None = None
    """Minutes waited: until activation (opened) or cancellation (cancelled)."""


def schedule_entry(result: AnyResult) -> ScheduleEntry | None:
    """The schedule-report row for a tick/backtest result, or `None` if it has none.

    An opened result counts only when it was scheduled first (`scheduled_at != pending_at`);
    an immediate signal's opening is not a schedule event.
    """
    if isinstance(result, ScheduledResult):
        s = result.signal
        timestamp, duration, close_ts = s.scheduled_at, None, None
    elif isinstance(result, OpenedResult):
        s = result.signal
        if s.scheduled_at == s.pending_at:
            return None
        timestamp, close_ts = s.pending_at, None
        duration = js_round((s.pending_at - s.scheduled_at) / MS_PER_MINUTE)
    elif isinstance(result, CancelledResult):
        s = result.signal
        timestamp = close_ts = result.close_timestamp
        duration = js_round((result.close_timestamp - s.scheduled_at) / MS_PER_MINUTE)
    else:
        return None
    return ScheduleEntry(
        timestamp=timestamp,
        action=result.action,
        symbol=s.symbol,
        signal_id=s.id,
        position=s.position,
        note=s.note,
        current_price=result.current_price,
        price_open=s.price_open,
        take_profit=s.price_take_profit,
        stop_loss=s.price_stop_loss,
        close_timestamp=close_ts,
        duration=duration,
    )


class ScheduleStatistics(Model):
    """`Schedule.get_data`: how scheduled signals ended and how long they waited."""

    event_list: list[ScheduleEntry] = []
    """Newest first."""
    total_events: int = 0
    total_scheduled: int = 0
    total_opened: int = 0
    total_cancelled: int = 0
    cancellation_rate: float | None = None
    activation_rate: float | None = None
    avg_wait_time: float | None = None
    """Mean minutes a cancelled signal waited."""
    avg_activation_time: float | None = None
    """Mean minutes until an opened signal activated."""


def schedule_statistics(entries: Sequence[ScheduleEntry]) -> ScheduleStatistics:
    """Statistics of §11.3 over `entries` (oldest first)."""
    if not entries:
        return ScheduleStatistics()
    rows = list(reversed(entries))
    opened = [e for e in rows if e.action == "opened"]
    cancelled = [e for e in rows if e.action == "cancelled"]
    total_scheduled = sum(1 for e in rows if e.action == "scheduled")
    return ScheduleStatistics(
        event_list=rows,
        total_events=len(rows),
        total_scheduled=total_scheduled,
        total_opened=len(opened),
        total_cancelled=len(cancelled),
        cancellation_rate=(len(cancelled) / total_scheduled) * 100 if total_scheduled else None,
        activation_rate=(len(opened) / total_scheduled) * 100 if total_scheduled else None,
        avg_wait_time=_js_sum(e.duration or 0 for e in cancelled) / len(cancelled) if cancelled else None,
        avg_activation_time=_js_sum(e.duration or 0 for e in opened) / len(opened) if opened else None,
    )


# ---- §11.5 partial ---------------------------------------------------------------------


class PartialEntry(Model):
    """One partial profit/loss milestone row."""

    timestamp: int
    action: Literal["profit", "loss"]
    symbol: str
    strategy_name: str
    signal_id: str
    position: str
    current_price: float
    level: int
    backtest: bool


def partial_entry(event: PartialEvent, action: Literal["profit", "loss"]) -> PartialEntry:
    """The report row for a partial-profit (`"profit"`) or partial-loss (`"loss"`) event.

    Identity fields come from the signal, as the reference keys the report by the signal's
    strategy.
    """
    s = event.data
    return PartialEntry(
        timestamp=event.timestamp,
        action=action,
        symbol=s.symbol,
        strategy_name=s.strategy_name,
        signal_id=s.id,
        position=s.position,
        current_price=event.current_price,
        level=event.level,
        backtest=event.backtest,
    )


class PartialStatistics(Model):
    """`Partial.get_data`: milestone rows and their counts."""

    event_list: list[PartialEntry] = []
    """Newest first."""
    total_events: int = 0
    total_profit: int = 0
    total_loss: int = 0


def partial_statistics(entries: Sequence[PartialEntry]) -> PartialStatistics:
    """Counts of §11.5 over `entries` (oldest first)."""
    rows = list(reversed(entries))
    return PartialStatistics(
        event_list=rows,
        total_events=len(rows),
        total_profit=sum(1 for e in rows if e.action == "profit"),
        total_loss=sum(1 for e in rows if e.action == "loss"),
    )


# ---- §11.7 performance -----------------------------------------------------------------


class MetricStats(Model):
    """Timing distribution of one metric type (milliseconds)."""

    metric_type: str
    count: int
    total_duration: float
    avg_duration: float
    min_duration: float
    max_duration: float
    std_dev: float
    median: float
    p95: float
    p99: float
    avg_wait_time: float
    min_wait_time: float
    max_wait_time: float


class PerformanceStatistics(Model):
    """`Performance.get_data`: where a run spent its time."""

    strategy_name: str
    total_events: int = 0
    total_duration: float = 0.0
    metric_stats: dict[str, MetricStats] = {}
    """By metric type, in order of first appearance in the newest-first event list."""
    events: list[PerformanceEvent] = []
    """Newest first."""


def performance_statistics(strategy_name: str, events: Sequence[PerformanceEvent]) -> PerformanceStatistics:
    """Statistics of §11.7 over `events` (oldest first).

    Durations and wait times are summed in ascending order (the reference sorts first), the
    overall total in newest-first order; wait time = `timestamp − previous_timestamp` of the
    events that have a previous timestamp (0s when none do).
    """
    if not events:
        return PerformanceStatistics(strategy_name=strategy_name)
    rows = list(reversed(events))
    by_type: dict[str, list[PerformanceEvent]] = {}
    for e in rows:
        by_type.setdefault(e.metric_type, []).append(e)
    metric_stats: dict[str, MetricStats] = {}
    for metric_type, group in by_type.items():
        durations = sorted(e.duration for e in group)
        n = len(durations)
        total = _js_sum(durations)
        avg = total / n
        std = math.sqrt(_js_sum((d - avg) * (d - avg) for d in durations) / n)
        waits = sorted(e.timestamp - e.previous_timestamp for e in group if e.previous_timestamp is not None)
        metric_stats[metric_type] = MetricStats(
            metric_type=metric_type,
            count=n,
            total_duration=total,
            avg_duration=avg,
            min_duration=durations[0],
            max_duration=durations[-1],
            std_dev=std,
            median=percentile(durations, 50),
            p95=percentile(durations, 95),
            p99=percentile(durations, 99),
            avg_wait_time=_js_sum(waits) / len(waits) if waits else 0.0,
            min_wait_time=waits[0] if waits else 0.0,
            max_wait_time=waits[-1] if waits else 0.0,
        )
    return PerformanceStatistics(
        strategy_name=strategy_name,
        total_events=len(rows),
        total_duration=_js_sum(e.duration for e in rows),
        metric_stats=metric_stats,
        events=rows,
    )


# ---- §11.8 risk ------------------------------------------------------------------------


class RiskEntry(Model):
    """One rejected signal, flattened from the risk event into plain JSON-safe cells.

    The rejected signal may be a raw DTO that never passed signal validation, so every
    field read from it may be missing or of the wrong type; such a field is `None` (N/A).
    """

    timestamp: int
    symbol: str
    strategy_name: str
    exchange_name: str
    signal_id: str | None = None
    position: str | None = None
    note: str = ""
    price_open: float | None = None
    """`None` when the DTO has no entry price (it would have opened at the current price)."""
    take_profit: float | None = None
    stop_loss: float | None = None
    current_price: float
    active_position_count: int
    comment: str


def _signal_field(signal: Any, name: str) -> Any:
    if isinstance(signal, Mapping):
        return signal.get(name)
    return getattr(signal, name, None)


def risk_entry(event: RiskEvent) -> RiskEntry:
    """The report row for a risk rejection (the DTO at creation or the row at activation)."""
    s = event.pending_signal
    signal_id = _signal_field(s, "id")
    position = _signal_field(s, "position")
    return RiskEntry(
        timestamp=event.timestamp,
        symbol=event.symbol,
        strategy_name=event.strategy_name,
        exchange_name=event.exchange_name,
        signal_id=None if signal_id is None or signal_id == "" else str(signal_id),
        position=position if isinstance(position, str) else None,
        note=normalize_note(_signal_field(s, "note")),
        price_open=safe(_signal_field(s, "price_open")),
        take_profit=safe(_signal_field(s, "price_take_profit")),
        stop_loss=safe(_signal_field(s, "price_stop_loss")),
        current_price=event.current_price,
        active_position_count=event.active_position_count,
        comment=event.comment,
    )


class RiskStatistics(Model):
    """`Risk.get_data`: every rejection and where they came from."""

    event_list: list[RiskEntry] = []
    """Newest first."""
    total_rejections: int = 0
    by_symbol: dict[str, int] = {}
    """Rejections per symbol, in order of first appearance in the newest-first list."""
    by_strategy: dict[str, int] = {}
    """Rejections per strategy, same order."""


def risk_statistics(events: Sequence[RiskEvent | RiskEntry]) -> RiskStatistics:
    """Counts of §11.8 over `events` (oldest first); raw risk events are flattened first."""
    rows = [e if isinstance(e, RiskEntry) else risk_entry(e) for e in reversed(events)]
    by_symbol: dict[str, int] = {}
    by_strategy: dict[str, int] = {}
    for e in rows:
        by_symbol[e.symbol] = by_symbol.get(e.symbol, 0) + 1
        by_strategy[e.strategy_name] = by_strategy.get(e.strategy_name, 0) + 1
    return RiskStatistics(
        event_list=rows, total_rejections=len(rows), by_symbol=by_symbol, by_strategy=by_strategy
    )


__all__ += ["RiskEntry", "RiskStatistics", "risk_entry", "risk_statistics"]
