"""SIGINT and SIGTERM to a real local `farm sweep`: it stops at once with its pool's processes,
says what the store kept and how to resume (exit 130/143), and the re-run completes with the
same reports as a clean run. Every wait is bounded and says what it waited for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.farm.conftest import ROOT, report_bytes, wait_for
from tests.farm.names import HELPERS, SLOW_MARKER_ENV, SYMBOLS

WALKER = "tf-slow"  # tf_sleepy blocks while the marker exists, tf_sma runs through


def children_of(pid: int) -> set[int]:
    """Processes whose parent is `pid`, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent to reap it."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def sweep_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "farm.cli", "sweep", "--walker", WALKER, "--symbols", ",".join(SYMBOLS),
            "--imports", HELPERS, "--workers", "2", "--out", str(out)]


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FARM_DATA_DIR": str(tmp_path / ".farm"),
           SLOW_MARKER_ENV: str(tmp_path / "slow")}
    for name in ("FARM_REDIS_URL", "FARM_S3_BUCKET", "FARM_IMPORTS"):
        env.pop(name, None)
    return env


def clean_reports(tmp_path: Path, env: dict[str, str]) -> dict[str, bytes]:
    out = tmp_path / "clean-out"
    clean_env = {**env, "FARM_DATA_DIR": str(tmp_path / ".farm-clean")}
    done = subprocess.run(sweep_command(out), cwd=ROOT, env=clean_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return report_bytes(out)


@pytest.mark.parametrize(("signum", "whole_group"), [
    (signal.SIGTERM, False),  # `kill PID`: the pool's processes were left orphaned
    (signal.SIGINT, False),   # SIGINT to the coordinator alone: it hung for the queued work
    (signal.SIGINT, True),    # Ctrl-C: the whole process group gets it
])
def test_signal_stops_the_sweep_and_its_pool_then_a_rerun_resumes(signum, whole_group, tmp_path, env):
    marker = Path(env[SLOW_MARKER_ENV])
    marker.touch()
    out = tmp_path / "out"
    proc = subprocess.Popen(sweep_command(out), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        wait_for(lambda: Path(f"{marker}.started").exists() or proc.poll() is not None, 120,
                 "the slow strategy never started")
        assert proc.poll() is None, proc.communicate()
        pool = children_of(proc.pid)
        assert len(pool) == 2
        if whole_group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signum, stderr
    name = signal.Signals(signum).name
    assert f"interrupted by {name}: " in stderr and "tasks are stored (sweep tf-slow-" in stderr, stderr
    assert "Run the same command again to resume: only the" in stderr
    assert "Traceback" not in stderr
    wait_for(lambda: not any(running(pid) for pid in pool), 30,
             lambda: f"pool processes still running: {[p for p in pool if running(p)]}")
    assert not out.exists()  # no reports from a sweep that did not finish

    marker.unlink()
    rerun = subprocess.run(sweep_command(out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "6 tasks, " in rerun.stdout and " 0 failed" in rerun.stdout
    assert report_bytes(out) == clean_reports(tmp_path, env)
