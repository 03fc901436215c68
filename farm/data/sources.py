"""Built-in candle sources: usable as an exchange's ``get_candles`` as they are.

The sources over stored series (`DataFrameSource`, `FileSource`) live here; `SyntheticSource`
lives in `farm.data.synthetic`, the canonical frames and input checks in `farm.data.candles`;
the names callers have always imported from here are re-exported. Every source is a plain
callable object,
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
* An unknown symbol raises `farm.errors.NotFoundError` (message contains "not found"); it is
  permanent: the exchange does not retry it and the job fails at once (`farm.errors.is_permanent`).
"""

from __future__ import annotations

import difflib
import glob
import os
import re
import string
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from farm.data.candles import (
    arrays_to_frame,
    check_limit,
    empty_frame,
    extract,
    resample,
    since_to_ms,
    step_for,
    to_frame,
    validate,
    window,
)
from farm.data.synthetic import ORIGIN_MS, SyntheticSource, stable_hash
from farm.errors import CandleDataError, SchemaError, SymbolNotFoundError
from farm.identity.data import arrays_digest, file_digest
from farm.intervals import interval_ms
from farm.models import CandleArrays

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


class _StoredSource:
    """What the array-backed sources share: interval checks, paging, the DataFrame answer."""

    interval: str
    _base_step: int

    def _init_interval(self, interval: str) -> None:
        self.interval = interval
        self._base_step = interval_ms(interval)

    def _step(self, interval: str) -> int:
        return step_for(self, interval)

    def _series(self, symbol: str) -> _Series:
        raise NotImplementedError

    def get_arrays(self, symbol: str, interval: str, since: Any, limit: int) -> CandleArrays:
        """`get_candles` without the DataFrame: read-only views, for callers that page a lot."""
        step = self._step(interval)
        since_ms = since_to_ms(since)
        limit = check_limit(limit)
        return window(self._series(symbol).at(step), since_ms, limit)

    def get_candles(self, symbol: str, interval: str, since: Any, limit: int) -> pd.DataFrame:
        """First `limit` candles opening at or after `since` (see the module docstring)."""
        return arrays_to_frame(self.get_arrays(symbol, interval, since, limit))

    __call__ = get_candles

    def frame(self, symbol: str, interval: str | None = None) -> pd.DataFrame:
        """Every candle of `symbol` (at `interval`, default the base): e.g. to pick frame dates."""
        step = self._base_step if interval is None else self._step(interval)
        return arrays_to_frame(self._series(symbol).at(step))


class DataFrameSource(_StoredSource):
    """Candles held in memory: one DataFrame served for every symbol, or one per symbol.

    Everything is validated on construction, so a bad frame fails where it is built, not in
    the middle of a backtest.
    """

    def __init__(self, data: pd.DataFrame | Mapping[str, pd.DataFrame], interval: str = "1m"):
        self._init_interval(interval)
        self._single: _Series | None = None
        self._by_symbol: dict[str, _Series] = {}
        self._digests: dict[int, str] = {}
        if isinstance(data, Mapping):
            for symbol, frame in data.items():
                if not isinstance(symbol, str):
                    raise SchemaError(f"DataFrameSource symbols must be strings, got {symbol!r}")
                where = f"candles for symbol {symbol!r}"
                self._by_symbol[symbol] = _Series(
                    validate(extract(frame, where), where, self._base_step), self._base_step
                )
        else:
            where = "candles (served for every symbol)"
            self._single = _Series(validate(extract(data, where), where, self._base_step), self._base_step)

    def identity(self, symbol: str) -> str:
        """What this source's candles for `symbol` are (for farm result keys): a digest of the
        validated base candles, computed once per series."""
        series = self._series(symbol)
        digest = self._digests.get(id(series))
        if digest is None:
            digest = self._digests[id(series)] = arrays_digest(series.base)
        return f"frame:{self.interval}:{digest[:32]}"

    def symbols(self) -> list[str] | None:
        """The symbols held, or None when one frame answers for any symbol."""
        return None if self._single is not None else list(self._by_symbol)

    def _series(self, symbol: str) -> _Series:
        if self._single is not None:
            return self._single
        try:
            return self._by_symbol[symbol]
        except (KeyError, TypeError):
            raise SymbolNotFoundError(
                f"symbol {symbol!r} not found in DataFrameSource{_suggest(symbol, list(self._by_symbol))}"
            ) from None

    def __repr__(self) -> str:
        held = "any symbol" if self._single is not None else f"{len(self._by_symbol)} symbols"
        return f"DataFrameSource({held}, interval={self.interval!r})"


def _suggest(symbol: str, known: list[str]) -> str:
    """"; did you mean ...? (symbols: ...)": the fix for a typo'd symbol, closest names first."""
    if not known:
        return "; the source holds no symbol: check its path pattern or data"
    close = difflib.get_close_matches(symbol, known, n=3, cutoff=0.5)
    shown = ", ".join(repr(k) for k in known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "; check the symbol's spelling"
    return f"{hint} (symbols held: {shown})"


_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".csv.zst", ".txt")


class FileSource(_StoredSource):
    """One CSV or Parquet file per symbol, found by a path pattern.

    ``pattern`` contains ``{symbol}`` (the symbol with "/" replaced by "-", since "/" cannot be
    in a file name) and may contain ``{interval}`` (the base interval: files hold base candles,
    coarser intervals are resampled). A file holds open times in a ``timestamp`` column, or in
    one ``Date``/``Datetime``/``Time``/``open_time`` column (backtesting.py's
    ``Date,Open,High,Low,Close,Volume``), a time index, or an unnamed first column of dates
    (`farm.data.candles.TIME_COLUMNS`); names in any case. Files are read on first use and kept, so a backtest that
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

    def identity(self, symbol: str) -> str:
        """What this source's candles for `symbol` are (for farm result keys): the digest of the
        file's bytes, hashed again only when its size or mtime changes (`file_digest`)."""
        path = self.path_for(symbol)
        if not path.is_file():
            raise self._not_found(symbol, f"candle file {str(path)!r} (symbol {symbol!r})")
        return f"file:{self._format}:{self.interval}:{file_digest(path)[:32]}"

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

    def _not_found(self, symbol: str, where: str) -> SymbolNotFoundError:
        """A missing file is a typo or a symbol never downloaded: say which exist and which is closest."""
        try:
            known = self.symbols()
        except OSError:
            known = []
        return SymbolNotFoundError(f"{where} not found{_suggest(symbol, known)}")

    def _read(self, path: Path, where: str) -> pd.DataFrame:
        try:
            if self._format == "parquet":
                return pd.read_parquet(path)
            return pd.read_csv(path)
        except FileNotFoundError:
            raise SymbolNotFoundError(f"{where}: file not found") from None
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
                    raise self._not_found(symbol, where)
                cols = extract(self._read(path, where), where)
                series = self._cache[symbol] = _Series(
                    validate(cols, where, self._base_step), self._base_step
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
