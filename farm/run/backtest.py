"""The backtest orchestrator (SPEC §5.9 with D2) and the `Backtest` facade (§11.1).

The loop reads top to bottom like the reference's, with two cost rules: an idle tick nobody
observes builds no record, and a throttled idle strategy jumps straight to its next
`get_signal` tick instead of visiting every frame.

`run_backtest` first picks the engine path (config `backtest_path`): a strategy with a
vectorised form and nothing that needs per-tick Python runs on the compiled kernel
(`farm.kernel`), whose records are then replayed into the storages and channels in the order
the per-tick loop would have produced them; everything else runs the loop below.

Every backtest runs inside a `RunState` (`farm.run.state`): its exchange clients and candle
series, risk ledgers, storages and engine config. `Backtest.run` builds one per call; the
walker, a risk group and a farm job pass their own.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextvars import Token
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from farm import events, registry
from farm.config import get_config
from farm.context import RunContext, _current
from farm.engine.exchange import now_ms
from farm.engine.frames import timeline
from farm.engine.strategy import StrategyRuntime, TickError
from farm.engine.timeout import GuardedCall
from farm.errors import EmptyFrameError
from farm.intervals import MINUTE_MS
from farm.kernel.market import KernelUnsupported
from farm.kernel.run import KernelRun, kernel_blockers, run_vectorised
from farm.models import BacktestProgress, DoneEvent, PerformanceEvent, datetime_to_ms, iso_ms
from farm.run.background import BackgroundRun
from farm.run.state import RunState
from farm.run.storage import Storages, keep_partials, storages

WARMUP_CANDLES = 1440
"""Base candles loaded before the frame's start with the first bulk load, so a strategy's
indicator warm-up does not make the whole series load again (a day of 1m candles)."""

log = logging.getLogger("farm.strategy")  # the per-tick runtime's logger: same log lines either path


class _Perf:
    """Performance samples, stored compactly per frame (a record per frame would cost more than
    the frame); records are built when read, or at once for a live listener."""

    def __init__(self, into: Storages, symbol: str, strategy_name: str, exchange_name: str):
        self.names = {"symbol": symbol, "strategy_name": strategy_name, "exchange_name": exchange_name}
        self.previous: int | None = None
        self.store = into.performance[(symbol, strategy_name)]

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


def _start(run: RunState, symbol: str, strategy_name: str, exchange_name: str, frame_name: str) -> _Lane:
    """Validate, reset the strategy's storages and build its runtime (SPEC §5.9 bookkeeping)."""
    schema = validate_names(strategy_name, exchange_name, frame_name)
    strategy_name = schema.strategy_name  # a variant spelled another way keeps one storage
    key = (symbol, strategy_name)
    client = run.exchange(exchange_name)
    ctx = RunContext(
        symbol=symbol, strategy_name=strategy_name, exchange_name=exchange_name, frame_name=frame_name,
        backtest=True, exchange=client,
    )
    runtime = StrategyRuntime(schema, ctx, client, run.risk_for(schema.risk_names))
    run.begin(key, runtime)
    return _Lane(runtime, ctx, _Perf(run.storages, symbol, strategy_name, exchange_name), run)


# ---- which engine path ------------------------------------------------------------------------


@dataclass(frozen=True)
class EnginePath:
    """Which engine ran a backtest: "kernel" (compiled, numba) or "per-tick", and why per tick."""

    path: str
    reason: str | None = None

    def __str__(self) -> str:
        if self.path == "kernel":
            return "kernel (numba)"
        return f"per-tick (reason: {self.reason})" if self.reason else "per-tick"


def _numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def choose_path(schema: Any) -> EnginePath:
    """The path config `backtest_path` asks for this strategy; with "kernel", a clear error
    when something needs the per-tick engine."""
    mode = get_config().backtest_path
    if mode == "per-tick":
        return EnginePath("per-tick", "config backtest_path='per-tick'")
    blockers = kernel_blockers(schema)
    if schema.signals is not None and not _numba_available():
        blockers.append("numba is not installed (the `fast` extra)")
    if not blockers:
        return EnginePath("kernel")
    reason = "; ".join(blockers)
    if mode == "kernel":
        raise KernelUnsupported(
            f"backtest_path='kernel': strategy {schema.strategy_name} cannot run on the kernel: {reason}"
        )
    return EnginePath("per-tick", reason)


def backtest_path(symbol: str, strategy_name: str, into: Storages = storages) -> EnginePath | None:
    """The path the last backtest of (symbol, strategy) recorded in `into` took; None if it never ran."""
    name = registry.get_strategy(strategy_name, source="Backtest.get_path").strategy_name
    path: EnginePath | None = into.paths.get((symbol, name))
    return path


