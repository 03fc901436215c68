"""`farm data download`: an exchange's candles into the Parquet files `FileSource` reads.

Layout: ``<out>/<SYMBOL with "-" for "/">_<interval>.parquet`` (``ETH/BTC`` at 5m is
``ETH-BTC_5m.parquet``), columns ``timestamp`` (int64 ms, open time, UTC), ``open``, ``high``,
``low``, ``close``, ``volume`` (float64), sorted and unique: read it back with
``FileSource("<out>/{symbol}_{interval}.parquet", interval=...)``.

Resumable: beside the files, ``<out>/.download/`` keeps, per file, a manifest (JSON) of the time
ranges known complete and the part files fetched since the last merge. A page becomes a part and
a range in the manifest as soon as it arrives (part first, then the manifest, each written whole
and renamed into place), so an interrupted download loses at most the page in flight; a re-run
fetches only the ranges the manifest lacks and then merges the parts into the file. A re-run with
nothing missing writes nothing (the file's bytes and mtime, hence its farm identity, stay put).

Only closed candles are fetched (the source's own rule; the range ends at the last closed
candle) and gaps stay gaps: the exchange had no candle there, nothing is invented; the report
lists them. A candle cache, when one is configured, is warmed with the downloaded days, so
backtests on a farm read them from Redis instead of from every worker's disk.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from farm.data.candles import concat, iso
from farm.errors import CandleDataError, SchemaError
from farm.intervals import CANDLE_INTERVALS, interval_ms
from farm.models import CANDLE_FIELDS, CandleArrays

STATE_DIR = ".download"
MANIFEST_VERSION = 1
PAGE_LIMIT = 1000
DAY_MS = 86_400_000

Progress = Callable[[int, int, str], Any]
"""on_progress(done, total, symbol): candle intervals covered so far, of all that were missing."""


# ---- ranges ----------------------------------------------------------------------------------


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping, touching ranges joined."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(r for r in ranges if r[1] > r[0]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def subtract_ranges(want: tuple[int, int], have: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of `want` no range of `have` covers."""
    lo, hi = want
    missing = []
    for a, b in merge_ranges(have):
        if b <= lo or a >= hi:
            continue
        if a > lo:
            missing.append((lo, a))
        lo = max(lo, b)
    if lo < hi:
        missing.append((lo, hi))
    return missing


def find_gaps(ts: np.ndarray, lo: int, hi: int, step: int) -> list[tuple[int, int]]:
    """Ranges of `[lo, hi)` on the candle grid with no candle (the exchange had none)."""
    inside = ts[(ts >= lo) & (ts < hi)]
    if not len(inside):
        return [(lo, hi)] if hi > lo else []
    gaps = []
    if inside[0] > lo:
        gaps.append((lo, int(inside[0])))
    jumps = np.nonzero(np.diff(inside) > step)[0]
    gaps += [(int(inside[i]) + step, int(inside[i + 1])) for i in jumps]
    if int(inside[-1]) + step < hi:
        gaps.append((int(inside[-1]) + step, hi))
    return gaps


# ---- files -----------------------------------------------------------------------------------


def file_name(symbol: str, interval: str) -> str:
    """``ETH/BTC``, ``5m`` -> ``ETH-BTC_5m.parquet`` (FileSource's ``{symbol}_{interval}.parquet``)."""
    return f"{symbol.replace('/', '-')}_{interval}.parquet"


def write_candles(path: Path, arrays: CandleArrays) -> None:
    """The candle file, written whole to a temporary name then renamed: a reader never sees half."""
    table = pa.table({f: pa.array(np.asarray(getattr(arrays, f)),
                                  type=pa.int64() if f == "timestamp" else pa.float64()) for f in CANDLE_FIELDS})
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def read_candles(path: Path) -> CandleArrays:
    table = pq.read_table(path, columns=list(CANDLE_FIELDS))
    return CandleArrays(*(np.ascontiguousarray(table.column(f).to_numpy(),
                                               dtype=np.int64 if f == "timestamp" else np.float64)
                          for f in CANDLE_FIELDS))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def sorted_unique(arrays: CandleArrays) -> CandleArrays:
    """By open time; of two candles with one open time the later fetched (later in `arrays`) wins."""
    ts = arrays.timestamp
    if not len(ts):
        return arrays
    order = np.argsort(ts, kind="stable")
    ts_sorted = ts[order]
    last_of_each = np.concatenate((ts_sorted[1:] != ts_sorted[:-1], [True]))
    keep = order[last_of_each]
    return CandleArrays(*(np.ascontiguousarray(getattr(arrays, f)[keep]) for f in CANDLE_FIELDS))


