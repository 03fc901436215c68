"""The signal lifecycle compiled (numba, nopython, cached): generation attempts, immediate and
scheduled entries, TP/SL/expiry and PnL for one strategy over one frame, in one call.

It restates `farm.engine.lifecycle` and the fast-forward of `farm.engine.strategy` rule for rule
(SPEC §5.4–§5.8, §6 with D1–D3, D11), with the same floating-point operations in the same
order — VWAPs summed left to right, PnL with the same expression — because parity with the
per-tick engine means equal prices and PnL, not merely close ones. No `fastmath`: it would let
LLVM reorder those sums.

Where the per-tick engine leaves the fast-forward (no candle after a signal yet, a scheduled
signal still waiting where the data ends) it continues with live-style ticks; the kernel does
not model that and stops with a "bail" status instead, so the caller can run the per-tick
engine. Partial profit/loss milestones (§7) are not computed here.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from farm.kernel.indicators import next_set

MINUTE_MS = 60_000

TAKE_PROFIT = 0
STOP_LOSS = 1
TIME_EXPIRED = 2
CANCEL_STOP_LOSS = 3
CANCEL_TIMEOUT = 4

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
"""More trades or errors than the output arrays hold (frames read bars more than once)."""

_JIT = {"cache": True, "nogil": True}


@nb.njit(**_JIT)
def _seek(a: np.ndarray, v: int, hint: int, right: bool) -> int:
    """In the sorted `a`, the first index whose value is >= v (> v if `right`), as
    `np.searchsorted(a, v, "right" if right else "left")`, searched from `hint`, an index near
    the answer: exponential steps away from the hint, then bisection. The kernel's searches land a few
    candles from where it already is, so this reads a handful of nearby elements where a
    bisection of the whole series would miss the cache some twenty times."""
    n = len(a)
    hint = min(max(hint, 0), n)
    if hint < n and (a[hint] <= v if right else a[hint] < v):  # the answer is after the hint
        lo = hint + 1
        d = 1
        hi = hint + d
        while hi < n and (a[hi] <= v if right else a[hi] < v):
            lo = hi + 1
            d *= 2
            hi = hint + d
        hi = min(hi, n)
    else:  # the answer is at or before the hint
        hi = hint
        d = 1
        lo = hint - d
        while lo >= 0 and (a[lo] > v if right else a[lo] >= v):
            hi = lo
            d *= 2
            lo = hint - d
        lo = max(lo + 1, 0)
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] <= v if right else a[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(**_JIT)
def _vwap(high: np.ndarray, low: np.ndarray, close: np.ndarray, vol: np.ndarray, i0: int, i1: int) -> float:
    """`CandleSeries.vwap`: left-to-right sums of the engine's typical·volume terms (the same
    expression, so the same bits: no array of them is kept); the mean close when nothing traded."""
    s_pv = 0.0
    s_v = 0.0
    for k in range(i0, i1):
        s_pv += (high[k] + low[k] + close[k]) / 3 * vol[k]
        s_v += vol[k]
    if s_v == 0:
        s_c = 0.0
        for k in range(i0, i1):
            s_c += close[k]
        return s_c / (i1 - i0)
    return s_pv / s_v


@nb.njit(**_JIT)
def _vwap_ending(ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, vol: np.ndarray, j: int,
                 n: int, step: int) -> float:
    """`CandleSeries.vwap_ending`: the current price once candle `j` has closed."""
    i0 = _seek(ts, ts[j] - (n - 1) * step, j - n + 1, False)
    return _vwap(high, low, close, vol, i0, j + 1)


@nb.njit(**_JIT)
def pnl(side: int, price_open: float, price_close: float, slippage_pct: float, fee_pct: float) -> float:
    """`farm.engine.pnl.pnl_percentage`, the same expression."""
    s = slippage_pct / 100
    if side > 0:
        open_ = price_open * (1 + s)
        close_ = price_close * (1 - s)
        return (close_ - open_) / open_ * 100 - 2 * fee_pct
    open_ = price_open * (1 - s)
    close_ = price_close * (1 + s)
    return (open_ - close_) / open_ * 100 - 2 * fee_pct


@nb.njit(**_JIT)
def _ok_price(v: float) -> bool:
    return np.isfinite(v) and v > 0


@nb.njit(**_JIT)
def valid(
    side: int, po: float, tp: float, sl: float, met: float, cur: float, t: int, scheduled: bool,
    min_tp: float, min_sl: float, max_sl: float, max_life: float,
) -> bool:
    """Whether `farm.engine.validation.validate_signal` passes the numeric rules (SPEC §5.5) —
    the identity rules hold by construction. The message of a failure is rebuilt in Python."""
    if not (_ok_price(cur) and _ok_price(po) and _ok_price(tp) and _ok_price(sl)):
        return False
    if side > 0:
        if tp <= po or sl >= po:
            return False
        if scheduled:
            if po <= sl or po >= tp:
                return False
        elif cur <= sl or cur >= tp:
            return False
        tp_dist = (tp - po) / po * 100
        sl_dist = (po - sl) / po * 100
    else:
        if tp >= po or sl <= po:
            return False
        if scheduled:
            if po >= sl or po <= tp:
                return False
        elif cur >= sl or cur <= tp:
            return False
        tp_dist = (po - tp) / po * 100
        sl_dist = (sl - po) / po * 100
    if min_tp != 0 and tp_dist < min_tp:
        return False
    if min_sl != 0 and sl_dist < min_sl:
        return False
    if max_sl != 0 and sl_dist > max_sl:
        return False
    if not (np.isfinite(met) and met > 0 and met == np.floor(met)):
        return False
    if max_life != 0 and met > max_life:
        return False
    return t > 0


@nb.njit(**_JIT)
def _row(mode: int, bar: int, rank: int) -> int:
    """Where bar `bar` (the `rank`-th signal) reads a column of the given mode."""
    if mode == 0:
        return 0
    return bar if mode == 1 else rank


@nb.njit(**_JIT)
def run_kernel(
    frames: np.ndarray, bar_open: np.ndarray, bar_base: int, frame_step: int, interval_ms: int,
    ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, vol: np.ndarray,
    position: np.ndarray, price_open: np.ndarray, take_profit: np.ndarray, stop_loss: np.ndarray,
    lifetime: np.ndarray, col_mode: np.ndarray,
    step: int, n_avg: int, await_ms: int, tolerance: int, now: int,
    slippage_pct: float, fee_pct: float, min_tp: float, min_sl: float, max_sl: float, max_life: float,
    out_i: np.ndarray, out_f: np.ndarray, err_i: np.ndarray, err_f: np.ndarray,
) -> tuple[int, int, int, int]:
    """Run one strategy over the frame ticks `frames`. The signal rows belong to the bars with
    open times `bar_open` (candles `bar_base …` of `ts`); tick t reads the newest bar that closed in `(t − frame_step, t]`, if
    any (`farm.kernel.signals`), found by a pointer walked alongside the ticks (both sorted).
    `col_mode` says per float column (price_open, take_profit, stop_loss, lifetime) how it is
    indexed: 0 one value for all bars, 1 per bar, 2 per signal (the rank of the bar among the
    bars with a position, counted alongside). Writes one row per trade into `out_i` (int64 columns: tick, bar,
    scheduled, pending_at, close_ts, reason, check_start, close_index) and `out_f` (float64:
    price_open, price_close, pnl, current price at creation), one row per rejected signal into
    `err_i` (tick index, bar, scheduled) / `err_f` (current price).

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
            nxt = _seek(frames, last + interval_ms, k, False)
            k = nxt if nxt > k else k + 1
            continue
        has_last = True
        last = t
        if j + 1 < nbars and bar_open[j + 1] + step <= t:  # the newest bar closed by t
            j = _seek(bar_open, t - step, j + 1, True) - 1
        if j < 0 or bar_open[j] + step <= t - frame_step or position[j] == 0:
            # No signal until bar q: the ticks before the first one that can read it yield
            # nothing, so jump there — when that tick is an attempt whatever came before it
            # (at least the strategy interval after the tick before it), which is what the
            # throttle would have made of it step by step.
            q = next_set(position, words, j + 1)
            if q >= nbars:
                break
            nxt = _seek(frames, bar_open[q] + step, k + 1, False)
            if nxt > k + 1 and (nxt == nf or frames[nxt] - frames[nxt - 1] >= interval_ms):
                k = nxt
                j = q - 1
                continue
            k += 1
            continue
        b = j
        # §5.4 step 3 (D1): the VWAP of the closed base candles in [t − N·step, t); none = a gap.
        i1 = _seek(ts, t, bar_base + j + 1, False)
        i0 = _seek(ts, t - n_avg * step, i1 - n_avg, False)
        if i1 <= i0:
            k += 1
            continue
        cur = _vwap(high, low, close, vol, i0, i1)
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
        if not valid(side, po, tp, sl, met, cur, t, scheduled, min_tp, min_sl, max_sl, max_life):
            err_i[n_errors, 0] = k
            err_i[n_errors, 1] = b
            err_i[n_errors, 2] = 1 if scheduled else 0
            err_f[n_errors] = cur
            n_errors += 1
            k += 1
            continue

        # ---- §5.8 scheduled phase ------------------------------------------------------
        reason = -1
        close_index = -1
        price_close = 0.0
        pending_at = t
        if scheduled:
            start = i1
            if start >= nc:
                return n_trades, n_errors, BAIL_NO_CANDLES, k
            timeout_at = t + await_ms
            timeout_index = _seek(ts, timeout_at, start + await_ms // step, False)
            end = timeout_index if timeout_index < nc else nc
            hit = -1
            cancel = False
            for c in range(start, end):
                if side > 0:
                    if low[c] <= sl:
                        hit, cancel = c, True
                        break
                    if low[c] <= po:
                        hit = c
                        break
                else:
                    if high[c] >= sl:
                        hit, cancel = c, True
                        break
                    if high[c] >= po:
                        hit = c
                        break
            if hit < 0:
                if timeout_index >= nc:
                    return n_trades, n_errors, BAIL_STILL_WAITING, k
                if ts[timeout_index] >= timeout_at + tolerance or timeout_at + tolerance >= now:
                    return n_trades, n_errors, BAIL_TIMEOUT_GAP, k
                reason = CANCEL_TIMEOUT
                close_index = timeout_index
            elif cancel:
                reason = CANCEL_STOP_LOSS
                close_index = hit
            if reason >= 0:
                price_close = _vwap_ending(ts, high, low, close, vol, close_index, n_avg, step)
                anchor = close_index
                check_start = close_index
            else:
                pending_at = ts[hit]
                anchor = hit
                check_start = hit + 1
        else:
            anchor = i1
            check_start = anchor

        # ---- §5.8 pending phase with D3 and D11 ------------------------------------------
        if reason < 0:
            span = np.int64(met * MINUTE_MS)
            last_slot = pending_at + (span - 1) // step * step
            end = _seek(ts, last_slot, anchor + (last_slot - pending_at) // step, False)
            if end < anchor:
                end = anchor
            if end >= nc or ts[end] > last_slot + tolerance:
                if last_slot + tolerance >= now:
                    return n_trades, n_errors, BAIL_RECENT, k
                end -= 1
                if end < anchor:
                    return n_trades, n_errors, BAIL_NO_CANDLES, k
            close_index = end
            reason = TIME_EXPIRED
            for c in range(check_start, end + 1):
                if side > 0:
                    if high[c] >= tp:
                        reason, close_index = TAKE_PROFIT, c
                        break
                    if low[c] <= sl:
                        reason, close_index = STOP_LOSS, c
                        break
                else:
                    if low[c] <= tp:
                        reason, close_index = TAKE_PROFIT, c
                        break
                    if high[c] >= sl:
                        reason, close_index = STOP_LOSS, c
                        break
            if reason == TAKE_PROFIT:
                price_close = tp
            elif reason == STOP_LOSS:
                price_close = sl
            else:
                price_close = _vwap_ending(ts, high, low, close, vol, close_index, n_avg, step)

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
        out_f[n_trades, 2] = pnl(side, po, price_close, slippage_pct, fee_pct) if reason <= TIME_EXPIRED else np.nan
        out_f[n_trades, 3] = cur
        n_trades += 1
        # D2: the next frame evaluated is the first one strictly after the close.
        nxt = _seek(frames, close_ts, k + (close_ts - t) // frame_step, True)
        k = nxt if nxt > k else k + 1
    return n_trades, n_errors, OK, -1
