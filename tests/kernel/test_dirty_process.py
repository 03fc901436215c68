"""A process that already ran something must give the same answer as a fresh one (issue #10.1):
the kernel once reused its bar pointer as the candle index of its scans, so a second run whose
candle series started before its first signal bar (any earlier frame in the same process) read
the wrong bars."""

from __future__ import annotations

import pytest

pytest.importorskip("numba")

import farm  # noqa: E402
from farm.data.sample import sample_source  # noqa: E402


def _setup() -> None:
    import strategies.sma_cross as sma

    sma.register()
    farm.add_exchange("sample", sample_source("1m"))
    farm.add_frame("early", "1m", "2017-11-05", "2017-11-08")
    farm.add_frame("late", "1m", "2017-11-10", "2017-11-14")


def _trades(frame: str) -> list[tuple]:
    out = farm.Backtest.run("UNITTEST/BTC", strategy_name="sma_cross", exchange_name="sample", frame_name=frame)
    return [(r.signal.scheduled_at, r.close_timestamp, r.current_price) for r in out]


@pytest.mark.parametrize("path", ["kernel", "per-tick"])
def test_second_frame_after_an_earlier_one_equals_a_fresh_run(path: str) -> None:
    _setup()
    farm.set_config(backtest_path=path)
    fresh_late = _trades("late")
    farm.clear_registry()
    _setup()
    farm.set_config(backtest_path=path)
    _trades("early")
    dirty_late = _trades("late")
    assert len(fresh_late) == 61
    assert dirty_late == fresh_late
