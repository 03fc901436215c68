"""Live-mode state (SPEC §13) on all three stores: round trips, the §13.4 restore rules, and
records that cannot be used (reported on listen_error, read as absent, never raised)."""

from __future__ import annotations

import json
import logging

import pytest

import farm
from farm.engine.risk import ActivePosition
from farm.engine.strategy import PartialState
from farm.models import SignalRow
from farm.persist import keys as K
from farm.persist import open_store
from farm.persist.file_store import FileStore
from farm.persist.s3_store import S3Store
from farm.persist.state import (
    RestoredState,
    StateRecordError,
    load_partial_levels,
    load_pending,
    load_risk_positions,
    load_scheduled,
    pair_name,
    restore_strategy_state,
    save_partial_levels,
    save_pending,
    save_risk_positions,
    save_scheduled,
    state_store,
)
from tests.conftest import MIN, T0


@pytest.fixture
def errors() -> list[BaseException]:
    seen: list[BaseException] = []
    farm.listen_error(seen.append)
    return seen


def row(strategy: str = "s", exchange: str = "x", symbol: str = "BTC/USDT", **extra) -> SignalRow:
    return SignalRow(
        id="sig-1", position="long", price_open=100.123456789, price_take_profit=110.5, price_stop_loss=95.25,
        minute_estimated_time=1440, note="a note", symbol=symbol, strategy_name=strategy, exchange_name=exchange,
        scheduled_at=T0, pending_at=T0 + 3 * MIN, **extra,
    )


# ---- round trips --------------------------------------------------------------------------------

def test_pending_and_scheduled_round_trip_including_null(store, errors):
    assert load_pending(store, "BTC/USDT", "s") is None  # nothing stored yet
    save_pending(store, "BTC/USDT", "s", row())
    assert load_pending(store, "BTC/USDT", "s") == row()
    save_pending(store, "BTC/USDT", "s", None)
    assert load_pending(store, "BTC/USDT", "s") is None
    assert json.loads(store.read(K.state("signal", "BTC/USDT_s")))["value"] is None  # null, as §13.2

    scheduled = row(is_scheduled=True)
    save_scheduled(store, "BTC/USDT", "s", scheduled)
    assert load_scheduled(store, "BTC/USDT", "s") == scheduled
    assert load_pending(store, "BTC/USDT", "s") is None  # scheduled signals never go to the pending record
    save_scheduled(store, "BTC/USDT", "s", None)
    assert load_scheduled(store, "BTC/USDT", "s") is None
    assert errors == []


def test_records_sit_under_the_key_scheme_in_an_envelope(store):
    save_pending(store, "BTC/USDT", "sma(fast=10)", row(strategy="sma(fast=10)"))
    data = json.loads(store.read("state/signal/BTC%2FUSDT_sma(fast=10).json"))
    assert {k: data[k] for k in ("version", "kind", "name")} == {
        "version": 1, "kind": "signal", "name": "BTC/USDT_sma(fast=10)"}
    assert data["value"]["price_open"] == 100.123456789


def test_symbol_and_strategy_pairs_never_share_a_record(store):
    save_pending(store, "A_B", "C", row(symbol="A_B", strategy="C"))
    save_pending(store, "A", "B_C", row(symbol="A", strategy="B_C"))
    assert pair_name("A_B", "C") != pair_name("A", "B_C")
    assert load_pending(store, "A_B", "C").strategy_name == "C"
    assert load_pending(store, "A", "B_C").strategy_name == "B_C"


def test_risk_positions_round_trip(store, errors):
    assert load_risk_positions(store, "r") == {}
    positions = {
        "s:BTC/USDT": ActivePosition(strategy_name="s", symbol="BTC/USDT", open_timestamp=T0),
        "t:ETH/USDT": ActivePosition(signal=row(), strategy_name="t", symbol="ETH/USDT", exchange_name="x",
                                     open_timestamp=T0 + MIN, close_timestamp=T0 + 9 * MIN),
    }
    save_risk_positions(store, "r", positions)
    assert load_risk_positions(store, "r") == positions
    stored = json.loads(store.read(K.state("risk", "r")))["value"]
    assert [key for key, _ in stored] == ["s:BTC/USDT", "t:ETH/USDT"]  # a list of [key, position]

    save_risk_positions(store, "r", {})
    assert load_risk_positions(store, "r") == {}
    assert errors == []


