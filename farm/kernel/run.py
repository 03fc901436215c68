"""Backtest a vectorised strategy on the compiled kernel: load the candles once, compute the
strategy's per-bar rows, run the lifecycle in one compiled call, and build the same closed and
cancelled records the per-tick engine yields.

Two levels: `run_vectorised` (one registered strategy on one frame → records, like
`farm.Backtest.run`) and `Market` + `run_arrays` / `run_sweep` (trade arrays, no records) for
sweeps, where building a pydantic record per trade would cost more than the backtest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from farm import events, registry
from farm.config import EngineConfig, get_config
from farm.engine.exchange import ExchangeClient
from farm.engine.notes import normalize_note
from farm.engine.signals import build_row, signal_id
from farm.engine.strategy import TickError
from farm.errors import FarmError
from farm.intervals import MINUTE_MS, SIGNAL_INTERVALS
from farm.kernel.lookahead import verify as verify_no_lookahead
from farm.kernel.market import WARMUP_CANDLES, KernelConfig, KernelUnsupported, Market, load_market
from farm.kernel.partials import Milestone, milestones
from farm.kernel.signals import SignalTable, compute_table
from farm.models import (
    CancelledResult,
    ClosedResult,
    PnL,
    ScheduledResult,
    SignalRow,
    iso_ms,
)
from farm.schemas import StrategySchema

REASONS = ("take_profit", "stop_loss", "time_expired", "cancelled", "cancelled")
"""Close reason by kernel code (3: stop-loss before activation, 4: activation timeout)."""

_BAILS = {
    1: "no candle to resolve a signal on (the per-tick engine keeps it pending for live-style ticks)",
    2: "a scheduled signal still waiting where the data ends (the reference's `active` edge path)",
    3: "no candle within the gap tolerance of a scheduled signal's activation timeout",
    4: "a signal that ends too close to now (its closing candle may not exist yet)",
}


# ---- one run as arrays ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Trades:
    """The kernel's output, one entry per closed or cancelled signal, in time order."""

    tick: np.ndarray
    """Frame tick at which the signal was created (= scheduled_at)."""
    bar: np.ndarray
    """Index of the signal row in the strategy's table."""
    scheduled: np.ndarray
    """Whether it was created as a scheduled (limit) signal."""
    pending_at: np.ndarray
    close_timestamp: np.ndarray
    reason: np.ndarray
    """Codes of `REASONS`."""
    check_start: np.ndarray
    close_index: np.ndarray
    """Candle indices in the market: the first checked for TP/SL and the closing one."""
    price_open: np.ndarray
    price_close: np.ndarray
    """TP, SL or the closing VWAP; for a cancellation the VWAP at that candle."""
    pnl: np.ndarray
    """PnL percentage (SPEC §6); NaN for a cancellation."""
    current_price: np.ndarray
    """VWAP at creation."""
    error_tick: np.ndarray
    error_bar: np.ndarray
    error_scheduled: np.ndarray
    error_price: np.ndarray
    """Rejected signals (validation): tick, row, scheduled, VWAP — messages are rebuilt on demand."""

    def __len__(self) -> int:
        return len(self.tick)