@dataclass
class Manifest:
    """What `.download/<file>.json` says about one candle file."""

    path: Path
    exchange: str
    symbol: str
    interval: str
    covered: list[tuple[int, int]] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path, exchange: str, symbol: str, interval: str) -> Manifest | None:
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            manifest = cls(path, str(data["exchange"]), str(data["symbol"]), str(data["interval"]),
                           [(int(a), int(b)) for a, b in data["covered"]], [str(p) for p in data["parts"]])
        except (ValueError, KeyError, TypeError) as exc:
            raise CandleDataError(f"download manifest {str(path)!r} is unreadable ({type(exc).__name__}: {exc}); "
                                  "delete it (and the matching part files) to download the range again") from None
        if (manifest.exchange, manifest.symbol, manifest.interval) != (exchange, symbol, interval):
            raise SchemaError(
                f"{str(path.parent.parent)!r} holds {manifest.symbol} {manifest.interval} downloaded from "
                f"{manifest.exchange}, not from {exchange}: download into another --out directory")
        return manifest

    def save(self) -> None:
        _write_json(self.path, {"version": MANIFEST_VERSION, "exchange": self.exchange, "symbol": self.symbol,
                                "interval": self.interval, "covered": [list(r) for r in merge_ranges(self.covered)],
                                "parts": self.parts})


# ---- the download ----------------------------------------------------------------------------


