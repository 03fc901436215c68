"""The backtest orchestrator (SPEC §5.9 with D2) and the `Backtest` facade (§11.1).

The loop reads top to bottom like the reference's, with two cost rules: an idle tick nobody
observes builds no record, and a throttled idle strategy jumps straight to its next
`get_signal` tick instead of visiting every frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextvars import Token
from pathlib import Path
from typing import Any

import numpy as np

from farm import events, registry
from farm.config import get_config
from farm.context import RunContext, _current
from farm.engine.exchange import ExchangeClient
from farm.engine.frames import timeline
from farm.engine.risk import drop_risks, risk_for
from farm.engine.strategy import StrategyRuntime
from farm.intervals import MINUTE_MS
from farm.models import BacktestProgress, DoneEvent, PerformanceEvent
from farm.run.storage import record_result, storages

WARMUP_CANDLES = 1440
"""Base candles loaded before the frame's start with the first bulk load, so a strategy's
indicator warm-up does not make the whole series load again (a day of 1m candles)."""

_runtimes: dict[tuple[str, str], StrategyRuntime] = {}
_status: dict[tuple[str, str], str] = {}
_exchanges: dict[str, ExchangeClient] = {}


def exchange_client(exchange_name: str) -> ExchangeClient:
    """Memoized per exchange: strategies backtested on the same symbol reuse its candles."""
    client = _exchanges.get(exchange_name)
    schema = registry.exchanges.get(exchange_name, source="backtest")
    if client is None or client.schema is not schema:
        client = _exchanges[exchange_name] = ExchangeClient(schema)
    return client


def _reset() -> None:
    _runtimes.clear()
    _status.clear()
    _exchanges.clear()


registry.on_clear(_reset)


class _Perf:
    """Performance samples, stored compactly per frame (a record per frame would cost more than
    the frame); records are built when read, or at once for a live listener."""

    def __init__(self, symbol: str, strategy_name: str, exchange_name: str):
        self.names = {"symbol": symbol, "strategy_name": strategy_name, "exchange_name": exchange_name}
        self.previous: int | None = None
        self.store = storages.performance[(symbol, strategy_name)]

    def record(self, metric_type: str, duration_s: float) -> None:
        now = int(time.time() * 1000)
        self.store.append((metric_type, duration_s * 1000, now, self.previous, self.names))
        self.previous = now
        if events.performance.has_listeners:
            events.performance.emit(performance_event(self.store[-1]))


def performance_event(sample: tuple[str, float, int, int | None, dict[str, str]]) -> PerformanceEvent:
    metric_type, duration, timestamp, previous, names = sample
    return PerformanceEvent(
        timestamp=timestamp, previous_timestamp=previous, metric_type=metric_type, duration=duration,
        backtest=True, **names,
    )


def validate_names(strategy_name: str, exchange_name: str, frame_name: str | None) -> Any:
    schema = registry.get_strategy(strategy_name, source="backtest")
    registry.exchanges.get(exchange_name, source="backtest")
    if frame_name is not None:
        registry.frames.get(frame_name, source="backtest")
    for risk_name in schema.risk_names:
        registry.risks.get(risk_name, source=f"strategy {strategy_name}")
    return schema


def run_backtest(symbol: str, *, strategy_name: str, exchange_name: str, frame_name: str) -> Iterator[Any]:
    """Yield closed and cancelled results (and `active` in the reference's edge path)."""
    schema = validate_names(strategy_name, exchange_name, frame_name)
    strategy_name = schema.strategy_name  # a variant spelled another way keeps one storage
    key = (symbol, strategy_name)
    storages.backtest.pop(key, None)
    storages.schedule.pop(key, None)
    drop_risks(schema.risk_names)
    client = exchange_client(exchange_name)
    ctx = RunContext(
        symbol=symbol, strategy_name=strategy_name, exchange_name=exchange_name, frame_name=frame_name,
        backtest=True, exchange=client,
    )
    runtime = StrategyRuntime(schema, ctx, client, risk_for(schema.risk_names))
    _runtimes[key] = runtime
    _status[key] = "pending"
    try:
        yield from _loop(runtime, ctx, timeline(frame_name))
        _status[key] = "fulfilled"
    except BaseException:
        _status[key] = "rejected"
        raise
    finally:
        runtime.close()


def _loop(runtime: StrategyRuntime, ctx: RunContext, frames: np.ndarray) -> Iterator[Any]:
    cfg = get_config()
    series = runtime.exchange.series(ctx.symbol, cfg.base_interval)
    total = len(frames)
    if total:
        # One bulk load of the base candles the whole run needs, instead of a page per tick.
        # (signals reaching further load what they need themselves).
        series.prefetch_until = int(frames[-1]) + (cfg.schedule_await_minutes + 1440) * MINUTE_MS
        token = _current.set(ctx)
        try:
            # A data source that stays down after its retries ends the run with that error:
            # every tick would fail the same way, and a farm must see a failed task, not an
            # empty result.
            warmup = max(cfg.avg_price_candles_count, WARMUP_CANDLES) * series.step
            series.ensure(int(frames[0]) - warmup, int(frames[-1]) + series.step)
        finally:
            _current.reset(token)
    perf = _Perf(ctx.symbol, runtime.name, ctx.exchange_name)
    progress = events.backtest_progress
    names = {"exchange_name": ctx.exchange_name, "strategy_name": runtime.name, "symbol": ctx.symbol}
    channel_bt, channel_all = events.signal_backtest, events.signal
    frame_list = frames.tolist()
    run_started = time.perf_counter()
    i = 0
    token: Token[RunContext | None] | None = _current.set(ctx)
    try:
        while i < total:
            if progress.has_listeners:
                progress.emit(BacktestProgress(total_frames=total, processed_frames=i, progress=i / total, **names))
            if runtime.stopped:
                break
            frame_started = time.perf_counter()
            t = frame_list[i]
            try:
                result = runtime.tick(t)
                if result is not None:
                    # A listener that raises fails this tick, like any other tick error (§15).
                    _emit(result, channel_bt, channel_all, runtime)
            except Exception as exc:  # noqa: BLE001
                runtime.report_error(exc, t, "tick")
                i += 1
                continue
            if result is None:
                # Idle and unobserved: jump to the next frame where get_signal may be called.
                if runtime.pending is None and runtime.scheduled is None and runtime.last_generation is not None:
                    nxt = runtime.last_generation + runtime.interval_ms
                    if i + 1 < total and frame_list[i + 1] < nxt:
                        j = int(frames.searchsorted(nxt))
                        perf.record("backtest_timeframe", time.perf_counter() - frame_started)
                        i = max(j, i + 1)
                        continue
                perf.record("backtest_timeframe", time.perf_counter() - frame_started)
                i += 1
                continue
            action = result.action
            if action == "idle" and runtime.stopped:
                break
            if action == "scheduled" or action == "opened":
                signal_started = time.perf_counter()
                try:
                    outcome = runtime.fast_forward()
                    if outcome is not None:
                        _emit(outcome, channel_bt, channel_all, runtime)
                except Exception as exc:  # noqa: BLE001
                    runtime.report_error(exc, t, "fast-forward")
                    i += 1
                    continue
                if outcome is None:
                    i += 1
                    continue
                perf.record("backtest_signal", time.perf_counter() - signal_started)
                perf.record("backtest_timeframe", time.perf_counter() - frame_started)
                if outcome.action == "active":
                    i += 1
                else:
                    closed_at = outcome.close_timestamp
                    while i < total and frame_list[i] <= closed_at:  # D2
                        i += 1
                _current.reset(token)
                token = None
                yield outcome
                token = _current.set(ctx)
                if runtime.stopped:
                    break
                continue
            perf.record("backtest_timeframe", time.perf_counter() - frame_started)
            i += 1
        if progress.has_listeners:
            progress.emit(BacktestProgress(total_frames=total, processed_frames=total, progress=1.0, **names))
        perf.record("backtest_total", time.perf_counter() - run_started)
    finally:
        if token is not None:  # None while suspended at a yield (the caller's context is back)
            _current.reset(token)


def _emit(result: Any, channel_bt: events.Channel[Any], channel_all: events.Channel[Any],
          runtime: StrategyRuntime) -> None:
    record_result(result, backtest=True)
    if runtime.partial_events:
        storages.partial[(runtime.symbol, runtime.name)].extend(runtime.partial_events)
        runtime.partial_events.clear()
    if channel_bt.has_listeners:
        channel_bt.emit(result)
    if channel_all.has_listeners:
        channel_all.emit(result)


class BacktestFacade:
    """`farm.Backtest`: run, background, stop, get_data, get_report, dump, list."""

    def run(self, symbol: str, *, strategy_name: str, exchange_name: str, frame_name: str) -> Iterator[Any]:
        return run_backtest(symbol, strategy_name=strategy_name, exchange_name=exchange_name, frame_name=frame_name)

    def background(
        self, symbol: str, *, strategy_name: str, exchange_name: str, frame_name: str
    ) -> Callable[[], None]:
        """Run to completion on a thread; emit done-backtest once; return a cancel function."""
        validate_names(strategy_name, exchange_name, frame_name)
        done = threading.Event()
        cancelled = threading.Event()
        done_payload = DoneEvent(exchange_name=exchange_name, strategy_name=strategy_name, backtest=True, symbol=symbol)
        lock = threading.Lock()

        def emit_done() -> None:
            with lock:
                if done.is_set():
                    return
                done.set()
            events.done_backtest.emit(done_payload)

        def target() -> None:
            try:
                for _ in run_backtest(symbol, strategy_name=strategy_name, exchange_name=exchange_name,
                                      frame_name=frame_name):
                    if cancelled.is_set():
                        break
            except Exception as exc:  # noqa: BLE001 - fatal for a background run
                events.exit.emit(exc)
            emit_done()

        thread = threading.Thread(target=target, name=f"backtest-{symbol}-{strategy_name}", daemon=True)
        thread.start()

        def cancel() -> None:
            cancelled.set()
            runtime = _runtimes.get((symbol, strategy_name))
            if runtime is not None:
                runtime.stop()
                if runtime.pending is None:
                    emit_done()

        cancel.thread = thread  # type: ignore[attr-defined]
        return cancel

    def stop(self, symbol: str, strategy_name: str) -> None:
        runtime = _runtimes.get((symbol, strategy_name))
        if runtime is not None:
            runtime.stop()

    def get_data(self, symbol: str, strategy_name: str) -> Any:
        from farm.stats import backtest_statistics

        strategy_name = registry.get_strategy(strategy_name, source="Backtest.get_data").strategy_name
        return backtest_statistics(storages.backtest.get((symbol, strategy_name), []))

    def get_report(self, symbol: str, strategy_name: str) -> str:
        from farm.reports.backtest import render_backtest_report

        cfg = get_config()
        return render_backtest_report(
            strategy_name, self.get_data(symbol, strategy_name),
            show_note=cfg.report_show_signal_note, max_rows=cfg.report_max_rows,
        )

    def dump(self, symbol: str, strategy_name: str, path: str | Path | None = None) -> Path:
        from farm.reports.files import write_report

        return write_report(self.get_report(symbol, strategy_name), "backtest", f"{strategy_name}.md", path)

    def list(self) -> list[dict[str, str]]:
        return [
            {"id": f"{s}:{n}", "symbol": s, "strategy_name": n, "status": _status.get((s, n), "ready")}
            for (s, n) in _runtimes
        ]


Backtest = BacktestFacade()