def run_arrays(market: Market, table: SignalTable, interval: str | int, cfg: KernelConfig | None = None,
               now: int | None = None) -> Trades:
    """One strategy variant over `market`: the compiled lifecycle, trades as arrays."""
    from farm.engine.exchange import now_ms
    from farm.kernel import numba_kernel as nk

    cfg = cfg or KernelConfig.from_engine(get_config())
    interval_ms_ = interval if isinstance(interval, int) else SIGNAL_INTERVALS[interval] * MINUTE_MS
    bars = market.arrays.timestamp[market.signal_lo : market.signal_hi]
    if len(table) != len(bars) or (len(bars) and (table.timestamp[0] != bars[0] or table.timestamp[-1] != bars[-1])):
        raise FarmError("the signal table does not belong to this market's candles")
    if len(market.bad):
        raise KernelUnsupported("candles that failed the exchange checks (per tick they fail the ticks touching them)")
    frames = market.frames
    position, floats, modes = table.kernel_columns()
    a = market.arrays
    tpv = market.typical_volume()
    now = now_ms() if now is None else now
    # A bar is read at every attempt while it is the newest closed one, so trades and errors are
    # bounded by the ticks, not the signals: start from the signals and grow when full.
    capacity = int(np.count_nonzero(position)) + 1
    while True:
        out_i = np.empty((capacity, 8), dtype=np.int64)
        out_f = np.empty((capacity, 4), dtype=np.float64)
        err_i = np.empty((capacity, 3), dtype=np.int64)
        err_f = np.empty(capacity, dtype=np.float64)
        n_trades, n_errors, status, bail_k = nk.run_kernel(
            frames, bars, market.signal_lo, market.frame_step, interval_ms_,
            a.timestamp, a.high, a.low, a.close, a.volume, tpv, position, *floats, modes,
            market.step, cfg.n_avg, cfg.await_ms, cfg.tolerance_steps * market.step, now,
            cfg.slippage_pct, cfg.fee_pct, cfg.min_tp, cfg.min_sl, cfg.max_sl, cfg.max_life,
            out_i, out_f, err_i, err_f,
        )
        if status != nk.FULL:
            break
        if capacity > len(frames):  # each tick yields at most one trade or error
            raise FarmError("kernel output overflow: more trades or errors than frame ticks")
        capacity = min(capacity * 4, len(frames) + 1)
    if status != nk.OK:
        raise KernelUnsupported(f"at {iso_ms(int(frames[bail_k]))}: {_BAILS[status]}")
    oi, of = out_i[:n_trades], out_f[:n_trades]
    return Trades(
        tick=frames[oi[:, 0]], bar=oi[:, 1], scheduled=oi[:, 2].astype(bool), pending_at=oi[:, 3].copy(),
        close_timestamp=oi[:, 4].copy(), reason=oi[:, 5].copy(), check_start=oi[:, 6].copy(),
        close_index=oi[:, 7].copy(), price_open=of[:, 0].copy(), price_close=of[:, 1].copy(),
        pnl=of[:, 2].copy(), current_price=of[:, 3].copy(),
        error_tick=frames[err_i[:n_errors, 0]], error_bar=err_i[:n_errors, 1].copy(),
        error_scheduled=err_i[:n_errors, 2].astype(bool), error_price=err_f[:n_errors].copy(),
    )


def run_sweep(market: Market, fn: Callable[..., Any], variants: Iterable[Mapping[str, Any]], interval: str,
              cfg: KernelConfig | None = None) -> list[Trades]:
    """Many parameter sets of one vectorised strategy on one market (candles loaded once)."""
    cfg = cfg or KernelConfig.from_engine(get_config())
    out = []
    for params in variants:
        table = compute_table(fn, market.signal_candles, params, "signals")
        market.ensure_horizon(_max_lifetime(table, cfg), cfg)
        table = table.realigned(market.arrays.timestamp[market.signal_lo : market.signal_hi])
        verify_no_lookahead(market, table, fn, params, name=getattr(fn, "__qualname__", "signals"), sweep=True)
        out.append(run_arrays(market, table, interval, cfg))
    return out


def _max_lifetime(table: SignalTable, cfg: KernelConfig) -> float:
    met = table.minute_estimated_time[table.position != 0]
    met = met[np.isfinite(met) & (met > 0)]
    if cfg.max_life:
        met = met[met <= cfg.max_life]
    return float(met.max()) if len(met) else 0.0


def _realign(table: SignalTable, market: Market) -> SignalTable:
    """The table keeps its bars; after the series grew its timestamps are another array object."""
    ts = market.arrays.timestamp[market.signal_lo : market.signal_hi]
    if table.timestamp is ts:
        return table
    return SignalTable(ts, table.position, table.price_open, table.price_take_profit, table.price_stop_loss,
                       table.minute_estimated_time, table.note)


# ---- which path: the kernel or the per-tick engine ------------------------------------------