@dataclass
class SymbolReport:
    symbol: str
    path: Path
    fetched: int = 0
    """Candles fetched by this run."""
    candles: int = 0
    """Candles in the file now."""
    requests: int = 0
    first: int | None = None
    last: int | None = None
    gaps: list[tuple[int, int]] = field(default_factory=list)
    """Ranges inside the asked range where the exchange has no candle."""
    up_to_date: bool = False
    """Nothing was missing: no request, no write."""

    def gap_candles(self, step: int) -> int:
        return sum((b - a) // step for a, b in self.gaps)


@dataclass
class DownloadReport:
    interval: str
    start_ms: int
    end_ms: int
    """The asked range ``[start_ms, end_ms)``, ended at the last closed candle."""
    symbols: list[SymbolReport]
    warmed: Any = None
    """`farm.cache.warm.WarmReport` when a candle cache is configured, else None."""


@dataclass
class DownloadPlan:
    source: Any
    exchange_name: str
    symbols: list[str]
    interval: str
    out: Path
    start_ms: int
    end_ms: int
    missing: dict[str, list[tuple[int, int]]]
    now_ms: int

    @property
    def step(self) -> int:
        return interval_ms(self.interval)

    @property
    def total(self) -> int:
        """Candle intervals to fetch, all symbols (the progress bar's total)."""
        return sum((b - a) // self.step for ranges in self.missing.values() for a, b in ranges)


def plan(source: Any, exchange_name: str, symbols: list[str], interval: str, start: Any, end: Any, out: str | Path,
         *, now: int | None = None) -> DownloadPlan:
    """Check every input before anything is fetched (an unknown symbol fails here, at once) and
    work out, per symbol, what is missing from `out`. `start`/`end`: first and last UTC day
    (inclusive); `end` None: up to the last closed candle."""
    from farm.cache.warm import parse_day

    if interval not in CANDLE_INTERVALS:
        raise SchemaError(f"unknown candle interval {interval!r}; expected one of {', '.join(CANDLE_INTERVALS)}")
    symbols = list(dict.fromkeys(s.strip() for s in symbols if s.strip()))
    if not symbols:
        raise SchemaError("no symbols given (e.g. --symbols BTC/USDT,ETH/USDT)")
    step = interval_ms(interval)
    start_ms = parse_day(start, "--from")
    now_ms = _now(source) if now is None else int(now)
    closed = now_ms // step * step
    end_ms = closed if end is None else min(parse_day(end, "--to") + DAY_MS, closed)
    if end is not None and parse_day(end, "--to") < start_ms:
        raise SchemaError(f"--to {end} is before --from {start}")
    if start_ms >= closed:
        raise SchemaError(f"--from {start} is in the future: no candle has closed since then")
    timeframe = getattr(source, "timeframe", None)
    if callable(timeframe):
        timeframe(interval)  # an interval the exchange does not serve fails here, not mid-way
    check = getattr(source, "check_symbol", None)
    if callable(check):
        for symbol in symbols:
            check(symbol)
    out = Path(out).expanduser()
    missing = {}
    for symbol in symbols:
        have = _coverage(out, exchange_name, symbol, interval)
        missing[symbol] = subtract_ranges((start_ms, end_ms), have)
    return DownloadPlan(source, exchange_name, symbols, interval, out, start_ms, end_ms, missing, now_ms)


def _now(source: Any) -> int:
    import time

    now = getattr(source, "now_ms", None)
    return int(now()) if callable(now) else int(time.time() * 1000)


def _state_paths(out: Path, symbol: str, interval: str) -> tuple[Path, Path, Path]:
    name = file_name(symbol, interval)
    state = out / STATE_DIR
    return out / name, state / f"{name}.json", state / f"{name}.lock"


def _coverage(out: Path, exchange_name: str, symbol: str, interval: str) -> list[tuple[int, int]]:
    """Ranges known complete: the manifest's, or for a file without one (copied in, or written
    by another tool), the span from its first to its last candle."""
    path, manifest_path, _ = _state_paths(out, symbol, interval)
    manifest = Manifest.load(manifest_path, exchange_name, symbol, interval)
    if manifest is not None:
        return merge_ranges(manifest.covered)
    if path.is_file():
        ts = read_candles(path).timestamp
        if len(ts):
            return [(int(ts[0]), int(ts[-1]) + interval_ms(interval))]
    return []


@contextmanager
def _locked(lock_path: Path, symbol: str) -> Iterator[None]:
    """One download per file at a time (two would interleave parts and manifests)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SchemaError(f"another download of {symbol} into {str(lock_path.parent.parent)!r} is running "
                              "(wait for it, or give another --out)") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch(source: Any, symbol: str, interval: str, since: int, limit: int) -> CandleArrays:
    get_arrays = getattr(source, "get_arrays", None)
    if callable(get_arrays):
        return get_arrays(symbol, interval, since, limit)
    from datetime import UTC, datetime

    from farm.engine.exchange import arrays_from_raw

    raw = source(symbol, interval, datetime.fromtimestamp(since / 1000, tz=UTC), limit)
    return arrays_from_raw(raw, f"{symbol} {interval}")


def run(p: DownloadPlan, on_progress: Progress | None = None, *, page_limit: int = PAGE_LIMIT) -> DownloadReport:
    """Fetch what `p` found missing, symbol by symbol, then merge each file and (with a candle
    cache configured) warm the cache with the downloaded days."""
    p.out.mkdir(parents=True, exist_ok=True)
    total, done = p.total, 0
    reports = []
    if on_progress:
        on_progress(0, total, "")
    for symbol in p.symbols:
        report, done = _download_symbol(p, symbol, on_progress, done, total, page_limit)
        reports.append(report)
    result = DownloadReport(p.interval, p.start_ms, p.end_ms, reports)
    result.warmed = warm_cache(p)
    return result


def _download_symbol(p: DownloadPlan, symbol: str, on_progress: Progress | None, done: int, total: int,
                     page_limit: int) -> tuple[SymbolReport, int]:
    step = p.step
    path, manifest_path, lock_path = _state_paths(p.out, symbol, p.interval)
    report = SymbolReport(symbol, path)
    with _locked(lock_path, symbol):
        manifest = Manifest.load(manifest_path, p.exchange_name, symbol, p.interval)
        if manifest is None:
            manifest = Manifest(manifest_path, p.exchange_name, symbol, p.interval,
                                _coverage(p.out, p.exchange_name, symbol, p.interval))
        missing = subtract_ranges((p.start_ms, p.end_ms), manifest.covered)
        report.up_to_date = not missing and not manifest.parts
        for lo, hi in missing:
            since = lo
            while since < hi:
                sent = getattr(p.source, "requests", None)
                page = _fetch(p.source, symbol, p.interval, since, page_limit)
                # HTTP requests when the source counts them (a CcxtExchange), else calls.
                report.requests += getattr(p.source, "requests", 0) - sent if isinstance(sent, int) else 1
                ts = page.timestamp
                inside = int(np.searchsorted(ts, hi, "left"))
                complete_to = hi if (len(page) < page_limit or inside < len(page)) else int(ts[inside - 1]) + step
                page = CandleArrays(*(getattr(page, f)[:inside] for f in CANDLE_FIELDS))
                if len(page):
                    part = f"{file_name(symbol, p.interval)[:-8]}.part-{since}-{complete_to}.parquet"
                    write_candles(manifest_path.parent / part, page)
                    manifest.parts.append(part)
                    report.fetched += len(page)
                manifest.covered = merge_ranges([*manifest.covered, (since, complete_to)])
                manifest.save()
                done += (complete_to - since) // step
                since = complete_to
                if on_progress:
                    on_progress(done, total, symbol)
        if manifest.parts:
            _merge(path, manifest)
    if path.is_file():
        ts = read_candles(path).timestamp
        report.candles = len(ts)
        if len(ts):
            report.first, report.last = int(ts[0]), int(ts[-1])
        report.gaps = find_gaps(ts, p.start_ms, p.end_ms, step)
    return report, done


def _merge(path: Path, manifest: Manifest) -> None:
    """The file plus the parts, sorted by open time, written whole; then the parts go."""
    state = manifest.path.parent
    pieces = [read_candles(path)] if path.is_file() else []
    pieces += [read_candles(state / part) for part in manifest.parts if (state / part).is_file()]
    write_candles(path, sorted_unique(concat(pieces)))
    parts, manifest.parts = manifest.parts, []
    manifest.save()
    for part in parts:
        (state / part).unlink(missing_ok=True)


def warm_cache(p: DownloadPlan) -> Any:
    """Warm the candle cache (when FARM_REDIS_URL/FARM_S3_BUCKET configure one) with the closed
    days of the range, read from the downloaded files under the exchange name `p.exchange_name`
    (register the exchange under that name to hit them). None without a cache."""
    from farm.cache import candle_cache

    cache = candle_cache()
    if cache is None:
        return None
    from farm.cache.chunks import closed_until, day_name
    from farm.cache.warm import WarmPlan
    from farm.cache.warm import run as warm_run
    from farm.data.sources import FileSource
    from farm.engine.exchange import ExchangeClient
    from farm.schemas import ExchangeSchema

    symbols = [s for s in p.symbols if _state_paths(p.out, s, p.interval)[0].is_file()]
    if not symbols:
        return None
    files = FileSource(str(p.out / "{symbol}_{interval}.parquet"), interval=p.interval)
    client = ExchangeClient(ExchangeSchema(exchange_name=p.exchange_name, get_candles=files))
    # Whole days inside the range that have closed by the cache's rule (never a forming day).
    closed = min(p.end_ms, closed_until(p.step, p.now_ms))
    days = list(range(p.start_ms // DAY_MS * DAY_MS, p.end_ms, DAY_MS))
    plan_ = WarmPlan(cache, client, symbols, p.interval, [d for d in days if d + DAY_MS <= closed],
                     [day_name(d) for d in days if d + DAY_MS > closed])
    return warm_run(plan_)


def download(source: Any, exchange_name: str, symbols: list[str], interval: str, start: Any, end: Any,
             out: str | Path, *, on_progress: Progress | None = None, now: int | None = None,
             page_limit: int = PAGE_LIMIT) -> DownloadReport:
    """`plan` then `run`: download `symbols` from `source` (a `CcxtExchange`, or any farm
    source) into `out`. See the module docstring for the layout and the resume rule."""
    return run(plan(source, exchange_name, symbols, interval, start, end, out, now=now), on_progress,
               page_limit=page_limit)


def describe_gaps(report: SymbolReport, step: int, shown: int = 3) -> str:
    """``"1 gap, 30 candles missing: 2018-01-12T08:20:00Z to 2018-01-12T10:45:00Z"``: the open
    times of the first and last missing candle of each gap, the longest gaps first."""
    if not report.gaps:
        return "no gap"
    biggest = sorted(report.gaps, key=lambda g: g[0] - g[1])[:shown]
    listed = ", ".join(f"{iso(a)} to {iso(b - step)}" for a, b in sorted(biggest))
    more = f" (the {shown} longest)" if len(report.gaps) > shown else ""
    return (f"{len(report.gaps)} gap{'s' if len(report.gaps) != 1 else ''}, {report.gap_candles(step):,} "
            f"candles missing: {listed}{more}")


__all__ = [
    "STATE_DIR",
    "DownloadPlan",
    "DownloadReport",
    "SymbolReport",
    "describe_gaps",
    "download",
    "file_name",
    "find_gaps",
    "iso",
    "merge_ranges",
    "plan",
    "run",
    "subtract_ranges",
    "warm_cache",
]
