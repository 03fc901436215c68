"""One cached chunk: the candles of one UTC day for one (exchange, symbol, interval), as bytes.

Layout (the same in Redis and in the cold store, so a chunk moves between layers unchanged):

    b"FCK1" | SHA-256 of everything after it, first 16 bytes
           | format version (u8) | raw length (u64 LE) | key length (u16 LE) | problems length (u32 LE)
           | key (UTF-8) | problems (JSON {"<open ms>": "<message>"}, empty when there are none)
           | payload: one zstd frame (pyarrow's codec) holding one Arrow IPC record-batch message
             of the fixed schema `timestamp` int64, `open, high, low, close, volume` float64
             (read it with `pyarrow.ipc.read_record_batch(buffer, schema)`)

Why this shape: Arrow buffers decode into numpy without a copy and keep every bit (NaN payloads,
-0.0), so a chunk is byte-equal to what the source returned; one zstd frame around the message
decodes about twice as fast as Arrow's per-buffer compression (one codec call instead of six) and
is smaller; the schema is fixed, so it is not stored (parsing it per chunk cost as much as the
rest of the Arrow work). The checksum is verified before anything is decompressed, so a torn or
tampered value is rejected cheaply; the key inside catches a value stored under the wrong key.
JSON, never pickle: a cache shared by many hosts must not be able to run code. SHA-256 rather
than BLAKE2: CPUs with SHA extensions (x86 since Zen / Ice Lake, ARMv8) hash it two to three
times faster, and hashing is a large part of reading a chunk.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from farm.errors import FarmError
from farm.models import CANDLE_FIELDS, CandleArrays

MAGIC = b"FCK1"
DIGEST_SIZE = 16
HEADER = len(MAGIC) + DIGEST_SIZE + 15
DAY_MS = 86_400_000
FAR = 2**62
"""An open time after every real one (an open-ended `slice_range`)."""
FORMAT_VERSION = 1

_SCHEMA = pa.schema([("timestamp", pa.int64(), False)] + [(k, pa.float64(), False) for k in CANDLE_FIELDS[1:]])
_CODEC: pa.Codec | None = None


class ChunkError(FarmError):
    """A cached value that is not a valid chunk for its key (checksum, format or key mismatch)."""


@dataclass(frozen=True)
class Chunk:
    """The candles of one closed day exactly as the source returned them, plus the candles the
    checks flagged (open time → message), so the engine still raises where they are touched."""

    arrays: CandleArrays
    problems: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.arrays)


def _codec() -> pa.Codec:
    global _CODEC
    if _CODEC is None:
        _CODEC = pa.Codec("zstd")
    return _CODEC


def encode(chunk: Chunk, key: str) -> bytes:
    a = chunk.arrays
    name = key.encode()
    problems = (json.dumps({str(t): m for t, m in sorted(chunk.problems.items())}, separators=(",", ":")).encode()
                if chunk.problems else b"")
    batch = pa.RecordBatch.from_arrays(
        [pa.array(np.ascontiguousarray(a.timestamp, dtype=np.int64))]
        + [pa.array(np.ascontiguousarray(getattr(a, k), dtype=np.float64)) for k in CANDLE_FIELDS[1:]],
        schema=_SCHEMA,
    )
    raw = batch.serialize()
    body = b"".join((
        FORMAT_VERSION.to_bytes(1, "little"), raw.size.to_bytes(8, "little"), len(name).to_bytes(2, "little"),
        len(problems).to_bytes(4, "little"), name, problems, _codec().compress(raw, asbytes=True),
    ))
    return MAGIC + hashlib.sha256(body).digest()[:DIGEST_SIZE] + body


def decode(blob: bytes, key: str) -> Chunk:
    """The chunk stored under `key`; raises ChunkError for anything else (never a wrong chunk)."""
    if len(blob) < HEADER or blob[:4] != MAGIC:
        raise ChunkError(f"{key}: not a candle chunk (bad header)")
    body = memoryview(blob)[4 + DIGEST_SIZE :]
    if hashlib.sha256(body).digest()[:DIGEST_SIZE] != blob[4 : 4 + DIGEST_SIZE]:
        raise ChunkError(f"{key}: checksum mismatch (corrupted chunk)")
    version, raw_len = body[0], int.from_bytes(body[1:9], "little")
    key_end = 15 + int.from_bytes(body[9:11], "little")
    problems_end = key_end + int.from_bytes(body[11:15], "little")
    name = bytes(body[15:key_end]).decode("utf-8", "replace")
    if version != FORMAT_VERSION or name != key:
        raise ChunkError(f"{key}: chunk belongs to {name!r} (format {version})")
    try:
        problems = json.loads(bytes(body[key_end:problems_end])) if problems_end > key_end else {}
        raw = _codec().decompress(body[problems_end:], decompressed_size=raw_len)
        batch = pa.ipc.read_record_batch(raw, _SCHEMA)
        batch.validate()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ChunkError(f"{key}: unreadable chunk ({exc})") from None
    return Chunk(CandleArrays(*(c.to_numpy(zero_copy_only=True) for c in batch.columns)),
                 {int(t): str(m) for t, m in problems.items()})


# -- days -------------------------------------------------------------------------------------


def day_start(ms: int) -> int:
    return ms // DAY_MS * DAY_MS


def day_name(start_ms: int) -> str:
    """`YYYY-MM-DD` (UTC) of the day starting at `start_ms`: the last segment of a chunk key."""
    return datetime.fromtimestamp(start_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def closed_until(step_ms: int, now: int) -> int:
    """End of the last closed day: a day whose end is after `now − step` may still be forming
    (its last candle is not final yet), so it is never frozen into a chunk."""
    return day_start(now - step_ms)


# -- slicing (views, no copy) ------------------------------------------------------------------


def slice_range(arrays: CandleArrays, lo: int, hi: int) -> CandleArrays:
    """Candles with open time in `[lo, hi)`."""
    ts = arrays.timestamp
    i0 = int(ts.searchsorted(lo)) if len(ts) and ts[0] < lo else 0
    i1 = int(ts.searchsorted(hi)) if len(ts) and ts[-1] >= hi else len(ts)
    if i0 == 0 and i1 == len(ts):
        return arrays
    return CandleArrays(*(getattr(arrays, k)[i0:i1] for k in CANDLE_FIELDS))


def concat(parts: list[CandleArrays]) -> CandleArrays:
    parts = [p for p in parts if len(p)]
    if not parts:
        return CandleArrays.empty()
    if len(parts) == 1:
        return parts[0]
    return CandleArrays(*(np.concatenate([getattr(p, k) for p in parts]) for k in CANDLE_FIELDS))
