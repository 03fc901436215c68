"""`FileSource` reads the CSV and Parquet shapes people have (issue 13, "Data in"): a `Date` or
`datetime` column, backtesting.py's `Date,Open,High,Low,Close,Volume`, an index of dates written
to CSV, a time index in Parquet; names in any case. Ambiguous shapes are refused with the fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from farm.data.sources import FileSource
from farm.errors import PermanentDataError

HOURS = pd.date_range("2024-01-02", periods=5, freq="1h")
EXPECTED = [int(t.timestamp() * 1000) for t in HOURS.tz_localize("UTC")]


def ohlcv(**names: str) -> pd.DataFrame:
    cols = {"open": [1.0, 2, 3, 4, 5], "high": [2.0, 3, 4, 5, 6], "low": [0.5, 1, 2, 3, 4],
            "close": [1.5, 2.5, 3.5, 4.5, 5.5], "volume": [10.0, 20, 30, 40, 50]}
    return pd.DataFrame({names.get(k, k): v for k, v in cols.items()})


def read(tmp_path: Path, suffix: str = "csv") -> pd.DataFrame:
    return FileSource(tmp_path / f"{{symbol}}.{suffix}", interval="1h")("ABC", "1h", "2024-01-01", 100)


def test_backtesting_py_shape_date_open_high_low_close_volume(tmp_path):
    df = ohlcv(open="Open", high="High", low="Low", close="Close", volume="Volume")
    df.insert(0, "Date", HOURS.strftime("%Y-%m-%d %H:%M:%S"))
    df.to_csv(tmp_path / "ABC.csv", index=False)
    got = read(tmp_path)
    assert got["timestamp"].tolist() == EXPECTED
    assert got["close"].tolist() == [1.5, 2.5, 3.5, 4.5, 5.5]


def test_a_datetime_column_with_an_offset_is_converted_to_utc(tmp_path):
    df = ohlcv()
    df.insert(0, "datetime", (HOURS.tz_localize("UTC").tz_convert("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M:%S%z"))
    df.to_csv(tmp_path / "ABC.csv", index=False)
    assert read(tmp_path)["timestamp"].tolist() == EXPECTED


def test_an_index_of_dates_written_to_csv_without_a_name(tmp_path):
    df = ohlcv(close="Close").set_index(HOURS)
    df.to_csv(tmp_path / "ABC.csv")  # header ",open,high,low,Close,volume"
    assert (tmp_path / "ABC.csv").read_text().startswith(",open,")
    assert read(tmp_path)["timestamp"].tolist() == EXPECTED


def test_a_parquet_file_with_a_date_index(tmp_path):
    df = ohlcv().set_index(pd.Index(HOURS, name="Date"))
    df.to_parquet(tmp_path / "ABC.parquet")
    assert read(tmp_path, "parquet")["timestamp"].tolist() == EXPECTED


def test_a_separate_date_and_time_column_is_refused_with_the_fix(tmp_path):
    df = ohlcv()
    df.insert(0, "date", HOURS.strftime("%Y-%m-%d"))
    df.insert(1, "time", HOURS.strftime("%H:%M"))
    df.to_csv(tmp_path / "ABC.csv", index=False)
    with pytest.raises(PermanentDataError, match=r"columns 'date' and 'time' could each be the open time; .*"
                                                   r"pd\.to_datetime\(df\['date'\] \+ ' ' \+ df\['time'\]\)"):
        read(tmp_path)


def test_a_file_without_times_names_the_shapes_it_accepts(tmp_path):
    ohlcv().to_csv(tmp_path / "ABC.csv", index=False)
    with pytest.raises(PermanentDataError, match="missing column 'timestamp' .* timestamp \\(or one of Date, "
                                                   "Datetime, Time, open_time, or a DatetimeIndex\\)"):
        read(tmp_path)
