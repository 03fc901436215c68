"""Flower, as `farm flower` starts it, shows the farm's tasks: their names and readable arguments,
their final state, and the progress a running task sent (`task-progress` events), through its
HTTP API on 127.0.0.1 with the basic auth `farm flower` insists on."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from farm.run.sweep import plan_sweep, sweep
from tests.farm.conftest import ROOT, store_at, wait_for

USER, PASSWORD = "quant", "flower-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, auth: bool = True) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if auth:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def test_flower_shows_farm_tasks_with_their_progress(celery_worker, registered, farm_env, tmp_path: Path):
    port = free_port()
    env = {**os.environ, **farm_env, "FARM_FLOWER_USER": USER, "FARM_FLOWER_PASSWORD": PASSWORD,
           "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "flower.log").open("wb")
    flower = subprocess.Popen([sys.executable, "-m", "farm.cli", "flower", "--port", str(port)], env=env,
                              cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: get(port, "/api/workers")[0] == 200, 60,
                 lambda: f"Flower did not answer on 127.0.0.1:{port}: {(tmp_path / 'flower.log').read_text()}")
        assert get(port, "/api/workers", auth=False)[0] == 401  # never open without the credentials
        (job,) = plan_sweep("tf-progress", ["ADA/BTC"]).jobs
        outcome: list = []
        running = threading.Thread(target=lambda: outcome.append(
            sweep("tf-progress", ["ADA/BTC"], executor="celery", store=store_at(tmp_path / "store"))))
        running.start()
        # While it runs, Flower lists it in state PROGRESS with the progress in its result field.
        seen: list[dict] = []

        def info() -> dict:
            status, body = get(port, f"/api/task/info/{job.key}")
            return json.loads(body) if status == 200 else {}

        def shows_progress() -> bool:
            seen.append(info())
            return seen[-1].get("state") == "PROGRESS"

        wait_for(shows_progress, 30, lambda: f"Flower never showed the task in progress: {seen[-3:]}", interval=0.1)
        shown = seen[-1]["result"]
        assert shown.startswith("progress ") and shown.endswith(" · tf_slowish ADA/BTC"), shown
        assert 0 < int(shown.split()[1].rstrip("%")) <= 100
        running.join(60)
        assert outcome and outcome[0].failures == []

        wait_for(lambda: info().get("state") == "SUCCESS", 30, lambda: f"Flower's view of the task: {info()}")
        task = info()
        assert task["name"] == "farm.run_job" and task["args"] == "tf_slowish ADA/BTC"
        assert "'status': 'ok'" in task["result"]  # the task's own summary replaced the progress line
    finally:
        flower.terminate()
        flower.wait(20)
        log.close()