def test_a_position_signal_that_is_not_a_signal_row_is_stored_as_null(store):
    save_risk_positions(store, "r", {"s:A": ActivePosition(signal={"x": object()}, strategy_name="s",
                                                           symbol="A", open_timestamp=T0)})
    assert load_risk_positions(store, "r")["s:A"].signal is None


def test_partial_levels_round_trip(store, errors):
    assert load_partial_levels(store, "BTC/USDT") == {}
    levels = {"sig-1": PartialState(profit={10, 30, 20}, loss=set()), "sig-2": PartialState(loss={10})}
    save_partial_levels(store, "BTC/USDT", levels)
    assert load_partial_levels(store, "BTC/USDT") == levels
    value = json.loads(store.read(K.state("partial", "BTC/USDT")))["value"]
    assert value["sig-1"] == {"profit_levels": [10, 20, 30], "loss_levels": []}
    assert errors == []


# ---- restore rules (§13.4) ----------------------------------------------------------------------

def test_restore_adopts_both(store):
    pending, scheduled = row(), row(is_scheduled=True).model_copy(update={"id": "sig-2"})
    save_pending(store, "BTC/USDT", "s", pending)
    save_scheduled(store, "BTC/USDT", "s", scheduled)
    assert restore_strategy_state(store, "BTC/USDT", "s", "x") == RestoredState(pending, scheduled)


def test_restore_with_nothing_stored(store):
    assert restore_strategy_state(store, "BTC/USDT", "s", "x") == RestoredState(None, None)
    save_pending(store, "BTC/USDT", "s", None)
    save_scheduled(store, "BTC/USDT", "s", None)
    assert restore_strategy_state(store, "BTC/USDT", "s", "x") == RestoredState(None, None)


def test_restore_adopts_a_scheduled_signal_without_pending(store):
    save_scheduled(store, "BTC/USDT", "s", row(is_scheduled=True))
    assert restore_strategy_state(store, "BTC/USDT", "s", "x") == RestoredState(None, row(is_scheduled=True))


@pytest.mark.parametrize("stored", [dict(exchange="other"), dict(strategy="renamed")])
def test_a_mismatched_pending_signal_stops_everything(store, stored, caplog):
    """The record sits under (symbol, "s"), but the row inside names another exchange/strategy."""
    save_pending(store, "BTC/USDT", "s", row(**stored))
    save_scheduled(store, "BTC/USDT", "s", row(is_scheduled=True))
    with caplog.at_level(logging.INFO, logger="farm.persist.state"):
        assert restore_strategy_state(store, "BTC/USDT", "s", "x") == RestoredState(None, None)
    assert "not restoring pending signal sig-1" in caplog.text


def test_a_mismatched_scheduled_signal_drops_only_itself(store):
    save_pending(store, "BTC/USDT", "s", row())
    save_scheduled(store, "BTC/USDT", "s", row(exchange="other", is_scheduled=True))
    assert restore_strategy_state(store, "BTC/USDT", "s", "x") == RestoredState(row(), None)


def test_a_restored_row_is_not_otherwise_validated(store):
    """An expired, nonsensical row is adopted as stored; the first tick deals with it."""
    odd = row().model_copy(update={"price_take_profit": 1.0, "pending_at": 0, "minute_estimated_time": 1})
    save_pending(store, "BTC/USDT", "s", odd)
    assert restore_strategy_state(store, "BTC/USDT", "s", "x").pending == odd


# ---- unusable records ---------------------------------------------------------------------------

def _envelope(kind: str, name: str, value) -> bytes:
    return json.dumps({"version": 1, "kind": kind, "name": name, "value": value}).encode()


