"""Nightly batches in one process: registration, nights and their frames, running a night,
its archive in the store (per date, latest/, index with the ranking moves), and once per night."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

import farm
import scheduler
from farm.data.sample import sample_source
from farm.persist import open_store
from scheduler.batches import frame_for, last_fire, night_of
from scheduler.beat import RUN_BATCH_TASK, NightDue, beat_schedule

TEST_DB = 6


@pytest.fixture
def batch_setup(tmp_path, monkeypatch):
    import strategies.sma_cross  # noqa: F401

    monkeypatch.setenv("FARM_BROKER_URL", f"redis://127.0.0.1:6379/{TEST_DB}")  # the night's lock
    strategies.sma_cross.register()
    farm.set_config(base_interval="5m")
    farm.add_exchange("sample", sample_source("5m"))
    farm.add_frame("week", "5m", "2018-01-12", "2018-01-19")
    farm.add_walker("w", "sample", "week", ["sma_cross", farm.variant("sma_cross", fast=5)])
    return scheduler.add_batch("nightly", "w", ["ETH/BTC", "XLM/BTC"], hour=3, minute=30, days=2,
                               out=str(tmp_path / "b"))


def test_beat_schedule_has_one_entry_per_batch(batch_setup):
    schedule = beat_schedule()
    assert list(schedule) == ["batch:nightly"]
    entry = schedule["batch:nightly"]
    assert entry["task"] == RUN_BATCH_TASK and entry["args"] == ["nightly"]
    assert isinstance(entry["schedule"], NightDue)


def test_nights_follow_the_cron_in_utc(batch_setup):
    assert last_fire(batch_setup, datetime(2026, 11, 21, 3, 29, tzinfo=UTC)) == datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
    assert night_of(batch_setup, datetime(2026, 11, 21, 3, 30, tzinfo=UTC)) == date(2026, 11, 21)
    weekdays = scheduler.add_batch("wd", "w", ["ETH/BTC"], cron="0 6 * * 1-5")
    # Sunday 2026-11-22 at noon: the latest weekday 06:00 is Friday's.
    assert night_of(weekdays, datetime(2026, 11, 22, 12, tzinfo=UTC)) == date(2026, 11, 20)
    with pytest.raises(farm.SchemaError, match="bad cron expression"):
        scheduler.add_batch("bad-cron", "w", ["ETH/BTC"], cron="61 * * * *")


def test_frame_moves_with_the_run_date(batch_setup):
    assert frame_for(batch_setup, date(2018, 1, 20)) == "week@2018-01-18..2018-01-20"
    frame = farm.registry.frames.get("week@2018-01-18..2018-01-20")
    assert (frame.start_date, frame.end_date, frame.interval) == (
        datetime(2018, 1, 18, tzinfo=UTC), datetime(2018, 1, 20, tzinfo=UTC), "5m")


def test_a_night_is_archived_once_with_latest_index_and_moves(batch_setup, tmp_path):
    store = open_store(f"file://{tmp_path / 'store'}")
    first = scheduler.run_batch("nightly", night=date(2018, 1, 20), workers=1, store=store)
    assert first.status == "done" and first.jobs_total == 4 and first.jobs_run == 4 and not first.failed
    assert first.sweep.walker_results["ETH/BTC"].frame_name == "week@2018-01-18..2018-01-20"
    summary = json.loads(store.read("batches/nightly/2018-01-20/summary.json"))
    assert summary["previous_night"] is None and set(summary["ranking"]) == {"ETH/BTC", "XLM/BTC"}
    assert store.exists("batches/nightly/2018-01-20/README.md")
    assert store.read("batches/nightly/latest/README.md") == store.read("batches/nightly/2018-01-20/README.md")
    assert (tmp_path / "b" / "nightly" / "2018-01-20" / "README.md").exists()

    again = scheduler.run_batch("nightly", night=date(2018, 1, 20), workers=1, store=store)
    assert (again.status, again.jobs_run) == ("already done", 0)

    second = scheduler.run_batch("nightly", night=date(2018, 1, 25), workers=1, store=store)
    assert second.status == "done" and second.jobs_run == 4  # new days: new frame, new keys
    summary2 = json.loads(store.read("batches/nightly/2018-01-25/summary.json"))
    assert summary2["previous_night"] == "2018-01-20" and summary2["moves"] == second.moves
    before = {s: [r["strategy"] for r in rows] for s, rows in summary["ranking"].items()}
    after = {s: [r["strategy"] for r in rows] for s, rows in summary2["ranking"].items()}
    assert bool(second.moves) == (before != after)
    index = store.read("batches/nightly/index.html").decode()
    assert index.index('href="2018-01-25/summary.html"') < index.index('href="2018-01-20/summary.html"')
    assert json.loads(store.read("batches/nightly/latest/summary.json"))["night"] == "2018-01-25"


def test_a_held_night_is_not_run_twice(batch_setup, tmp_path):
    from scheduler.lock import night_lock

    store = open_store(f"file://{tmp_path / 'store'}")
    with night_lock("nightly", date(2018, 1, 20)) as held:
        assert held
        other = scheduler.run_batch("nightly", night=date(2018, 1, 20), workers=1, store=store)
    assert (other.status, other.jobs_run) == ("running elsewhere", 0)
    assert not list(store.list("batches/"))


def test_batch_errors_name_the_problem(batch_setup):
    with pytest.raises(farm.DuplicateError, match="batch nightly already exist"):
        scheduler.add_batch("nightly", "w", ["ETH/BTC"])
    with pytest.raises(farm.NotFoundError, match="batch nope not found .*known: nightly"):
        scheduler.run_batch("nope")
    with pytest.raises(farm.SchemaError, match="batch bad"):
        scheduler.add_batch("bad", "w", ["ETH/BTC"], hour=25)
    farm.clear_registry()
    assert scheduler.list_batches() == []


def test_the_night_lock_is_renewed_while_held_and_freed_when_its_holder_is_gone(batch_setup, monkeypatch):
    import threading

    import redis

    from scheduler import lock as night_locks

    monkeypatch.setattr(night_locks, "LOCK_SECONDS", 0.3)
    night = date(2018, 1, 21)
    with night_locks.night_lock("nightly", night) as held:
        assert held
        threading.Event().wait(1.0)  # three expiries: only renewal keeps it
        with night_locks.night_lock("nightly", night) as other:
            assert not other
    # A holder that died (no renewal, no release): the night is free once its expiry passes.
    client = redis.Redis.from_url(night_locks.lock_url())
    assert client.lock(f"farm:batch-lock:nightly:{night}", timeout=0.3).acquire(blocking=False)
    with night_locks.night_lock("nightly", night) as taken:
        assert not taken
    threading.Event().wait(0.5)
    with night_locks.night_lock("nightly", night) as taken:
        assert taken
