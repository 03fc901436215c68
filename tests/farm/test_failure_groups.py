"""A celery `farm sweep` whose every task fails for one cause prints the cause once, with its
count (`4 × JobError: ...`), exits 1, and keeps each task's failure in the report."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.farm.conftest import ROOT
from tests.farm.names import HELPERS


def test_identical_task_failures_print_once_with_their_count(worker_processes, farm_env, fresh_queue, tmp_path):
    worker = worker_processes("groups", fresh_queue)  # FARM_IMPORTS: the helpers only
    env = {**os.environ, **farm_env, "FARM_QUEUE": fresh_queue, "PYTHONPATH": str(ROOT),
           "FARM_DATA_DIR": str(tmp_path / ".farm")}
    env.pop("FARM_IMPORTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "farm.cli", "sweep", "--walker", "fs-walker", "--symbols", "ETH/BTC,XLM/BTC",
         "--imports", "tests.failing_strategies", "--executor", "celery", "--block-size", "1",
         "--out", str(tmp_path / "out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, f"{done.stdout}\n{done.stderr}\n{worker.log()}"
    failed = [line for line in done.stdout.splitlines() if line.startswith("  FAILED")]
    assert failed == [f"  FAILED 4 × JobError: module 'tests.failing_strategies' is not in this worker's "
                      f"FARM_IMPORTS ({HELPERS})"], done.stdout
    report = (tmp_path / "out" / "README.md").read_text()
    assert report.count("is not in this worker's FARM_IMPORTS") == 4  # one row per task
