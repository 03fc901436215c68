"""Point 14: a job names the modules its own strategies need, not every module of the
coordinator's FARM_IMPORTS: a module only the coordinator imports fails no job.

Before the fix each job carried the coordinator's whole FARM_IMPORTS, so one module the workers
lack (here `tests.faults.stuck`) failed every job of the sweep, strategies that do not need it
included.
"""

from __future__ import annotations

import pytest

from farm.run.sweep import sweep
from tests.farm.conftest import report_bytes, store_at
from tests.farm.names import HELPERS, SYMBOLS
from tests.faults import stuck


@pytest.mark.timeout(120)
def test_a_module_only_the_coordinator_imports_fails_no_job(registered, celery_app, worker_processes,
                                                            fresh_queue, use_queue, monkeypatch, tmp_path):
    worker_processes("lean", fresh_queue, FARM_IMPORTS=HELPERS)  # no tests.faults.stuck here
    monkeypatch.setenv("FARM_IMPORTS", f"{HELPERS},{stuck.MODULE}")
    stuck.register()
    use_queue(fresh_queue)

    remote = sweep("tf-clean", SYMBOLS, executor="celery", store=store_at(tmp_path / "celery-store"),
                   out=tmp_path / "celery")
    local = sweep("tf-clean", SYMBOLS, executor="local", workers=1, store=store_at(tmp_path / "local-store"),
                  out=tmp_path / "local")

    assert remote.failures == [] and remote.tasks_run == 6
    assert report_bytes(tmp_path / "celery") == report_bytes(tmp_path / "local")
    assert local.failures == []
