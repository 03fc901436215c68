"""Nightly batches with real processes: `farm beat` (two of them) and a `farm worker` on the
test broker, the scheduler clock pinned with FARM_BATCH_NOW to nights the 2018 sample covers.
Every wait is bounded and says what it waited for."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from farm.persist import open_store
from tests.farm.batch_setup import BATCH
from tests.farm.conftest import ROOT, wait_for
from tests.farm.names import HELPERS

SETUP = "tests.farm.batch_setup"
SUCCEEDED = re.compile(r"Task farm\.run_batch\[[^\]]+\] succeeded in [^:]+: (\{.*\})")
SENT = "Sending due task batch:" + BATCH


class Proc:
    """A `farm` command in its own process, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "farm.cli", *args], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


@pytest.fixture
def farm_processes(farm_env, fresh_queue, tmp_path):
    started: list[Proc] = []
    env = {**os.environ, **farm_env, "FARM_QUEUE": fresh_queue, "FARM_IMPORTS": f"{HELPERS},{SETUP}",
           "FARM_DATA_DIR": str(tmp_path / ".farm"), "PYTHONPATH": str(ROOT)}

    def start(name: str, args: list[str], now: str) -> Proc:
        proc = Proc(args, {**env, "FARM_BATCH_NOW": now}, tmp_path / f"{name}.log")
        started.append(proc)
        return proc

    try:
        yield start, env
    finally:
        for proc in started:
            proc.stop()


def batch_results(worker: Proc) -> list[dict]:
    return [ast.literal_eval(m) for m in SUCCEEDED.findall(worker.log())]


def job_tasks_run(worker: Proc) -> int:
    return len(re.findall(r"Task farm\.run_(?:job|block)\[[^\]]+\] succeeded", worker.log()))


def test_beat_fires_a_night_once_two_beats_do_not_double_it_a_missed_night_is_caught_up_once(
        farm_processes, tmp_path):
    start, env = farm_processes
    store = open_store(f"file://{tmp_path / '.farm' / 'store'}")
    night = "2018-01-20T04:00:00Z"  # after 03:30 on the 20th: that night is due, not archived
    beats = [start(f"beat{i}", ["beat"], night) for i in (1, 2)]
    # Both beats send the night before any worker runs it: the lock and the archive must dedupe.
    for beat in beats:
        wait_for(lambda b=beat: SENT in b.log(), 60, lambda b=beat: f"beat never sent the batch:\n{b.log()[-3000:]}")
    worker = start("worker", ["worker", "--pool=prefork", "--concurrency=2", "--loglevel=INFO"], night)
    wait_for(lambda: len(batch_results(worker)) == 2, 180,
             lambda: f"two farm.run_batch results expected:\n{worker.log()[-4000:]}")
    results = sorted(batch_results(worker), key=lambda r: r["status"])
    done = [r for r in results if r["status"] == "done"]
    assert len(done) == 1 and done[0]["night"] == "2018-01-20" and done[0]["jobs_run"] == 4, results
    other = next(r for r in results if r["status"] != "done")
    assert other["status"] in ("already done", "running elsewhere") and other["jobs_run"] == 0
    assert job_tasks_run(worker) == 4  # one night's jobs (4 tasks of one job each), run once
    summary = json.loads(store.read(f"batches/{BATCH}/2018-01-20/summary.json"))
    assert summary["frame"] == "farm-test-2018-01-12@2018-01-18..2018-01-20"
    for beat in beats:
        assert beat.log().count(SENT) == 1
        beat.stop()

    # The same night again by hand: a no-op.
    again = subprocess.run([sys.executable, "-m", "farm.cli", "batch", "run", BATCH, "--date", "2018-01-20"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"batch {BATCH} night 2018-01-20: already done, 0 jobs run" in again.stdout

    # No beat ran on the 21st..26th: a beat started on the 26th catches up that night, once.
    late = start("beat3", ["beat"], "2018-01-26T10:00:00Z")
    wait_for(lambda: store.exists(f"batches/{BATCH}/2018-01-26/summary.json"), 180,
             lambda: f"the missed night was not caught up:\n{late.log()[-3000:]}\n{worker.log()[-3000:]}")
    wait_for(lambda: len(batch_results(worker)) == 3, 60, "the catch-up task's result")
    caught = batch_results(worker)[2]
    assert (caught["night"], caught["status"], caught["jobs_run"]) == ("2018-01-26", "done", 4)
    assert "farm-test-2018-01-12@2018-01-24..2018-01-26" in store.read(
        f"batches/{BATCH}/2018-01-26/summary.json").decode()
    nights = sorted({k.split("/")[2] for k in store.list(f"batches/{BATCH}/") if k.endswith("/summary.json")})
    assert nights == ["2018-01-20", "2018-01-26", "latest"]
    assert late.log().count(SENT) == 1
    assert job_tasks_run(worker) == 8
    index = store.read(f"batches/{BATCH}/index.html").decode()
    assert 'href="2018-01-26/summary.html"' in index and 'href="2018-01-20/summary.html"' in index
