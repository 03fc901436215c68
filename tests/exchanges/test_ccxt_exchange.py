"""CcxtExchange through ccxt's real binance client against the loopback Binance server: the
source contract, closed candles only, the transient/permanent split, credentials, pickling, and
a backtest on it."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

import farm
from farm.config import EngineConfig
from farm.data.sample import sample_source
from farm.errors import CandleFetchError, PermanentDataError, SymbolNotFoundError, is_permanent
from farm.exchanges import CcxtExchange, point_urls_at
from farm.identity.inputs import data_identity, frame_span
from farm.models import datetime_to_ms
from tests.exchanges.conftest import FAST

FIVE = 300_000
T = datetime_to_ms("2018-01-15")


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize(("since", "limit"), [
    (T, 10),                     # inside the data
    (T + 61_000, 7),             # inside a candle: that candle is not returned
    (0, 5),                      # before the data: its first candles
    (T, 2500),                   # more than one page (1000 a request)
    (datetime_to_ms("2018-01-30T20:00"), 1000),  # runs off the end: fewer come back
    (datetime_to_ms("2019-01-01"), 10),          # after the data: empty, with the columns
])
def test_it_keeps_the_get_candles_contract_like_a_file_source(exchange_server, since, limit):
    exchange = exchange_server.ccxt_exchange(**FAST)
    files = sample_source("5m")
    same(exchange.get_candles("ETH/BTC", "5m", since, limit), files.get_candles("ETH/BTC", "5m", since, limit))
    same(exchange("ETH/BTC", "15m", since, limit), files("ETH/BTC", "15m", since, limit))


def test_paging_asks_the_exchange_by_since_and_limit(exchange_server):
    exchange = exchange_server.ccxt_exchange(**FAST)
    got = exchange.get_candles("ETH/BTC", "5m", T, 2500)
    asked = [(int(r.params["startTime"]), int(r.params["limit"])) for r in exchange_server.klines_requests()]
    assert asked == [(T, 1000), (T + 1000 * FIVE, 1000), (T + 2000 * FIVE, 500)]
    assert len(got) == 2500 and exchange.requests == 3
    assert [r.path for r in exchange_server.requests[:3]] == ["/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo",
                                                            "/dapi/v1/exchangeInfo"]


def test_the_candle_still_forming_is_never_returned(exchange_server):
    now = T + 2 * 3600_000 + 2 * 60_000  # 2 minutes into the 5m candle opening at T + 2h
    exchange_server.now_ms = now
    exchange = exchange_server.ccxt_exchange(clock=lambda: now, **FAST)
    served = exchange.client().fetch_ohlcv("ETH/BTC", "5m", since=T, limit=1000)
    assert served[-1][0] == T + 2 * 3600_000  # Binance serves the forming candle ...
    got = exchange.get_candles("ETH/BTC", "5m", T, 1000)
    assert len(got) == 24 and int(got.timestamp.iloc[-1]) + FIVE <= now  # ... the source does not
    assert exchange.get_candles("ETH/BTC", "5m", T + 2 * 3600_000, 10).empty
    assert exchange.closed_until("5m") == T + 2 * 3600_000


@pytest.mark.parametrize("fault", ["500", "503", "429", "reset", "slow"])
def test_transient_failures_are_retried_then_succeed(exchange_server, fault):
    exchange_server.slow_seconds = 1.0
    exchange = exchange_server.ccxt_exchange(**{**FAST, "config": {"rateLimit": 5, "timeout": 300}})
    expected = sample_source("5m").get_candles("ETH/BTC", "5m", T, 50)
    exchange.load_markets()
    exchange_server.fail(fault, 2)
    same(exchange.get_candles("ETH/BTC", "5m", T, 50), expected)
    assert [r.fault for r in exchange_server.klines_requests()][:2] == [fault, fault]
    assert exchange.requests == 3


def test_a_lasting_outage_ends_in_a_transient_error_after_every_attempt(exchange_server):
    exchange = exchange_server.ccxt_exchange(attempts=3, **FAST)
    exchange_server.fail("502", None)
    with pytest.raises(CandleFetchError, match="failed 3 time") as caught:
        exchange.get_candles("ETH/BTC", "5m", T, 10)
    assert not is_permanent(caught.value)
    assert len(exchange_server.klines_requests()) == 3
    exchange_server.clear_faults()  # the outage ends: the same object works again
    assert len(exchange.get_candles("ETH/BTC", "5m", T, 10)) == 10


def test_an_unknown_symbol_is_permanent_and_costs_no_candle_request(exchange_server):
    exchange = exchange_server.ccxt_exchange(**FAST)
    with pytest.raises(SymbolNotFoundError, match=r"'ETH/BTX' not found on binance.*did you mean 'ETH/BTC'") as caught:
        exchange.get_candles("ETH/BTX", "5m", T, 10)
    assert is_permanent(caught.value) and "not found" in str(caught.value)
    assert exchange_server.klines_requests() == []


def test_the_exchanges_own_invalid_symbol_answer_is_permanent_and_not_retried(exchange_server):
    exchange = exchange_server.ccxt_exchange(**FAST)
    exchange_server.fail("invalid-symbol", None)  # listed at market load, refused since (a delisting)
    with pytest.raises(SymbolNotFoundError, match="Invalid symbol") as caught:
        exchange.get_candles("ETH/BTC", "5m", T, 10)
    assert is_permanent(caught.value)
    assert len(exchange_server.klines_requests()) == 1


def test_a_refused_credential_is_permanent_and_names_where_the_keys_come_from(exchange_server, monkeypatch):
    monkeypatch.setenv("MYBINANCE_API_KEY", "key-4f1d2a9b7c")
    monkeypatch.setenv("MYBINANCE_SECRET", "secret-9e8d7c6b5a")
    exchange = exchange_server.ccxt_exchange(credentials_env="MYBINANCE", **FAST)
    exchange_server.fail("auth", None)
    with pytest.raises(PermanentDataError, match="refused the credentials.*MYBINANCE_\\* environment") as caught:
        exchange.get_candles("ETH/BTC", "5m", T, 10)
    assert is_permanent(caught.value) and len(exchange_server.klines_requests()) == 1
    assert "key-4f1d2a9b7c" not in str(caught.value) and "secret-9e8d7c6b5a" not in str(caught.value)


def test_credentials_come_only_from_the_environment_or_a_file_and_never_travel(exchange_server, monkeypatch,
                                                                                 tmp_path):
    with pytest.raises(farm.SchemaError, match="not taken as arguments"):
        CcxtExchange("binance", config={"apiKey": "k", "secret": "s"})
    monkeypatch.setenv("MYBINANCE_API_KEY", "key-4f1d2a9b7c")
    monkeypatch.setenv("MYBINANCE_SECRET", "secret-9e8d7c6b5a")
    exchange = exchange_server.ccxt_exchange(credentials_env="MYBINANCE", **FAST)
    assert exchange.client().apiKey == "key-4f1d2a9b7c"
    assert exchange.mask("signed with secret-9e8d7c6b5a") == "signed with **"
    blob = pickle.dumps(exchange)
    assert b"secret-9e8d7c6b5a" not in blob and b"key-4f1d2a9b7c" not in blob
    assert "secret" not in repr(exchange)
    copy = pickle.loads(blob)  # a worker: reads its own environment, opens its own session
    assert len(copy.get_candles("ETH/BTC", "5m", T, 10)) == 10 and copy.client().secret == "secret-9e8d7c6b5a"

    keys = tmp_path / "keys.json"
    keys.write_text('{"apiKey": "file-key-123", "secret": "file-secret-456"}')
    from_file = exchange_server.ccxt_exchange(credentials_file=keys, **FAST)
    assert from_file.client().secret == "file-secret-456" and "file-secret" not in repr(from_file)
    keys.write_text("not json")
    with pytest.raises(farm.ConfigError, match="is not JSON"):
        exchange_server.ccxt_exchange(credentials_file=keys, **FAST).client()
    monkeypatch.delenv("MYBINANCE_SECRET")
    monkeypatch.delenv("MYBINANCE_API_KEY")
    with pytest.raises(farm.ConfigError, match="set MYBINANCE_API_KEY and MYBINANCE_SECRET"):
        exchange_server.ccxt_exchange(credentials_env="MYBINANCE", **FAST).client()


def test_bad_arguments_fail_at_once_with_the_fix():
    with pytest.raises(farm.SchemaError, match="did you mean 'binance'"):
        CcxtExchange("binanse")
    exchange = CcxtExchange("binance")
    with pytest.raises(PermanentDataError, match="unknown candle interval '7m'"):
        exchange.get_candles("ETH/BTC", "7m", T, 10)
    assert point_urls_at({"a": "https://api.x.com/api/v3", "b": {"c": "https://{hostname}/v5"}},
                         "http://127.0.0.1:9/") == {"a": "http://127.0.0.1:9/api/v3", "b": {"c": "http://127.0.0.1:9/v5"}}


def test_its_farm_identity_is_the_content_of_the_candles(exchange_server):
    """No name-based identity: a sweep's key covers the candles the frame reads, so the same
    candles served by the exchange or by anything else give the same key, other candles another."""
    files = sample_source("5m")
    farm.add_exchange("binance", exchange_server.ccxt_exchange(**FAST))
    farm.add_exchange("plain", lambda *a: files(*a))
    farm.add_frame("f", "5m", "2018-01-12", "2018-01-13")
    config, span = EngineConfig(base_interval="5m").model_dump(), frame_span("f")
    ident = data_identity("binance", "ETH/BTC", span, config)
    assert ident.startswith("read:") and ident == data_identity("plain", "ETH/BTC", span, config)
    assert ident != data_identity("binance", "XLM/BTC", span, config)
    assert data_identity("binance", "NOPE/BTC", span, config) == "error:SymbolNotFoundError"


def test_a_backtest_on_the_ccxt_exchange_trades_like_one_on_the_files_twice_in_one_process(exchange_server):
    from strategies import sma_cross

    farm.set_config(base_interval="5m")
    sma_cross.register()
    exchange = exchange_server.ccxt_exchange(**FAST)
    farm.add_exchange("binance", exchange)
    farm.add_exchange("files", sample_source("5m"))
    farm.add_frame("jan", "5m", "2018-01-12", "2018-01-20")
    outcomes = []
    for name in ("binance", "files", "binance"):
        results = list(farm.Backtest.run("ETH/BTC", strategy_name="sma_cross", exchange_name=name, frame_name="jan"))
        stats = farm.Backtest.get_data("ETH/BTC", "sma_cross")
        outcomes.append((len(results), stats.total_signals, stats.total_pnl))
    assert outcomes[0] == outcomes[1] == outcomes[2] and outcomes[0][1] > 0
    assert exchange.requests > 0 and np.isfinite(outcomes[0][2])


def test_the_throttle_cannot_be_switched_off(exchange_server):
    exchange = exchange_server.ccxt_exchange(config={"enableRateLimit": False, "rateLimit": 7})
    assert exchange.client().enableRateLimit is True and exchange.client().rateLimit == 7