# ---- runs -------------------------------------------------------------------------------------


def run_backtest(symbol: str, *, strategy_name: str, exchange_name: str, frame_name: str,
                 run: RunState | None = None) -> Iterator[Any]:
    """Yield closed and cancelled results (and `active` in the reference's edge path).

    `run`: the run this backtest belongs to (a walk, a farm job); None: a run of its own, with
    the config in force when the iteration starts."""
    state = RunState() if run is None else run
    yield from state.iterate(lambda: _backtest(state, symbol, strategy_name, exchange_name, frame_name))


def _backtest(run: RunState, symbol: str, strategy_name: str, exchange_name: str, frame_name: str
              ) -> Iterator[Any]:
    schema = validate_names(strategy_name, exchange_name, frame_name)
    run.fresh_risks(schema.risk_names)
    path = choose_path(schema)
    into = run.storages
    if path.path == "kernel":
        started = time.perf_counter()
        key = (symbol, schema.strategy_name)
        handle = _KernelHandle()
        run.begin(key, handle)
        try:
            wanted = keep_partials.get() or events.partial_profit.has_listeners or events.partial_loss.has_listeners
            kernel_run = run_vectorised(symbol, strategy_name=schema.strategy_name, exchange_name=exchange_name,
                                        frame_name=frame_name, check=False, partials=wanted,
                                        client=run.exchange(exchange_name))
        except KernelUnsupported as exc:
            if get_config().backtest_path == "kernel":
                run.finish(key, handle, "rejected")
                raise KernelUnsupported(f"backtest_path='kernel': strategy {schema.strategy_name}: {exc}") from exc
            path = EnginePath("per-tick", f"the kernel declined this run: {exc}")
        except BaseException:
            run.finish(key, handle, "rejected")
            raise
        else:
            into.paths[key] = path
            yield from _replay(run, key, exchange_name, kernel_run, handle, started)
            _check_had_candles(run, symbol, exchange_name, frame_name)
            return
    lane = _start(run, symbol, strategy_name, exchange_name, frame_name)
    into.paths[(symbol, lane.runtime.name)] = path
    for _, outcome in _run([lane], timeline(frame_name)):
        yield outcome
    _check_had_candles(run, symbol, exchange_name, frame_name)


def _check_had_candles(run: RunState, symbol: str, exchange_name: str, frame_name: str) -> None:
    """A backtest whose source gave no candle at all, or only candles before or after its frame,
    is a mistake (a symbol the source answers with nothing, times in the wrong unit, a frame
    outside the data), not an empty clean result. Checked on the base series the run loaded
    (nothing is fetched for it)."""
    series = run.exchange(exchange_name).loaded(symbol, get_config().base_interval)
    frame = registry.frames.get(frame_name, source="backtest")
    lo, hi = datetime_to_ms(frame.start_date), datetime_to_ms(frame.end_date)
    if series is None or series.covered_lo > lo or series.covered_hi < min(hi, now_ms()):
        return  # the run did not load the whole frame (stopped early, or the series was dropped)
    ts = series.arrays.timestamp
    if len(ts) and int(ts[0]) <= hi and int(ts[-1]) >= lo:
        return  # the data reaches into the frame: a frame inside a gap of it is no mistake
    held = (f"the {len(ts)} candles loaded are from {iso_ms(int(ts[0]))} to {iso_ms(int(ts[-1]))}" if len(ts)
            else "the source returned none")
    raise EmptyFrameError(
        f"exchange {exchange_name}: no candles for {symbol} in frame {frame_name} ({iso_ms(lo)} to "
        f"{iso_ms(hi)}): {held}; check the symbol, that the frame's dates lie inside the data, and "
        "that open times are milliseconds"
    )


class _KernelHandle:
    """What `Backtest.stop` and `background`'s cancel reach during a kernel run's replay: a
    stop ends the replay before its next result or error, as a stop ends the per-tick loop
    at its next frame (the kernel already resolved every signal, so nothing is left pending)."""

    pending = None
    scheduled = None

    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


