"""Each source says what its data is (the `data` part of a farm result's key, docs/keys.md)."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

import farm
from farm import registry
from farm.config import EngineConfig
from farm.data.sample import sample_dir, sample_source
from farm.data.sources import DataFrameSource, FileSource, SyntheticSource
from farm.identity import NOT_OUTCOME, outcome_config
from farm.identity.data import declared_identity, file_digest
from farm.identity.inputs import data_identity, frame_span


def test_a_file_source_is_its_files_bytes_hashed_once_per_size_and_mtime(tmp_path):
    shutil.copy(sample_dir() / "ETH-BTC_5m.parquet", tmp_path / "ETH-BTC_5m.parquet")
    shutil.copy(sample_dir() / "ADA-BTC_5m.parquet", tmp_path / "ADA-BTC_5m.parquet")
    source = FileSource(tmp_path / "{symbol}_{interval}.parquet", "5m")
    eth, ada = source.identity("ETH/BTC"), source.identity("ADA/BTC")
    assert eth.startswith("file:parquet:5m:") and eth != ada
    assert FileSource(tmp_path / "{symbol}_{interval}.parquet", "5m").identity("ETH/BTC") == eth

    path = tmp_path / "ETH-BTC_5m.parquet"
    df = pd.read_parquet(path)
    df.loc[10, "close"] *= 1.01
    df.to_parquet(path)
    edited = source.identity("ETH/BTC")
    assert edited != eth and source.identity("ADA/BTC") == ada

    # Remembered by (path, size, mtime): the same stamp is not read again (that is the cache a
    # sweep of thousands of jobs relies on), another stamp is.
    stamp = os.stat(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert source.identity("ETH/BTC") == edited
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1))
    assert source.identity("ETH/BTC") != edited
    assert file_digest(path) == file_digest(str(path))


def test_the_bundled_sample_is_a_file_source():
    assert sample_source("5m").identity("ETH/BTC").startswith("file:parquet:5m:")


def test_a_dataframe_source_is_its_candles(tmp_path):
    eth = pd.read_parquet(sample_dir() / "ETH-BTC_5m.parquet")
    ada = pd.read_parquet(sample_dir() / "ADA-BTC_5m.parquet")
    one = DataFrameSource({"ETH/BTC": eth, "ADA/BTC": ada}, "5m")
    assert one.identity("ETH/BTC") == DataFrameSource({"ETH/BTC": eth.copy()}, "5m").identity("ETH/BTC")
    assert one.identity("ETH/BTC") != one.identity("ADA/BTC")
    changed = eth.copy()
    changed.loc[5, "volume"] += 1
    assert DataFrameSource({"ETH/BTC": changed}, "5m").identity("ETH/BTC") != one.identity("ETH/BTC")
    assert DataFrameSource(eth, "5m").identity("ANY") == one.identity("ETH/BTC")  # one frame for all


def test_a_synthetic_source_is_its_parameters():
    assert SyntheticSource(seed=1).identity("X") == SyntheticSource(seed=1).identity("Y")  # symbol: in the key
    assert SyntheticSource(seed=1).identity("X") != SyntheticSource(seed=2).identity("X")
    assert SyntheticSource(volatility=0.01).identity("X") != SyntheticSource().identity("X")


def test_what_add_exchange_is_given_says_how_its_identity_is_found():
    source = sample_source("5m")
    assert declared_identity(source) is not None  # the source itself
    assert declared_identity(source.get_candles) is not None  # its bound method
    assert declared_identity(lambda *a: source(*a)) is None  # a plain callable: fingerprinted

    farm.add_frame("f", "5m", "2018-01-12", "2018-01-13")
    farm.add_exchange("declared", lambda *a: source(*a), identity=lambda symbol: f"v3/{symbol}")
    farm.add_exchange("bound", source.get_candles)
    farm.add_exchange("plain", lambda *a: source(*a))
    config, span = EngineConfig(base_interval="5m").model_dump(), frame_span("f")
    assert data_identity("declared", "ETH/BTC", span, config) == "declared:v3/ETH/BTC"
    assert data_identity("bound", "ETH/BTC", span, config) == source.identity("ETH/BTC")
    fingerprint = data_identity("plain", "ETH/BTC", span, config)
    assert fingerprint.startswith("read:") and fingerprint == data_identity("plain", "ETH/BTC", span, config)
    assert fingerprint != data_identity("plain", "ADA/BTC", span, config)
    assert data_identity("plain", "NOPE/BTC", span, config) == "error:SymbolNotFoundError"
    with pytest.raises(farm.SchemaError, match="identity must be a non-empty string"):
        farm.add_exchange("bad", source, identity=3)
    assert not registry.exchanges.has("bad")


def test_every_excluded_config_field_exists_and_the_rest_are_in_the_key():
    fields = set(EngineConfig.model_fields)
    assert set(NOT_OUTCOME) <= fields
    assert set(outcome_config(EngineConfig().model_dump())) == fields - set(NOT_OUTCOME)
