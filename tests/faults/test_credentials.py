"""Point 5: no password leaves the process. The Redis password of FARM_REDIS_URL is masked in
`farm cache stats`, in the "Redis unavailable" warning and in a worker's log; Flower's basic
auth reaches it by environment, never in its process arguments (what `ps` shows every user).

Before the fix `farm cache stats` and the warning printed the URL as configured, and `farm
flower` ran Flower with `--basic-auth=user:password` on its command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from farm.persist import keys as K
from farm.persist import open_store
from farm.persist.known import store_name
from farm.run.sweep import plan_sweep
from tests.farm.conftest import ROOT, wait_for
from tests.farm.test_flower import free_port, get

SECRET = "pw-never-shown-7f3a"
USER, PASSWORD = "quant", "flower-test-secret"
REFUSED = f"redis://farm:{SECRET}@127.0.0.1:1/0"
"""A cache Redis that refuses connections, with a password in its URL."""
WRONG_PASSWORD = f"redis://farm:{SECRET}@127.0.0.1:6379/6"
"""The loopback Redis, which knows no such user: every command fails with the URL's credentials."""


def farm_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-m", "farm.cli", *args], env=full_env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("redis_url", [REFUSED, WRONG_PASSWORD], ids=["refused", "wrong-password"])
def test_cache_stats_masks_the_redis_password(redis_url, tmp_path):
    done = farm_cli("cache", "stats", FARM_REDIS_URL=redis_url, FARM_DATA_DIR=str(tmp_path))
    shown = done.stdout + done.stderr
    assert "redis://farm:**@127.0.0.1" in shown, shown  # the URL is shown, its password is not
    assert SECRET not in shown, shown
    assert "unavailable" in shown


def test_a_worker_log_masks_the_redis_password(broker_redis, celery_app, registered, worker_processes,
                                               fresh_queue, tmp_path):
    data_dir = tmp_path / "worker-data"
    store = open_store(f"file://{data_dir / 'store'}")
    worker = worker_processes("masked", fresh_queue, FARM_DATA_DIR=str(data_dir), FARM_REDIS_URL=REFUSED)
    (job,) = plan_sweep("tf-clean", ["ADA/BTC"]).jobs[:1]
    celery_app.send_task("farm.run_job", [job.model_dump(mode="json"), store_name(store)], queue=fresh_queue,
                         task_id=job.key)
    wait_for(lambda: store.exists(K.result(job.key)) or not worker.alive(), 60, lambda: worker.log())
    log = worker.log()
    assert "is unavailable" in log and "redis://farm:**@127.0.0.1:1/0" in log, log
    assert SECRET not in Path(worker.log_path).read_text(errors="replace")


def test_flower_credentials_are_not_in_its_process_arguments(farm_env, tmp_path):
    port = free_port()
    env = {**os.environ, **farm_env, "FARM_FLOWER_USER": USER, "FARM_FLOWER_PASSWORD": PASSWORD,
           "PYTHONPATH": str(ROOT)}
    log_path = tmp_path / "flower.log"
    with log_path.open("wb") as log:
        flower = subprocess.Popen([sys.executable, "-m", "farm.cli", "flower", "--port", str(port)], env=env,
                                  cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: get(port, "/api/workers")[0] == 200, 60,
                     lambda: f"Flower did not answer with its credentials: {log_path.read_text()}")
            assert get(port, "/api/workers", auth=False)[0] == 401
            arguments = Path(f"/proc/{flower.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            assert "flower" in arguments and PASSWORD not in arguments, arguments
        finally:
            flower.terminate()
            flower.wait(20)
    assert PASSWORD not in log_path.read_text(errors="replace")


@pytest.mark.parametrize(("text", "shown"), [
    ("redis://:s3cret@cache:6379/0", "redis://:**@cache:6379/0"),
    ("amqp://farm:s3cret@rabbit:5672//", "amqp://farm:**@rabbit:5672//"),
    ("redis://cache:6379/0?prefix=p", "redis://cache:6379/0?prefix=p"),
    ("Error connecting to rediss://u:s3cret@h:6380/1 and http://k:s3cret@minio:9000/b: refused",
     "Error connecting to rediss://u:**@h:6380/1 and http://k:**@minio:9000/b: refused"),
])
def test_the_one_masking_rule(text, shown):
    from farm.redact import mask_text, mask_url

    assert mask_text(text) == shown
    if " " not in text:
        assert mask_url(text) == shown
