"""The vectorised strategy's driver, compiled (numba, nopython, cached): generation attempts
for one strategy over one frame, in one call.

The lifecycle's rules are not here: the current price (D1), numeric validation, the scheduled
and pending phases (§5.8 with D3, D11), close prices and PnL are the compiled steps of
`farm.engine.steps`, the very functions the per-tick engine calls. This module keeps only what
is the kernel's own: the throttle (§5.4 step 2), the bar pointer (which row a tick reads) and
D2 (the next tick after a close).

Where the per-tick engine leaves the fast-forward (no candle after a signal yet, a scheduled
signal still waiting where the data ends) it continues with live-style ticks; the kernel does
not model that and stops with a "bail" status instead, so the caller can run the per-tick
engine. Partial profit/loss milestones (§7) are not computed here (`farm.kernel.partials`).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from farm.engine import steps
from farm.engine.steps import CANCEL_STOP_LOSS, CANCEL_TIMEOUT, STOP_LOSS, TAKE_PROFIT, TIME_EXPIRED
from farm.kernel.indicators import next_set

OK = 0
BAIL_NO_CANDLES = 1
"""The fast-forward found no candle to resolve a signal on (the per-tick engine keeps it)."""
BAIL_STILL_WAITING = 2
"""A scheduled signal neither activated nor cancelled where the data ends (§5.9 edge path)."""
BAIL_TIMEOUT_GAP = 3
"""No candle within the gap tolerance of a scheduled signal's timeout: what the per-tick engine
does then depends on how far it happened to load, so the kernel does not guess."""
BAIL_RECENT = 4
"""A signal ending so close to now that its closing candle may not exist yet."""
FULL = 5
"""More trades or errors than the output arrays hold: the caller grows them and runs again."""

__all__ = ["CANCEL_STOP_LOSS", "CANCEL_TIMEOUT", "STOP_LOSS", "TAKE_PROFIT", "TIME_EXPIRED", "run_kernel"]

_JIT = {"cache": True, "nogil": True}


@nb.njit(**_JIT)
def _row(mode: int, bar: int, rank: int) -> int:
    """Where bar `bar` (the `rank`-th signal) reads a column of the given mode."""
    if mode == 0:
        return 0
    return bar if mode == 1 else rank


@nb.njit(**_JIT)
def run_kernel(
    frames: np.ndarray, bar_open: np.ndarray, bar_base: int, frame_step: int, interval_ms: int,
    ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, vol: np.ndarray, tpv: np.ndarray,
    position: np.ndarray, price_open: np.ndarray, take_profit: np.ndarray, stop_loss: np.ndarray,
    lifetime: np.ndarray, col_mode: np.ndarray,
    step: int, n_avg: int, await_ms: int, tolerance: int, now: int,
    slippage_pct: float, fee_pct: float, min_tp: float, min_sl: float, max_sl: float, max_life: float,
    out_i: np.ndarray, out_f: np.ndarray, err_i: np.ndarray, err_f: np.ndarray,
) -> tuple[int, int, int, int]:
    """Run one strategy over the frame ticks `frames`. The signal rows belong to the bars with
    open times `bar_open` (candles `bar_base …` of `ts`; `tpv` is `steps.typical_volume` of the
    candles). Each generation attempt at tick t reads the row of the newest bar closed by t
    (`open + step <= t`), what `get_signal` sees then — again at a later attempt if no newer
    bar closed in between (a gap, a strategy interval coarser than the candles); the pointer to
    it is walked alongside the ticks (both sorted). `col_mode` says per float column
    (price_open, take_profit, stop_loss, lifetime) how it is indexed: 0 one value for all bars,
    1 per bar, 2 per signal (the rank of the bar among the bars with a position, counted
    alongside). Writes one row per trade into `out_i` (int64 columns: tick, bar, scheduled,
    pending_at, close_ts, reason, check_start, close_index) and `out_f` (float64: price_open,
    price_close, pnl, current price at creation), one row per rejected signal into `err_i`
    (tick index, bar, scheduled) / `err_f` (current price). `frame_step` only guides searches.

    Returns (trades, errors, status, tick index where it bailed or −1)."""
    nf = len(frames)
    nc = len(ts)
    nbars = len(bar_open)
    per_signal = False
    for c in range(4):
        per_signal = per_signal or col_mode[c] == 2
    counted = 0  # bars whose positions are counted in `rank`
    rank = 0
    words = position[: nbars // 8 * 8].view(np.uint64)
    n_trades = 0
    n_errors = 0
    k = 0
    j = -1
    has_last = False
    last = 0
    while k < nf:
        t = frames[k]
        # §5.4 step 2: the throttle; an attempt consumes the slot whatever it yields.
        if has_last and t - last < interval_ms:
            nxt = steps.seek(frames, last + interval_ms, k, False)
            k = nxt if nxt > k else k + 1
            continue
        has_last = True
        last = t
        if j + 1 < nbars and bar_open[j + 1] + step <= t:  # a newer bar closed: move to the newest
            j = steps.newest_closed(bar_open, t, step, j + 1)
        if j < 0 or position[j] == 0:
            # No signal until bar q: the ticks before the first one that can read it yield
            # nothing, so jump there — when that tick is an attempt whatever came before it
            # (at least the strategy interval after the tick before it), which is what the
            # throttle would have made of it step by step.
            q = next_set(position, words, j + 1)
            if q >= nbars:
                break
            nxt = steps.seek(frames, bar_open[q] + step, k + 1, False)
            if nxt > k + 1 and (nxt == nf or frames[nxt] - frames[nxt - 1] >= interval_ms):
                k = nxt
                j = q - 1
                continue
            k += 1
            continue
        b = j
        # §5.4 step 3: the current price (D1); no closed candle in its window = a gap, no signal.
        i0, i1, cur = steps.average_price(ts, tpv, vol, close, t, n_avg, step, bar_base + j + 1)
        if i1 <= i0:
            k += 1
            continue
        side = 1 if position[b] > 0 else -1
        if per_signal:
            q = next_set(position, words, counted)
            while q < b:
                rank += 1
                q = next_set(position, words, q + 1)
            counted = b
        po = price_open[_row(col_mode[0], b, rank)]
        if np.isnan(po):
            po = cur
            scheduled = False
        else:
            scheduled = not ((side > 0 and cur <= po) or (side < 0 and cur >= po))
        tp = take_profit[_row(col_mode[1], b, rank)]
        sl = stop_loss[_row(col_mode[2], b, rank)]
        met = lifetime[_row(col_mode[3], b, rank)]
        if n_trades >= len(out_i) or n_errors >= len(err_i):
            return n_trades, n_errors, FULL, k
        if not steps.signal_valid(side, po, tp, sl, met, cur, t, scheduled, min_tp, min_sl, max_sl, max_life):
            err_i[n_errors, 0] = k
            err_i[n_errors, 1] = b
            err_i[n_errors, 2] = 1 if scheduled else 0
            err_f[n_errors] = cur
            n_errors += 1
            k += 1
            continue
        # The candles after the tick: the first one opening at or after it (off grid, the one
        # forming at t began before the signal existed).
        first = steps.seek(ts, t, i1, False)

        reason = -1
        close_index = -1
        price_close = 0.0
        pending_at = t
        if scheduled:  # §5.8 scheduled phase
            if first >= nc:
                return n_trades, n_errors, BAIL_NO_CANDLES, k
            timeout_at = t + await_ms
            code, hit = steps.scan_scheduled(side, po, sl, ts, high, low, first, timeout_at)
            if code == steps.WAITING:
                return n_trades, n_errors, BAIL_STILL_WAITING, k
            if code == CANCEL_TIMEOUT and (ts[hit] >= timeout_at + tolerance or timeout_at + tolerance >= now):
                return n_trades, n_errors, BAIL_TIMEOUT_GAP, k
            if code == steps.ACTIVATE:
                pending_at = ts[hit]
                anchor = hit
                check_start = hit + 1
            else:
                reason = code
                close_index = hit
                check_start = hit
                price_close = steps.vwap_ending(ts, tpv, vol, close, hit, n_avg, step)
        else:
            anchor = first
            check_start = first

        if reason < 0:  # §5.8 pending phase with D3 and D11
            end, status = steps.lifetime_end(ts, anchor, pending_at, met, step, tolerance, now)
            if status == steps.END_RECENT:
                return n_trades, n_errors, BAIL_RECENT, k
            if status == steps.END_NO_CANDLES:
                return n_trades, n_errors, BAIL_NO_CANDLES, k
            reason, close_index, price_close = steps.resolve_pending(
                side, tp, sl, ts, high, low, tpv, vol, close, check_start, end, n_avg, step)

        close_ts = ts[close_index]
        out_i[n_trades, 0] = k
        out_i[n_trades, 1] = b
        out_i[n_trades, 2] = 1 if scheduled else 0
        out_i[n_trades, 3] = pending_at
        out_i[n_trades, 4] = close_ts
        out_i[n_trades, 5] = reason
        out_i[n_trades, 6] = check_start
        out_i[n_trades, 7] = close_index
        out_f[n_trades, 0] = po
        out_f[n_trades, 1] = price_close
        out_f[n_trades, 2] = (steps.pnl(side, po, price_close, slippage_pct, fee_pct)
                              if reason <= TIME_EXPIRED else np.nan)
        out_f[n_trades, 3] = cur
        n_trades += 1
        # D2: the next frame evaluated is the first one strictly after the close.
        nxt = steps.seek(frames, close_ts, k + (close_ts - t) // frame_step, True)
        k = nxt if nxt > k else k + 1
    return n_trades, n_errors, OK, -1
