"""Canonical candle frames, and the checks that turn user input into them.

Every built-in source answers with the same column arrays (`CandleArrays`) and DataFrame
(`empty_frame`, `arrays_to_frame`), pages them the same way (`window`, `head`, `concat`) and
serves coarser intervals by the same epoch-aligned `resample`; the contract they all keep is in
`farm.data.sources`.

`to_frame` turns whatever a user's own ``get_candles`` returns into the same canonical DataFrame,
checking only its shape; `validate` holds a stored series to the stricter rules (ascending, on
the interval grid, finite positive prices) once, so that later lookups need no checks.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from farm.errors import PermanentDataError, SchemaError
from farm.intervals import CANDLE_INTERVALS, MINUTE_MS, interval_ms
from farm.models import CANDLE_FIELDS, CandleArrays, Candles

__all__ = [
    "PRICE_FIELDS",
    "VALUE_FIELDS",
    "arrays_to_frame",
    "check_limit",
    "check_page",
    "concat",
    "empty_frame",
    "extract",
    "head",
    "iso",
    "resample",
    "since_to_ms",
    "step_for",
    "to_frame",
    "validate",
    "window",
]

VALUE_FIELDS = CANDLE_FIELDS[1:]
PRICE_FIELDS = ("open", "high", "low", "close")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_TS = pd.Timestamp(0, tz="UTC")
_MS = pd.Timedelta(1, "ms")


# ---- canonical frames ------------------------------------------------------------------


def empty_frame() -> pd.DataFrame:
    """The "no candles" answer: typed columns, so callers can concatenate without dtype drift."""
    return arrays_to_frame(CandleArrays.empty())


def arrays_to_frame(a: CandleArrays) -> pd.DataFrame:
    # copy=True: the arrays are (views of) read-only caches; the caller owns what it gets.
    return pd.DataFrame({f: getattr(a, f) for f in CANDLE_FIELDS}, copy=True)


def concat(parts: list[CandleArrays]) -> CandleArrays:
    if not parts:
        return CandleArrays.empty()
    if len(parts) == 1:
        return parts[0]
    return CandleArrays(*(np.concatenate([getattr(p, f) for p in parts]) for f in CANDLE_FIELDS))


def head(a: CandleArrays, n: int) -> CandleArrays:
    if len(a) <= n:
        return a
    return CandleArrays(*(getattr(a, f)[:n] for f in CANDLE_FIELDS))


def window(a: CandleArrays, since_ms: int, limit: int) -> CandleArrays:
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


def check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 0:
        raise SchemaError(f"limit must be a non-negative integer, got {limit!r}")
    return int(limit)


def step_for(source: Any, interval: str) -> int:
    """Step of `interval` in ms, if `source` (holding `source.interval` candles) can serve it."""
    step = interval_ms(interval)
    base = source._base_step
    name = type(source).__name__
    if step < base:
        raise PermanentDataError(
            f"{name} holds {source.interval} candles and cannot serve finer {interval} candles; "
            f"give it {interval} data or ask for {source.interval} or coarser"
        )
    if step % base:
        raise PermanentDataError(
            f"{name} holds {source.interval} candles; {interval} is not a whole multiple of "
            f"{source.interval}, so it cannot be resampled from them"
        )
    return step


def iso(ms: int) -> str:
    try:
        return pd.Timestamp(int(ms), unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError):
        return "out of range"


# ---- column extraction and validation --------------------------------------------------

COLUMNS_HINT = (
    "the columns timestamp (or one of Date, Datetime, Time, open_time, or a DatetimeIndex), open, "
    "high, low, close, volume; names are matched case-insensitively"
)

SECONDS_FROM = 946_684_800
"""2000-01-01 in seconds: open times all at or after it yet below `MS_FROM` are seconds, not ms
(as ms they would all fall in the first days of 1970, where no market data is)."""
MS_FROM = 100_000_000_000
"""1973-03-03 in ms (5138 in seconds)."""
MS_UNTIL = 100_000_000_000_000
"""5138 in ms: open times beyond it are micro- or nanoseconds."""


def check_order(ts: np.ndarray, where: str) -> None:
    """Open times strictly ascending: the rule every source and every page keeps."""
    if len(ts) < 2:
        return
    bad = np.diff(ts) <= 0
    if not bad.any():
        return
    rows = np.flatnonzero(bad) + 1
    i = int(rows[0])
    if ts[i] == ts[i - 1]:
        problem = f"duplicated timestamp (same as row {i - 1})"
    else:
        problem = f"unsorted timestamps (row {i - 1} has the later {int(ts[i - 1])})"
    raise _fail(
        where,
        f"column 'timestamp', {_at(ts, i)}: {problem}{_more(len(rows))}; timestamps must be strictly "
        "ascending: sort by open time and drop duplicates "
        "(df.sort_values('timestamp').drop_duplicates('timestamp'))",
    )


def check_time_unit(ts: np.ndarray, where: str) -> None:
    """Open times must be ms since the epoch: seconds (or µs/ns) are refused with the factor."""
    if not len(ts):
        return
    lo, hi = int(ts.min()), int(ts.max())
    if lo >= SECONDS_FROM and hi < MS_FROM:
        raise _fail(
            where,
            f"timestamps look like seconds since the epoch ({lo} is {iso(lo * 1000)} in seconds but "
            f"{iso(lo)} in milliseconds); open times must be milliseconds: multiply them by 1000",
        )
    if lo >= MS_UNTIL:
        raise _fail(
            where,
            f"timestamps look like micro- or nanoseconds since the epoch ({lo}); open times must be "
            "milliseconds: divide them by 1000 (µs) or 1000000 (ns)",
        )


def check_high_low(cols: Any, ts: np.ndarray, where: str) -> None:
    """No candle's high below its low (columns swapped or mislabelled, usually)."""
    high, low = _col(cols, "high"), _col(cols, "low")
    # Non-finite values are another problem, with its own message (the anomaly check's).
    bad = (high < low) & np.isfinite(high) & np.isfinite(low)
    if bad.any():
        rows = np.flatnonzero(bad)
        i = int(rows[0])
        raise _fail(
            where,
            f"columns 'high'/'low', {_at(ts, i)}: high {float(high[i])!r} is below low {float(low[i])!r}"
            f"{_more(len(rows))}; check the column order (high and low may be swapped or mislabelled)",
        )