def kernel_blockers(schema: StrategySchema) -> list[str]:
    """Why this strategy must run per tick now (empty: the kernel reproduces the run exactly).

    Without a vectorised form that is the only reason given: the rest would depend on who happens
    to listen in this process (a Celery worker's progress forwarder), and the reason is stored
    with farm results, which must not differ between executors."""
    if schema.signals is None:
        return ["no vectorised form (signals=)"]
    out = []
    if schema.callbacks:
        out.append(f"strategy callbacks ({', '.join(sorted(schema.callbacks))}) run per tick")
    if schema.risk_names:
        out.append(f"risk profiles ({', '.join(schema.risk_names)}) validate per signal in Python")
    if events.signal.has_listeners or events.signal_backtest.has_listeners:
        out.append("signal listeners receive every tick result (idle, opened, active)")
    if events.backtest_progress.has_listeners or events.performance.has_listeners:
        out.append("progress/performance listeners receive one event per frame")
    return out


# ---- one registered strategy → records --------------------------------------------------------


@dataclass(eq=False)
class KernelRun:
    """A backtest on the kernel: what `farm.Backtest.run` would yield, plus the side records."""

    results: list[ClosedResult | CancelledResult]
    """Closed and cancelled results in the order the per-tick engine yields them."""
    scheduled: list[ScheduledResult]
    """Creation records of scheduled signals (the per-tick engine emits them; Schedule report)."""
    errors: list[TickError]
    """Signals rejected by validation, as the per-tick engine publishes them on listen_error."""
    trades: Trades
    path: str = "kernel"
    partials: list[list[Milestone]] = field(default_factory=list)
    """Per result (aligned with `results`), its partial milestones as the per-tick engine emits
    them during that signal's fast-forward (empty unless `run_vectorised(partials=True)`)."""


def run_vectorised(
    symbol: str, *, strategy_name: str, exchange_name: str, frame_name: str,
    warmup_candles: int = WARMUP_CANDLES, check: bool = True, partials: bool = True,
    client: ExchangeClient | None = None,
) -> KernelRun:
    """Backtest a registered strategy's vectorised form on the compiled kernel.

    Raises `KernelUnsupported` when the run needs the per-tick engine (see `kernel_blockers`,
    and the data edge cases the kernel stops at); nothing is recorded or emitted here.
    `client`: the run's client of `exchange_name` (its candle series are read and grown);
    None: a client of this call's own."""
    schema = registry.get_strategy(strategy_name, source="kernel")
    if check:
        blockers = kernel_blockers(schema)
        if blockers:
            raise KernelUnsupported(f"strategy {schema.strategy_name}: " + "; ".join(blockers))
    if schema.signals is None:
        raise KernelUnsupported(f"strategy {schema.strategy_name}: no vectorised form (signals=)")
    engine_cfg = get_config()
    cfg = KernelConfig.from_engine(engine_cfg)
    if client is None:
        client = ExchangeClient(registry.exchanges.get(exchange_name, source="kernel"))
    market = load_market(symbol, exchange_name, frame_name, warmup_candles=warmup_candles, client=client)
    table = compute_table(schema.signals, market.signal_candles, schema.params, f"strategy {schema.strategy_name}: signals")
    market.ensure_horizon(_max_lifetime(table, cfg), cfg)
    table = _realign(table, market)
    trades = run_arrays(market, table, schema.interval, cfg)
    names = {"strategy_name": schema.strategy_name, "exchange_name": exchange_name, "symbol": symbol}
    results, scheduled = _records(trades, table, names)
    errors = _errors(trades, table, names, engine_cfg)
    run = KernelRun(results=results, scheduled=scheduled, errors=errors, trades=trades)
    if partials:
        run.partials = _milestones(market, trades, results, symbol, client, engine_cfg)
    verify_no_lookahead(market, table, schema.signals, schema.params, name=schema.strategy_name,
                        get_signal=schema.get_signal, run=(symbol, exchange_name, frame_name), client=client)
    return run


