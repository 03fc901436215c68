"""The farm's test rig: a real Redis broker on loopback (db 14, flushed before and after), the
farm's Celery app pointed at it, an in-process worker, and separate worker processes.

The environment (FARM_BROKER_URL, FARM_QUEUE, FARM_IMPORTS) is set before `workers.app` is
imported, and `workers.app.configure` re-applies it should the app have been imported already.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from farm.persist import open_store
from tests.conftest import REDIS_HOST, REDIS_PORT
from tests.farm.names import HELPERS

ROOT = Path(__file__).resolve().parents[2]
BROKER_DB = int(os.environ.get("FARM_TEST_BROKER_DB", "14"))
"""db 14 unless FARM_TEST_BROKER_DB says otherwise (two suites on one Redis must not share it)."""
BROKER_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{BROKER_DB}"
INPROC_QUEUE = f"farm-test-{uuid.uuid4().hex[:8]}"


def wait_for(predicate: Callable[[], object], timeout: float, message: Callable[[], str] | str,
              interval: float = 0.05) -> None:
    """Poll `predicate` until true; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(message() if callable(message) else message)
        time.sleep(interval)


@pytest.fixture(scope="module")
def broker_redis() -> Iterator[object]:
    """A client of the broker db; the db is flushed before a test module and after it."""
    import redis

    client = redis.Redis.from_url(BROKER_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"no Redis answers at {REDIS_HOST}:{REDIS_PORT} ({exc}); .ci/run starts one")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def farm_env(broker_redis, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The farm settings every process of these tests shares (coordinator and workers); the
    workers accept stores under the session's temporary directory (FARM_STORES), where the
    tests keep theirs."""
    env = {"FARM_BROKER_URL": BROKER_URL, "FARM_QUEUE": INPROC_QUEUE, "FARM_IMPORTS": HELPERS,
           "FARM_REDRIVE_AFTER": "0", "FARM_STORES": f"file://{tmp_path_factory.getbasetemp().resolve()}"}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        mp.delenv("FARM_RESULT_BACKEND", raising=False)
        yield env
    _reconfigure()  # back to the environment without the test settings


def _reconfigure() -> None:
    if "workers.app" in sys.modules:
        from workers.app import app, configure

        configure(app)


@pytest.fixture(scope="module")
def celery_app(farm_env):
    """The farm's app (`workers.app:app`), configured for the test broker."""
    from kombu import pools

    from workers.app import _drop_pooled_connections, app, configure

    configure(app)
    # A previous module's in-process worker closed the broker connection pools when it stopped
    # (the app's own and kombu's process-wide ones the producers come from): start afresh.
    pools.reset()
    _drop_pooled_connections(app)
    assert app.conf.broker_url == BROKER_URL
    import workers.tasks  # noqa: F401 - registers farm.run_job

    return app


@pytest.fixture(scope="module")
def celery_worker(celery_app):
    """An in-process worker (solo pool, in a thread) consuming the tests' queue."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False, queues=[INPROC_QUEUE],
                      loglevel="WARNING", shutdown_timeout=20) as worker:
        yield worker


@pytest.fixture
def use_queue(celery_app) -> Iterator[Callable[[str], None]]:
    """Point the coordinator's app at another queue for this test (restored after)."""
    saved = celery_app.conf.task_default_queue

    def use(name: str) -> None:
        celery_app.conf.task_default_queue = name

    yield use
    celery_app.conf.task_default_queue = saved


@pytest.fixture
def registered(farm_env, monkeypatch) -> None:
    """The helpers' exchange, frame, strategies and walkers (again after the autouse clear), and
    FARM_IMPORTS naming them again (the autouse isolation unsets it): the in-process worker then
    accepts their jobs whichever test module imported the helpers first."""
    from tests.farm import helpers

    monkeypatch.setenv("FARM_IMPORTS", farm_env["FARM_IMPORTS"])
    helpers.register()


class WorkerProcess:
    """`farm worker` (the CLI users run, which execs the Celery worker) in its own process."""

    def __init__(self, name: str, queue: str, env: dict[str, str], log_dir: Path, pool: str = "solo"):
        self.name = name
        self.log_path = log_dir / f"worker-{name}.log"
        # An extra PYTHONPATH in `env` (modules a test wrote) comes after the repository.
        extra = [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []
        full_env = {**os.environ, **env, "FARM_QUEUE": queue, "PYTHONPATH": os.pathsep.join([str(ROOT), *extra])}
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "farm.cli", "worker", f"--pool={pool}", "--concurrency=1", "-n", f"{name}@%h",
             "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel=INFO"],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, nothing acknowledged or given back."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def worker_processes(farm_env, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start separate worker processes; every one still running is stopped after the test."""
    started: list[WorkerProcess] = []

    def start(name: str, queue: str, pool: str = "solo", **env: str) -> WorkerProcess:
        """A worker on `queue` with the rig's settings and `env`; the solo pool unless `pool`
        says otherwise (only prefork enforces time limits)."""
        worker = WorkerProcess(name, queue, {**farm_env, **env}, tmp_path, pool=pool)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture
def fresh_queue(broker_redis) -> Iterator[str]:
    """A queue name of its own; its list is deleted afterwards."""
    name = f"farm-test-{uuid.uuid4().hex[:8]}"
    yield name
    broker_redis.delete(name)


REPORT_SUFFIXES = (".md", ".html", ".json")


def store_at(path: Path):
    return open_store(f"file://{path}")


def report_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.suffix in REPORT_SUFFIXES}


TASK_NAMES = ("farm.run_job", "farm.run_block")


class TaskCounter:
    """Farm task executions (a job or a block) seen by the in-process worker and publications by
    this process, by task id."""

    def __init__(self):
        from celery import signals

        self.run: list[str] = []
        self.published: list[str] = []
        self._signals = signals
        signals.task_prerun.connect(self._on_run, weak=False)
        signals.before_task_publish.connect(self._on_publish, weak=False)

    def _on_run(self, sender=None, task_id=None, **_):
        if getattr(sender, "name", None) in TASK_NAMES:
            self.run.append(task_id)

    def _on_publish(self, sender=None, headers=None, **_):
        if sender in TASK_NAMES:
            self.published.append((headers or {}).get("id"))

    def close(self):
        self._signals.task_prerun.disconnect(self._on_run)
        self._signals.before_task_publish.disconnect(self._on_publish)


@pytest.fixture
def counter():
    c = TaskCounter()
    yield c
    c.close()
