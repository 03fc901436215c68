"""A loopback Ollama-protocol server per module, the LLM settings pointing at it per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ollama_server import FakeOllama, start


@pytest.fixture(scope="module")
def ollama_server() -> Iterator[FakeOllama]:
    state, server = start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_ollama(ollama_server: FakeOllama, monkeypatch) -> FakeOllama:
    ollama_server.reset()
    ollama_server.invalid_replies = 0
    monkeypatch.setenv("FARM_LLM_HOST", ollama_server.host)
    monkeypatch.setenv("FARM_LLM_MODEL", "fake-model:1b")
    monkeypatch.setenv("FARM_LLM_API_KEY", "sk-test-secret-key")
    for name in ("OLLAMA_HOST", "OLLAMA_API_KEY", "FARM_LLM_STORE", "FARM_LLM_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    return ollama_server


# The farm rig (a Redis broker on FARM_TEST_BROKER_DB, the Celery app, worker processes).
from tests.farm.conftest import (  # noqa: E402, F401
    broker_redis,
    celery_app,
    farm_env,
    fresh_queue,
    use_queue,
    worker_processes,
)
