"""Nightly batches: registration, the beat schedule they produce, and running one now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from celery.schedules import crontab

import farm
import scheduler
from farm.data.sample import sample_source
from scheduler.beat import RUN_BATCH_TASK, beat_schedule


@pytest.fixture
def batch_setup(tmp_path):
    import strategies.sma_cross  # noqa: F401

    strategies.sma_cross.register()
    farm.set_config(base_interval="5m")
    farm.add_exchange("sample", sample_source("5m"))
    farm.add_frame("week", "5m", "2018-01-12", "2018-01-19")
    farm.add_walker("w", "sample", "week", ["sma_cross", farm.variant("sma_cross", fast=5)])
    return scheduler.add_batch("nightly", "w", ["ETH/BTC", "XLM/BTC"], hour=3, minute=30, out=str(tmp_path / "b"))


def test_beat_schedule_has_one_cron_entry_per_batch(batch_setup):
    schedule = beat_schedule()
    assert list(schedule) == ["batch:nightly"]
    entry = schedule["batch:nightly"]
    assert entry["task"] == RUN_BATCH_TASK and entry["args"] == ["nightly"]
    assert entry["schedule"] == crontab(hour=3, minute=30)


def test_run_batch_now_writes_dated_reports(batch_setup, tmp_path, monkeypatch):
    monkeypatch.setenv("FARM_DATA_DIR", str(tmp_path / ".farm"))
    when = datetime(2026, 11, 21, 3, 30, tzinfo=UTC)
    result = scheduler.run_batch("nightly", when=when, workers=1)
    assert result.tasks_total == 4 and not result.failures
    out = tmp_path / "b" / "nightly" / "2026-11-21"
    assert (out / "README.md").read_text().startswith(f"# Sweep {result.sweep_id}")
    assert set(result.walker_results) == {"ETH/BTC", "XLM/BTC"}


def test_batch_errors_name_the_problem(batch_setup):
    with pytest.raises(farm.DuplicateError, match="batch nightly already exist"):
        scheduler.add_batch("nightly", "w", ["ETH/BTC"])
    with pytest.raises(farm.NotFoundError, match="batch nope not found"):
        scheduler.run_batch("nope")
    with pytest.raises(farm.SchemaError, match="batch bad"):
        scheduler.add_batch("bad", "w", ["ETH/BTC"], hour=25)
    farm.clear_registry()
    assert scheduler.list_batches() == []
