"""One strategy on one symbol during one run: signal generation, the tick rules and the
backtest fast-forward, applying the pure decisions of `lifecycle` with callbacks, risk and
partial milestones in the documented order (SPEC §5.4–§5.12, D2–D4, D11).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from farm import events
from farm.config import get_config
from farm.context import RunContext
from farm.engine import lifecycle, steps
from farm.engine.exchange import CandleSeries, ExchangeClient, now_ms
from farm.engine.pnl import compute_pnl
from farm.engine.risk import MergedRisk, NoRisk, RiskRuntime
from farm.engine.signals import build_row, dto_to_dict
from farm.engine.timeout import GuardedCall
from farm.errors import FarmError, NoCandlesError
from farm.intervals import MINUTE_MS, SIGNAL_INTERVALS
from farm.models import (
    ActiveResult,
    CancelledResult,
    ClosedResult,
    IdleResult,
    OpenedResult,
    PartialEvent,
    ScheduledResult,
    SignalRow,
    iso_ms,
    ms_to_datetime,
)
from farm.schemas import StrategySchema

log = logging.getLogger("farm.strategy")

GAP_TOLERANCE_STEPS = 1440
"""How far past a signal's last lifetime slot the fast-forward looks for the candle that ends
it when the data has a gap there (D11), in base candles."""


REASONS = ("take_profit", "stop_loss", "time_expired")
"""Close reasons by `steps` code."""


def _side(row: SignalRow) -> int:
    return 1 if row.position == "long" else -1


class TickError(FarmError):
    """A tick or fast-forward that failed; published on `listen_error`, the run goes on."""

    def __init__(self, message: str, *, strategy_name: str, symbol: str, timestamp: int | None):
        super().__init__(message)
        self.strategy_name = strategy_name
        self.symbol = symbol
        self.timestamp = timestamp


@dataclass
class PartialState:
    profit: set[int] = field(default_factory=set)
    loss: set[int] = field(default_factory=set)


class StrategyRuntime:
    def __init__(
        self,
        schema: StrategySchema,
        ctx: RunContext,
        exchange: ExchangeClient,
        risk: RiskRuntime | MergedRisk | NoRisk,
    ):
        self.schema = schema
        self.name = schema.strategy_name
        self.ctx = ctx
        self.symbol = ctx.symbol
        self.backtest = ctx.backtest
        self.exchange = exchange
        self.risk = risk
        self.interval_ms = SIGNAL_INTERVALS[schema.interval] * MINUTE_MS
        self.cb = schema.callbacks
        self._on_tick = self.cb.get("on_tick")
        self._on_idle = self.cb.get("on_idle")
        self.call = GuardedCall(schema.get_signal, schema.params) if schema.get_signal is not None else None
        self._timeout_message = f"Timeout for {self.name} symbol={self.symbol}"
        self.pending: SignalRow | None = None
        self.scheduled: SignalRow | None = None
        self.stopped = False
        self.last_generation: int | None = None
        self.partials: dict[str, PartialState] = {}
        self.gap_ticks = 0
        """Ticks skipped because the data had no candle in the VWAP window."""
        self.partial_events: list[tuple[str, PartialEvent]] = []
        """Every milestone of this run, in order (the Partial report reads them)."""

    # ---- small helpers -----------------------------------------------------------------

    def _callback(self, name: str, *args: Any) -> None:
        fn = self.cb.get(name)
        if fn is not None:
            fn(self.symbol, *args, self.backtest)

    def _names(self) -> dict[str, str]:
        return {"strategy_name": self.name, "exchange_name": self.exchange.name, "symbol": self.symbol}

    def _price(self, t: int) -> float:
        return self.exchange.average_price(self.symbol, t)

    def _finish(self, result: Any) -> Any:
        if self._on_tick is not None:
            self._on_tick(self.symbol, result, self.backtest)
        return result

    def wants_idle(self) -> bool:
        channel = events.signal_backtest if self.backtest else events.signal_live
        return (
            self._on_tick is not None or self._on_idle is not None
            or channel.has_listeners or events.signal.has_listeners
        )

    def stop(self) -> None:
        """§5.11: no new signals; a scheduled signal is dropped silently; a pending one runs on."""
        self.stopped = True
        self.scheduled = None

    # ---- tick (§5.7) ---------------------------------------------------------------------

    def tick(self, t: int) -> Any:
        """The result of this tick, or None for an idle tick nobody observes (no record built)."""
        self.ctx.when = t
        if self.pending is not None:
            return self._tick_pending(t)
        if self.scheduled is not None:
            return self._tick_scheduled(t)
        if self.stopped:
            return self._idle(t, None)
        generated = self._generate(t)
        if generated is None:
            return self._idle(t, None) if self.wants_idle() else None
        row, price = generated
        if row.is_scheduled:
            self.scheduled = row
            self._callback("on_schedule", row, price)
            return self._finish(ScheduledResult(signal=row, current_price=price, **self._names()))
        return self._open(row, t)

    def _idle(self, t: int, price: float | None) -> IdleResult | None:
        if price is None:
            try:
                price = self._price(t)
            except NoCandlesError:
                return None  # a gap: no price, so no idle record (observed or not)
        if self._on_idle is not None:
            self._on_idle(self.symbol, price, self.backtest)
        return self._finish(IdleResult(current_price=price, **self._names()))

    def _open(self, row: SignalRow, t: int) -> OpenedResult:
        self.pending = row
        self._callback("on_write", row)
        self.risk.add(self.name, self.symbol, t)
        self._callback("on_open", row, row.price_open)
        return self._finish(OpenedResult(signal=row, current_price=row.price_open, **self._names()))

    def _generate(self, t: int) -> tuple[SignalRow, float] | None:
        """§5.4. Throttled by the strategy interval; any failure is published, never raised."""
        last = self.last_generation
        if last is not None and t - last < self.interval_ms:
            return None
        self.last_generation = t
        if self.call is None:
            return None
        try:
            price = self._price(t)
        except NoCandlesError:
            # A gap in the data: no price, so no trade is possible and get_signal is not asked.
            # Not an error of the strategy (real data has minutes without trades).
            self.gap_ticks += 1
            return None
        try:
            cfg = get_config()
            raw = self.call(cfg.max_signal_generation_seconds, self._timeout_message, self.symbol, ms_to_datetime(t))
            if not raw or self.stopped:
                return None
            dto = dto_to_dict(raw)
            if not self.risk.check(
                symbol=self.symbol, pending_signal=dto, strategy_name=self.name,
                exchange_name=self.exchange.name, current_price=price, timestamp=t, backtest=self.backtest,
            ):
                return None
            row = build_row(
                dto, current_price=price, timestamp=t, symbol=self.symbol, strategy_name=self.name,
                exchange_name=self.exchange.name, config=cfg,
            )
            return row, price
        except Exception as exc:  # noqa: BLE001 - reported on listen_error, the run goes on
            self.report_error(exc, t, "get_signal")
            return None

    def report_error(self, exc: BaseException, t: int | None, where: str) -> TickError:
        at = f" at {iso_ms(t)}" if t is not None else ""
        err = TickError(
            f"strategy {self.name} symbol {self.symbol}{at} ({where}): {type(exc).__name__}: {exc}",
            strategy_name=self.name, symbol=self.symbol, timestamp=t,
        )
        err.__cause__ = exc
        log.warning("%s", err)
        events.error.emit(err)
        return err

    def _tick_scheduled(self, t: int) -> Any:
        """§5.7 B with D5: a stop-loss before activation cancels (with on_cancel), as in backtest."""
        row = self.scheduled
        assert row is not None
        price = self._price(t)
        cfg = get_config()
        outcome = lifecycle.scheduled_by_price(
            row.position, row.price_open, row.price_stop_loss, row.scheduled_at,
            cfg.schedule_await_minutes, t, price,
        )
        if outcome in ("timeout", "cancel"):
            return self._cancel(row, price, t)
        if outcome == "activate":
            if self.stopped or not self._activation_allowed(row, t):
                self.scheduled = None
                return self._idle(t, price)
            self.scheduled = None
            return self._open(row.model_copy(update={"pending_at": t, "is_scheduled": False}), t)
        return self._finish(ActiveResult(signal=row, current_price=price, **self._names()))

    def _activation_allowed(self, row: SignalRow, t: int) -> bool:
        return self.risk.check(
            symbol=self.symbol, pending_signal=row, strategy_name=self.name,
            exchange_name=self.exchange.name, current_price=row.price_open, timestamp=t, backtest=self.backtest,
        )

    def _cancel(self, row: SignalRow, price: float, ts: int) -> CancelledResult:
        self.scheduled = None
        self._callback("on_cancel", row, price)
        return self._finish(CancelledResult(signal=row, current_price=price, close_timestamp=ts, **self._names()))

    def _tick_pending(self, t: int) -> Any:
        row = self.pending
        assert row is not None
        price = self._price(t)
        decision = lifecycle.pending_by_price(
            row.position, row.price_take_profit, row.price_stop_loss, row.pending_at,
            row.minute_estimated_time, t, price,
        )
        if decision is not None:
            return self._close(decision[0], decision[1], t)
        pct_tp, pct_sl = lifecycle.progress(row.position, row.price_open, row.price_take_profit, row.price_stop_loss, price)
        self._partial(row, price, pct_tp, pct_sl, t)
        return self._finish(
            ActiveResult(signal=row, current_price=price, percent_tp=pct_tp, percent_sl=pct_sl, **self._names())
        )

    def _close(self, reason: str, price_close: float, ts: int) -> ClosedResult:
        row = self.pending
        assert row is not None
        cfg = get_config()
        pnl = compute_pnl(row.position, row.price_open, price_close, cfg.percent_slippage, cfg.percent_fee)
        self._callback("on_close", row, price_close)
        self.partials.pop(row.id, None)
        self.risk.remove(self.name, self.symbol, at=ts if self.backtest else None)
        self.pending = None
        self._callback("on_write", None)
        return self._finish(
            ClosedResult(
                signal=row, current_price=price_close, close_reason=reason, close_timestamp=ts, pnl=pnl,
                **self._names(),
            )
        )

    # ---- partial milestones (§7) ---------------------------------------------------------

    def _partial(self, row: SignalRow, price: float, pct_tp: float, pct_sl: float, ts: int) -> None:
        if pct_tp > 0:
            self._callback("on_partial_profit", row, price, pct_tp)
            self._levels(row, "profit", lifecycle.new_levels(pct_tp, self._state(row).profit), price, ts)
        elif pct_sl > 0:
            self._callback("on_partial_loss", row, price, pct_sl)
            self._levels(row, "loss", lifecycle.new_levels(pct_sl, self._state(row).loss), price, ts)

    def _state(self, row: SignalRow) -> PartialState:
        state = self.partials.get(row.id)
        if state is None:
            state = self.partials[row.id] = PartialState()
        return state

    def _levels(self, row: SignalRow, kind: str, levels: list[int], price: float, ts: int) -> None:
        if not levels:
            return
        emitted = self._state(row).profit if kind == "profit" else self._state(row).loss
        channel = events.partial_profit if kind == "profit" else events.partial_loss
        for level in levels:
            emitted.add(level)
            event = PartialEvent(
                symbol=self.symbol, strategy_name=self.name, exchange_name=self.exchange.name, data=row,
                current_price=price, level=level, backtest=self.backtest, timestamp=ts,
            )
            self.partial_events.append((kind, event))
            channel.emit(event)

    def _partials_over(self, series: CandleSeries, row: SignalRow, i0: int, i1: int) -> None:
        """Progress on every evaluated candle `[i0, i1)` that did not close the signal, vectorised;
        the per-evaluation callbacks run only when the strategy defines them."""
        if i1 <= i0:
            return
        n = get_config().avg_price_candles_count
        prices = series.vwaps_ending(i0, i1, n)
        pct_tp, pct_sl = lifecycle.progress_arrays(
            row.position, row.price_open, row.price_take_profit, row.price_stop_loss, prices
        )
        ts = series.arrays.timestamp
        if "on_partial_profit" in self.cb or "on_partial_loss" in self.cb:
            for k in range(i1 - i0):
                if pct_tp[k] > 0:
                    self._callback("on_partial_profit", row, float(prices[k]), float(pct_tp[k]))
                elif pct_sl[k] > 0:
                    self._callback("on_partial_loss", row, float(prices[k]), float(pct_sl[k]))
        state = self._state(row)
        for k, level, kind in lifecycle.first_crossings(pct_tp, pct_sl, state.profit, state.loss):
            self._levels(row, kind, [level], float(prices[k]), int(ts[i0 + k]))

    # ---- backtest fast-forward (§5.8 with D3, D11) ---------------------------------------

    def fast_forward(self) -> Any:
        """Resolve the signal created (or activated) at this tick on the base candles that follow,
        with the compiled steps the kernel runs too (`farm.engine.steps`); this method adds the
        I/O: loading candles, callbacks, risk and records.

        Returns a closed or cancelled result; an active result when a scheduled signal is still
        waiting where the candles end (reference edge path); None when no candle after the
        signal exists yet (the signal stays for later ticks)."""
        cfg = get_config()
        series = self.exchange.series(self.symbol, cfg.base_interval)
        step = series.step
        n_avg = int(cfg.avg_price_candles_count)
        tolerance = GAP_TOLERANCE_STEPS * step
        if self.pending is None:
            row = self.scheduled
            if row is None:
                raise FarmError("fast_forward: no pending or scheduled signal")
            timeout_at = row.scheduled_at + cfg.schedule_await_minutes * MINUTE_MS
            series.ensure(row.scheduled_at, timeout_at + tolerance)
            a = series.arrays
            ts = a.timestamp
            start = steps.seek(ts, row.scheduled_at, series.hint(row.scheduled_at), False)
            if start >= len(ts):
                return None
            code, index = steps.scan_scheduled(
                _side(row), float(row.price_open), float(row.price_stop_loss), ts, a.high, a.low, start,
                int(timeout_at),
            )
            series.check_clean(start, index + 1)
            if code == steps.WAITING:
                price = series.vwap_ending(index, n_avg)
                return self._finish(ActiveResult(signal=row, current_price=price, **self._names()))
            at = int(ts[index])
            if code != steps.ACTIVATE:
                return self._cancel(row, series.vwap_ending(index, n_avg), at)
            self.ctx.when = at
            if self.stopped:
                self.scheduled = None
                return None
            if not self._activation_allowed(row, at):
                self.scheduled = None
                # Reference behaviour (a QUIRK kept on purpose): a risk rejection at activation
                # drops the signal and surfaces as a tick error.
                raise FarmError("no pending signal after scheduled activation (risk rejected the activation)")
            self.scheduled = None
            row = row.model_copy(update={"pending_at": at, "is_scheduled": False})
            self.pending = row
            self._callback("on_write", row)
            self.risk.add(self.name, self.symbol, at)
            self._callback("on_open", row, row.price_open)
            anchor = index
            check_start = index + 1
        else:
            row = self.pending
            series.ensure(row.pending_at, row.pending_at + step)
            ts = series.arrays.timestamp
            anchor = check_start = steps.seek(ts, row.pending_at, series.hint(row.pending_at), False)

        met = float(row.minute_estimated_time)
        last_slot = int(steps.last_lifetime_slot(row.pending_at, met, step))
        series.ensure(row.pending_at, last_slot + tolerance + step)
        a = series.arrays
        ts = a.timestamp
        end, status = steps.lifetime_end(ts, anchor, row.pending_at, met, step, tolerance, now_ms())
        if status != steps.END_OK:
            return None  # no candle to resolve it on yet, or the closing one may still arrive
        # Every candle the resolution may read: the lifetime candles and the VWAP windows.
        series.check_clean(steps.ending_start(ts, min(check_start, end), n_avg, step), end + 1)
        code, index, price = steps.resolve_pending(
            _side(row), float(row.price_take_profit), float(row.price_stop_loss), ts, a.high, a.low,
            series.tpv, a.volume, a.close, check_start, end, n_avg, step,
        )
        self._partials_over(series, row, check_start, index)
        return self._close(REASONS[code], price, int(ts[index]))

    def close(self) -> None:
        if self.call is not None:
            self.call.close()