def _replay(state: RunState, key: tuple[str, str], exchange_name: str, run: KernelRun, handle: _KernelHandle,
            started: float) -> Iterator[Any]:
    """Leave behind what the per-tick loop would: per signal, in creation order, its rejection
    on listen_error, or its scheduled record, its partial milestones (emitted, then stored
    after the outcome), its outcome recorded and yielded; one `backtest_total` sample at the end."""
    into = state.storages
    results = run.results
    ticks = run.trades.tick.tolist()
    is_scheduled = run.trades.scheduled.tolist()
    partials = run.partials or [[] for _ in results]
    scheduled = iter(run.scheduled)
    errors = run.errors
    e = 0
    try:
        for j, result in enumerate(results):
            while e < len(errors) and errors[e].timestamp is not None and errors[e].timestamp < ticks[j]:
                if handle.stopped:
                    break
                _publish(errors[e])
                e += 1
            if handle.stopped:
                break
            if is_scheduled[j]:
                into.record(next(scheduled), backtest=True)
            for kind, event in partials[j]:
                (events.partial_profit if kind == "profit" else events.partial_loss).emit(event)
            into.record(result, backtest=True)
            if partials[j]:
                into.partial[key].extend(partials[j])
            yield result
        else:
            for err in errors[e:]:
                if handle.stopped:
                    break
                _publish(err)
        # Progress and performance listeners want an event per frame: they block the kernel, so none here.
        _Perf(into, key[0], key[1], exchange_name).record("backtest_total", time.perf_counter() - started)
        state.finish(key, handle, "fulfilled")
    except BaseException:
        state.finish(key, handle, "rejected")
        raise


def _publish(err: TickError) -> None:
    log.warning("%s", err)
    events.error.emit(err)


def run_group(symbol: str, *, strategy_names: list[str], exchange_name: str, frame_name: str,
              run: RunState | None = None) -> Iterator[tuple[str, Any]]:
    """Backtest strategies that share risk profiles together, frame by frame in the given order,
    on one timeline: each risk check sees the positions the others hold at that time. Yields
    (strategy name, result); each strategy's storages are as if it had run alone. `run` as in
    `run_backtest`."""
    state = RunState() if run is None else run
    yield from state.iterate(lambda: _group(state, symbol, strategy_names, exchange_name, frame_name))


def _group(run: RunState, symbol: str, strategy_names: list[str], exchange_name: str, frame_name: str
           ) -> Iterator[tuple[str, Any]]:
    schemas = [validate_names(name, exchange_name, frame_name) for name in strategy_names]
    run.fresh_risks(sorted({risk for schema in schemas for risk in schema.risk_names}))
    lanes = [_start(run, symbol, name, exchange_name, frame_name) for name in strategy_names]
    for lane in lanes:
        run.storages.paths[(symbol, lane.runtime.name)] = EnginePath(
            "per-tick", "a risk group: strategies sharing a risk profile step together on one timeline")
    for lane, outcome in _run(lanes, timeline(frame_name)):
        yield lane.runtime.name, outcome
    _check_had_candles(run, symbol, exchange_name, frame_name)


@dataclass(eq=False)
class _Lane:
    """One strategy's place in a run."""

    runtime: StrategyRuntime
    ctx: RunContext
    perf: _Perf
    run: RunState
    """The run it belongs to (its results go to the run's storages)."""
    next: int = 0
    """Index of the next frame this strategy is evaluated at."""
    done: bool = False


def _run(lanes: list[_Lane], frames: np.ndarray) -> Iterator[tuple[_Lane, Any]]:
    status = "rejected"
    try:
        for lane in lanes:
            _prefetch(lane, frames)
        frame_list = frames.tolist()
        total = len(frame_list)
        started = time.perf_counter()
        if len(lanes) == 1:
            yield from _run_one(lanes[0], frames, frame_list)
        else:
            while True:
                active = [lane for lane in lanes if not lane.done and lane.next < total]
                if not active:
                    break
                i = min(lane.next for lane in active)
                for lane in active:
                    if lane.next != i:
                        continue
                    token = _current.set(lane.ctx)
                    try:
                        outcome = _step(lane, frames, frame_list, i)
                    finally:
                        _current.reset(token)
                    if outcome is not None:
                        yield lane, outcome
        for lane in lanes:
            if events.backtest_progress.has_listeners:
                events.backtest_progress.emit(BacktestProgress(
                    total_frames=total, processed_frames=total, progress=1.0, **_names(lane)))
            lane.perf.record("backtest_total", time.perf_counter() - started)
        status = "fulfilled"
    finally:
        for lane in lanes:
            lane.runtime.close()
            lane.run.finish((lane.ctx.symbol, lane.runtime.name), lane.runtime, status)


