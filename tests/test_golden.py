"""Golden backtests on the bundled real candles (UNITTEST/BTC 1m, ~500 missing minutes).

Every statistic and every trade of one run per example strategy is pinned in
tests/golden/unittest_btc.json; any change to the engine's behaviour shows up here. After a
deliberate change, regenerate with `FARM_REGEN_GOLDEN=1 python -m pytest tests/test_golden.py`
and explain the difference in the commit.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

import farm
import strategies
from farm.data.sample import sample_source

FIXTURE = Path(__file__).parent / "golden" / "unittest_btc.json"
SYMBOL = "UNITTEST/BTC"
STAT_FIELDS = (
    "total_signals", "win_count", "loss_count", "win_rate", "avg_pnl", "total_pnl", "std_dev", "sharpe_ratio",
    "annualized_sharpe_ratio", "certainty_ratio", "expected_yearly_returns",
)


def golden_run() -> dict[str, Any]:
    farm.add_exchange("sample-1m", sample_source("1m"))
    farm.add_frame("golden", "1m", "2017-11-05T00:00:00Z", "2017-11-14T12:00:00Z")
    out: dict[str, Any] = {}
    errors: list[str] = []
    farm.listen_error(lambda e: errors.append(str(e)))
    names = strategies.register_all()
    # Short lifetimes and a tight channel put expiries and cancellations into the pinned run.
    names += [farm.variant("sma_cross", lifetime=30), farm.variant("breakout_retest", channel=20, lifetime=60)]
    for name in names:
        results = list(farm.Backtest.run(SYMBOL, strategy_name=name, exchange_name="sample-1m", frame_name="golden"))
        stats = farm.Backtest.get_data(SYMBOL, name)
        out[name] = {
            "stats": {f: getattr(stats, f) for f in STAT_FIELDS},
            "results": [
                {
                    "action": r.action,
                    "id": r.signal.id,
                    "position": r.signal.position,
                    "scheduled_at": r.signal.scheduled_at,
                    "pending_at": r.signal.pending_at,
                    "close_timestamp": r.close_timestamp,
                    "close_reason": getattr(r, "close_reason", None),
                    "price_open": r.signal.price_open,
                    "price_close": r.pnl.price_close if r.action == "closed" else None,
                    "pnl": r.pnl.pnl_percentage if r.action == "closed" else None,
                }
                for r in results
            ],
            "report_sha_len": len(farm.Backtest.get_report(SYMBOL, name)),
        }
    out["errors"] = errors
    return out


def _close(a: Any, b: Any, path: str) -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, f"{path}: {a!r} != {b!r}"
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_golden_backtests_match_the_fixture(reference_config):
    got = golden_run()
    if os.environ.get("FARM_REGEN_GOLDEN") == "1":
        FIXTURE.parent.mkdir(exist_ok=True)
        FIXTURE.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip("golden fixture regenerated")
    expected = json.loads(FIXTURE.read_text())
    _close(got, expected, "golden")
    # The fixture is not trivial: every path of the lifecycle appears on real data.
    results = [r for name, run in got.items() if name != "errors" for r in run["results"]]
    assert {r["close_reason"] for r in results} >= {"take_profit", "stop_loss", "time_expired"}
    assert any(r["action"] == "cancelled" for r in results)
    assert any(r["scheduled_at"] != r["pending_at"] for r in results)


def test_a_rerun_in_the_same_process_is_identical(reference_config):
    first = golden_run()
    farm.clear_registry()
    farm.set_config(unsafe=True, percent_slippage=0.1, percent_fee=0.1, min_takeprofit_distance_percent=0,
                    min_stoploss_distance_percent=0, max_stoploss_distance_percent=100,
                    max_signal_lifetime_minutes=999999, get_candles_retry_count=1, get_candles_retry_delay_ms=0)
    second = golden_run()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
