"""Compiled indicators for vectorised strategies that must decide exactly as their per-tick form.

"Same trades" means the same decision on every bar, including bars where two moving averages
are equal up to the last bit. A per-tick strategy computes its averages from the window it was
given (a cumulative sum starting at the window's first candle), a vectorised one from rolling
sums: the two round differently. These helpers decide with cheap rolling sums where the answer
is certain by a rigorous error bound, and redo the per-tick arithmetic exactly on the rare bars
where it is not.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from farm.engine import steps

_U = 2.0**-53
"""Unit roundoff of float64."""
_REFRESH = 64
"""Rolling sums are recomputed from scratch this often, which bounds their drift."""


@nb.njit(cache=True, nogil=True)
def _window_sum(close: np.ndarray, lo: int, hi: int) -> float:
    s = 0.0
    for k in range(lo, hi):
        s += close[k]
    return s


@nb.njit(cache=True, nogil=True)
def _exact_cross(close: np.ndarray, i: int, fast: int, slow: int) -> bool:
    """The per-tick arithmetic on the window close[i−slow … i]: a left-to-right cumulative sum
    (numpy's `cumsum`) and the four averages taken from it."""
    base = i - slow
    cs = np.empty(slow + 1)
    s = 0.0
    for m in range(slow + 1):
        s = close[base] if m == 0 else s + close[base + m]
        cs[m] = s
    fast_now = (cs[slow] - cs[slow - fast]) / fast
    fast_prev = (cs[slow - 1] - cs[slow - 1 - fast]) / fast
    slow_now = (cs[slow] - cs[0]) / slow
    slow_prev = cs[slow - 1] / slow
    return fast_prev <= slow_prev and fast_now > slow_now


@nb.njit(cache=True, nogil=True)
def sma_cross_up(close: np.ndarray, ts: np.ndarray, step: int, fast: int, slow: int) -> np.ndarray:
    """Per bar (int8, 1 or 0): did SMA(fast) of closes cross above SMA(slow) at this bar's
    close, decided exactly as `strategies.sma_cross.get_signal` decides it from a window of the
    slow+1 most recent candles (no bar where that window has a gap signals). Requires
    1 ≤ fast < slow.

    One pass: rolling sums compared through reciprocals (a multiply is several times cheaper
    than a divide), with a margin that grows with the largest close seen so far — every window
    compared lies within that prefix, so the bound holds — and the exact arithmetic redone only
    on bars inside the margin."""
    n = len(close)
    out = np.zeros(n, dtype=np.int8)
    if n <= slow:
        return out
    # Bound on |rolling − per-tick| for either difference of averages, ×4 for safety (see
    # module); the reciprocals add at most 4·u·pmax more, far inside the ×4.
    scale = 4.0 * _U * (2.0 * (slow + 1) ** 2 / fast + fast + 2 * slow + 4 * _REFRESH + 16)
    inv_f = 1.0 / fast
    inv_s = 1.0 / slow
    span = slow * step
    pmax = 0.0
    for k in range(slow):
        pmax = max(pmax, abs(close[k]))
    # Bar slow − 1, the first with a whole slow window: only the "before" of bar slow.
    d_prev = _window_sum(close, slow - fast, slow) * inv_f - _window_sum(close, 0, slow) * inv_s
    # Blocks of _REFRESH bars: the rolling sums start each block afresh (bounding their drift)
    # and the inner loop has no bookkeeping branch.
    for b0 in range(slow, n, _REFRESH):
        b1 = min(b0 + _REFRESH, n)
        f_sum = _window_sum(close, b0 - fast, b0)  # the windows ending at bar b0 − 1
        s_sum = _window_sum(close, b0 - slow, b0)
        for i in range(b0, b1):
            c = close[i]
            pmax = max(pmax, abs(c))
            f_sum += c - close[i - fast]
            s_sum += c - close[i - slow]
            d_now = f_sum * inv_f - s_sum * inv_s
            margin = scale * pmax
            # Timestamps are read only where a cross is possible: the gap check costs no pass.
            if d_prev <= margin and d_now >= -margin and ts[i] - ts[i - slow] == span and (
                    (d_prev < -margin and d_now > margin) or _exact_cross(close, i, fast, slow)):
                out[i] = 1
            d_prev = d_now
    return out


@nb.njit(cache=True, nogil=True)
def vwap_where(ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
               where: np.ndarray, n: int, step: int) -> np.ndarray:
    """`vwap_at_close` on the bars where `where` is non-zero, NaN elsewhere: a strategy needs
    the price only where it signals, as `get_signal` reads it only then."""
    tpv = steps.typical_volume(high, low, close, volume)
    m = len(ts)
    out = np.empty(m)
    for i in range(m):
        out[i] = steps.vwap_ending(ts, tpv, volume, close, i, n, step) if where[i] != 0 else np.nan
    return out


@nb.njit(cache=True, nogil=True)
def next_set(mask: np.ndarray, words: np.ndarray, q: int) -> int:
    """The first index ≥ q where the int8 `mask` is non-zero (len(mask) if none); `words` is
    the mask's whole 8-byte words (`mask[: len // 8 * 8].view(uint64)`), so long runs of zeros
    are passed eight bars per read."""
    n = len(mask)
    while q < n and q & 7 and mask[q] == 0:
        q += 1
    if q < n and mask[q] != 0:
        return q
    w = q >> 3
    while w < len(words) and words[w] == 0:
        w += 1
    q = max(q, w << 3)
    while q < n and mask[q] == 0:
        q += 1
    return q


@nb.njit(cache=True, nogil=True)
def vwap_at(ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
            mask: np.ndarray, n: int, step: int) -> np.ndarray:
    """`vwap_at_close` of the bars where `mask` is non-zero, one value per such bar in order
    (a column given per signal)."""
    tpv = steps.typical_volume(high, low, close, volume)
    m = len(mask)
    words = mask[: m // 8 * 8].view(np.uint64)
    k = 0
    i = next_set(mask, words, 0)
    while i < m:
        k += 1
        i = next_set(mask, words, i + 1)
    out = np.empty(k)
    k = 0
    i = next_set(mask, words, 0)
    while i < m:
        out[k] = steps.vwap_ending(ts, tpv, volume, close, i, n, step)
        k += 1
        i = next_set(mask, words, i + 1)
    return out


@nb.njit(cache=True, nogil=True)
def vwap_at_close(ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                  n: int, step: int) -> np.ndarray:
    """Per bar, the engine's current price once the bar has closed (`steps.vwap_ending`): the
    VWAP of the candles with open times in `(open(i) − n·step, open(i)]`, summed left to right
    as `farm.get_average_price` sums them."""
    tpv = steps.typical_volume(high, low, close, volume)
    out = np.empty(len(ts))
    for i in range(len(ts)):
        out[i] = steps.vwap_ending(ts, tpv, volume, close, i, n, step)
    return out


@nb.njit(cache=True, nogil=True)
def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    """numpy's pairwise summation of up to 128 values: eight interleaved accumulators."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@nb.njit(cache=True, nogil=True)
def _pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """`np.sum(a[lo:lo + n])` bit for bit: numpy's pairwise summation (blocks of up to 128,
    longer runs split in halves at multiples of eight, the halves' sums added), as its float64
    add reduction runs it on a contiguous array. The split tree is walked with an explicit
    stack: numba's cache cannot hold recursive functions."""
    if n <= 128:
        return _block_sum(a, lo, n)
    los = np.empty(64, dtype=np.int64)
    ns = np.empty(64, dtype=np.int64)
    state = np.zeros(64, dtype=np.int8)
    vals = np.empty(64)
    top = 0
    nv = 0
    los[0] = lo
    ns[0] = n
    while top >= 0:
        m = ns[top]
        if m <= 128:
            vals[nv] = _block_sum(a, los[top], m)
            nv += 1
            top -= 1
            continue
        n2 = m // 2
        n2 -= n2 % 8
        if state[top] < 2:  # push the left half, then the right one
            first = state[top] == 0
            state[top] += 1
            los[top + 1] = los[top] if first else los[top] + n2
            ns[top + 1] = n2 if first else m - n2
            state[top + 1] = 0
            top += 1
        else:  # both halves done: their sum replaces them
            nv -= 1
            vals[nv - 1] = vals[nv - 1] + vals[nv]
            top -= 1
    return vals[0]


@nb.njit(cache=True, nogil=True)
def band_breach(close: np.ndarray, ts: np.ndarray, step: int, window: int, width: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: +1 when the close is more than `width` standard deviations below the mean of
    the last `window` closes, −1 when above, 0 otherwise or when those `window` candles are
    not contiguous; and that mean (NaN where 0). Decided as `strategies.mean_reversion.get_signal`
    decides it: `close.mean()` and `close.std()` with numpy's own summation order."""
    n = len(close)
    side = np.zeros(n, dtype=np.int8)
    mean = np.full(n, np.nan)
    sq = np.empty(window)
    span = (window - 1) * step
    for i in range(window - 1, n):
        lo = i - window + 1
        if ts[i] - ts[lo] != span:
            continue
        m = _pairwise_sum(close, lo, window) / window
        for k in range(window):
            d = close[lo + k] - m
            sq[k] = d * d
        band = width * np.sqrt(_pairwise_sum(sq, 0, window) / window)
        last = close[i]
        if band <= 0 or abs(last - m) <= band:
            continue
        side[i] = 1 if last < m else -1
        mean[i] = m
    return side, mean


@nb.njit(cache=True, nogil=True)
def channel_breakout(high: np.ndarray, low: np.ndarray, close: np.ndarray, ts: np.ndarray, step: int,
                     channel: int) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: +1 when the close is above the highest high of the `channel` candles before it,
    −1 when below their lowest low, 0 otherwise or when those channel+1 candles are not
    contiguous; and the broken level (NaN where 0). Max and min are exact, so this is
    `strategies.breakout_retest.get_signal`'s decision whatever the order."""
    n = len(close)
    side = np.zeros(n, dtype=np.int8)
    level = np.full(n, np.nan)
    span = channel * step
    for i in range(channel, n):
        lo = i - channel
        if ts[i] - ts[lo] != span:
            continue
        hi_ = high[lo]
        lo_ = low[lo]
        for k in range(lo + 1, i):
            if high[k] > hi_:
                hi_ = high[k]
            if low[k] < lo_:
                lo_ = low[k]
        last = close[i]
        if last > hi_:
            side[i] = 1
            level[i] = hi_
        elif last < lo_:
            side[i] = -1
            level[i] = lo_
    return side, level


__all__ = ["band_breach", "channel_breakout", "next_set", "sma_cross_up", "vwap_at", "vwap_at_close", "vwap_where"]
