"""Checks on a fetched page of candles (SPEC §3.2) plus the ordering rules the reference lacks.

Anomalous prices count as a failed fetch attempt (retried, then marked), as in the reference;
malformed pages (unsorted or duplicated open times, times in seconds, high below low) fail at
once with `PermanentDataError` (`farm.data.candles.check_page`): refetching cannot fix them.
"""

from __future__ import annotations

import numpy as np

from farm.data.candles import check_page
from farm.errors import CandleDataError
from farm.models import CandleArrays, iso_ms


def check_candles(arrays: CandleArrays, *, factor: float, min_for_median: int, where: str) -> dict[int, str]:
    """Raise on what makes the page unusable (ordering, no reference price); return the bad
    candles as {open time: message} so only windows that touch them fail, as in the reference
    (which checks each requested window, not a whole page)."""
    n = len(arrays)
    if n == 0:
        return {}
    check_page(arrays, where)
    ohlc = np.stack([arrays.open, arrays.high, arrays.low, arrays.close], axis=1)
    positive = ohlc[ohlc > 0]
    if n >= min_for_median:
        reference = float(np.sort(positive)[len(positive) // 2]) if len(positive) else 0.0
    else:
        reference = float(positive.mean()) if len(positive) else 0.0
    if reference == 0:
        raise CandleDataError(f"{where}: cannot calculate reference price (no positive prices in {n} candles)")
    threshold = reference / factor

    ts_f = arrays.timestamp.astype(np.float64)
    invalid = ~np.isfinite(ohlc).all(axis=1) | ~np.isfinite(arrays.volume) | ~np.isfinite(ts_f)
    nonpositive = (ohlc <= 0).any(axis=1) | (arrays.volume < 0)
    low_price = (ohlc < threshold).any(axis=1)
    bad = invalid | nonpositive | low_price
    problems: dict[int, str] = {}
    for i in np.flatnonzero(bad).tolist():
        o, h, lo, c = (float(x) for x in ohlc[i])
        at = f"open time {iso_ms(int(arrays.timestamp[i]))}"
        if invalid[i]:
            message = (f"{where}: candle[{i}] has invalid numeric values "
                       f"(open={o}, high={h}, low={lo}, close={c}, volume={float(arrays.volume[i])}; {at})")
        elif nonpositive[i]:
            message = (f"{where}: candle[{i}] has zero or negative values "
                       f"(open={o}, high={h}, low={lo}, close={c}, volume={float(arrays.volume[i])}; {at})")
        else:
            message = (f"{where}: candle[{i}] has anomalously low price: OHLC=[{o}, {h}, {lo}, {c}], "
                       f"reference={reference}, threshold={threshold} ({at})")
        problems[int(arrays.timestamp[i])] = message
    return problems
