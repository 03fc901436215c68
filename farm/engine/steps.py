"""The lifecycle's rules, each once, as small compiled steps that both engines call.

The per-tick engine (`farm.engine.strategy` and the exchange client's VWAP) and the vectorised
kernel (`farm.kernel.numba_kernel.run_kernel`) used to state these rules twice, once in numpy
and once in numba; two copies drift, and a loop variable in one copy once returned 2 trades
instead of 61. So every rule that decides a price, a candle or a validity lives here and only
here (SPEC §3.4 with D1, §5.5 numbers, §5.8 with D3 and D11, §6, §7.1):

* `newest_closed`: the newest candle closed at a tick (the bar a generation attempt reads);
* windows and VWAP: `closed_window`/`average_price` (the "current price" at a tick, D1),
  `ending_start`/`vwap_ending`/`vwaps_ending` (the price once a candle closed), `vwap`;
* `scan_scheduled`: a scheduled signal's activation, stop-loss cancel or timeout over candles;
* `lifetime_end` and `resolve_pending`: a pending signal's lifetime candles, TP/SL/expiry and
  its close price;
* `pnl` (§6), `progress`/`progress_many` (§7.1), `check_numbers` (§5.5 numeric rules, as a
  bit mask the validator renders into messages).

Engines add only their own driving: the per-tick engine its I/O (loading candles, callbacks,
risk, records), the kernel its throttle, bar pointer and D2.

Bit-for-bit parity is the point, so: no `fastmath` (LLVM would reorder the sums), every sum
left to right, typical price·volume computed by one expression (`typical_volume`). Functions
are compiled on first use and cached on disk; calling one from Python costs about a
microsecond, so the per-tick engine calls them once per tick or per signal, never per candle.

Off-grid ticks (a tick that is not a multiple of the base step: a 1m frame over 5m candles, a
1h frame starting at :30): only candles with `open + step <= t` have closed at `t`, so the
current price uses the last N closed candles, open times in `[a − N·step, a)` with
`a = floor(t/step)·step` (D1). A signal created at such a tick is resolved on the candles that
open at or after it (SPEC §5.8: "from `pending_at`"; the candle forming at the tick began
before the signal existed): a scheduled signal's activation scan and an immediate signal's
first TP/SL check both start at the first candle with `open >= t`. Its lifetime candles end
with the last one opening at or before `pending_at + mET − 1 ms` (D11: `pending_at + (mET−1)`
min for whole-minute times), the first candle after that when there is none in between.
"""

from __future__ import annotations

import numba as nb
import numpy as np

MINUTE_MS = 60_000

# Outcome codes shared by the scans and the kernel's records.
TAKE_PROFIT = 0
STOP_LOSS = 1
TIME_EXPIRED = 2
CANCEL_STOP_LOSS = 3
CANCEL_TIMEOUT = 4
ACTIVATE = 5
WAITING = -1
"""A scheduled signal neither activated, cancelled nor timed out where the candles end."""

# `lifetime_end` statuses.
END_OK = 0
END_NO_CANDLES = 1
"""No candle at or after the signal's anchor: nothing to resolve it on yet."""
END_RECENT = 2
"""The closing candle may still arrive (its time is too close to now)."""

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
"""No fastmath; the numpy error model: a division by zero gives ±inf or NaN as in JavaScript
(and costs no check per division) instead of raising."""


# ---- searching ---------------------------------------------------------------------------


@nb.njit(**_JIT)
def seek(a: np.ndarray, v: int, hint: int, right: bool) -> int:
    """In the sorted `a`, the first index whose value is >= v (> v if `right`), as
    `np.searchsorted(a, v, "right" if right else "left")`, searched from `hint`, an index near
    the answer: exponential steps away from the hint, then bisection. The engines' searches
    land a few candles from where they already are, so this reads a handful of nearby elements
    where a bisection of the whole series would miss the cache some twenty times."""
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
def newest_closed(opens: np.ndarray, t: int, step: int, hint: int) -> int:
    """D1: the index of the newest candle (or bar) closed by tick `t` — the last with
    `open + step <= t` — or −1 if none: what a strategy sees as its newest candle at `t`, and so
    the vectorised row a generation attempt at `t` reads (again at a later attempt while no newer
    one closed)."""
    return seek(opens, t - step, hint, True) - 1


# ---- VWAP (SPEC §3.4 with D1) -------------------------------------------------------------