BAD_RECORDS = {
    "not JSON": (b'{"version": 1, "kind": "signal", "na', "not JSON"),
    "not UTF-8": (b"\xff\xfe\x00garbage", "not JSON"),
    "NaN": (b'{"version": 1, "kind": "signal", "name": "BTC/USDT_s", "value": NaN}', "not JSON"),
    "no envelope": (json.dumps(row().model_dump(mode="json")).encode(), "not a state record envelope"),
    "other kind": (_envelope("schedule", "BTC/USDT_s", None), "holds a 'schedule' record for 'BTC/USDT_s'"),
    "other name": (_envelope("signal", "ETH/USDT_s", None), "holds a 'signal' record for 'ETH/USDT_s'"),
    "future version": (json.dumps({"version": 2, "kind": "signal", "name": "BTC/USDT_s", "value": None}).encode(),
                       "unknown record version 2"),
    "invalid value": (_envelope("signal", "BTC/USDT_s", {**row().model_dump(mode="json"), "price_open": "cheap"}),
                      "invalid signal value (price_open: Input should be a valid number"),
}


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_an_unusable_record_is_reported_and_read_as_absent(store, errors, case, caplog):
    data, problem = BAD_RECORDS[case]
    key = K.state("signal", "BTC/USDT_s")
    store.write(key, data)
    with caplog.at_level(logging.WARNING, logger="farm.persist.state"):
        assert load_pending(store, "BTC/USDT", "s") is None
    [error] = errors
    assert isinstance(error, StateRecordError) and isinstance(error, farm.FarmError)
    assert error.key == key and problem in error.problem and not error.repaired
    assert key in str(error) and problem in str(error)
    assert problem in caplog.text
    assert store.read(key) == data  # left in place for inspection


def test_repair_deletes_the_unusable_record(store, errors):
    key = K.state("risk", "r")
    store.write(key, _envelope("risk", "r", [["s:A", {"strategy_name": "s"}]]))  # no symbol, no open time
    assert load_risk_positions(store, "r", repair=True) == {}
    [error] = errors
    assert error.repaired and "invalid risk value" in error.problem and "deleted" in str(error)
    assert not store.exists(key)


def test_a_corrupt_pending_record_does_not_stop_the_scheduled_restore(store, errors):
    store.write(K.state("signal", "BTC/USDT_s"), b"garbage")
    save_scheduled(store, "BTC/USDT", "s", row(is_scheduled=True))
    assert restore_strategy_state(store, "BTC/USDT", "s", "x") == RestoredState(None, row(is_scheduled=True))
    assert len(errors) == 1


def test_corrupt_partial_levels_read_as_empty(store, errors):
    store.write(K.state("partial", "A"), _envelope("partial", "A", {"sig": {"profit_levels": ["ten"],
                                                                           "loss_levels": []}}))
    assert load_partial_levels(store, "A") == {}
    assert "invalid partial value" in errors[0].problem


# ---- which store --------------------------------------------------------------------------------

def test_state_store_is_files_under_the_data_dir_by_default(tmp_path):
    store = state_store()
    assert isinstance(store, FileStore) and store.root == (tmp_path / ".farm" / "state").resolve()


def test_state_store_ignores_redis_even_when_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("FARM_REDIS_URL", "redis://127.0.0.1:6379/0")
    assert isinstance(state_store(), FileStore)


def test_state_store_is_s3_when_a_bucket_is_configured(s3_bucket, monkeypatch):
    monkeypatch.setenv("FARM_S3_BUCKET", s3_bucket)
    monkeypatch.setenv("FARM_S3_PREFIX", "live")
    store = state_store()
    assert isinstance(store, S3Store) and store.bucket == s3_bucket and store.prefix == "live"
    save_pending(store, "A", "s", row(symbol="A"))
    assert load_pending(open_store(f"s3://{s3_bucket}/live"), "A", "s") == row(symbol="A")
