"""One contract, three stores: local files, a real Redis, a real S3 endpoint (moto on loopback)."""

from __future__ import annotations

import os
import threading

import pytest

from farm.persist import StoreError, open_store
from farm.persist import keys as K


def test_read_of_a_missing_key_is_none(store):
    assert store.read("results/none.json") is None
    assert store.exists("results/none.json") is False


def test_write_read_overwrite_delete(store):
    store.write("results/a.json", b'{"x": 1}')
    assert store.read("results/a.json") == b'{"x": 1}'
    assert store.exists("results/a.json")
    store.write("results/a.json", b'{"x": 2}')
    assert store.read("results/a.json") == b'{"x": 2}'
    store.delete("results/a.json")
    assert store.read("results/a.json") is None
    store.delete("results/a.json")  # deleting a missing key is not an error


def test_binary_values_round_trip_exactly(store):
    data = bytes(range(256)) * 300
    store.write("candles/x/BTC%2FUSDT/1m/2024-01-01.arrow", data)
    assert store.read("candles/x/BTC%2FUSDT/1m/2024-01-01.arrow") == data


def test_list_by_prefix_is_sorted_and_exact(store):
    for key in ("sweeps/s1/status.json", "sweeps/s1/manifest.json", "sweeps/s2/status.json", "results/r.json"):
        store.write(key, b"{}")
    assert list(store.list("sweeps/s1/")) == ["sweeps/s1/manifest.json", "sweeps/s1/status.json"]
    assert list(store.list("sweeps/")) == ["sweeps/s1/manifest.json", "sweeps/s1/status.json", "sweeps/s2/status.json"]
    assert list(store.list()) == ["results/r.json", "sweeps/s1/manifest.json", "sweeps/s1/status.json",
                                  "sweeps/s2/status.json"]


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "a//b", "./a"])
def test_keys_cannot_escape_the_store(store, bad):
    with pytest.raises(StoreError, match="invalid store key"):
        store.write(bad, b"x")


def test_user_names_become_single_segments():
    assert K.candle_chunk("binance", "BTC/USDT", "1m", "2024-01-01") == "candles/binance/BTC%2FUSDT/1m/2024-01-01.arrow"
    assert K.state("signal", "BTC/USDT_sma_cross(fast=10)") == "state/signal/BTC%2FUSDT_sma_cross(fast=10).json"


def test_concurrent_readers_never_see_a_partial_value(store):
    """A writer alternates two large values; readers must only ever see one of them whole."""
    a, b = b"a" * 1_000_000, b"b" * 1_000_000
    store.write("results/big.json", a)
    stop = threading.Event()
    seen_bad: list[int] = []

    def reader() -> None:
        while not stop.is_set():
            value = store.read("results/big.json")
            if value not in (a, b):
                seen_bad.append(len(value or b""))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(20):
        store.write("results/big.json", b if i % 2 == 0 else a)
    stop.set()
    for t in threads:
        t.join()
    assert seen_bad == []


def test_file_store_crash_between_temp_write_and_rename_keeps_the_old_value(tmp_path, monkeypatch):
    store = open_store(f"file://{tmp_path}")
    store.write("results/r.json", b"old")

    def crash(src, dst):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StoreError, match="cannot write 'results/r.json'"):
        store.write("results/r.json", b"new")
    monkeypatch.undo()
    assert store.read("results/r.json") == b"old"
    assert list(store.list()) == ["results/r.json"]  # no temp file left behind, none listed


def test_unreachable_redis_is_a_clear_error_within_seconds():
    import time

    store = open_store("redis://127.0.0.1:1/0")
    started = time.monotonic()
    with pytest.raises(StoreError, match="redis://127.0.0.1:1/0.*cannot read 'results/x.json'"):
        store.read("results/x.json")
    assert time.monotonic() - started < 10


def test_unsupported_url_is_named():
    with pytest.raises(StoreError, match="unsupported store URL 'ftp://x'"):
        open_store("ftp://x")
