"""The identity of an exchange's data for one symbol: what the candles are, not what the
exchange is called.

A source says it itself through an ``identity(symbol) -> str`` method (`FileSource`: a digest of
the file's bytes; `DataFrameSource`: a digest of its validated candles; `SyntheticSource`: its
parameters), or the user says it with ``farm.add_exchange(..., identity=...)``. A source that says
nothing (a plain user callable) is fingerprinted from its candles: the base candles of the job's
frame range, read once per symbol when a sweep is planned and again by the worker (as a run reads
them: through the shared candle cache when there is one), which refuses the job if they differ
(the source changed between planning and running).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from farm.models import CANDLE_FIELDS, CandleArrays

READ_FINGERPRINT = "read"
"""The identity kind of a source that cannot say what its data is."""

_FILE_DIGESTS_MAX = 4096
_file_digests: OrderedDict[tuple[str, int, int], str] = OrderedDict()
_file_lock = threading.Lock()


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, remembered by (path, size, mtime_ns): a sweep of thousands of
    jobs over one file hashes it once, and an edited file (new size or mtime) is hashed again."""
    resolved = str(Path(path).resolve())
    st = os.stat(resolved)
    stamp = (resolved, st.st_size, st.st_mtime_ns)
    with _file_lock:
        known = _file_digests.get(stamp)
        if known is not None:
            _file_digests.move_to_end(stamp)
            return known
    digest = hashlib.sha256()
    with open(resolved, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _file_lock:
        _file_digests[stamp] = value
        while len(_file_digests) > _FILE_DIGESTS_MAX:
            _file_digests.popitem(last=False)
    return value


def arrays_digest(arrays: CandleArrays) -> str:
    """sha256 over the candle columns (int64 ms timestamps, float64 prices) in a fixed order."""
    digest = hashlib.sha256()
    for field in CANDLE_FIELDS:
        column = np.ascontiguousarray(getattr(arrays, field), dtype=np.int64 if field == "timestamp" else np.float64)
        digest.update(field.encode())
        digest.update(len(column).to_bytes(8, "little"))
        digest.update(column.tobytes())
    return digest.hexdigest()


def declared_identity(get_candles: Any, explicit: Any = None) -> Callable[[str], str] | None:
    """How to ask an exchange what its data is, or None when it cannot say: `explicit` (the
    `identity=` given to `add_exchange`: a string, or a function of the symbol), else an
    ``identity`` method on the source (``get_candles`` itself, or the object a bound
    ``get_candles`` method belongs to)."""
    if explicit is not None:
        if callable(explicit):
            return lambda symbol: f"declared:{explicit(symbol)}"
        return lambda symbol: f"declared:{explicit}"
    for owner in (get_candles, getattr(get_candles, "__self__", None)):
        method = getattr(owner, "identity", None)
        if owner is not None and callable(method):
            return method
    return None


def read_fingerprint(exchange: Any, symbol: str, interval: str, start_ms: int, end_ms: int) -> str:
    """A digest of the candles an exchange (an `ExchangeSchema`) serves for [start_ms, end_ms] at
    `interval`, read the way a run reads them (an `ExchangeClient` series: paged, retried, and
    through the shared candle cache when one is configured, so a warm cache calls no source)."""
    from farm.engine.exchange import ExchangeClient
    from farm.intervals import interval_ms

    # Without the exchange's callbacks (planning must not run user side effects) and without
    # waiting between retries (a failing source gets an `error:` identity, the run reports it).
    quiet = exchange.model_copy(update={"callbacks": {}})
    series = ExchangeClient(quiet, sleep=lambda _seconds: None).series(symbol, interval)
    series.ensure(start_ms, end_ms + interval_ms(interval))
    ts = series.arrays.timestamp
    lo, hi = int(np.searchsorted(ts, start_ms, "left")), int(np.searchsorted(ts, end_ms, "right"))
    arrays = CandleArrays(*(getattr(series.arrays, f)[lo:hi] for f in CANDLE_FIELDS))
    return f"{READ_FINGERPRINT}:{arrays_digest(arrays)[:32]}"


__all__ = ["READ_FINGERPRINT", "arrays_digest", "declared_identity", "file_digest", "read_fingerprint"]
