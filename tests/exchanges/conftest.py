"""The loopback Binance server (tests/exchange_server.py) as a fixture, over the bundled candles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from farm.data.sample import sample_dir
from tests.exchange_server import ExchangeServer

FAST = {"backoff_seconds": 0.01, "max_backoff_seconds": 0.05, "config": {"rateLimit": 5}}
"""Short retry waits and a short throttle interval: the tests stay fast, the code paths are the same."""


@pytest.fixture
def exchange_server() -> Iterator[ExchangeServer]:
    with ExchangeServer.from_dir(sample_dir()) as server:
        yield server
