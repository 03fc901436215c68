"""Built-in candle sources: usable as an exchange's ``get_candles`` as they are.

Every source here is a plain callable object,
``source(symbol: str, interval: str, since: datetime, limit: int) -> pandas.DataFrame``
(also reachable as ``source.get_candles``), so ``farm.add_exchange("x", get_candles=source)``
needs no wrapper.

Contract of ``get_candles`` (the same as ccxt's ``fetchOHLCV``: count-based, not time-based):

* It returns the first ``limit`` candles whose open time is ``>= since``, oldest first. Fewer
  come back only at the end of the data; no candle at all gives an empty DataFrame that still
  has the columns.
* Columns: ``timestamp`` (int64 ms since the Unix epoch, the candle's OPEN time, UTC), then
  ``open``, ``high``, ``low``, ``close``, ``volume`` (float64); sorted ascending, unique.
* ``since`` is a timezone-aware UTC ``datetime`` (a naive one is read as UTC; an int is taken as
  ms since the epoch). A ``since`` inside a candle does not return that candle: its open time is
  before ``since``.
* Gaps are real: a minute without trades has no candle, and the count skips over it rather than
  inventing a price. ``limit`` candles may therefore span more than ``limit`` intervals.
* A source holds candles of one base interval and serves any coarser candle interval (a whole
  multiple of it) by resampling: buckets on the interval grid counted from the Unix epoch (open
  time ``floor(ts / step) * step``), open = first, high = max, low = min, close = last,
  volume = sum, and a bucket without base candles is a gap. The first and last bucket of the
  data may be partial. A finer interval than the base is refused with `CandleDataError`.
* An unknown symbol raises `farm.errors.NotFoundError` (message contains "not found").

`to_frame` turns whatever a user's own ``get_candles`` returns into the same canonical DataFrame.
"""

from __future__ import annotations

import glob
import hashlib
import math
import operator
import os
import re
import string
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from farm.errors import CandleDataError, NotFoundError, SchemaError
from farm.intervals import CANDLE_INTERVALS, MINUTE_MS, interval_ms
from farm.models import CANDLE_FIELDS, CandleArrays, Candles

__all__ = [
    "ORIGIN_MS",
    "DataFrameSource",
    "FileSource",
    "SyntheticSource",
    "empty_frame",
    "resample",
    "since_to_ms",
    "stable_hash",
    "to_frame",
]

VALUE_FIELDS = CANDLE_FIELDS[1:]
PRICE_FIELDS = ("open", "high", "low", "close")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_TS = pd.Timestamp(0, tz="UTC")
_MS = pd.Timedelta(1, "ms")


# ---- canonical frames ------------------------------------------------------------------


def empty_frame() -> pd.DataFrame:
    """The "no candles" answer: typed columns, so callers can concatenate without dtype drift."""
    return _arrays_to_frame(CandleArrays.empty())


def _arrays_to_frame(a: CandleArrays) -> pd.DataFrame:
    # copy=True: the arrays are (views of) read-only caches; the caller owns what it gets.
    return pd.DataFrame({f: getattr(a, f) for f in CANDLE_FIELDS}, copy=True)


def _concat(parts: list[CandleArrays]) -> CandleArrays:
    if not parts:
        return CandleArrays.empty()
    if len(parts) == 1:
        return parts[0]
    return CandleArrays(*(np.concatenate([getattr(p, f) for p in parts]) for f in CANDLE_FIELDS))


def _head(a: CandleArrays, n: int) -> CandleArrays:
    if len(a) <= n:
        return a
    return CandleArrays(*(getattr(a, f)[:n] for f in CANDLE_FIELDS))


def _window(a: CandleArrays, since_ms: int, limit: int) -> CandleArrays:
    """First `limit` candles with open time >= since: one binary search, then views."""
    lo = int(np.searchsorted(a.timestamp, since_ms, side="left"))
    hi = min(lo + limit, len(a))
    return CandleArrays(*(getattr(a, f)[lo:hi] for f in CANDLE_FIELDS))


