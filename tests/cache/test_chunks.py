"""The chunk format: byte-exact round trips, flags kept, every kind of damage detected."""

from __future__ import annotations

import numpy as np
import pytest

from farm.cache.chunks import (
    DAY_MS,
    Chunk,
    ChunkError,
    closed_until,
    day_name,
    decode,
    encode,
    slice_range,
)
from farm.models import CANDLE_FIELDS, CandleArrays
from tests.cache.conftest import DAY0, same_bytes

KEY = "candles/x/BTC%2FUSDT/1m/2024-01-01.arrow"


def arrays(n: int = 1440, start: int = DAY0) -> CandleArrays:
    rng = np.random.default_rng(1)
    ts = start + np.arange(n, dtype=np.int64) * 60_000
    close = 100 + rng.normal(size=n).cumsum()
    return CandleArrays(ts, close.copy(), close + 1, close - 1, close.copy(), rng.random(n) * 10)


def test_round_trip_is_byte_equal_with_special_floats():
    a = arrays()
    cols = {k: np.array(getattr(a, k)) for k in CANDLE_FIELDS}
    cols["volume"][3] = np.nan
    cols["close"][4] = -0.0
    cols["high"][5] = np.inf
    weird_nan = np.frombuffer(np.uint64(0x7FF8_0000_DEAD_BEEF).tobytes(), dtype=np.float64)[0]
    cols["low"][6] = weird_nan
    a = CandleArrays(*(cols[k] for k in CANDLE_FIELDS))
    back = decode(encode(Chunk(a), KEY), KEY)
    assert same_bytes(back.arrays, a)
    assert back.arrays.timestamp.dtype == np.int64 and back.arrays.close.dtype == np.float64
    assert not back.arrays.close.flags.writeable


def test_problems_survive_the_round_trip():
    a = arrays()
    problems = {int(a.timestamp[7]): "exchange x BTC 1m: candle[7] has zero or negative values (...)"}
    assert decode(encode(Chunk(a, problems), KEY), KEY).problems == problems


def test_an_empty_day_is_a_valid_chunk():
    back = decode(encode(Chunk(CandleArrays.empty()), KEY), KEY)
    assert len(back) == 0 and back.problems == {}


@pytest.mark.parametrize("where", [0, 5, 30, 200, -1])
def test_any_flipped_byte_is_detected(where):
    blob = bytearray(encode(Chunk(arrays()), KEY))
    blob[where] ^= 0x40
    with pytest.raises(ChunkError):
        decode(bytes(blob), KEY)


def test_truncated_and_foreign_values_are_rejected():
    blob = encode(Chunk(arrays()), KEY)
    for bad in (blob[: len(blob) // 2], b"", b"PAR1" + blob[4:], b"\x80\x04pickle"):
        with pytest.raises(ChunkError):
            decode(bad, KEY)


def test_a_chunk_under_the_wrong_key_is_rejected():
    blob = encode(Chunk(arrays()), KEY)
    with pytest.raises(ChunkError, match="belongs to"):
        decode(blob, KEY.replace("2024-01-01", "2024-01-02"))


def test_compact_one_day_of_1m_candles_on_a_price_grid():
    """Exchange prices sit on a tick grid; such a day compresses well below 48 bytes a candle."""
    a = arrays()
    rounded = CandleArrays(a.timestamp, *(np.round(getattr(a, k), 2) for k in CANDLE_FIELDS[1:]))
    assert len(encode(Chunk(rounded), KEY)) < 30 * 1440


def test_days_and_the_forming_rule():
    assert day_name(DAY0) == "2024-01-01"
    step = 60_000
    # The day 2024-01-01 ends at DAY0 + DAY_MS; it is closed once a whole step has passed after that.
    assert closed_until(step, DAY0 + DAY_MS + step - 1) == DAY0
    assert closed_until(step, DAY0 + DAY_MS + step) == DAY0 + DAY_MS
    assert closed_until(3_600_000, DAY0 + DAY_MS + 600_000) == DAY0  # a 1h candle closes later


def test_slice_range_is_half_open():
    a = arrays(10)
    part = slice_range(a, int(a.timestamp[2]), int(a.timestamp[5]))
    assert part.timestamp.tolist() == a.timestamp[2:5].tolist()
    assert slice_range(a, 0, 2**62) is a


def test_a_well_checksummed_but_unreadable_payload_is_rejected():
    """A writer bug (not damage in transit) must still fail cleanly, never yield candles."""
    import hashlib

    from farm.cache.chunks import DIGEST_SIZE, MAGIC

    good = encode(Chunk(arrays()), KEY)
    body = bytearray(good[4 + DIGEST_SIZE :])
    body[-40:] = b"\0" * 40
    forged = MAGIC + hashlib.sha256(bytes(body)).digest()[:DIGEST_SIZE] + bytes(body)
    with pytest.raises(ChunkError, match="unreadable chunk"):
        decode(forged, KEY)