def _run_one(lane: _Lane, frames: np.ndarray, frame_list: list[int]) -> Iterator[tuple[_Lane, Any]]:
    """The single-strategy loop: no lane bookkeeping per frame, the context set once."""
    total = len(frame_list)
    token: Token[RunContext | None] | None = _current.set(lane.ctx)
    try:
        while not lane.done and lane.next < total:
            outcome = _step(lane, frames, frame_list, lane.next)
            if outcome is not None:
                _current.reset(token)
                token = None
                yield lane, outcome
                token = _current.set(lane.ctx)
    finally:
        if token is not None:  # None while suspended at a yield (the caller's context is back)
            _current.reset(token)


def _prefetch(lane: _Lane, frames: np.ndarray) -> None:
    """One bulk load of the base candles the whole run needs, instead of a page per tick
    (signals reaching further load what they need themselves). A data source still down after
    its retries ends the run with that error: every tick would fail the same way, and a farm
    must see a failed task, not an empty result."""
    if not len(frames):
        return
    cfg = get_config()
    series = lane.runtime.exchange.series(lane.ctx.symbol, cfg.base_interval)
    series.prefetch_until = max(
        series.prefetch_until, int(frames[-1]) + (cfg.schedule_await_minutes + 1440) * MINUTE_MS
    )
    token = _current.set(lane.ctx)
    try:
        warmup = max(cfg.avg_price_candles_count, WARMUP_CANDLES) * series.step
        series.ensure(int(frames[0]) - warmup, int(frames[-1]) + series.step)
        if lane.runtime.call is None and lane.runtime.schema.signals is not None:
            lane.runtime.call = _table_signal(lane)
    finally:
        _current.reset(token)


def _table_signal(lane: _Lane) -> GuardedCall:
    """A strategy with only a vectorised form, run per tick (something blocks the kernel): its
    rows computed once on the candles the kernel would give it, read per tick with the kernel's
    bar rule (`as_get_signal`), so both paths trade the same."""
    from farm.kernel.lookahead import verify as verify_no_lookahead
    from farm.kernel.market import load_market
    from farm.kernel.signals import as_get_signal, compute_table

    schema = lane.runtime.schema
    ctx = lane.ctx
    assert ctx.frame_name is not None
    market = load_market(ctx.symbol, ctx.exchange_name, ctx.frame_name, client=lane.runtime.exchange)
    table = compute_table(schema.signals, market.signal_candles, schema.params,
                          f"strategy {schema.strategy_name}: signals")
    verify_no_lookahead(market, table, schema.signals, schema.params, name=schema.strategy_name)
    return GuardedCall(as_get_signal(table, market.step, market.frame_step), {})


def _names(lane: _Lane) -> dict[str, str]:
    return {"exchange_name": lane.ctx.exchange_name, "strategy_name": lane.runtime.name, "symbol": lane.ctx.symbol}


def _step(lane: _Lane, frames: np.ndarray, frame_list: list[int], i: int) -> Any:
    """Evaluate one strategy at frame `i` (SPEC §5.9 with D2); set where it goes next and return
    the result to yield, if any. The context must already be the lane's."""
    runtime = lane.runtime
    total = len(frame_list)
    if events.backtest_progress.has_listeners:
        events.backtest_progress.emit(BacktestProgress(
            total_frames=total, processed_frames=i, progress=i / total, **_names(lane)))
    if runtime.stopped:
        lane.done = True
        return None
    perf = lane.perf
    frame_started = time.perf_counter()
    t = frame_list[i]
    lane.next = i + 1
    try:
        result = runtime.tick(t)
        if result is not None:
            # A listener that raises fails this tick, like any other tick error (§15).
            _emit(lane.run.storages, result, runtime)
    except Exception as exc:  # noqa: BLE001
        runtime.report_error(exc, t, "tick")
        return None
    if result is None:
        # Idle and unobserved: jump to the next frame where get_signal may be called.
        if runtime.pending is None and runtime.scheduled is None and runtime.last_generation is not None:
            nxt = runtime.last_generation + runtime.interval_ms
            if i + 1 < total and frame_list[i + 1] < nxt:
                lane.next = max(int(frames.searchsorted(nxt)), i + 1)
        perf.record("backtest_timeframe", time.perf_counter() - frame_started)
        return None
    action = result.action
    if action == "idle" and runtime.stopped:
        lane.done = True
        return None
    if action == "scheduled" or action == "opened":
        signal_started = time.perf_counter()
        try:
            outcome = runtime.fast_forward()
            if outcome is not None:
                _emit(lane.run.storages, outcome, runtime)
        except Exception as exc:  # noqa: BLE001
            runtime.report_error(exc, t, "fast-forward")
            return None
        if outcome is None:
            return None
        perf.record("backtest_signal", time.perf_counter() - signal_started)
        perf.record("backtest_timeframe", time.perf_counter() - frame_started)
        if outcome.action != "active":
            # D2: the next frame evaluated is the first one strictly after the close.
            lane.next = max(bisect_right(frame_list, outcome.close_timestamp, i), i + 1)
        return outcome
    perf.record("backtest_timeframe", time.perf_counter() - frame_started)
    return None