def _milestones(market: Market, trades: Trades, results: list[ClosedResult | CancelledResult], symbol: str,
                client: ExchangeClient, cfg: EngineConfig) -> list[list[Milestone]]:
    """Partial milestones on the candle series the kernel read (the run's client's, so its VWAPs
    are the per-tick engine's bit for bit)."""
    series = client.series(symbol, cfg.base_interval)
    if series.arrays is not market.arrays:
        raise FarmError("the candle series changed after the kernel ran: its candle indices no longer apply")
    return milestones(series, trades, results, int(cfg.avg_price_candles_count))


def _row(table: SignalTable, bar: int, tick: int, price_open: float, names: dict[str, str],
         notes: dict[str | None, str]) -> dict[str, Any]:
    raw = table.note_at(bar)
    if isinstance(raw, str) or raw is None:  # normalised once per distinct note
        note = notes.get(raw)
        if note is None:
            note = notes[raw] = normalize_note(raw)
    else:
        note = normalize_note(raw)
    met = float(table.minute_estimated_time[bar])
    return {
        "id": signal_id(names["exchange_name"], names["strategy_name"], names["symbol"], tick),
        "position": "long" if table.position[bar] > 0 else "short",
        "price_open": price_open,
        "price_take_profit": float(table.price_take_profit[bar]),
        "price_stop_loss": float(table.price_stop_loss[bar]),
        "minute_estimated_time": int(met),
        "note": note,
        **names,
        "scheduled_at": tick,
        "pending_at": tick,
    }


def _records(trades: Trades, table: SignalTable, names: dict[str, str]
             ) -> tuple[list[ClosedResult | CancelledResult], list[ScheduledResult]]:
    results: list[ClosedResult | CancelledResult] = []
    scheduled: list[ScheduledResult] = []
    notes: dict[str | None, str] = {}
    cols = zip(
        trades.tick.tolist(), trades.bar.tolist(), trades.scheduled.tolist(), trades.pending_at.tolist(),
        trades.close_timestamp.tolist(), trades.reason.tolist(), trades.price_open.tolist(),
        trades.price_close.tolist(), trades.pnl.tolist(), trades.current_price.tolist(), strict=True,
    )
    for tick, bar, is_sched, pending_at, close_ts, reason, po, pc, pnl, cur in cols:
        row = _row(table, bar, tick, po, names, notes)
        if is_sched:
            sched_row = SignalRow(**row, is_scheduled=True)
            scheduled.append(ScheduledResult(signal=sched_row, current_price=cur, **names))
            if reason >= 3:
                results.append(CancelledResult(signal=sched_row, current_price=pc, close_timestamp=close_ts, **names))
                continue
        signal = SignalRow(**{**row, "pending_at": pending_at}, is_scheduled=False)
        results.append(ClosedResult(
            signal=signal, current_price=pc, close_reason=REASONS[reason], close_timestamp=close_ts,
            pnl=PnL(pnl_percentage=pnl, price_open=po, price_close=pc), **names,
        ))
    return results, scheduled


def _errors(trades: Trades, table: SignalTable, names: dict[str, str], cfg: EngineConfig) -> list[TickError]:
    """Rebuild, for each rejected signal, the exact error the per-tick engine publishes."""
    out = []
    for tick, bar, price in zip(trades.error_tick.tolist(), trades.error_bar.tolist(), trades.error_price.tolist(),
                                strict=True):
        dto = table.dto(bar)
        try:
            build_row(dto, current_price=price, timestamp=tick, config=cfg, **names)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the expected validation error
            err = TickError(
                f"strategy {names['strategy_name']} symbol {names['symbol']} at {iso_ms(tick)} (get_signal): "
                f"{type(exc).__name__}: {exc}",
                strategy_name=names["strategy_name"], symbol=names["symbol"], timestamp=tick,
            )
            err.__cause__ = exc
            out.append(err)
        else:
            raise FarmError(f"kernel rejected the signal at {iso_ms(tick)} but the validator accepts it")
    return out


__all__ = [
    "KernelRun",
    "REASONS",
    "Trades",
    "kernel_blockers",
    "run_arrays",
    "run_sweep",
    "run_vectorised",
]