def check_page(cols: Any, where: str) -> None:
    """The permanent checks every source's candles pass, built-in or a user's `get_candles`:
    ascending unique open times in ms, high not below low."""
    ts = _col(cols, "timestamp")
    check_order(ts, where)
    check_time_unit(ts, where)
    check_high_low(cols, ts, where)


def _col(cols: Any, name: str) -> np.ndarray:
    """A column of a dict of arrays or of `CandleArrays`."""
    return cols[name] if isinstance(cols, dict) else getattr(cols, name)


def _at(ts: np.ndarray, i: int) -> str:
    return f"row {i} (timestamp {int(ts[i])}, {iso(int(ts[i]))})"


def _fail(where: str, message: str) -> PermanentDataError:
    # Malformed candles stay malformed however often they are fetched: permanent, never retried.
    return PermanentDataError(f"{where}: {message}")


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
        raise _fail(where, f"column {name!r}, row {i}: non-numeric value {values[i]!r}{_more(len(rows))}; "
                    "prices and volumes must be numbers (convert the column with pandas.to_numeric, or "
                    "drop the rows that are not candles)")
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


TIME_COLUMNS = ("timestamp", "datetime", "date", "time", "open_time")
"""Column (or index) names read as the candles' open times, case-insensitively: `timestamp`, the
`Date`/`Datetime` of pandas, Yahoo and backtesting.py files, `time`/`open_time` of exchange
dumps."""