def _emit(into: Storages, result: Any, runtime: StrategyRuntime) -> None:
    into.record(result, backtest=True)
    if runtime.partial_events:
        into.partial[(runtime.symbol, runtime.name)].extend(runtime.partial_events)
        runtime.partial_events.clear()
    if events.signal_backtest.has_listeners:
        events.signal_backtest.emit(result)
    if events.signal.has_listeners:
        events.signal.emit(result)


class BacktestFacade:
    """`farm.Backtest`: run, background, stop, get_data, get_report, dump, list."""

    def run(self, symbol: str, *, strategy_name: str, exchange_name: str, frame_name: str) -> Iterator[Any]:
        return run_backtest(symbol, strategy_name=strategy_name, exchange_name=exchange_name, frame_name=frame_name)

    def background(
        self, symbol: str, *, strategy_name: str, exchange_name: str, frame_name: str
    ) -> Callable[[], None]:
        """Run to completion on a thread, with the config in force now; emit done-backtest
        once; return a cancel function."""
        validate_names(strategy_name, exchange_name, frame_name)
        payload = DoneEvent(exchange_name=exchange_name, strategy_name=strategy_name, backtest=True, symbol=symbol)
        state = RunState()
        run = BackgroundRun(
            lambda: run_backtest(symbol, strategy_name=strategy_name, exchange_name=exchange_name,
                                 frame_name=frame_name, run=state),
            lambda: events.done_backtest.emit(payload),
            f"backtest-{symbol}-{strategy_name}",
        ).start()

        def cancel() -> None:
            run.cancelled.set()
            runtime = state.running.get((symbol, strategy_name))
            if runtime is not None:
                runtime.stop()
                if runtime.pending is None:
                    run.done()

        cancel.thread = run.thread  # type: ignore[attr-defined]
        return cancel

    def stop(self, symbol: str, strategy_name: str) -> None:
        runtime = storages.runtimes.get((symbol, strategy_name))
        if runtime is not None:
            runtime.stop()

    def get_data(self, symbol: str, strategy_name: str) -> Any:
        from farm.stats import backtest_statistics

        strategy_name = registry.get_strategy(strategy_name, source="Backtest.get_data").strategy_name
        return backtest_statistics(storages.backtest.get((symbol, strategy_name), []))

    def get_report(self, symbol: str, strategy_name: str) -> str:
        from farm.reports.backtest import render_backtest_report

        cfg = get_config()
        path = backtest_path(symbol, strategy_name)
        return render_backtest_report(
            strategy_name, self.get_data(symbol, strategy_name),
            show_note=cfg.report_show_signal_note, max_rows=cfg.report_max_rows,
            engine_path=None if path is None else str(path),
        )

    def dump(self, symbol: str, strategy_name: str, path: str | Path | None = None) -> Path:
        from farm.reports.files import write_report

        return write_report(self.get_report(symbol, strategy_name), "backtest", f"{strategy_name}.md", path)

    def plot(self, symbol: str, strategy_name: str, *, exchange_name: str, frame_name: str,
             path: str | Path | None = None) -> Path:
        """An interactive HTML chart of the last run (price with trades and TP/SL, equity,
        drawdown); self-contained. See `farm.reports.chart.plot_backtest`."""
        from farm.reports.chart import plot_backtest

        return plot_backtest(symbol, strategy_name, exchange_name=exchange_name, frame_name=frame_name, path=path)

    def list(self) -> list[dict[str, str | None]]:
        """Every (symbol, strategy) backtested in this process, with its status and the engine
        path its last run took ("kernel" or "per-tick"; `get_path` says why per tick)."""
        return [
            {"id": f"{s}:{n}", "symbol": s, "strategy_name": n, "status": status,
             "path": p.path if (p := storages.paths.get((s, n))) is not None else None}
            for (s, n), status in storages.status.items()
        ]

    def get_path(self, symbol: str, strategy_name: str) -> EnginePath | None:
        """Which engine the last backtest of (symbol, strategy) ran on, and why per tick."""
        return backtest_path(symbol, strategy_name)


Backtest = BacktestFacade()
