"""Exchange (SPEC §3 with D1): retrying fetch, anomaly checks, look-ahead-proof windows, VWAP,
the `Candles` window API and the in-strategy context helpers."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

import farm
from farm.engine.exchange import ExchangeClient
from farm.schemas import ExchangeSchema
from tests.conftest import (
    MIN,
    T0,
    TableExchange,
    flat_candles,
    minutes,
    register_table,
    run,
    set_candle,
    signal_every_5,
)


@pytest.fixture(autouse=True)
def _no_retry_delay():
    # One attempt, no sleeping: individual tests raise the retry count where they need it.
    farm.set_config(get_candles_retry_count=1, get_candles_retry_delay_ms=0)


class MultiExchange:
    """get_candles over one table per interval."""

    def __init__(self, tables: dict[str, pd.DataFrame]):
        self.tables = {k: TableExchange(v) for k, v in tables.items()}

    def __call__(self, symbol: str, interval: str, since: datetime, limit: int) -> pd.DataFrame:
        return self.tables[interval](symbol, interval, since, limit)


def probe(fn: Callable[[str, datetime], Any], *, frame: tuple[int, int], name: str = "s") -> list[Any]:
    """Register a strategy whose get_signal records `fn(symbol, when)` and never signals; run it."""
    seen: list[Any] = []

    def get_signal(symbol, when):
        seen.append(fn(symbol, when))
        return None

    farm.add_strategy(name, "1m", get_signal)
    farm.add_frame("f", "1m", frame[0], frame[1])
    return seen


def collect_errors() -> list[BaseException]:
    errors: list[BaseException] = []
    farm.listen_error(errors.append)
    return errors


def client_for(get_candles, name: str = "x") -> tuple[ExchangeClient, list[float]]:
    sleeps: list[float] = []
    schema = ExchangeSchema(exchange_name=name, get_candles=get_candles)
    return ExchangeClient(schema, sleep=sleeps.append), sleeps


# ---- §3.2 retry -------------------------------------------------------------------------


def test_fetch_failing_once_then_succeeding_makes_two_calls():
    farm.set_config(get_candles_retry_count=3, get_candles_retry_delay_ms=250)
    calls: list[datetime] = []

    def get_candles(symbol, interval, since, limit):
        calls.append(since)
        if len(calls) == 1:
            raise ConnectionError("flaky network")
        return flat_candles(T0, 4, price=7.0)

    client, sleeps = client_for(get_candles)
    arrays = client.fetch("A", "1m", T0, 4)
    assert len(calls) == 2
    assert calls == [datetime(2024, 1, 1, tzinfo=UTC)] * 2
    assert sleeps == [0.25]
    assert len(arrays) == 4
    assert minutes(arrays.timestamp.tolist()) == [0, 1, 2, 3]
    assert arrays.close.tolist() == [7.0] * 4


def test_fetch_always_failing_raises_after_exactly_retry_count_calls():
    farm.set_config(get_candles_retry_count=3, get_candles_retry_delay_ms=100)
    calls: list[int] = []

    def get_candles(symbol, interval, since, limit):
        calls.append(limit)
        raise ConnectionError("exchange down")

    client, sleeps = client_for(get_candles)
    with pytest.raises(farm.CandleDataError) as info:
        client.fetch("A", "1m", T0, 10)
    assert calls == [10, 10, 10]
    # a sleep after every failed attempt, the last one included
    assert sleeps == [0.1, 0.1, 0.1]
    assert "exchange down" in str(info.value)
    assert "3 attempt" in str(info.value)


def test_fetch_with_retry_count_zero_raises_without_calling():
    farm.set_config(get_candles_retry_count=0)
    calls: list[int] = []

    def get_candles(symbol, interval, since, limit):
        calls.append(limit)
        return flat_candles(T0, limit)

    client, sleeps = client_for(get_candles)
    with pytest.raises(farm.FarmError, match="retry_count is 0"):
        client.fetch("A", "1m", T0, 5)
    assert calls == []
    assert sleeps == []


def test_an_anomalous_page_counts_as_a_failed_attempt():
    farm.set_config(get_candles_retry_count=2)
    pages = [set_candle(flat_candles(T0, 3), T0 + MIN, close=math.nan), flat_candles(T0, 3)]
    calls: list[int] = []

    def get_candles(symbol, interval, since, limit):
        calls.append(limit)
        return pages[len(calls) - 1]

    client, sleeps = client_for(get_candles)
    assert len(client.fetch("A", "1m", T0, 3)) == 3
    assert len(calls) == 2
    assert len(sleeps) == 1


def test_a_persistently_anomalous_page_fails_after_retry_count_attempts():
    farm.set_config(get_candles_retry_count=3, get_candles_retry_delay_ms=20)
    calls: list[int] = []

    def get_candles(symbol, interval, since, limit):
        calls.append(limit)
        return set_candle(flat_candles(T0, 3), T0 + 2 * MIN, volume=-1.0)

    client, sleeps = client_for(get_candles)
    with pytest.raises(farm.CandleDataError, match=r"candle\[2\] has zero or negative values"):
        client.fetch("A", "1m", T0, 3)
    assert len(calls) == 3
    assert sleeps == [0.02, 0.02, 0.02]


class FlakyTable(TableExchange):
    """A table exchange whose first `failures` calls raise."""

    def __init__(self, df: pd.DataFrame, failures: int):
        super().__init__(df)
        self.failures = failures
        self.attempts = 0

    def __call__(self, symbol, interval, since, limit):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError("flaky network")
        return super().__call__(symbol, interval, since, limit)


def test_backtest_retries_a_failed_fetch_transparently():
    df = flat_candles(T0, 120)
    # control run on a reliable exchange
    control = TableExchange(df)
    farm.add_exchange("x", control)
    farm.add_frame("f", "1m", T0 + 10 * MIN, T0 + 30 * MIN)
    farm.add_strategy("s", "1m", signal_every_5)
    expected = [(r.signal.pending_at, r.close_timestamp, r.close_reason) for r in run()]
    assert len(expected) == 5

    farm.clear_registry()
    farm.set_config(get_candles_retry_count=3)
    flaky = FlakyTable(df, failures=1)
    farm.add_exchange("x", flaky)
    farm.add_frame("f", "1m", T0 + 10 * MIN, T0 + 30 * MIN)
    farm.add_strategy("s", "1m", signal_every_5)
    errors = collect_errors()
    got = [(r.signal.pending_at, r.close_timestamp, r.close_reason) for r in run()]
    assert errors == []
    assert got == expected
    assert flaky.attempts == len(control.calls) + 1
    # the retried call asked for exactly what the failed one did
    assert flaky.calls[0] == control.calls[0]


def test_a_data_source_down_at_the_first_load_ends_the_run_with_that_error():
    """With no retry left, the bulk load of the run's base candles failing is fatal: every tick
    would fail the same way, and a farm must see a failed task rather than an empty result."""
    flaky = FlakyTable(flat_candles(T0, 120), failures=1)
    farm.add_exchange("x", flaky)
    seen = probe(lambda symbol, when: when, frame=(T0 + 10 * MIN, T0 + 14 * MIN))
    with pytest.raises(farm.CandleDataError, match="get_candles failed after 1 attempt.*flaky network") as info:
        run()
    assert isinstance(info.value.__cause__, ConnectionError)
    assert seen == []


def test_a_retry_absorbs_a_flaky_first_load():
    farm.set_config(unsafe=True, get_candles_retry_count=2)
    flaky = FlakyTable(flat_candles(T0, 120), failures=1)
    farm.add_exchange("x", flaky)
    seen = probe(lambda symbol, when: when, frame=(T0 + 10 * MIN, T0 + 14 * MIN))
    errors = collect_errors()
    assert run() == []
    assert errors == []
    assert [w.minute for w in seen] == [10, 11, 12, 13, 14]


def test_a_fetch_failure_mid_run_goes_to_listen_error_and_the_run_continues():
    """A window of another interval that fails to load fails that tick only."""
    table = TableExchange(flat_candles(T0 - 60 * MIN, 200))
    calls = {"5m": 0}

    def get_candles(symbol, interval, since, limit):
        if interval == "5m":
            calls["5m"] += 1
            if calls["5m"] == 1:
                raise ConnectionError("flaky network")
        return table(symbol, interval, since, limit)

    farm.add_exchange("x", get_candles)
    seen = probe(lambda symbol, when: (when.minute, len(farm.get_candles(symbol, "5m", 2))),
                 frame=(T0 + 10 * MIN, T0 + 14 * MIN))
    errors = collect_errors()
    assert run() == []
    assert len(errors) == 1
    assert "flaky network" in str(errors[0]) and "strategy s symbol A" in str(errors[0])
    assert [minute for minute, _ in seen] == [11, 12, 13, 14]


# ---- §3.2 anomaly check -----------------------------------------------------------------


def fetch_error(df: pd.DataFrame) -> str:
    client, _ = client_for(lambda symbol, interval, since, limit: df)
    with pytest.raises(farm.CandleDataError) as info:
        client.fetch("A", "1m", T0, len(df))
    return str(info.value)


def test_no_positive_price_cannot_calculate_reference_price():
    df = flat_candles(T0, 5, price=0.0)
    assert "cannot calculate reference price" in fetch_error(df)


def test_empty_page_passes():
    client, _ = client_for(lambda *a: [])
    assert len(client.fetch("A", "1m", T0, 5)) == 0


@pytest.mark.parametrize("field", ["open", "high", "low", "close", "volume"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_values_are_invalid(field, value):
    df = set_candle(flat_candles(T0, 6), T0 + MIN, **{field: value})
    assert "candle[1] has invalid numeric values" in fetch_error(df)


@pytest.mark.parametrize(("field", "value"), [("low", 0.0), ("open", -1.0), ("close", 0.0), ("volume", -0.5)])
def test_zero_or_negative_values(field, value):
    df = set_candle(flat_candles(T0, 6), T0 + 2 * MIN, **{field: value})
    assert "candle[2] has zero or negative values" in fetch_error(df)


def test_zero_volume_is_fine():
    client, _ = client_for(lambda *a: flat_candles(T0, 3, volume=0.0))
    assert client.fetch("A", "1m", T0, 3).volume.tolist() == [0.0, 0.0, 0.0]


def test_anomalously_low_price_with_median_reference():
    df = set_candle(flat_candles(T0, 5), T0 + 4 * MIN, low=0.05)
    message = fetch_error(df)
    assert "candle[4] has anomalously low price" in message
    assert "OHLC=[100.0, 100.0, 0.05, 100.0]" in message
    assert "reference=100.0" in message
    assert "threshold=0.1" in message


def test_price_at_the_threshold_is_not_anomalous():
    client, _ = client_for(lambda *a: set_candle(flat_candles(T0, 5), T0 + 4 * MIN, low=0.1))
    assert client.fetch("A", "1m", T0, 5).low.tolist()[-1] == 0.1


def _median_vs_mean_page() -> pd.DataFrame:
    """Five candles whose upper median (100) and mean (20075.025) differ by far."""
    df = flat_candles(T0, 5)
    set_candle(df, T0 + 3 * MIN, open=100000.0, high=100000.0, low=100000.0, close=100000.0)
    set_candle(df, T0 + 4 * MIN, low=0.5)
    return df


def test_median_is_the_reference_from_min_candles_for_median():
    df = _median_vs_mean_page()
    client, _ = client_for(lambda *a: df)
    # median 100 → threshold 0.1: 0.5 passes
    assert len(client.fetch("A", "1m", T0, 5)) == 5


def test_mean_is_the_reference_below_min_candles_for_median():
    farm.set_config(get_candles_min_candles_for_median=6)
    message = fetch_error(_median_vs_mean_page())
    assert "candle[4] has anomalously low price" in message
    reference = float(re.search(r"reference=([0-9.e+-]+)", message)[1])
    threshold = float(re.search(r"threshold=([0-9.e+-]+)", message)[1])
    assert reference == pytest.approx(20075.025)
    assert threshold == pytest.approx(20.075025)


def test_fewer_candles_than_the_median_minimum_use_the_mean():
    df = flat_candles(T0, 4)
    for k in (0, 1):
        set_candle(df, T0 + k * MIN, open=100000.0, high=100000.0, low=100000.0, close=100000.0)
    set_candle(df, T0 + 3 * MIN, low=50.0)
    message = fetch_error(df)
    assert "candle[3] has anomalously low price" in message
    reference = float(re.search(r"reference=([0-9.e+-]+)", message)[1])
    assert reference == pytest.approx((8 * 100000 + 7 * 100 + 50) / 16)


def test_anomaly_threshold_factor_is_read_from_config():
    df = set_candle(flat_candles(T0, 5), T0 + MIN, low=5.0)
    client, _ = client_for(lambda *a: df)
    assert len(client.fetch("A", "1m", T0, 5)) == 5  # 5 ≥ 100/1000
    farm.set_config(get_candles_price_anomaly_threshold_factor=10)
    message = fetch_error(df)
    assert "candle[1] has anomalously low price" in message
    assert "threshold=10.0" in message


def test_unsorted_timestamps_are_rejected():
    df = flat_candles(T0, 4)
    df.loc[2, "timestamp"] = T0 + 10 * MIN
    message = fetch_error(df)
    assert "row 3 (timestamp" in message
    assert "unsorted timestamp" in message
    assert "sort by open time and drop duplicates" in message


def test_duplicated_timestamps_are_rejected():
    df = flat_candles(T0, 4)
    df.loc[2, "timestamp"] = T0 + MIN
    message = fetch_error(df)
    assert "row 2 (timestamp" in message
    assert "duplicated timestamp" in message
    assert "sort by open time and drop duplicates" in message


def test_missing_column_is_rejected():
    message = fetch_error(flat_candles(T0, 3).drop(columns=["volume"]))
    assert "volume" in message


def test_anomalies_surface_on_listen_error_and_the_backtest_finishes():
    df = set_candle(flat_candles(T0, 60), T0 + 12 * MIN, open=math.nan)
    register_table(df)
    seen = probe(lambda symbol, when: when.minute, frame=(T0 + 10 * MIN, T0 + 20 * MIN))
    errors = collect_errors()
    assert run() == []  # no raise
    # the VWAP windows [t-5, t) of ticks 13..17 hold the bad 00:12 candle; the others are clean
    assert seen == [10, 11, 12, 18, 19, 20]
    assert len(errors) == 5
    for minute, error in zip(range(13, 18), errors, strict=True):
        assert f"at 2024-01-01T00:{minute}:00.000Z" in str(error)
        assert re.search(r"candle\[\d+\] has invalid numeric values", str(error))
        assert "open=nan" in str(error)
        assert isinstance(error, farm.FarmError)


def test_a_bad_candle_outside_every_window_does_not_fail_the_ticks():
    """The reference checks each requested window; a bad candle in the same exchange page but
    outside every window used must not fail a tick."""
    df = set_candle(flat_candles(T0, 120), T0 + 60 * MIN, open=math.nan)
    register_table(df)
    seen = probe(lambda symbol, when: when.minute, frame=(T0 + 10 * MIN, T0 + 14 * MIN))
    errors = collect_errors()
    run()
    assert [str(e) for e in errors] == []
    assert seen == [10, 11, 12, 13, 14]


# ---- §3.4 VWAP and D1 -------------------------------------------------------------------


def spec_vwap_table(t: int) -> pd.DataFrame:
    """§3.4: five closed candles before `t` with typical = 42000 + 100i + 243.6667 and volumes
    100..140; the candle opening at `t` (not closed yet) is wildly different."""
    df = flat_candles(T0, 60, price=42000.0)
    for i in range(5):
        base = 42000.0 + 100 * i
        set_candle(
            df,
            t - (5 - i) * MIN,
            open=base,
            high=base + 500,
            low=base - 100,
            close=base + 331,
            volume=100.0 + 10 * i,
        )
    set_candle(df, t, open=1e6, high=1e6, low=1e6, close=1e6, volume=1e6)
    return df


def test_spec_vwap_example_via_get_average_price():
    t = T0 + 20 * MIN
    df = spec_vwap_table(t)
    rows = df[(df.timestamp >= t - 5 * MIN) & (df.timestamp < t)]
    typical = (rows.high + rows.low + rows.close) / 3
    assert typical.tolist() == pytest.approx([42000 + 100 * i + 243.6666667 for i in range(5)])
    register_table(df)
    seen = probe(lambda symbol, when: farm.get_average_price(symbol), frame=(t, t))
    errors = collect_errors()
    run()
    assert errors == []
    assert seen == [pytest.approx(42460 + 1 / 3, abs=1e-9)]


def test_vwap_uses_avg_price_candles_count_read_at_use():
    t = T0 + 20 * MIN
    register_table(spec_vwap_table(t))
    farm.set_config(avg_price_candles_count=2)
    seen = probe(lambda symbol, when: farm.get_average_price(symbol), frame=(t, t))
    run()
    # the last two closed candles (i = 3, 4)
    typical = [42000 + 100 * i + 731 / 3 for i in (3, 4)]
    expected = (typical[0] * 130 + typical[1] * 140) / 270
    assert seen == [pytest.approx(expected, abs=1e-9)]


def test_vwap_with_zero_total_volume_is_the_mean_close():
    t = T0 + 20 * MIN
    df = flat_candles(T0, 60, price=100.0)
    for i in range(5):
        set_candle(df, t - (5 - i) * MIN, close=100.0 + i, high=110.0, low=90.0, volume=0.0)
    set_candle(df, t, close=500.0, high=500.0, volume=0.0)
    register_table(df)
    seen = probe(lambda symbol, when: farm.get_average_price(symbol), frame=(t, t))
    run()
    assert seen == [102.0]


def test_vwap_over_a_gap_uses_the_candles_present():
    t = T0 + 20 * MIN
    df = flat_candles(T0, 60, price=100.0)
    set_candle(df, t - MIN, open=200.0, high=200.0, low=200.0, close=200.0, volume=300.0)
    df = df[~df.timestamp.isin([t - 3 * MIN, t - 2 * MIN])]
    register_table(df)
    seen = probe(lambda symbol, when: farm.get_average_price(symbol), frame=(t, t))
    run()
    # candles t-5, t-4 (100 x 100 volume each) and t-1 (200 x 300)
    assert seen == [pytest.approx((100 * 100 * 2 + 200 * 300) / 500)]


def test_vwap_without_closed_candles_is_an_error():
    table = TableExchange(flat_candles(T0, 60))

    def get_candles(symbol, interval, since, limit):
        return table(symbol, interval, since, limit) if symbol == "A" else []

    farm.add_exchange("x", get_candles)
    seen = probe(lambda symbol, when: farm.get_average_price("B"), frame=(T0 + 20 * MIN, T0 + 20 * MIN))
    errors = collect_errors()
    assert run() == []
    assert seen == []
    assert len(errors) == 1
    assert "no candles data for B" in str(errors[0])
    assert isinstance(errors[0].__cause__, farm.CandleDataError)


def test_a_data_gap_reports_the_same_errors_whether_or_not_signals_are_observed():
    """Subscribing a signal listener must not change what the run reports on listen_error."""

    def once(observe: bool) -> list[str]:
        farm.clear_registry()
        from farm import events

        events.clear_listeners()
        register_table(flat_candles(T0 + 20 * MIN, 30))
        probe(lambda symbol, when: None, frame=(T0 + 20 * MIN, T0 + 20 * MIN))
        errors = collect_errors()
        if observe:
            farm.listen_signal(lambda event: None)
        run()
        return [str(e) for e in errors]

    assert once(observe=True) == once(observe=False)


def window(symbol: str, interval: str, limit: int):
    def read(sym, when):
        candles = farm.get_candles(sym, interval, limit)
        return minutes(candles.timestamp.tolist())

    return read


@pytest.mark.parametrize("tick", [10, 11, 25])
def test_get_candles_returns_the_closed_candles_before_the_tick(tick):
    register_table(flat_candles(T0, 60))
    seen = probe(window("A", "1m", 3), frame=(T0 + tick * MIN, T0 + tick * MIN))
    run()
    assert seen == [[tick - 3, tick - 2, tick - 1]]


def test_get_candles_never_includes_the_candle_opening_at_the_tick():
    register_table(flat_candles(T0, 60))
    seen = probe(window("A", "1m", 3), frame=(T0 + 10 * MIN, T0 + 15 * MIN))
    run()
    assert seen == [[m - 3, m - 2, m - 1] for m in range(10, 16)]


def test_get_candles_limit_one_works():
    register_table(flat_candles(T0, 60))
    seen = probe(window("A", "1m", 1), frame=(T0 + 10 * MIN, T0 + 11 * MIN))
    errors = collect_errors()
    run()
    assert errors == []
    assert seen == [[9], [10]]


@pytest.fixture
def two_intervals():
    exchange = MultiExchange({"1m": flat_candles(T0, 120), "5m": flat_candles(T0, 30, step=5 * MIN)})
    farm.add_exchange("x", exchange)
    return exchange


@pytest.mark.parametrize(
    ("tick", "limit", "expected"),
    [
        (37, 2, [25, 30]),  # 7 min after the 00:30 boundary: the 00:35 candle is still forming
        (35, 2, [25, 30]),  # exactly on a boundary: the candle opening now is excluded
        (39, 2, [25, 30]),
        (40, 2, [30, 35]),
        (37, 3, [20, 25, 30]),
        (37, 1, [30]),
    ],
)
def test_higher_interval_window_follows_d1(two_intervals, tick, limit, expected):
    seen = probe(window("A", "5m", limit), frame=(T0 + tick * MIN, T0 + tick * MIN))
    errors = collect_errors()
    run()
    assert errors == []
    assert seen == [expected]


def test_d1_window_formula_for_every_tick(two_intervals):
    seen = probe(
        lambda sym, when: (when, farm.get_candles(sym, "5m", 2).timestamp.tolist()),
        frame=(T0 + 30 * MIN, T0 + 50 * MIN),
    )
    run()
    step = 5 * MIN
    for when, got in seen:
        ms = int(when.timestamp() * 1000)
        a = ms // step * step
        assert got == [a - 2 * step, a - step]
        assert all(ts + step <= ms for ts in got)  # every candle returned has closed


def test_gap_inside_the_window_returns_fewer_candles():
    df = flat_candles(T0, 60)
    df = df[df.timestamp != T0 + 18 * MIN]
    register_table(df)
    seen = probe(window("A", "1m", 3), frame=(T0 + 20 * MIN, T0 + 20 * MIN))
    run()
    assert seen == [[17, 19]]


def test_window_before_the_data_starts_is_short():
    register_table(flat_candles(T0 + 8 * MIN, 60))
    seen = probe(window("A", "1m", 5), frame=(T0 + 10 * MIN, T0 + 10 * MIN))
    run()
    assert seen == [[8, 9]]


def test_get_candles_with_unknown_interval_is_an_error():
    register_table(flat_candles(T0, 60))
    seen = probe(window("A", "2m", 3), frame=(T0 + 10 * MIN, T0 + 10 * MIN))
    errors = collect_errors()
    assert run() == []
    assert seen == []
    assert len(errors) == 1
    assert "unknown time adjust" in str(errors[0])


@pytest.mark.parametrize("limit", [0, -2])
def test_get_candles_with_non_positive_limit_is_an_error(limit):
    register_table(flat_candles(T0, 60))
    probe(window("A", "1m", limit), frame=(T0 + 10 * MIN, T0 + 10 * MIN))
    errors = collect_errors()
    run()
    assert len(errors) == 1
    assert "limit must be a positive integer" in str(errors[0])


def test_average_price_ignores_the_unclosed_candle_even_when_it_would_dominate():
    t = T0 + 20 * MIN
    df = flat_candles(T0, 60, price=100.0)
    set_candle(df, t, open=5000.0, high=5000.0, low=5000.0, close=5000.0, volume=1e9)
    register_table(df)
    seen = probe(lambda symbol, when: farm.get_average_price(symbol), frame=(t, t + MIN))
    run()
    # at t the 5000 candle is still forming; at t+1 it has closed and dominates the VWAP
    assert seen[0] == 100.0
    assert seen[1] == pytest.approx((5000 * 1e9 + 100 * 100 * 4) / (1e9 + 400))


# ---- Candles API ------------------------------------------------------------------------


@pytest.fixture
def sample_window() -> farm.Candles:
    df = flat_candles(T0, 60)
    for k in range(5):
        set_candle(
            df,
            T0 + (15 + k) * MIN,
            open=10.0 + k,
            high=20.0 + k,
            low=5.0 + k,
            close=11.0 + k,
            volume=1000.0 + k,
        )
    register_table(df)
    seen = probe(lambda symbol, when: farm.get_candles(symbol, "1m", 5), frame=(T0 + 20 * MIN, T0 + 20 * MIN))
    run()
    [candles] = seen
    return candles


def test_candles_columns_are_numpy_arrays(sample_window):
    c = sample_window
    assert isinstance(c, farm.Candles)
    assert len(c) == 5
    assert c.timestamp.dtype == np.int64
    for name in ("open", "high", "low", "close", "volume"):
        assert getattr(c, name).dtype == np.float64, name
    assert minutes(c.timestamp.tolist()) == [15, 16, 17, 18, 19]
    assert c.open.tolist() == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert c.high.tolist() == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert c.low.tolist() == [5.0, 6.0, 7.0, 8.0, 9.0]
    assert c.close.tolist() == [11.0, 12.0, 13.0, 14.0, 15.0]
    assert c.volume.tolist() == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]


@pytest.mark.parametrize("name", ["timestamp", "open", "high", "low", "close", "volume"])
def test_candles_columns_are_read_only(sample_window, name):
    column = getattr(sample_window, name)
    with pytest.raises(ValueError, match="read-only"):
        column[0] = 1
    assert getattr(sample_window, name)[0] == column[0]
    assert sample_window.close[0] == 11.0


def test_candles_indexing_yields_candle_records(sample_window):
    c = sample_window
    first, last = c[0], c[-1]
    assert isinstance(first, farm.Candle)
    assert first.timestamp == T0 + 15 * MIN
    assert isinstance(first.timestamp, int)
    assert (first.open, first.high, first.low, first.close, first.volume) == (10.0, 20.0, 5.0, 11.0, 1000.0)
    assert last.timestamp == T0 + 19 * MIN
    assert last["close"] == 15.0
    assert last["volume"] == 1004.0
    assert c[-2].close == 14.0
    assert dict(first) == {
        "timestamp": T0 + 15 * MIN,
        "open": 10.0,
        "high": 20.0,
        "low": 5.0,
        "close": 11.0,
        "volume": 1000.0,
    }
    with pytest.raises(KeyError):
        first["vwap"]
    with pytest.raises(IndexError):
        c[5]
    with pytest.raises(IndexError):
        c[-6]


def test_candles_slices_are_windows(sample_window):
    tail = sample_window[2:]
    assert isinstance(tail, farm.Candles)
    assert len(tail) == 3
    assert tail.close.tolist() == [13.0, 14.0, 15.0]
    assert sample_window[-2:].timestamp.tolist() == [T0 + 18 * MIN, T0 + 19 * MIN]
    assert len(sample_window[3:1]) == 0
    assert sample_window[1:3][0].close == 12.0
    with pytest.raises(ValueError):
        sample_window[::2]


def test_candles_iteration(sample_window):
    items = list(sample_window)
    assert all(isinstance(c, farm.Candle) for c in items)
    assert [c.close for c in items] == [11.0, 12.0, 13.0, 14.0, 15.0]
    assert [c["timestamp"] for c in items] == sample_window.timestamp.tolist()


def test_candles_to_frame(sample_window):
    frame = sample_window.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert frame["close"].tolist() == [11.0, 12.0, 13.0, 14.0, 15.0]
    assert frame["timestamp"].dtype == np.int64
    frame.loc[0, "close"] = -1.0  # a copy: the window is untouched
    assert sample_window.close[0] == 11.0


# ---- context helpers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: farm.get_candles("A", "1m", 3),
        lambda: farm.get_average_price("A"),
        farm.get_date,
        farm.get_mode,
        lambda: farm.format_price("A", 1.5),
        lambda: farm.format_quantity("A", 1.5),
    ],
)
def test_context_helpers_outside_a_strategy_raise(call):
    with pytest.raises(farm.ContextError, match="no strategy is running"):
        call()


def test_context_helpers_raise_again_after_a_run():
    register_table(flat_candles(T0, 60))
    seen = probe(lambda symbol, when: farm.get_mode(), frame=(T0 + 10 * MIN, T0 + 10 * MIN))
    run()
    assert seen == ["backtest"]
    with pytest.raises(farm.ContextError):
        farm.get_date()


def test_get_date_and_get_mode_inside_get_signal():
    register_table(flat_candles(T0, 60))
    seen = probe(
        lambda symbol, when: (when, farm.get_date(), farm.get_mode()), frame=(T0 + 10 * MIN, T0 + 12 * MIN)
    )
    run()
    assert len(seen) == 3
    for k, (when, date, mode) in enumerate(seen):
        assert date == when == datetime(2024, 1, 1, 0, 10 + k, tzinfo=UTC)
        assert date.tzinfo is not None
        assert date.utcoffset().total_seconds() == 0
        assert mode == "backtest"


def test_format_helpers_delegate_to_the_exchange():
    farm.add_exchange(
        "x",
        TableExchange(flat_candles(T0, 60)),
        format_price=lambda symbol, price: f"{symbol}:{price:.2f}",
        format_quantity=lambda symbol, qty: f"{qty:.3f}",
    )
    seen = probe(
        lambda symbol, when: (farm.format_price(symbol, 1.23456), farm.format_quantity(symbol, 2.5)),
        frame=(T0 + 10 * MIN, T0 + 10 * MIN),
    )
    run()
    assert seen == [("A:1.23", "2.500")]


def test_on_candle_data_receives_the_fetched_candles():
    exchange = TableExchange(flat_candles(T0, 60))
    received: list[tuple] = []

    def on_candle_data(symbol, interval, since, limit, candles):
        received.append((symbol, interval, since, limit, candles))

    farm.add_exchange("x", exchange, callbacks={"on_candle_data": on_candle_data})
    probe(lambda symbol, when: None, frame=(T0 + 10 * MIN, T0 + 12 * MIN))
    run()
    assert received
    assert len(received) == len(exchange.calls)
    for (symbol, interval, since, limit, candles), call in zip(received, exchange.calls, strict=True):
        assert (symbol, interval) == ("A", "1m")
        assert isinstance(since, datetime)
        assert int(since.timestamp() * 1000) == call[2]
        assert limit == call[3]
        assert isinstance(candles, farm.Candles)
        expected = exchange.df[exchange.df.timestamp >= call[2]].head(call[3])
        assert candles.timestamp.tolist() == expected.timestamp.tolist()
        assert candles.close.tolist() == expected.close.tolist()
    # the first fetch delivered data
    assert len(received[0][4]) > 0
