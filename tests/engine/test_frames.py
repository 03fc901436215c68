"""Backtest timelines (SPEC §4): start to end inclusive by the frame interval, cached per frame."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import farm
from farm.engine.frames import timeline
from tests.conftest import MIN, T0, flat_candles, minutes, register_table, run

FRAME_STEPS = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
    "3d": 4320,
}


def ticks(frame_name: str = "f") -> list[int]:
    return timeline(frame_name).tolist()


def test_one_day_frame_over_two_days_has_two_ticks():
    farm.add_frame("f", "1d", datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    assert ticks() == [T0, T0 + 1440 * MIN]


def test_one_minute_frame_over_half_an_hour_has_31_ticks():
    farm.add_frame("f", "1m", datetime(2024, 1, 1, 0, 0, tzinfo=UTC), datetime(2024, 1, 1, 0, 30, tzinfo=UTC))
    got = ticks()
    assert len(got) == 31
    assert minutes(got) == list(range(31))


@pytest.mark.parametrize(("interval", "step"), sorted(FRAME_STEPS.items(), key=lambda kv: kv[1]))
def test_every_frame_interval_step(interval, step):
    farm.add_frame("f", interval, T0, T0 + 3 * step * MIN)
    assert minutes(ticks()) == [0, step, 2 * step, 3 * step]


@pytest.mark.parametrize(("interval", "step"), sorted(FRAME_STEPS.items(), key=lambda kv: kv[1]))
def test_end_date_between_ticks_is_not_a_tick(interval, step):
    farm.add_frame("f", interval, T0, T0 + 3 * step * MIN - 1)  # 1 ms before the fourth tick
    assert minutes(ticks()) == [0, step, 2 * step]


def test_timeline_starts_at_start_date_even_off_the_interval_grid():
    farm.add_frame("f", "5m", T0 + 7 * MIN, T0 + 30 * MIN)
    assert minutes(ticks()) == [7, 12, 17, 22, 27]


def test_start_equal_to_end_is_one_tick():
    farm.add_frame("f", "1h", T0 + 90 * MIN, T0 + 90 * MIN)
    assert ticks() == [T0 + 90 * MIN]


def test_dates_may_be_iso_strings_or_milliseconds():
    farm.add_frame("iso", "1h", "2024-01-01T00:00:00Z", "2024-01-01T03:00:00Z")
    farm.add_frame("ms", "1h", T0, T0 + 180 * MIN)
    assert ticks("iso") == ticks("ms") == [T0 + k * 60 * MIN for k in range(4)]


def test_naive_datetimes_are_utc():
    farm.add_frame("f", "1h", datetime(2024, 1, 1), datetime(2024, 1, 1, 2))
    assert ticks() == [T0, T0 + 60 * MIN, T0 + 120 * MIN]


def test_timeline_is_read_only():
    farm.add_frame("f", "1m", T0, T0 + 5 * MIN)
    with pytest.raises(ValueError):
        timeline("f")[0] = 0


@pytest.mark.parametrize("interval", ["2m", "1w", "2d", "", "60"])
def test_unknown_frame_interval_is_an_error(interval):
    with pytest.raises(ValueError, match="unknown interval"):
        farm.add_frame("f", interval, T0, T0 + 60 * MIN)
    assert farm.list_frames() == []


def test_unknown_frame_name_is_not_found():
    with pytest.raises(farm.NotFoundError, match="frame nope not found"):
        timeline("nope")


def test_on_timeframe_receives_the_list_and_the_schema_values():
    calls: list[tuple] = []

    def on_timeframe(timeframe, start_date, end_date, interval):
        calls.append((timeframe, start_date, end_date, interval))

    farm.add_frame("f", "15m", T0, T0 + 45 * MIN, callbacks={"on_timeframe": on_timeframe})
    timeline("f")
    assert len(calls) == 1
    timeframe, start, end, interval = calls[0]
    assert timeframe == [datetime(2024, 1, 1, 0, m, tzinfo=UTC) for m in (0, 15, 30, 45)]
    assert all(d.tzinfo is not None for d in timeframe)
    assert start == datetime(2024, 1, 1, tzinfo=UTC)
    assert end == datetime(2024, 1, 1, 0, 45, tzinfo=UTC)
    assert interval == "15m"


def test_on_timeframe_fires_once_per_frame_name():
    calls: list[str] = []
    farm.add_frame(
        "f",
        "1m",
        T0 + 10 * MIN,
        T0 + 12 * MIN,
        callbacks={"on_timeframe": lambda tf, s, e, i: calls.append("f")},
    )
    farm.add_frame(
        "g",
        "1m",
        T0 + 10 * MIN,
        T0 + 11 * MIN,
        callbacks={"on_timeframe": lambda tf, s, e, i: calls.append("g")},
    )
    farm.set_config(get_candles_retry_delay_ms=0)
    register_table(flat_candles(T0, 60))
    farm.add_strategy("s", "1m", lambda symbol, when: None)
    farm.add_strategy("t", "1m", lambda symbol, when: None)
    run(frame="f")
    run(frame="f")
    run(strategy="t", frame="f")
    run(symbol="B", frame="f")
    assert calls == ["f"]
    run(frame="g")
    run(frame="g")
    assert calls == ["f", "g"]
    timeline("f")
    assert calls == ["f", "g"]


def test_backtest_visits_every_tick_of_the_timeline():
    farm.set_config(get_candles_retry_delay_ms=0)
    register_table(flat_candles(T0, 400))
    farm.add_frame("f", "1h", T0 + 60 * MIN, T0 + 300 * MIN)
    seen: list[datetime] = []
    farm.add_strategy("s", "1m", lambda symbol, when: seen.append(when))
    run()
    assert seen == [datetime(2024, 1, 1, h, tzinfo=UTC) for h in range(1, 6)]