@nb.njit(**_JIT)
def typical_volume(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Per candle `(high + low + close) / 3 · volume`, the VWAP's numerator terms: computed by
    this one expression everywhere, so every engine sums the same bits."""
    out = np.empty(len(high))
    for k in range(len(high)):
        out[k] = (high[k] + low[k] + close[k]) / 3 * volume[k]
    return out


@nb.njit(**_JIT)
def vwap(tpv: np.ndarray, volume: np.ndarray, close: np.ndarray, i0: int, i1: int) -> float:
    """VWAP of candles `[i0, i1)`: Σ typical·volume / Σ volume summed left to right, or the mean
    close when nothing traded. `tpv` is `typical_volume` of the series."""
    s_pv = 0.0
    s_v = 0.0
    for k in range(i0, i1):
        s_pv += tpv[k]
        s_v += volume[k]
    if s_v == 0:
        s_c = 0.0
        for k in range(i0, i1):
            s_c += close[k]
        return s_c / (i1 - i0)
    return s_pv / s_v


@nb.njit(**_JIT)
def closed_window(ts: np.ndarray, t: int, n: int, step: int, hint: int) -> tuple[int, int]:
    """D1: the candles closed at tick `t` that make its current price, `[i0, i1)` = open times
    in `[a − n·step, a)` with `a = floor(t/step)·step` (fewer where the data has gaps; i0 == i1
    when none). `hint`: an index near `i1`."""
    a = t // step * step
    i1 = seek(ts, a, hint, False)
    i0 = seek(ts, a - n * step, i1 - n, False)
    return i0, i1


@nb.njit(**_JIT)
def average_price(ts: np.ndarray, tpv: np.ndarray, volume: np.ndarray, close: np.ndarray, t: int, n: int,
                  step: int, hint: int) -> tuple[int, int, float]:
    """The current price at tick `t` (SPEC §3.4 with D1): (i0, i1, VWAP of `closed_window`);
    NaN when the window holds no candle."""
    i0, i1 = closed_window(ts, t, n, step, hint)
    if i1 <= i0:
        return i0, i1, np.nan
    return i0, i1, vwap(tpv, volume, close, i0, i1)


@nb.njit(**_JIT)
def ending_start(ts: np.ndarray, j: int, n: int, step: int) -> int:
    """First candle of the window of the `n` base slots ending with candle `j`: open times in
    `(ts_j − n·step, ts_j]`."""
    return seek(ts, ts[j] - (n - 1) * step, j - n + 1, False)


@nb.njit(**_JIT)
def vwap_ending(ts: np.ndarray, tpv: np.ndarray, volume: np.ndarray, close: np.ndarray, j: int, n: int,
                step: int) -> float:
    """The current price once candle `j` has closed: VWAP of its `ending_start` window."""
    return vwap(tpv, volume, close, ending_start(ts, j, n, step), j + 1)


@nb.njit(**_JIT)
def vwaps_ending(ts: np.ndarray, tpv: np.ndarray, volume: np.ndarray, close: np.ndarray, i0: int, i1: int,
                 n: int, step: int) -> np.ndarray:
    """`vwap_ending(j)` for every candle j in `[i0, i1)`."""
    out = np.empty(max(i1 - i0, 0))
    for j in range(i0, i1):
        out[j - i0] = vwap_ending(ts, tpv, volume, close, j, n, step)
    return out


# ---- §5.8 scheduled phase ---------------------------------------------------------------


@nb.njit(**_JIT)
def scan_scheduled(side: int, price_open: float, stop_loss: float, ts: np.ndarray, high: np.ndarray,
                   low: np.ndarray, start: int, timeout_at: int) -> tuple[int, int]:
    """A scheduled signal over candles from `start` (the first opening at or after its creation):
    (code, candle). The first candle that touches the stop-loss cancels (`CANCEL_STOP_LOSS`; it
    wins over activation on one candle) or touches the entry (`ACTIVATE`), before the first
    candle at or past `timeout_at` = scheduled_at + AWAIT, which cancels (`CANCEL_TIMEOUT`);
    `WAITING` (at the last candle) when the candles end first."""
    nc = len(ts)
    timeout_index = seek(ts, timeout_at, start, False)
    end = timeout_index if timeout_index < nc else nc
    for c in range(start, end):
        if side > 0:
            if low[c] <= stop_loss:
                return CANCEL_STOP_LOSS, c
            if low[c] <= price_open:
                return ACTIVATE, c
        else:
            if high[c] >= stop_loss:
                return CANCEL_STOP_LOSS, c
            if high[c] >= price_open:
                return ACTIVATE, c
    if timeout_index < nc:
        return CANCEL_TIMEOUT, timeout_index
    return WAITING, nc - 1


# ---- §5.8 pending phase with D3 and D11 ---------------------------------------------------


@nb.njit(**_JIT)
def last_lifetime_slot(pending_at: int, lifetime_minutes: float, step: int) -> int:
    """Open time of the last base slot inside a signal's lifetime (D11): the last grid slot at or
    before `pending_at + mET − 1 ms` — `pending_at + (mET−1)` min for 1m candles, the last slot
    before `pending_at + mET` for coarser ones, wherever `pending_at` sits on the grid."""
    span = np.int64(lifetime_minutes * MINUTE_MS)
    return (pending_at + span - 1) // step * step


@nb.njit(**_JIT)
def lifetime_end(ts: np.ndarray, anchor: int, pending_at: int, lifetime_minutes: float, step: int,
                 tolerance: int, now: int) -> tuple[int, int]:
    """The candle a pending signal expires on if nothing closes it first (D11): (index, status).
    `anchor` is its first candle (the one at or after `pending_at`, or the activation candle).
    The candle of `last_lifetime_slot`; with a gap there, the first candle after it within
    `tolerance`, else the last available one (`END_RECENT` if the data may still arrive,
    `END_NO_CANDLES` if there is none at or after the anchor)."""
    nc = len(ts)
    last_slot = last_lifetime_slot(pending_at, lifetime_minutes, step)
    end = seek(ts, last_slot, anchor + (last_slot - pending_at) // step, False)
    if end < anchor:
        end = anchor
    if end >= nc or ts[end] > last_slot + tolerance:
        if last_slot + tolerance >= now:
            return end, END_RECENT
        end -= 1
        if end < anchor:
            return end, END_NO_CANDLES
    return end, END_OK


@nb.njit(**_JIT)
def resolve_pending(side: int, take_profit: float, stop_loss: float, ts: np.ndarray, high: np.ndarray,
                    low: np.ndarray, tpv: np.ndarray, volume: np.ndarray, close: np.ndarray, check_start: int,
                    end: int, n: int, step: int) -> tuple[int, int, float]:
    """A pending signal over its lifetime candles `[check_start, end]` (D3, D11): (reason, candle,
    close price). TP before SL on one candle, closing at TP or SL; if neither is touched,
    `TIME_EXPIRED` on candle `end` at the VWAP ending with it."""
    for c in range(check_start, end + 1):
        if side > 0:
            if high[c] >= take_profit:
                return TAKE_PROFIT, c, take_profit
            if low[c] <= stop_loss:
                return STOP_LOSS, c, stop_loss
        else:
            if low[c] <= take_profit:
                return TAKE_PROFIT, c, take_profit
            if high[c] >= stop_loss:
                return STOP_LOSS, c, stop_loss
    return TIME_EXPIRED, end, vwap_ending(ts, tpv, volume, close, end, n, step)


# ---- §6 PnL, §7.1 progress -----------------------------------------------------------------


@nb.njit(**_JIT)
def pnl(side: int, price_open: float, price_close: float, slippage_pct: float, fee_pct: float) -> float:
    """PnL percentage of a closed signal with slippage and fees (SPEC §6)."""
    s = slippage_pct / 100
    if side > 0:
        open_ = price_open * (1 + s)
        close_ = price_close * (1 - s)
        return (close_ - open_) / open_ * 100 - 2 * fee_pct
    open_ = price_open * (1 - s)
    close_ = price_close * (1 + s)
    return (open_ - close_) / open_ * 100 - 2 * fee_pct


@nb.njit(**_JIT)
def progress(side: int, price_open: float, take_profit: float, stop_loss: float, price: float
             ) -> tuple[float, float]:
    """§7.1: how far `price` went towards TP (percent_tp) or SL (percent_sl), capped at 100."""
    d = price - price_open if side > 0 else price_open - price
    if d > 0:
        return min(d / abs(take_profit - price_open) * 100, 100.0), 0.0
    if d < 0:
        return 0.0, min(-d / abs(price_open - stop_loss) * 100, 100.0)
    return 0.0, 0.0


@nb.njit(**_JIT)
def progress_many(side: int, price_open: float, take_profit: float, stop_loss: float, prices: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """`progress` at each of `prices`."""
    pct_tp = np.empty(len(prices))
    pct_sl = np.empty(len(prices))
    for k in range(len(prices)):
        pct_tp[k], pct_sl[k] = progress(side, price_open, take_profit, stop_loss, prices[k])
    return pct_tp, pct_sl


# ---- §5.5 numeric validation ------------------------------------------------------------

# Failed-rule bits of `check_numbers`, in the order the validator reports them.
CURRENT_NOT_FINITE = 1 << 0
CURRENT_NOT_POSITIVE = 1 << 1
OPEN_NOT_FINITE = 1 << 2
TP_NOT_FINITE = 1 << 3
SL_NOT_FINITE = 1 << 4
OPEN_NOT_POSITIVE = 1 << 5
TP_NOT_POSITIVE = 1 << 6
SL_NOT_POSITIVE = 1 << 7
TP_WRONG_SIDE = 1 << 8
"""Long: TP <= open; short: TP >= open (rule 4)."""
SL_WRONG_SIDE = 1 << 9
IMMEDIATE_AT_SL = 1 << 10
"""Immediate: the current price already at or past the stop-loss (rule 5)."""
IMMEDIATE_AT_TP = 1 << 11
SCHEDULED_AT_SL = 1 << 12
"""Scheduled: the entry at or past the stop-loss (rule 6)."""
SCHEDULED_AT_TP = 1 << 13
TP_TOO_CLOSE = 1 << 14
SL_TOO_CLOSE = 1 << 15
SL_TOO_FAR = 1 << 16
MINUTES_NOT_POSITIVE = 1 << 17
MINUTES_NOT_INTEGER = 1 << 18
MINUTES_TOO_LARGE = 1 << 19


@nb.njit(**_JIT)
def check_numbers(side: int, price_open: float, take_profit: float, stop_loss: float, minutes: float,
                  current_price: float, scheduled: bool, min_tp: float, min_sl: float, max_sl: float,
                  max_life: float) -> tuple[int, float, float]:
    """SPEC §5.5 rules 2–11 on numbers: (bit mask of the failed rules, TP distance %, SL distance
    %). `side` is +1 long, −1 short, 0 for a position that is neither (side rules skipped).
    A value that is not a number arrives as NaN, so, as in JavaScript, every comparison with it
    is false; a division by zero gives ±inf or NaN, as in JavaScript."""
    m = 0
    if not np.isfinite(current_price):
        m |= CURRENT_NOT_FINITE
    elif current_price <= 0:
        m |= CURRENT_NOT_POSITIVE
    if not np.isfinite(price_open):
        m |= OPEN_NOT_FINITE
    if not np.isfinite(take_profit):
        m |= TP_NOT_FINITE
    if not np.isfinite(stop_loss):
        m |= SL_NOT_FINITE
    if np.isfinite(price_open) and price_open <= 0:
        m |= OPEN_NOT_POSITIVE
    if np.isfinite(take_profit) and take_profit <= 0:
        m |= TP_NOT_POSITIVE
    if np.isfinite(stop_loss) and stop_loss <= 0:
        m |= SL_NOT_POSITIVE
    tp_dist = np.nan
    sl_dist = np.nan
    if side != 0:
        s = 1.0 if side > 0 else -1.0
        # Long and short are mirrors: compare on the side's axis (× s flips both operands, so
        # `s·tp <= s·open` is exactly `tp <= open` for a long and `tp >= open` for a short).
        if s * take_profit <= s * price_open:
            m |= TP_WRONG_SIDE
        if s * stop_loss >= s * price_open:
            m |= SL_WRONG_SIDE
        if not scheduled and np.isfinite(current_price):
            if s * current_price <= s * stop_loss:
                m |= IMMEDIATE_AT_SL
            if s * current_price >= s * take_profit:
                m |= IMMEDIATE_AT_TP
        if scheduled and np.isfinite(price_open):
            if s * price_open <= s * stop_loss:
                m |= SCHEDULED_AT_SL
            if s * price_open >= s * take_profit:
                m |= SCHEDULED_AT_TP
        if side > 0:
            tp_dist = (take_profit - price_open) / price_open * 100
            sl_dist = (price_open - stop_loss) / price_open * 100
        else:
            tp_dist = (price_open - take_profit) / price_open * 100
            sl_dist = (stop_loss - price_open) / price_open * 100
        if min_tp != 0 and tp_dist < min_tp:
            m |= TP_TOO_CLOSE
        if min_sl != 0 and sl_dist < min_sl:
            m |= SL_TOO_CLOSE
        if max_sl != 0 and sl_dist > max_sl:
            m |= SL_TOO_FAR
    if minutes <= 0:
        m |= MINUTES_NOT_POSITIVE
    if not (np.isfinite(minutes) and minutes == np.floor(minutes)):
        m |= MINUTES_NOT_INTEGER
    if max_life != 0 and minutes > max_life:
        m |= MINUTES_TOO_LARGE
    return m, tp_dist, sl_dist


@nb.njit(**_JIT)
def signal_valid(side: int, price_open: float, take_profit: float, stop_loss: float, minutes: float,
                 current_price: float, t: int, scheduled: bool, min_tp: float, min_sl: float, max_sl: float,
                 max_life: float) -> bool:
    """Whether a signal the kernel builds passes §5.5 (identity rules hold by construction;
    rule 12's timestamps are the tick `t`)."""
    m, _, _ = check_numbers(side, price_open, take_profit, stop_loss, minutes, current_price, scheduled,
                            min_tp, min_sl, max_sl, max_life)
    return m == 0 and t > 0
