"""A symbol with a control character (a NUL) fails its own job, never the sweep (issue #14.15):
report file names once raised `ValueError: embedded null byte` out of `farm.sweep`."""

from __future__ import annotations

import warnings

import farm
from farm.data.sample import sample_source
from farm.persist import open_store


def test_a_nul_in_a_symbol_fails_its_job_and_the_sweep_reports(tmp_path):
    import strategies.sma_cross as sma

    sma.register()
    farm.set_config(get_candles_retry_count=1, get_candles_retry_delay_ms=0)
    farm.add_exchange("sample", sample_source("1m"))
    farm.add_frame("day", "1m", "2017-11-10", "2017-11-11")
    farm.add_walker("w", "sample", "day", ["sma_cross"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # matplotlib: no glyph for the NUL in the picture
        result = farm.sweep("w", ["UNITTEST/BTC", "BAD\x00SYM"], out=tmp_path / "out",
                            store=open_store(f"file://{tmp_path / 'store'}"), workers=1)
    assert [f.symbol for f in result.failures] == ["BAD\x00SYM"]
    assert result.failures[0].error.split(":")[0].endswith("NotFoundError")  # the symbol is not in the data
    assert result.walker_results["UNITTEST/BTC"].strategies[0].stats.total_signals > 0
    written = {p.name for p in (tmp_path / "out" / "walker").iterdir()}
    assert "w_BAD-SYM.md" in written and "w_UNITTEST-BTC.md" in written