def _time_source(df: pd.DataFrame, where: str) -> pd.Series | None:
    """The open times of a frame: the `timestamp` column; else the one column named like a time
    (`TIME_COLUMNS`); else a time index (a DatetimeIndex, or one named like a time); else a first
    column without a name (an index written to CSV) holding dates. Two candidates without a
    `timestamp` column are ambiguous and refused with the fix; None when there is none."""
    def column(name: Any) -> pd.Series:
        found = df[name]
        if isinstance(found, pd.DataFrame):
            raise _fail(where, f"column {name!r} appears more than once")
        return found.reset_index(drop=True)

    exact = _find_column(df, "timestamp")
    if exact is not None:
        return column(exact)
    lowered = [c.lower() if isinstance(c, str) else None for c in df.columns]
    named = [c for c, low in zip(df.columns, lowered, strict=True) if low in TIME_COLUMNS]
    if len(named) > 1:
        shown = " and ".join(repr(c) for c in named)
        raise _fail(
            where,
            f"columns {shown} could each be the open time; keep one, or combine a date and a time of "
            "day into one 'timestamp' column (df['timestamp'] = pd.to_datetime(df['date'] + ' ' + df['time']))",
        )
    if named:
        return column(named[0])
    index_name = df.index.name.lower() if isinstance(df.index.name, str) else None
    if isinstance(df.index, pd.DatetimeIndex) or index_name in TIME_COLUMNS:
        # A time-indexed frame (the usual pandas shape) carries its open times in the index.
        return pd.Series(df.index, copy=False)
    first = df.columns[0] if len(df.columns) else None
    if isinstance(first, str) and (first == "" or first.startswith("Unnamed: 0")):
        values = df[first]
        if not pd.api.types.is_numeric_dtype(values.dtype) and _all_dates(values):
            return values.reset_index(drop=True)
    return None


def _all_dates(values: pd.Series) -> bool:
    """True when every value reads as an ISO 8601 date (an index of dates written to CSV)."""
    try:
        return bool(pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601").notna().all())
    except (ValueError, TypeError):
        return False


def _frame_columns(df: pd.DataFrame, where: str) -> dict[str, np.ndarray]:
    """The six candle columns as int64/float64 arrays; only shape is checked, not values."""
    sources: dict[str, pd.Series] = {}
    missing: list[str] = []
    for field in CANDLE_FIELDS:
        if field == "timestamp":
            times = _time_source(df, where)
            if times is None:
                missing.append(field)
            else:
                sources[field] = times
            continue
        col = _find_column(df, field)
        if col is not None:
            column = df[col]
            if isinstance(column, pd.DataFrame):
                raise _fail(where, f"column {field!r} appears more than once")
            sources[field] = column.reset_index(drop=True)
        else:
            missing.append(field)
    if missing:
        present = ", ".join(repr(c) for c in df.columns) or "none"
        names = ", ".join(repr(m) for m in missing)
        raise _fail(
            where, f"missing column{'s' if len(missing) > 1 else ''} {names} (columns present: {present}); "
            f"candles need {COLUMNS_HINT}",
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


def extract(candles_like: Any, where: str) -> dict[str, np.ndarray]:
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
    cols = extract(candles_like, where)
    return pd.DataFrame(cols, columns=list(CANDLE_FIELDS), copy=True)


def validate(cols: dict[str, np.ndarray], where: str, step_ms: int) -> CandleArrays:
    """The checks a stored series must pass once, so that every later lookup can trust it."""
    ts = cols["timestamp"]
    check_order(ts, where)
    check_time_unit(ts, where)
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
            f"column 'timestamp', {_at(ts, i)}: not aligned to the {interval} grid (open times must be "
            f"multiples of {step_ms} ms from the epoch, this one is {int(off[i])} ms past){hint}{_more(len(rows))}",
        )
    for field in VALUE_FIELDS:
        v = cols[field]
        bad = ~np.isfinite(v)
        if bad.any():
            rows = np.flatnonzero(bad)
            i = int(rows[0])
            kind = "NaN" if np.isnan(v[i]) else "infinite"
            raise _fail(where, f"column {field!r}, {_at(ts, i)}: {kind} value{_more(len(rows))}")
    for field in PRICE_FIELDS:
        v = cols[field]
        bad = v <= 0
        if bad.any():
            rows = np.flatnonzero(bad)
            i = int(rows[0])
            raise _fail(
                where, f"column {field!r}, {_at(ts, i)}: non-positive price {float(v[i])!r}{_more(len(rows))}"
            )
    v = cols["volume"]
    bad = v < 0
    if bad.any():
        rows = np.flatnonzero(bad)
        i = int(rows[0])
        raise _fail(where, f"column 'volume', {_at(ts, i)}: negative volume {float(v[i])!r}{_more(len(rows))}")
    check_high_low(cols, ts, where)
    return CandleArrays(*(np.ascontiguousarray(cols[f]) for f in CANDLE_FIELDS))
