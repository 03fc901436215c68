"""Point 6: a broker that accepts and never answers (frozen, SIGSTOPped, a half-open network),
or `rediss://` against a plain Redis (a TLS handshake nobody completes), ends `farm sweep`
with one clear line and exit status 2 instead of a hang. The broker sits behind the fault
proxy (`tests.faults.proxy`); a refused and a reset connection end the same way.

Before the fix the broker connection had no socket timeout: `farm sweep` blocked forever.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REDIS_HOST, REDIS_PORT
from tests.farm.conftest import BROKER_DB, ROOT
from tests.farm.names import HELPERS
from tests.faults.proxy import FaultProxy

BOUND = 90
"""Seconds after which the sweep counts as hung (it ends within a few)."""


def farm_sweep(broker_url: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FARM_BROKER_URL": broker_url, "FARM_DATA_DIR": str(tmp_path),
           "FARM_IMPORTS": HELPERS}
    try:
        return subprocess.run(
            [sys.executable, "-m", "farm.cli", "sweep", "--walker", "tf-clean", "--symbols", "ADA/BTC",
             "--executor", "celery", "--out", str(tmp_path / "out")],
            env=env, capture_output=True, text=True, timeout=BOUND, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"farm sweep still running after {BOUND} s against broker {broker_url}")


def assert_one_clear_line(done: subprocess.CompletedProcess, broker: str) -> None:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot reach the Celery broker at {broker}"), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("mode", ["stall", "reset", "refuse"])
def test_a_broker_that_never_answers_ends_the_sweep_with_one_line(mode, tmp_path):
    with FaultProxy((REDIS_HOST, REDIS_PORT), mode=mode) as proxy:
        broker = proxy.url("redis", f"/{BROKER_DB}")
        done = farm_sweep(broker, tmp_path)
    assert_one_clear_line(done, broker)
    if mode != "refuse":
        assert proxy.accepted >= 1  # the sweep did reach the (faulty) broker


def test_rediss_against_a_plain_redis_ends_the_sweep_with_one_line(tmp_path):
    broker = f"rediss://{REDIS_HOST}:{REDIS_PORT}/{BROKER_DB}?ssl_cert_reqs=none"
    assert_one_clear_line(farm_sweep(broker, tmp_path), broker)
