"""The built-in candle sources against the get_candles contract, on hand-built and real data."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from farm.data.sample import sample_dir, sample_source, sample_symbols
from farm.data.sources import (
    ORIGIN_MS,
    DataFrameSource,
    FileSource,
    SyntheticSource,
    since_to_ms,
    to_frame,
)
from farm.errors import CandleDataError, NotFoundError, SchemaError
from farm.models import CANDLE_FIELDS, Candle, Candles

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T0_MS = 1_704_067_200_000
M = 60_000


def frame(minutes: list[int], **overrides: list[float]) -> pd.DataFrame:
    """Candles at T0 + minutes; prices encode the minute (open = 100 + m) so rows are easy to tell apart."""
    m = np.asarray(minutes, dtype=np.int64)
    data = {
        "timestamp": T0_MS + m * M,
        "open": 100.0 + m,
        "high": 100.5 + m,
        "low": 99.5 + m,
        "close": 100.25 + m,
        "volume": 10.0 + m,
    }
    data.update(
        {
            k: np.asarray(v, dtype=object if any(isinstance(x, str) for x in v) else float)
            for k, v in overrides.items()
        }
    )
    return pd.DataFrame(data)


def minutes_of(df: pd.DataFrame) -> list[int]:
    return [int((t - T0_MS) // M) for t in df["timestamp"]]


def assert_canonical(df: pd.DataFrame) -> None:
    assert list(df.columns) == list(CANDLE_FIELDS)
    assert df["timestamp"].dtype == np.int64
    for f in CANDLE_FIELDS[1:]:
        assert df[f].dtype == np.float64
    assert df["timestamp"].is_monotonic_increasing


# ---- DataFrameSource: since / limit ---------------------------------------------------------


def test_first_limit_candles_from_since():
    src = DataFrameSource(frame(list(range(10))))
    out = src("BTC/USDT", "1m", T0 + timedelta(minutes=3), 3)
    assert_canonical(out)
    assert out.to_dict("records") == [
        {
            "timestamp": T0_MS + 3 * M,
            "open": 103.0,
            "high": 103.5,
            "low": 102.5,
            "close": 103.25,
            "volume": 13.0,
        },
        {
            "timestamp": T0_MS + 4 * M,
            "open": 104.0,
            "high": 104.5,
            "low": 103.5,
            "close": 104.25,
            "volume": 14.0,
        },
        {
            "timestamp": T0_MS + 5 * M,
            "open": 105.0,
            "high": 105.5,
            "low": 104.5,
            "close": 105.25,
            "volume": 15.0,
        },
    ]


def test_since_edges():
    src = DataFrameSource(frame(list(range(10))))
    # inside a candle: that candle opened before since, so the next one is first
    assert minutes_of(src("X", "1m", T0 + timedelta(minutes=3, seconds=30), 2)) == [4, 5]
    # one millisecond after an open time also skips it
    assert minutes_of(src("X", "1m", T0 + timedelta(minutes=3, microseconds=1000), 1)) == [4]
    # before the data: from the first candle
    assert minutes_of(src("X", "1m", T0 - timedelta(days=1), 2)) == [0, 1]
    # near the end: fewer than asked
    assert minutes_of(src("X", "1m", T0 + timedelta(minutes=8), 5)) == [8, 9]
    # past the end / limit 0: empty, but typed
    for out in (src("X", "1m", T0 + timedelta(minutes=10), 5), src("X", "1m", T0, 0)):
        assert len(out) == 0
        assert_canonical(out)


def test_since_forms_agree():
    src = DataFrameSource(frame(list(range(10))))
    expected = src("X", "1m", T0 + timedelta(minutes=2), 3)
    for since in (
        datetime(2024, 1, 1, 0, 2),  # naive = UTC
        datetime(2024, 1, 1, 2, 2, tzinfo=timezone(timedelta(hours=2))),
        pd.Timestamp("2024-01-01T00:02:00Z"),
        T0_MS + 2 * M,
        "2024-01-01T00:02:00Z",
    ):
        pd.testing.assert_frame_equal(src("X", "1m", since, 3), expected)
    assert since_to_ms(datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == T0_MS + 1  # rounds up


def test_count_semantics_skip_gaps():
    src = DataFrameSource(frame([0, 1, 2, 5, 6, 9]))
    assert minutes_of(src("X", "1m", T0 + timedelta(minutes=2), 3)) == [2, 5, 6]
    assert minutes_of(src("X", "1m", T0 + timedelta(minutes=3), 3)) == [5, 6, 9]
    assert minutes_of(src("X", "1m", T0 + timedelta(minutes=7), 3)) == [9]


def test_returned_frame_is_the_callers():
    src = DataFrameSource(frame(list(range(5))))
    out = src("X", "1m", T0, 5)
    out.loc[0, "close"] = -1.0
    assert src("X", "1m", T0, 1)["close"].iloc[0] == 100.25


def test_one_frame_serves_every_symbol_and_mapping_is_per_symbol():
    single = DataFrameSource(frame([0, 1]))
    assert single.symbols() is None
    pd.testing.assert_frame_equal(single("A/B", "1m", T0, 2), single("C/D", "1m", T0, 2))

    multi = DataFrameSource({"BTC/USDT": frame([0, 1]), "ETH/USDT": frame([5])})
    assert multi.symbols() == ["BTC/USDT", "ETH/USDT"]
    assert minutes_of(multi("ETH/USDT", "1m", T0, 5)) == [5]
    with pytest.raises(NotFoundError, match="not found") as exc:
        multi("DOGE/USDT", "1m", T0, 5)
    assert "DOGE/USDT" in str(exc.value)


def test_bad_arguments():
    src = DataFrameSource(frame([0, 1]))
    with pytest.raises(SchemaError, match="limit"):
        src("X", "1m", T0, -1)
    with pytest.raises(SchemaError, match="unknown candle interval '7m'"):
        src("X", "7m", T0, 1)
    with pytest.raises(SchemaError, match="since"):
        src("X", "1m", None, 1)


def test_accepts_time_index_and_capitalised_columns():
    df = frame([0, 1, 2])
    df.index = pd.to_datetime(df.pop("timestamp"), unit="ms")
    df.columns = [c.capitalize() for c in df.columns]
    src = DataFrameSource(df)
    assert minutes_of(src("X", "1m", T0, 5)) == [0, 1, 2]


# ---- resampling ---------------------------------------------------------------------------


def hand_frame() -> pd.DataFrame:
    # 1m candles at minutes 3, 4 | 5, 6, 8 | (bucket 10-14 empty) | 15
    return pd.DataFrame(
        {
            "timestamp": [T0_MS + m * M for m in (3, 4, 5, 6, 8, 15)],
            "open": [10.0, 11.0, 12.0, 13.0, 14.0, 20.0],
            "high": [11.5, 12.5, 13.0, 16.0, 14.5, 21.0],
            "low": [9.5, 10.5, 11.0, 12.5, 9.0, 19.0],
            "close": [11.0, 12.0, 13.0, 14.0, 14.2, 20.5],
            "volume": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )


def test_resample_hand_computed():
    src = DataFrameSource(hand_frame())
    out = src("X", "5m", T0, 10)
    assert_canonical(out)
    assert out.to_dict("records") == [
        # partial first bucket (data starts at minute 3)
        {"timestamp": T0_MS + 0 * M, "open": 10.0, "high": 12.5, "low": 9.5, "close": 12.0, "volume": 3.0},
        {"timestamp": T0_MS + 5 * M, "open": 12.0, "high": 16.0, "low": 9.0, "close": 14.2, "volume": 12.0},
        # bucket at minute 10 has no base candle: absent, not invented
        {"timestamp": T0_MS + 15 * M, "open": 20.0, "high": 21.0, "low": 19.0, "close": 20.5, "volume": 6.0},
    ]
    # since inside a bucket: that bucket opened earlier, so it is not returned
    assert minutes_of(src("X", "5m", T0 + timedelta(minutes=1), 10)) == [5, 15]
    assert minutes_of(src("X", "15m", T0, 10)) == [0, 15]
    fifteen = src("X", "15m", T0, 1).iloc[0]
    assert (fifteen["open"], fifteen["high"], fifteen["low"], fifteen["close"], fifteen["volume"]) == (
        10.0,
        16.0,
        9.0,
        14.2,
        15.0,
    )


def test_resample_refuses_finer_or_unaligned_intervals():
    with pytest.raises(CandleDataError, match="cannot serve finer 1m candles"):
        DataFrameSource(frame([0, 5]), interval="5m")("X", "1m", T0, 1)
    with pytest.raises(CandleDataError, match="not a whole multiple of 3m"):
        DataFrameSource(frame([0, 3]), interval="3m")("X", "5m", T0, 1)
    with pytest.raises(CandleDataError, match="finer"):
        SyntheticSource(interval="15m")("X", "5m", T0, 1)


# ---- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "needles"),
    [
        (frame([0, 1]).drop(columns=["volume", "low"]), ["missing columns 'low', 'volume'"]),
        (frame([0, 1], close=[1.0, "abc"]), ["column 'close'", "row 1", "non-numeric value 'abc'"]),
        (frame([0, 1], high=[np.nan, 1.0]), ["column 'high'", "row 0", "NaN"]),
        (frame([0, 1], low=[1.0, np.inf]), ["column 'low'", "row 1", "infinite"]),
        (frame([0, 1, 2], volume=[1.0, 2.0, -3.0]), ["column 'volume'", "row 2", "negative volume -3.0"]),
        (frame([0, 1], open=[0.0, 1.0]), ["column 'open'", "row 0", "non-positive price 0.0"]),
        (frame([0, 1], close=[100.0, -5.0]), ["column 'close'", "row 1", "non-positive price -5.0"]),
        (frame([0, 2, 1]), ["column 'timestamp'", "row 2", "unsorted"]),
        (frame([0, 1, 1]), ["column 'timestamp'", "row 2", "duplicated timestamp"]),
        (
            pd.concat([frame([0]), frame([1]).assign(timestamp=T0_MS + 90_000)], ignore_index=True),
            ["column 'timestamp'", "row 1", "not aligned to the 1m grid", "30000 ms past"],
        ),
        (frame([0, 1], high=[90.0, 101.5]), ["'high'/'low'", "row 0", "high 90.0 is below low 99.5"]),
    ],
    ids=[
        "missing",
        "non-numeric",
        "nan",
        "inf",
        "neg-volume",
        "zero-price",
        "neg-price",
        "unsorted",
        "duplicate",
        "misaligned",
        "high-below-low",
    ],
)
def test_validation_messages(df, needles):
    with pytest.raises(CandleDataError) as exc:
        DataFrameSource({"BTC/USDT": df})
    message = str(exc.value)
    assert "'BTC/USDT'" in message
    for needle in needles:
        assert needle in message


def test_validation_counts_more_rows_and_hints_seconds():
    with pytest.raises(CandleDataError, match=r"row 0 .*NaN value \(2 more rows like it\)"):
        DataFrameSource(frame([0, 1, 2], close=[np.nan, np.nan, np.nan]))
    seconds = frame([0, 1]).assign(timestamp=[1_704_067_200, 1_704_067_260])
    with pytest.raises(CandleDataError, match="look like seconds"):
        DataFrameSource(seconds)


def test_gaps_are_valid():
    src = DataFrameSource(frame([0, 7, 300]))
    assert minutes_of(src("X", "1m", T0, 10)) == [0, 7, 300]


# ---- FileSource ---------------------------------------------------------------------------


def test_file_source_parquet_and_csv(tmp_path):
    frame(list(range(6))).to_parquet(tmp_path / "BTC-USDT_1m.parquet")
    df = frame([0, 2, 4])
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    df.to_csv(tmp_path / "ETH-USDT.csv", index=False)

    pq = FileSource(str(tmp_path / "{symbol}_{interval}.parquet"))
    assert pq.path_for("BTC/USDT") == tmp_path / "BTC-USDT_1m.parquet"
    assert minutes_of(pq("BTC/USDT", "1m", T0 + timedelta(minutes=1), 2)) == [1, 2]
    assert pq.symbols() == ["BTC/USDT"]

    csv = FileSource(tmp_path / "{symbol}.csv")
    out = csv("ETH/USDT", "1m", T0, 10)
    assert_canonical(out)
    assert minutes_of(out) == [0, 2, 4]
    assert out["close"].tolist() == [100.25, 102.25, 104.25]


def test_file_source_loads_lazily_once(tmp_path, monkeypatch):
    frame(list(range(6))).to_parquet(tmp_path / "BTC-USDT.parquet")
    calls = []
    real = pd.read_parquet
    monkeypatch.setattr(pd, "read_parquet", lambda *a, **k: calls.append(a) or real(*a, **k))
    src = FileSource(str(tmp_path / "{symbol}.parquet"))
    assert calls == []
    for i in range(5):
        src("BTC/USDT", "1m", T0 + timedelta(minutes=i), 1)
    src("BTC/USDT", "5m", T0, 1)
    assert len(calls) == 1


def test_file_source_errors_name_the_file(tmp_path):
    src = FileSource(str(tmp_path / "{symbol}_{interval}.parquet"))
    with pytest.raises(NotFoundError, match="not found") as exc:
        src("DOGE/USDT", "1m", T0, 1)
    assert str(tmp_path / "DOGE-USDT_1m.parquet") in str(exc.value)
    assert "DOGE/USDT" in str(exc.value)

    frame([0, 1], close=[1.0, np.nan]).to_parquet(tmp_path / "BAD-USDT_1m.parquet")
    with pytest.raises(CandleDataError) as exc2:
        src("BAD/USDT", "1m", T0, 1)
    assert str(tmp_path / "BAD-USDT_1m.parquet") in str(exc2.value)
    assert "column 'close'" in str(exc2.value) and "row 1" in str(exc2.value) and "NaN" in str(exc2.value)

    (tmp_path / "JUNK-USDT_1m.parquet").write_bytes(b"not parquet")
    with pytest.raises(CandleDataError, match="cannot read the file"):
        src("JUNK/USDT", "1m", T0, 1)


def test_file_source_pattern_checks(tmp_path):
    with pytest.raises(SchemaError, match=r"must contain \{symbol\}"):
        FileSource(str(tmp_path / "all.parquet"))
    with pytest.raises(SchemaError, match="unknown placeholder"):
        FileSource(str(tmp_path / "{Symbol}.parquet"))
    with pytest.raises(SchemaError, match="must end in"):
        FileSource(str(tmp_path / "{symbol}.json"))


def test_sources_pickle(tmp_path):
    frame(list(range(3))).to_parquet(tmp_path / "A.parquet")
    for src in (
        DataFrameSource(frame([0, 1, 2])),
        FileSource(str(tmp_path / "{symbol}.parquet")),
        SyntheticSource(seed=3),
    ):
        before = src("A", "1m", T0, 3)
        pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(src))("A", "1m", T0, 3), before)


# ---- real data ----------------------------------------------------------------------------


@needs_shared
def test_real_unittest_btc_through_file_source():
    src = FileSource(str(SHARED / "{symbol}_{interval}.parquet"))
    raw = pd.read_parquet(SHARED / "UNITTEST-BTC_1m.parquet")
    full = src.frame("UNITTEST/BTC")
    assert len(full) == 13_681
    steps = np.diff(full["timestamp"].to_numpy())
    assert (steps > M).sum() > 100  # gaps present, not filled
    pd.testing.assert_frame_equal(full, raw[list(CANDLE_FIELDS)].reset_index(drop=True))

    # paging in 1000s (as the engine does) returns every candle exactly once
    pages, since = [], int(raw["timestamp"].iloc[0])
    while True:
        page = src("UNITTEST/BTC", "1m", since, 1000)
        if page.empty:
            break
        pages.append(page)
        since = int(page["timestamp"].iloc[-1]) + 1
    assert [len(p) for p in pages] == [1000] * 13 + [681]
    pd.testing.assert_frame_equal(pd.concat(pages, ignore_index=True), full)

    # resampling agrees with pandas
    fifteen = src.frame("UNITTEST/BTC", "15m")
    g = raw.groupby(raw["timestamp"] // (15 * M) * (15 * M))
    expected = pd.DataFrame(
        {
            "timestamp": g.size().index.to_numpy(dtype=np.int64),
            "open": g["open"].first().to_numpy(),
            "high": g["high"].max().to_numpy(),
            "low": g["low"].min().to_numpy(),
            "close": g["close"].last().to_numpy(),
            "volume": g["volume"].sum().to_numpy(),
        }
    )
    pd.testing.assert_frame_equal(fifteen, expected, check_exact=False, rtol=1e-12)


def test_bundled_sample():
    symbols = sample_symbols()
    assert symbols["UNITTEST/BTC"] == "1m"
    fives = [s for s, i in symbols.items() if i == "5m"]
    assert 3 <= len(fives) <= 4
    total = sum(p.stat().st_size for p in sample_dir().glob("*.parquet"))
    assert total < 1_500_000

    one = sample_source("1m")
    assert len(one.frame("UNITTEST/BTC")) == 13_681
    first = one("UNITTEST/BTC", "1m", datetime(2017, 11, 4, 23, 2, tzinfo=UTC), 2)
    assert first["timestamp"].tolist() == [1_509_836_520_000, 1_509_836_580_000]
    assert first["open"].tolist() == [0.00162008, 0.00161]

    five = sample_source("5m")
    assert five.symbols() == sorted(fives)
    for symbol in fives:
        candles = five.frame(symbol)
        assert 5_000 < len(candles) <= 5_760
        assert_canonical(candles)
    with pytest.raises(NotFoundError, match="not found"):
        five("UNITTEST/BTC", "5m", T0, 1)  # it is a 1m file
    with pytest.raises(NotFoundError, match="'15m' not found"):
        sample_source("15m")


@needs_shared
def test_bundled_sample_is_the_shared_file():
    bundled = pd.read_parquet(sample_dir() / "UNITTEST-BTC_1m.parquet")
    pd.testing.assert_frame_equal(bundled, pd.read_parquet(SHARED / "UNITTEST-BTC_1m.parquet"))


# ---- SyntheticSource ----------------------------------------------------------------------


def test_synthetic_paging_independent():
    since = datetime(2023, 5, 17, 13, 7, tzinfo=UTC)
    one = SyntheticSource(seed=7)("BTC/USDT", "1m", since, 2000)
    src = SyntheticSource(seed=7)
    a = src("BTC/USDT", "1m", since, 1000)
    b = src("BTC/USDT", "1m", int(a["timestamp"].iloc[-1]) + 1, 1000)
    assert_canonical(one)
    assert len(one) == 2000
    assert np.all(np.diff(one["timestamp"].to_numpy()) == M)
    pd.testing.assert_frame_equal(pd.concat([a, b], ignore_index=True), one, check_exact=True)
    # odd page sizes, fresh instance, reverse order of requests
    other = SyntheticSource(seed=7)
    tail = other("BTC/USDT", "1m", int(one["timestamp"].iloc[1500]), 500)
    head = other("BTC/USDT", "1m", since, 7)
    pd.testing.assert_frame_equal(tail, one.iloc[1500:].reset_index(drop=True), check_exact=True)
    pd.testing.assert_frame_equal(head, one.iloc[:7].reset_index(drop=True), check_exact=True)


def test_synthetic_far_requests_do_not_change_near_ones():
    since = datetime(2021, 1, 1, tzinfo=UTC)
    fresh = SyntheticSource(seed=1)("ETH/USDT", "1m", since, 50)
    warmed = SyntheticSource(seed=1)
    warmed("ETH/USDT", "1m", datetime(2040, 1, 1, tzinfo=UTC), 10)
    warmed("ETH/USDT", "1m", datetime(1990, 1, 1, tzinfo=UTC), 10)  # before the origin works too
    pd.testing.assert_frame_equal(warmed("ETH/USDT", "1m", since, 50), fresh, check_exact=True)


def test_synthetic_seeds_and_symbols_differ():
    a = SyntheticSource(seed=1)("BTC/USDT", "1m", T0, 100)
    b = SyntheticSource(seed=2)("BTC/USDT", "1m", T0, 100)
    c = SyntheticSource(seed=1)("ETH/USDT", "1m", T0, 100)
    assert (a["timestamp"] == b["timestamp"]).all()
    assert not np.allclose(a["close"], b["close"])
    assert not np.allclose(a["close"], c["close"])


def test_synthetic_symbol_hash_is_stable_across_processes():
    code = (
        "from farm.data.sources import SyntheticSource;"
        "print(repr(float(SyntheticSource(seed=5)('BTC/USDT', '1m', 1704067200000, 3)['close'].iloc[-1])))"
    )
    here = float(SyntheticSource(seed=5)("BTC/USDT", "1m", T0_MS, 3)["close"].iloc[-1])
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert float(out.stdout.strip()) == here


def test_synthetic_candle_shape():
    df = SyntheticSource(seed=3, volatility=0.01)("X", "1m", T0, 5000)
    o, h, lo, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert (h >= np.maximum(o, c)).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (lo > 0).all() and (v > 0).all()
    assert (h > np.maximum(o, c)).mean() > 0.9  # real wicks, not just the body
    np.testing.assert_array_equal(o[1:], c[:-1])  # continuous, across 1024-candle blocks too
    returns = np.log(c / o)
    assert returns.std() == pytest.approx(0.01, rel=0.1)


def test_synthetic_parameters():
    origin = SyntheticSource(start_price=250.0)("X", "1m", ORIGIN_MS, 1)
    assert origin["open"].iloc[0] == 250.0
    anchored = SyntheticSource(start_price=50.0, anchor=T0 + timedelta(minutes=3))
    assert anchored("X", "1m", T0 + timedelta(minutes=3), 1)["open"].iloc[0] == 50.0
    trend = SyntheticSource(volatility=0.0, drift=0.001, anchor=T0)("X", "1m", T0, 11)
    assert trend["close"].iloc[-1] / trend["open"].iloc[0] == pytest.approx(np.exp(0.011), rel=1e-9)
    with pytest.raises(CandleDataError, match="anchor"):
        SyntheticSource(volatility=0.0, drift=0.001)("X", "1m", T0, 11)  # e^(0.001 * 12.6M minutes)
    assert SyntheticSource(volume=0.0)("X", "1m", T0, 3)["volume"].tolist() == [0.0, 0.0, 0.0]
    for bad in (
        {"start_price": 0},
        {"volatility": -1},
        {"gap_probability": 1.0},
        {"seed": "x"},
        {"drift": float("nan")},
        {"start_price": "100"},
        {"volume": -0.5},
    ):
        with pytest.raises(SchemaError):
            SyntheticSource(**bad)


def test_synthetic_gaps():
    plain = SyntheticSource(seed=9)("X", "1m", T0, 3000)
    gappy_src = SyntheticSource(seed=9, gap_probability=0.2)
    gappy = gappy_src("X", "1m", T0, 1000)
    assert len(gappy) == 1000
    span = (gappy["timestamp"].iloc[-1] - T0_MS) // M + 1
    assert 1150 < span < 1350  # about 1000 / 0.8 minutes
    # surviving candles are the gap-free ones
    merged = gappy.merge(plain, on="timestamp", suffixes=("", "_plain"))
    assert len(merged) == 1000
    for f in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(merged[f], merged[f + "_plain"])
    # paging across gaps still equals one request
    again = SyntheticSource(seed=9, gap_probability=0.2)
    first = again("X", "1m", T0, 400)
    second = again("X", "1m", int(first["timestamp"].iloc[-1]) + 1, 600)
    pd.testing.assert_frame_equal(pd.concat([first, second], ignore_index=True), gappy, check_exact=True)


def test_synthetic_resampled_matches_resampled_base():
    src = SyntheticSource(seed=4, gap_probability=0.3)
    base = src("X", "1m", T0, 5000)
    via_frame = DataFrameSource(base)("X", "15m", T0, 100)
    direct = src("X", "15m", T0, 100)
    assert len(direct) == 100
    pd.testing.assert_frame_equal(direct.iloc[:90], via_frame.iloc[:90], check_exact=True)
    assert (direct["timestamp"] % (15 * M) == 0).all()


# ---- to_frame -----------------------------------------------------------------------------


ROWS = [
    {"timestamp": T0_MS, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0},
    {"timestamp": T0_MS + M, "open": 1.5, "high": 2.5, "low": 1.0, "close": 2.0, "volume": 20.0},
]


def expected_frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS).astype(
        {"timestamp": np.int64, "open": float, "high": float, "low": float, "close": float, "volume": float}
    )


@pytest.mark.parametrize(
    "candles",
    [
        ROWS,
        iter(ROWS),
        [SimpleNamespace(**r) for r in ROWS],
        [Candle(**r) for r in ROWS],
        [[r[f] for f in CANDLE_FIELDS] for r in ROWS],  # ccxt
        [{**r, "timestamp": str(r["timestamp"]), "close": str(r["close"])} for r in ROWS],  # REST strings
        [{**r, "timestamp": datetime.fromtimestamp(r["timestamp"] / 1000, UTC)} for r in ROWS],
        pd.DataFrame(ROWS).assign(extra="x"),
        {f: [r[f] for r in ROWS] for f in CANDLE_FIELDS},
        "candles-object",
    ],
    ids=[
        "dicts",
        "iterator",
        "objects",
        "Candle",
        "ccxt",
        "strings",
        "datetimes",
        "frame",
        "columns",
        "Candles",
    ],
)
def test_to_frame_inputs(candles):
    if isinstance(candles, str):
        candles = Candles.from_frame(pd.DataFrame(ROWS))
    out = to_frame(candles)
    pd.testing.assert_frame_equal(out, expected_frame())


def test_to_frame_keeps_every_row_in_order():
    rows = [ROWS[1], ROWS[0], {**ROWS[0], "close": None}, {**ROWS[0], "open": float("nan"), "high": -1}]
    out = to_frame(rows)
    assert len(out) == 4
    assert out["timestamp"].tolist() == [T0_MS + M, T0_MS, T0_MS, T0_MS]  # not sorted, not deduplicated
    assert np.isnan(out["close"].iloc[2]) and np.isnan(out["open"].iloc[3])
    assert out["high"].iloc[3] == -1.0  # values are the engine's anomaly check's business
    assert_canonical(to_frame([]))


def test_to_frame_errors():
    with pytest.raises(CandleDataError, match="row 1: missing field 'volume'"):
        to_frame([ROWS[0], {k: v for k, v in ROWS[1].items() if k != "volume"}])
    with pytest.raises(CandleDataError, match="row 0: SimpleNamespace object has no field 'low'"):
        to_frame([SimpleNamespace(timestamp=1, open=1, high=1, close=1, volume=1)])
    with pytest.raises(CandleDataError, match=r"column 'close', row 1: non-numeric value 'n/a'"):
        to_frame([ROWS[0], {**ROWS[1], "close": "n/a"}])
    with pytest.raises(CandleDataError, match="column 'timestamp', row 0: missing"):
        to_frame([{**ROWS[0], "timestamp": None}])
    with pytest.raises(CandleDataError, match="sequence of 4 values"):
        to_frame([[1, 2, 3, 4]])
    with pytest.raises(CandleDataError, match="missing column 'volume'"):
        to_frame(pd.DataFrame(ROWS).drop(columns="volume"))
    with pytest.raises(CandleDataError, match="None"):
        to_frame(None)
    with pytest.raises(CandleDataError, match="single mapping"):
        to_frame(ROWS[0])
    with pytest.raises(CandleDataError, match="exchange 'e'"):
        to_frame([{"x": 1}], where="exchange 'e'")
