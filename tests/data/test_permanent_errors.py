"""Permanent data errors fail a job at once (issue: a typo'd symbol cost 16 s of retries per
backtest): the source is asked once, never `get_candles_retry_count` times, and the job's failure
names the problem and the fix, whatever the source (a built-in one or a user's function)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import farm
from farm.data.sources import DataFrameSource, FileSource
from farm.errors import PermanentDataError, is_permanent
from farm.persist import open_store

SAMPLE = Path(farm.__file__).parent / "sample_data" / "{symbol}_1m.parquet"


class CountingFileSource(FileSource):
    calls = 0

    def get_arrays(self, *args: Any, **kwargs: Any) -> Any:
        type(self).calls += 1
        return super().get_arrays(*args, **kwargs)


def _strategy(symbol: str, when: Any) -> None:
    return None


def _sweep(get_candles: Any, symbol: str, tmp_path: Path, start: str = "2017-11-06") -> Any:
    # Five attempts 1 s apart: retried, a job would take 4 s and call the source five times.
    farm.set_config(get_candles_retry_count=5, get_candles_retry_delay_ms=1000)
    farm.add_exchange("x", get_candles)
    farm.add_frame("f", "1m", start, pd.Timestamp(start) + pd.Timedelta(hours=6))
    farm.add_strategy("s", "1m", _strategy, params={"n": 1})
    farm.add_walker("w", "x", "f", [farm.variant("s", n=1), farm.variant("s", n=2)])
    return farm.sweep("w", [symbol], executor="local", workers=1,
                      store=open_store(f"file://{tmp_path / 'store'}"), out=tmp_path / "out")


def test_a_typod_symbol_fails_its_jobs_at_once_and_names_the_closest_symbol(tmp_path):
    CountingFileSource.calls = 0
    result = _sweep(CountingFileSource(SAMPLE), "UNITTEST/BTX", tmp_path)
    assert len(result.failures) == 2
    for failure in result.failures:
        assert "'UNITTEST/BTX') not found; did you mean 'UNITTEST/BTC'?" in failure.error
    assert CountingFileSource.calls <= 2  # once per job, not five times per job


def _frame(rows: list[list[Any]], columns: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
           ) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


T = int(pd.Timestamp("2024-01-02", tz="UTC").timestamp() * 1000)
M = 60_000


def _good(n: int = 400) -> list[list[Any]]:
    return [[T + i * M, 100.0, 101.0, 99.0, 100.5, 10.0] for i in range(n)]


def _swap(rows: list[list[Any]], i: int, j: int) -> list[list[Any]]:
    rows[i], rows[j] = rows[j], rows[i]
    return rows


BAD: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "missing column": (lambda: _frame([r[:5] for r in _good()], ("timestamp", "open", "high", "low", "close")),
                       "missing column 'volume'"),
    "string price": (lambda: _frame([[*r[:4], "n/a" if i == 3 else r[4], r[5]] for i, r in enumerate(_good())]),
                     "non-numeric value 'n/a'"),
    "unsorted": (lambda: _frame(_swap(_good(), 3, 4)), "unsorted timestamps"),
    "duplicate": (lambda: _frame([r if i != 4 else [T + 3 * M, *r[1:]] for i, r in enumerate(_good())]),
                  "duplicated timestamp"),
    "high below low": (lambda: _frame([r if i != 5 else [r[0], 100.0, 98.0, 99.0, 100.0, 1.0]
                                       for i, r in enumerate(_good())]), "high 98.0 is below low 99.0"),
    "seconds": (lambda: _frame([[r[0] // 1000, *r[1:]] for r in _good()]), "look like seconds"),
}
FIXES = {
    "missing column": "candles need the columns timestamp",
    "string price": "pandas.to_numeric",
    "unsorted": "sort by open time",
    "duplicate": "drop_duplicates",
    "high below low": "check the column order",
    "seconds": "multiply them by 1000",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_each_kind_of_bad_data_from_a_users_function_fails_at_once_with_its_fix(kind, tmp_path, caplog):
    make, problem = BAD[kind]
    calls: list[int] = []

    def get_candles(symbol: str, interval: str, since: Any, limit: int) -> pd.DataFrame:
        calls.append(1)
        return make()

    result = _sweep(get_candles, "A/B", tmp_path, start="2024-01-02")
    assert len(result.failures) == 2, result
    for failure in result.failures:
        assert "PermanentDataError" in failure.error and problem in failure.error, failure.error
        assert FIXES[kind] in failure.error, failure.error
    # Never retried: no attempt logged as failed-and-retried, fewer calls than retries would make
    # (the plan's data check and the run each ask once).
    assert not [r for r in caplog.records if "get_candles attempt" in r.getMessage()]
    assert len(calls) < 2 * 5  # retried, the two jobs would make at least five calls each


def test_empty_data_fails_the_job_instead_of_storing_an_empty_result(tmp_path):
    calls: list[int] = []

    def get_candles(symbol: str, interval: str, since: Any, limit: int) -> pd.DataFrame:
        calls.append(1)
        return _frame([])

    result = _sweep(get_candles, "A/B", tmp_path, start="2024-01-02")
    assert len(result.failures) == 2, result
    for failure in result.failures:
        assert failure.error.startswith("EmptyFrameError: exchange x: no candles for A/B in frame f"), failure.error
        assert "the source returned none; check the symbol" in failure.error


def test_a_frame_outside_the_data_fails_the_job_and_says_where_the_data_is(tmp_path):
    # The warm-up before the frame finds candles; the frame itself has none.
    result = _sweep(CountingFileSource(SAMPLE), "UNITTEST/BTC", tmp_path, start="2017-11-15")
    assert len(result.failures) == 2, result
    for failure in result.failures:
        assert "EmptyFrameError" in failure.error and "no candles for UNITTEST/BTC in frame f" in failure.error
        assert "candles loaded are from 2017-11-14T00:00:00.000Z to 2017-11-14T22:59:00.000Z" in failure.error, failure.error


def test_permanence_is_one_rule():
    assert is_permanent(PermanentDataError("x"))
    assert not is_permanent(TimeoutError("x"))
    with pytest.raises(PermanentDataError, match="look like seconds"):  # the stored sources too
        DataFrameSource(_frame([[r[0] // 1000, *r[1:]] for r in _good()]))


def test_a_worker_does_not_retry_a_permanent_error_even_when_a_connection_error_caused_it():
    from farm.run.execute import _is_transient

    try:
        try:
            raise ConnectionError("refused")
        except ConnectionError as exc:
            raise PermanentDataError("the file is malformed") from exc
    except PermanentDataError as permanent:
        assert not _is_transient(permanent)
    assert _is_transient(farm.CandleDataError("x").with_traceback(None)) is False
    wrapped = farm.CandleDataError("fetch failed")
    wrapped.__cause__ = TimeoutError("slow")
    assert _is_transient(wrapped)