def resample(a: CandleArrays, step_ms: int) -> CandleArrays:
    """Aggregate sorted candles into epoch-aligned buckets of `step_ms`; empty buckets stay absent.

    Works on any sorted input, so it serves both whole cached series and generated ranges.
    """
    n = len(a)
    if n == 0:
        return CandleArrays.empty()
    bucket = (a.timestamp // step_ms) * step_ms
    change = np.empty(n, dtype=bool)
    change[0] = True
    np.not_equal(bucket[1:], bucket[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = n - 1
    return CandleArrays(
        bucket[starts],
        a.open[starts],
        np.maximum.reduceat(a.high, starts),
        np.minimum.reduceat(a.low, starts),
        a.close[ends],
        np.add.reduceat(a.volume, starts),
    )


# ---- argument parsing ------------------------------------------------------------------


def since_to_ms(since: Any) -> int:
    """Milliseconds of `since`, rounded UP: a candle opening before `since` must not qualify.

    Exact integer arithmetic (no float seconds), so the grid boundaries compare exactly.
    """
    if isinstance(since, pd.Timestamp):
        ts = since if since.tzinfo is not None else since.tz_localize("UTC")
        return -(-int(ts.value) // 1_000_000)
    if isinstance(since, datetime):
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        td = since - _EPOCH
        return (td.days * 86_400 + td.seconds) * 1000 + -(-td.microseconds // 1000)
    if isinstance(since, bool):
        raise SchemaError(f"since must be a datetime, got {since!r}")
    if isinstance(since, int | np.integer):
        return int(since)
    if isinstance(since, float | np.floating) and math.isfinite(since):
        return math.ceil(since)
    if isinstance(since, str | np.datetime64):
        try:
            return since_to_ms(pd.Timestamp(since))
        except (ValueError, TypeError):
            pass
    raise SchemaError(f"since must be a datetime, got {since!r}")


def _check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 0:
        raise SchemaError(f"limit must be a non-negative integer, got {limit!r}")
    return int(limit)


def _iso(ms: int) -> str:
    try:
        return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError):
        return "out of range"


# ---- column extraction and validation --------------------------------------------------


def _fail(where: str, message: str) -> CandleDataError:
    return CandleDataError(f"{where}: {message}")


def _more(count: int) -> str:
    return f" ({count - 1} more rows like it)" if count > 1 else ""


def _find_column(df: pd.DataFrame, name: str) -> Any:
    """Exact name first, then a unique case-insensitive match ("Close" from pandas users)."""
    if name in df.columns:
        return name
    matches = [c for c in df.columns if isinstance(c, str) and c.lower() == name]
    return matches[0] if len(matches) == 1 else None


def _float_column(s: pd.Series, name: str, where: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(s.dtype):
        raise _fail(where, f"column {name!r} holds booleans, not numbers")
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    values = s.to_numpy(dtype=object)
    is_bool = np.fromiter((isinstance(v, bool | np.bool_) for v in values), dtype=bool, count=len(values))
    numeric = pd.to_numeric(s, errors="coerce")
    bad = (numeric.isna().to_numpy() & s.notna().to_numpy()) | is_bool
    if bad.any():
        rows = np.flatnonzero(bad)
        i = int(rows[0])
        raise _fail(where, f"column {name!r}, row {i}: non-numeric value {values[i]!r}{_more(len(rows))}")
    return numeric.to_numpy(dtype=np.float64, na_value=np.nan)


def _datetimes_to_ms(s: pd.Series) -> pd.Series:
    # Naive datetimes are UTC (the module contract); aware ones are converted.
    return (pd.to_datetime(s, utc=True) - _EPOCH_TS) // _MS


def _one_time_to_ms(value: Any) -> int | None:
    if isinstance(value, bool | np.bool_) or value is None:
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return int(value) if math.isfinite(value) and float(value).is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return _one_time_to_ms(float(text)) if not text.lstrip("+-").isdigit() else int(text)
        except ValueError:
            pass
    if isinstance(value, datetime | np.datetime64 | str):
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError):
            return None
        if ts is pd.NaT:
            return None
        ts = ts if ts.tzinfo is not None else ts.tz_localize("UTC")
        return int(ts.value) // 1_000_000
    return None


def _mixed_times_to_ms(s: pd.Series, where: str) -> np.ndarray:
    """Slow path for columns mixing epochs and dates (hand-built lists); finds the bad row."""
    out = np.empty(len(s), dtype=np.int64)
    for i, value in enumerate(s.to_numpy(dtype=object)):
        ms = _one_time_to_ms(value)
        if ms is None and (
            value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
        ):
            raise _fail(where, f"column 'timestamp', row {i}: missing timestamp")
        if ms is None:
            raise _fail(
                where,
                f"column 'timestamp', row {i}: {value!r} is neither a whole number of milliseconds "
                "since the epoch nor a date",
            )
        out[i] = ms
    return out


def _timestamp_column(s: pd.Series, where: str) -> np.ndarray:
    name = "timestamp"
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise _fail(where, f"column {name!r} holds booleans, not times")
    if pd.api.types.is_datetime64_any_dtype(dtype):
        missing = s.isna().to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise _fail(where, f"column {name!r}, row {i}: missing timestamp")
        return _datetimes_to_ms(s).to_numpy(dtype=np.int64)
    if pd.api.types.is_integer_dtype(dtype) and not s.isna().any():
        return s.to_numpy(dtype=np.int64)
    if pd.api.types.is_numeric_dtype(dtype):
        values = s.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        # Strings or mixed objects: numbers first (JSON/CSV epochs), else ISO 8601 dates.
        numeric = pd.to_numeric(s, errors="coerce")
        if numeric.notna().all() and not any(isinstance(v, bool) for v in s):
            values = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            dates = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
            if dates.notna().all():
                return _datetimes_to_ms(dates).to_numpy(dtype=np.int64)
            return _mixed_times_to_ms(s, where)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(where, f"column {name!r}, row {i}: missing or non-finite timestamp ({float(values[i])})")
    frac = values != np.floor(values)
    if frac.any():
        i = int(np.flatnonzero(frac)[0])
        raise _fail(
            where, f"column {name!r}, row {i}: timestamp {float(values[i])!r} is not a whole number of ms"
        )
    if np.abs(values).max(initial=0.0) >= 2.0**63:
        i = int(np.flatnonzero(np.abs(values) >= 2.0**63)[0])
        raise _fail(where, f"column {name!r}, row {i}: timestamp {float(values[i])!r} is out of range")
    return values.astype(np.int64)


def _frame_columns(df: pd.DataFrame, where: str) -> dict[str, np.ndarray]:
    """The six candle columns as int64/float64 arrays; only shape is checked, not values."""
    sources: dict[str, pd.Series] = {}
    missing: list[str] = []
    for field in CANDLE_FIELDS:
        col = _find_column(df, field)
        if col is not None:
            column = df[col]
            if isinstance(column, pd.DataFrame):
                raise _fail(where, f"column {field!r} appears more than once")
            sources[field] = column.reset_index(drop=True)
        elif field == "timestamp" and (
            isinstance(df.index, pd.DatetimeIndex)
            or (isinstance(df.index.name, str) and df.index.name.lower() == "timestamp")
        ):
            # A time-indexed frame (the usual pandas shape) carries its open times in the index.
            sources[field] = pd.Series(df.index, copy=False)
        else:
            missing.append(field)
    if missing:
        present = ", ".join(repr(c) for c in df.columns) or "none"
        names = ", ".join(repr(m) for m in missing)
        raise _fail(
            where, f"missing column{'s' if len(missing) > 1 else ''} {names} (columns present: {present})"
        )
    out = {"timestamp": _timestamp_column(sources["timestamp"], where)}
    for field in VALUE_FIELDS:
        out[field] = _float_column(sources[field], field, where)
    return out


def _row_values(row: Any, i: int, where: str) -> tuple[Any, ...]:
    if isinstance(row, Mapping):
        try:
            return tuple(row[f] for f in CANDLE_FIELDS)
        except KeyError:
            field = next(f for f in CANDLE_FIELDS if f not in row)
            raise _fail(
                where, f"row {i}: missing field {field!r} (fields present: {', '.join(map(repr, row))})"
            ) from None
    if isinstance(row, str | bytes):
        raise _fail(where, f"row {i}: expected a candle, got the string {row!r}")
    if isinstance(row, list | tuple | np.ndarray) and not hasattr(row, "_fields"):
        # ccxt's shape: [timestamp, open, high, low, close, volume]
        if len(row) < len(CANDLE_FIELDS):
            raise _fail(
                where,
                f"row {i}: a sequence of {len(row)} values; expected "
                "[timestamp, open, high, low, close, volume]",
            )
        return tuple(row[: len(CANDLE_FIELDS)])
    try:
        return tuple(getattr(row, f) for f in CANDLE_FIELDS)
    except AttributeError:
        field = next(f for f in CANDLE_FIELDS if not hasattr(row, f))
        raise _fail(where, f"row {i}: {type(row).__name__} object has no field {field!r}") from None


_BY_NAME = operator.itemgetter(*CANDLE_FIELDS)
_BY_POSITION = operator.itemgetter(*range(len(CANDLE_FIELDS)))


def _rows(items: list[Any], where: str) -> list[tuple[Any, ...]]:
    """Each row's six values; dicts and ccxt lists in bulk, anything odd row by row."""
    try:
        if all(type(r) is dict for r in items):
            return list(map(_BY_NAME, items))
        if all(type(r) is list or type(r) is tuple for r in items):
            return list(map(_BY_POSITION, items))
    except (KeyError, IndexError):
        pass  # the row-by-row pass names the row
    return [_row_values(row, i, where) for i, row in enumerate(items)]


def _plain_columns(columns: list[tuple[Any, ...]]) -> dict[str, np.ndarray] | None:
    """The common case (int ms, plain numbers) without pandas inference: ~10x faster per page.

    Anything else (strings, None, datetimes, bools) returns None and takes the checked path.
    """
    ts = np.asarray(columns[0])
    if ts.dtype.kind != "i":
        return None
    out = {"timestamp": ts.astype(np.int64, copy=False)}
    for field, col in zip(VALUE_FIELDS, columns[1:], strict=True):
        arr = np.asarray(col)
        if arr.dtype.kind not in "fi":
            return None
        out[field] = arr.astype(np.float64, copy=False)
    return out


def _extract(candles_like: Any, where: str) -> dict[str, np.ndarray]:
    if isinstance(candles_like, Candles):
        return {f: np.array(getattr(candles_like, f)) for f in CANDLE_FIELDS}
    if isinstance(candles_like, CandleArrays):
        return {f: np.array(getattr(candles_like, f)) for f in CANDLE_FIELDS}
    if isinstance(candles_like, pd.DataFrame):
        return _frame_columns(candles_like, where)
    if candles_like is None:
        raise _fail(where, "got None instead of candles")
    if isinstance(candles_like, str | bytes):
        raise _fail(where, f"got a string instead of candles: {candles_like[:60]!r}")
    if isinstance(candles_like, Mapping):
        if not any(isinstance(v, Iterable) and not isinstance(v, str | bytes) for v in candles_like.values()):
            raise _fail(where, "got a single mapping; expected a list of candles or a mapping of columns")
        try:
            frame = pd.DataFrame(dict(candles_like))
        except (ValueError, TypeError) as exc:
            raise _fail(where, f"cannot read a mapping of columns: {exc}") from None
        return _frame_columns(frame, where)
    if isinstance(candles_like, np.ndarray):
        if candles_like.dtype.names:
            return _frame_columns(pd.DataFrame(candles_like), where)
        if candles_like.ndim != 2 or candles_like.shape[1] < len(CANDLE_FIELDS):
            raise _fail(where, f"an array of shape {candles_like.shape}; expected N x 6 columns")
        return _frame_columns(pd.DataFrame(candles_like[:, :6], columns=list(CANDLE_FIELDS)), where)
    if not isinstance(candles_like, Iterable):
        raise _fail(where, f"expected candles, got {type(candles_like).__name__}")
    rows = _rows(list(candles_like), where)
    if not rows:
        return {f: getattr(CandleArrays.empty(), f) for f in CANDLE_FIELDS}
    columns = list(zip(*rows, strict=True))
    fast = _plain_columns(columns)
    if fast is not None:
        return fast
    frame = pd.DataFrame(
        {
            f: pd.Series(col, dtype=object).infer_objects()
            for f, col in zip(CANDLE_FIELDS, columns, strict=True)
        }
    )
    return _frame_columns(frame, where)


def to_frame(candles_like: Any, *, where: str = "candles") -> pd.DataFrame:
    """The canonical candle DataFrame of whatever a user's ``get_candles`` returned.

    Accepts a DataFrame (extra columns ignored, names matched case-insensitively, a
    DatetimeIndex may carry the open times), `farm.Candles`, a list of mappings, of objects with
    attributes, or of ccxt-style ``[timestamp, open, high, low, close, volume]`` rows, and a
    mapping of columns. Numbers given as strings (as some REST APIs send them) are parsed;
    datetimes become ms (naive = UTC).

    Only the shape is checked here, and every row is kept in its order: NaN, zero or negative
    prices pass through on purpose, so the engine's anomaly check (SPEC §3.2) rejects them
    with the reference's messages and nothing is silently dropped. A missing field or a value
    that is not a number raises `CandleDataError` naming `where`, the row and the column.
    """
    cols = _extract(candles_like, where)
    return pd.DataFrame(cols, columns=list(CANDLE_FIELDS), copy=True)


def _validate(cols: dict[str, np.ndarray], where: str, step_ms: int) -> CandleArrays:
    """The checks a stored series must pass once, so that every later lookup can trust it."""
    ts = cols["timestamp"]
    n = len(ts)

    def at(i: int) -> str:
        return f"row {i} (timestamp {int(ts[i])}, {_iso(int(ts[i]))})"

    if n > 1:
        d = np.diff(ts)
        bad = d <= 0
        if bad.any():
            rows = np.flatnonzero(bad) + 1
            i = int(rows[0])
            if ts[i] == ts[i - 1]:
                problem = f"duplicated timestamp (same as row {i - 1})"
            else:
                problem = f"unsorted timestamps (row {i - 1} has the later {int(ts[i - 1])})"
            raise _fail(
                where,
                f"column 'timestamp', {at(i)}: {problem}; timestamps must be strictly ascending{_more(len(rows))}",
            )
    off = ts % step_ms
    bad = off != 0
    if bad.any():
        rows = np.flatnonzero(bad)
        i = int(rows[0])
        hint = ""
        if np.abs(ts).max() < 100_000_000_000:
            hint = "; timestamps must be milliseconds since the epoch (these look like seconds)"
        interval = next((k for k, v in CANDLE_INTERVALS.items() if v * MINUTE_MS == step_ms), f"{step_ms} ms")
        raise _fail(
            where,
            f"column 'timestamp', {at(i)}: not aligned to the {interval} grid (open times must be "
            f"multiples of {step_ms} ms from the epoch, this one is {int(off[i])} ms past){hint}{_more(len(rows))}",
        )
    for field in VALUE_FIELDS:
        v = cols[field]
        bad = ~np.isfinite(v)
        if bad.any():
            rows = np.flatnonzero(bad)
            i = int(rows[0])
            kind = "NaN" if np.isnan(v[i]) else "infinite"
            raise _fail(where, f"column {field!r}, {at(i)}: {kind} value{_more(len(rows))}")
    for field in PRICE_FIELDS:
        v = cols[field]
        bad = v <= 0
        if bad.any():
            rows = np.flatnonzero(bad)
            i = int(rows[0])
            raise _fail(
                where, f"column {field!r}, {at(i)}: non-positive price {float(v[i])!r}{_more(len(rows))}"
            )
    v = cols["volume"]
    bad = v < 0
    if bad.any():
        rows = np.flatnonzero(bad)
        i = int(rows[0])
        raise _fail(where, f"column 'volume', {at(i)}: negative volume {float(v[i])!r}{_more(len(rows))}")
    bad = cols["high"] < cols["low"]
    if bad.any():
        rows = np.flatnonzero(bad)
        i = int(rows[0])
        raise _fail(
            where,
            f"columns 'high'/'low', {at(i)}: high {float(cols['high'][i])!r} is below low {float(cols['low'][i])!r}{_more(len(rows))}",
        )
    return CandleArrays(*(np.ascontiguousarray(cols[f]) for f in CANDLE_FIELDS))


# ---- sources over stored series ---------------------------------------------------------


class _Series:
    """One symbol's validated base candles plus resampled copies, built once per interval."""

    __slots__ = ("base", "base_step", "_by_step")

    def __init__(self, base: CandleArrays, base_step: int):
        self.base = base
        self.base_step = base_step
        self._by_step: dict[int, CandleArrays] = {base_step: base}

    def at(self, step: int) -> CandleArrays:
        arrays = self._by_step.get(step)
        if arrays is None:
            # Racing threads may both compute it; the results are equal, so no lock is needed.
            arrays = self._by_step[step] = resample(self.base, step)
        return arrays


def _step_for(source: Any, interval: str) -> int:
    """Step of `interval` in ms, if `source` (holding `source.interval` candles) can serve it."""
    step = interval_ms(interval)
    base = source._base_step
    name = type(source).__name__
    if step < base:
        raise CandleDataError(
            f"{name} holds {source.interval} candles and cannot serve finer {interval} candles; "
            f"give it {interval} data or ask for {source.interval} or coarser"
        )
    if step % base:
        raise CandleDataError(
            f"{name} holds {source.interval} candles; {interval} is not a whole multiple of "
            f"{source.interval}, so it cannot be resampled from them"
        )
    return step


class _StoredSource:
    """What the array-backed sources share: interval checks, paging, the DataFrame answer."""

    interval: str
    _base_step: int

    def _init_interval(self, interval: str) -> None:
        self.interval = interval
        self._base_step = interval_ms(interval)

    def _step(self, interval: str) -> int:
        return _step_for(self, interval)

    def _series(self, symbol: str) -> _Series:
        raise NotImplementedError

    def get_arrays(self, symbol: str, interval: str, since: Any, limit: int) -> CandleArrays:
        """`get_candles` without the DataFrame: read-only views, for callers that page a lot."""
        step = self._step(interval)
        since_ms = since_to_ms(since)
        limit = _check_limit(limit)
        return _window(self._series(symbol).at(step), since_ms, limit)

    def get_candles(self, symbol: str, interval: str, since: Any, limit: int) -> pd.DataFrame:
        """First `limit` candles opening at or after `since` (see the module docstring)."""
        return _arrays_to_frame(self.get_arrays(symbol, interval, since, limit))

    __call__ = get_candles

    def frame(self, symbol: str, interval: str | None = None) -> pd.DataFrame:
        """Every candle of `symbol` (at `interval`, default the base): e.g. to pick frame dates."""
        step = self._base_step if interval is None else self._step(interval)
        return _arrays_to_frame(self._series(symbol).at(step))


class DataFrameSource(_StoredSource):
    """Candles held in memory: one DataFrame served for every symbol, or one per symbol.

    Everything is validated on construction, so a bad frame fails where it is built, not in
    the middle of a backtest.
    """

    def __init__(self, data: pd.DataFrame | Mapping[str, pd.DataFrame], interval: str = "1m"):
        self._init_interval(interval)
        self._single: _Series | None = None
        self._by_symbol: dict[str, _Series] = {}
        if isinstance(data, Mapping):
            for symbol, frame in data.items():
                if not isinstance(symbol, str):
                    raise SchemaError(f"DataFrameSource symbols must be strings, got {symbol!r}")
                where = f"candles for symbol {symbol!r}"
                self._by_symbol[symbol] = _Series(
                    _validate(_extract(frame, where), where, self._base_step), self._base_step
                )
        else:
            where = "candles (served for every symbol)"
            self._single = _Series(_validate(_extract(data, where), where, self._base_step), self._base_step)

    def symbols(self) -> list[str] | None:
        """The symbols held, or None when one frame answers for any symbol."""
        return None if self._single is not None else list(self._by_symbol)

    def _series(self, symbol: str) -> _Series:
        if self._single is not None:
            return self._single
        try:
            return self._by_symbol[symbol]
        except (KeyError, TypeError):
            known = ", ".join(repr(s) for s in self._by_symbol) or "none"
            raise NotFoundError(
                f"symbol {symbol!r} not found in DataFrameSource (symbols: {known})"
            ) from None

    def __repr__(self) -> str:
        held = "any symbol" if self._single is not None else f"{len(self._by_symbol)} symbols"
        return f"DataFrameSource({held}, interval={self.interval!r})"


_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".csv.zst", ".txt")


class FileSource(_StoredSource):
    """One CSV or Parquet file per symbol, found by a path pattern.

    ``pattern`` contains ``{symbol}`` (the symbol with "/" replaced by "-", since "/" cannot be
    in a file name) and may contain ``{interval}`` (the base interval: files hold base candles,
    coarser intervals are resampled). Files are read on first use and kept, so a backtest that
    touches one symbol of a hundred reads one file; relative patterns are resolved against the
    working directory at construction, so a later ``chdir`` does not move the data.
    """

    def __init__(self, pattern: str | os.PathLike[str], interval: str = "1m"):
        self._init_interval(interval)
        raw = os.fspath(pattern)
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(raw) if f is not None]
        except ValueError as exc:
            raise SchemaError(f"FileSource pattern {raw!r} is malformed: {exc}") from None
        unknown = sorted({f for f in fields if f not in ("symbol", "interval")})
        if unknown:
            raise SchemaError(
                f"FileSource pattern {raw!r} has unknown placeholder(s) {', '.join(map(repr, unknown))}; "
                "use {symbol} and optionally {interval}"
            )
        if "symbol" not in fields:
            raise SchemaError(f"FileSource pattern {raw!r} must contain {{symbol}} (one file per symbol)")
        lowered = raw.lower()
        if lowered.endswith(_PARQUET_SUFFIXES):
            self._format = "parquet"
        elif lowered.endswith(_CSV_SUFFIXES):
            self._format = "csv"
        else:
            raise SchemaError(
                f"FileSource pattern {raw!r} must end in .parquet, .pq or .csv (optionally compressed)"
            )
        path = Path(raw).expanduser()
        self.pattern = str(path if path.is_absolute() else Path.cwd() / path)
        self._cache: dict[str, _Series] = {}
        self._lock = threading.Lock()

    def path_for(self, symbol: str) -> Path:
        """The file that holds `symbol`'s candles (it may not exist)."""
        return Path(self.pattern.format(symbol=symbol.replace("/", "-"), interval=self.interval))

    def symbols(self) -> list[str]:
        """Symbols with a file, "-" read back as "/" (so "ETH-BTC" lists as "ETH/BTC")."""
        parts = list(string.Formatter().parse(self.pattern))
        glob_pattern = ""
        regex = ""
        seen = False
        for literal, field, _, _ in parts:
            glob_pattern += glob.escape(literal)
            regex += re.escape(literal)
            if field == "symbol":
                glob_pattern += "*"
                regex += "(?P=symbol)" if seen else "(?P<symbol>[^/]+)"
                seen = True
            elif field == "interval":
                glob_pattern += glob.escape(self.interval)
                regex += re.escape(self.interval)
        found = set()
        for path in glob.glob(glob_pattern):
            m = re.fullmatch(regex, path)
            if m and os.path.isfile(path):
                found.add(m.group("symbol").replace("-", "/"))
        return sorted(found)

    def _read(self, path: Path, where: str) -> pd.DataFrame:
        try:
            if self._format == "parquet":
                return pd.read_parquet(path)
            return pd.read_csv(path)
        except FileNotFoundError:
            raise NotFoundError(f"{where}: file not found") from None
        except Exception as exc:  # pyarrow/parser errors have no common base worth naming
            raise CandleDataError(f"{where}: cannot read the file: {type(exc).__name__}: {exc}") from exc

    def _series(self, symbol: str) -> _Series:
        if not isinstance(symbol, str):
            raise SchemaError(f"symbol must be a string, got {symbol!r}")
        series = self._cache.get(symbol)
        if series is not None:
            return series
        with self._lock:
            series = self._cache.get(symbol)
            if series is None:
                path = self.path_for(symbol)
                where = f"candle file {str(path)!r} (symbol {symbol!r})"
                if not path.is_file():
                    raise NotFoundError(f"{where} not found")
                cols = _extract(self._read(path, where), where)
                series = self._cache[symbol] = _Series(
                    _validate(cols, where, self._base_step), self._base_step
                )
        return series

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to worker processes without the cache (re-read there) and without the lock.
        state = self.__dict__.copy()
        state["_cache"] = {}
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileSource({self.pattern!r}, interval={self.interval!r})"


# ---- synthetic data ---------------------------------------------------------------------

ORIGIN_MS = 946_684_800_000
"""2000-01-01T00:00:00Z: where the synthetic walk starts counting. A midnight, so it lies on
every candle interval's grid."""

_BLOCK = 1024
"""Base candles generated together from one seeded generator."""
_CHUNK = 4096
"""Block log-returns drawn together; levels of far-away blocks cost one draw per chunk."""
_TAG_SUMS = 1
_TAG_BLOCK = 2
_WICK = 0.6
_VOLUME_SIGMA = 0.5
_BLOCK_CACHE = 128


def _zigzag(n: int) -> int:
    """A non-negative seed word for any integer (negative block indices exist before 2000)."""
    return 2 * n if n >= 0 else -2 * n - 1


def stable_hash(text: str) -> int:
    """A 64-bit hash that, unlike ``hash()``, is the same in every process and on every run."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class _Walk:
    """One symbol's block levels: log price at each block start, relative to the origin."""

    __slots__ = ("words", "sums", "levels", "offset")

    def __init__(self, words: tuple[int, int, int]):
        self.words = words
        self.sums: dict[int, np.ndarray] = {}  # chunk -> exclusive prefix sums, len _CHUNK + 1
        self.levels: dict[int, float] = {0: 0.0}  # chunk -> level at its first block
        self.offset: float | None = None


class SyntheticSource:
    """A deterministic geometric random walk: endless candles for any symbol, no files.

    The candle opening at time t is a pure function of (constructor arguments, symbol, t):
    paging through time in any order or page size gives the same candles, and every process
    generates the same ones (``hash()`` is never used: it differs per process). Each 1024-candle block
    comes from a numpy Generator seeded with (seed, a stable hash of the symbol, block index);
    the block's total log-return comes from a separate per-chunk stream, so finding the price
    level of a block years after the origin costs a few thousand draws, not millions of
    candles. Within a block the path is a Gaussian bridge to the next block's level, which
    keeps each candle's log-return N(drift, volatility^2) and makes closes and the next opens
    equal exactly, across blocks too.

    `volatility` and `drift` are the standard deviation and mean of one base candle's log
    return. The price equals `start_price` at the open of the candle at `anchor` (default the
    origin, 2000-01-01): set `anchor` near the dates you backtest to keep prices near
    `start_price`, since a random walk wanders far over decades. Highs and lows extend past
    open/close by a random wick. `gap_probability` drops each candle independently (gaps, as
    in real data); the surviving candles are the same as without gaps. Bit-for-bit reproducible
    for a given numpy version on a given CPU family: numpy's vectorised ``exp`` may differ in the
    last bit between instruction sets (e.g. AVX-512 vs AVX2 machines).
    """

    def __init__(
        self,
        seed: int = 0,
        start_price: float = 100.0,
        volatility: float = 0.001,
        drift: float = 0.0,
        interval: str = "1m",
        volume: float = 100.0,
        gap_probability: float = 0.0,
        anchor: datetime | str | int | None = None,
    ):
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise SchemaError(f"seed must be an integer, got {seed!r}")

        def number(name: str, value: Any, lowest: float, rule: str, below: float = math.inf) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise SchemaError(f"{name} must be a number, got {value!r}")
            if not (math.isfinite(value) and lowest <= value < below):
                raise SchemaError(f"{name} must be {rule}, got {value!r}")
            return float(value)

        self.seed = int(seed)
        self.start_price = number("start_price", start_price, math.ulp(0.0), "a positive number")
        self.volatility = number("volatility", volatility, 0.0, "a non-negative number")
        self.drift = number("drift", drift, -math.inf, "finite")
        self.volume = number("volume", volume, 0.0, "a non-negative number")
        self.gap_probability = number("gap_probability", gap_probability, 0.0, "in [0, 1)", below=1.0)
        self.interval = interval
        self._base_step = interval_ms(interval)
        self.anchor_ms = None if anchor is None else since_to_ms(anchor)
        self._init_caches()

    def _init_caches(self) -> None:
        self._walks: dict[str, _Walk] = {}
        self._blocks: OrderedDict[tuple[str, int], CandleArrays] = OrderedDict()
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("_walks", "_blocks", "_lock"):
            del state[key]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_caches()

    def __repr__(self) -> str:
        return (
            f"SyntheticSource(seed={self.seed}, start_price={self.start_price}, volatility={self.volatility}, "
            f"drift={self.drift}, interval={self.interval!r}, volume={self.volume}, "
            f"gap_probability={self.gap_probability})"
        )

    # -- the walk

    def _walk(self, symbol: str) -> _Walk:
        walk = self._walks.get(symbol)
        if walk is None:
            if not isinstance(symbol, str):
                raise SchemaError(f"symbol must be a string, got {symbol!r}")
            h = stable_hash(symbol)
            walk = self._walks[symbol] = _Walk((_zigzag(self.seed), h & 0xFFFFFFFF, h >> 32))
        return walk

    def _rng(self, walk: _Walk, tag: int, index: int) -> np.random.Generator:
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([*walk.words, tag, _zigzag(index)]))
        )

    def _chunk_prefix(self, walk: _Walk, chunk: int) -> np.ndarray:
        prefix = walk.sums.get(chunk)
        if prefix is None:
            z = self._rng(walk, _TAG_SUMS, chunk).standard_normal(_CHUNK)
            sums = self.drift * _BLOCK + self.volatility * math.sqrt(_BLOCK) * z
            prefix = np.empty(_CHUNK + 1)
            prefix[0] = 0.0
            np.cumsum(sums, out=prefix[1:])
            walk.sums[chunk] = prefix
        return prefix

    def _chunk_level(self, walk: _Walk, chunk: int) -> float:
        # Each level is defined from its neighbour nearer the origin by one fixed addition, so
        # the value never depends on which chunks happened to be computed first.
        levels = walk.levels
        if chunk in levels:
            return levels[chunk]
        if chunk > 0:
            c = max(k for k in levels if 0 <= k < chunk)
            while c < chunk:
                levels[c + 1] = levels[c] + float(self._chunk_prefix(walk, c)[_CHUNK])
                c += 1
        else:
            c = min(k for k in levels if chunk < k <= 0)
            while c > chunk:
                levels[c - 1] = levels[c] - float(self._chunk_prefix(walk, c - 1)[_CHUNK])
                c -= 1
        return levels[chunk]

    def _block_level(self, walk: _Walk, block: int) -> float:
        chunk, i = divmod(block, _CHUNK)
        return self._chunk_level(walk, chunk) + float(self._chunk_prefix(walk, chunk)[i])

    def _log_path(self, walk: _Walk, block: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
        """Log open and log close of each candle of `block` (origin level 0), and the rng after."""
        lo = self._block_level(walk, block)
        hi = self._block_level(walk, block + 1)
        rng = self._rng(walk, _TAG_BLOCK, block)
        z = rng.standard_normal(_BLOCK)
        steps = (hi - lo) / _BLOCK + self.volatility * (z - z.mean())
        log_close = lo + np.cumsum(steps)
        log_close[-1] = hi  # exact: the next block opens where this one closes
        log_open = np.empty(_BLOCK)
        log_open[0] = lo
        log_open[1:] = log_close[:-1]
        return rng, log_open, log_close

    def _offset(self, walk: _Walk) -> float:
        if walk.offset is None:
            if self.anchor_ms is None:
                walk.offset = 0.0
            else:
                k = (self.anchor_ms - ORIGIN_MS) // self._base_step
                block, i = divmod(k, _BLOCK)
                walk.offset = float(self._log_path(walk, block)[1][i])
        return walk.offset

    def _block(self, symbol: str, block: int) -> CandleArrays:
        key = (symbol, block)
        with self._lock:
            cached = self._blocks.get(key)
            if cached is not None:
                self._blocks.move_to_end(key)
                return cached
            walk = self._walk(symbol)
            offset = self._offset(walk)
            rng, log_open, log_close = self._log_path(walk, block)
            wicks = np.abs(rng.standard_normal((2, _BLOCK))) * (_WICK * self.volatility)
            noise = rng.standard_normal(_BLOCK)
            keep = rng.random(_BLOCK) >= self.gap_probability  # drawn always: gaps don't move prices
            with np.errstate(over="ignore", under="ignore"):  # checked below, with a better message
                o = self.start_price * np.exp(log_open - offset)
                c = self.start_price * np.exp(log_close - offset)
                h = np.maximum(o, c) * np.exp(wicks[0])
                lo = np.minimum(o, c) * np.exp(-wicks[1])
            v = self.volume * np.exp(_VOLUME_SIGMA * noise - _VOLUME_SIGMA**2 / 2)
            ts = ORIGIN_MS + (block * _BLOCK + np.arange(_BLOCK, dtype=np.int64)) * self._base_step
            if not (np.isfinite(h).all() and (lo > 0).all()):
                # Drift (or decades of volatility) from the anchor has left float range.
                raise CandleDataError(
                    f"synthetic prices for {symbol!r} near {_iso(int(ts[0]))} leave the float range "
                    f"(log price {float(log_open[0] - offset):+.0f} from start_price at the anchor); "
                    "pass anchor= near the dates you request"
                )
            if not keep.all():
                ts, o, h, lo, c, v = (x[keep] for x in (ts, o, h, lo, c, v))
            arrays = CandleArrays(ts, o, h, lo, c, v)
            self._blocks[key] = arrays
            if len(self._blocks) > _BLOCK_CACHE:
                self._blocks.popitem(last=False)
            return arrays

    def _base_between(self, symbol: str, t0: int, t1: int) -> CandleArrays:
        """Base candles opening in [t0, t1)."""
        base = self._base_step
        k0 = (t0 - ORIGIN_MS) // base
        k1 = -(-(t1 - ORIGIN_MS) // base)
        parts = []
        for block in range(k0 // _BLOCK, (k1 - 1) // _BLOCK + 1):
            a = self._block(symbol, block)
            lo = int(np.searchsorted(a.timestamp, t0, side="left"))
            hi = int(np.searchsorted(a.timestamp, t1, side="left"))
            if hi > lo:
                parts.append(CandleArrays(*(getattr(a, f)[lo:hi] for f in CANDLE_FIELDS)))
        return _concat(parts)

    # -- the get_candles contract

    def _step(self, interval: str) -> int:
        return _step_for(self, interval)

    def get_arrays(self, symbol: str, interval: str, since: Any, limit: int) -> CandleArrays:
        """`get_candles` without the DataFrame."""
        step = self._step(interval)
        since_ms = since_to_ms(since)
        limit = _check_limit(limit)
        t = -(-since_ms // step) * step  # first bucket opening at or after since
        parts: list[CandleArrays] = []
        got = 0
        while got < limit:
            t_end = t + (limit - got) * step
            base = self._base_between(symbol, t, t_end)
            arrays = base if step == self._base_step else resample(base, step)
            parts.append(arrays)
            got += len(arrays)
            t = t_end
        return _head(_concat(parts), limit)

    def get_candles(self, symbol: str, interval: str, since: Any, limit: int) -> pd.DataFrame:
        """First `limit` candles opening at or after `since` (see the module docstring)."""
        return _arrays_to_frame(self.get_arrays(symbol, interval, since, limit))

    __call__ = get_candles
