"""`farm data download` against the loopback Binance server (tests/exchange_server.py): files in
FileSource's layout, re-runs that fetch nothing, a download cut by connection resets then resumed
to the very same bytes, gaps kept, an unknown symbol refused at once, the cache warmed, and a
backtest on the files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import farm
from farm.data import download as dl
from farm.data.sample import sample_dir, sample_source
from farm.data.sources import FileSource
from farm.errors import CandleFetchError, SymbolNotFoundError
from farm.models import datetime_to_ms
from tests.exchange_server import ExchangeServer
from tests.exchanges.conftest import FAST

ROOT = Path(__file__).resolve().parents[2]
FIVE = 300_000
SYMBOLS = ["ETH/BTC", "XLM/BTC"]
START, END = "2018-01-12", "2018-01-19"  # 8 days of 5m: 2,304 candles a symbol, 3 pages
LO, HI = datetime_to_ms(START), datetime_to_ms("2018-01-20")


@pytest.fixture
def server() -> Iterator[ExchangeServer]:
    with ExchangeServer.from_dir(sample_dir(), SYMBOLS) as s:
        yield s


def fetch(server: ExchangeServer, out: Path, **kwargs) -> dl.DownloadReport:
    exchange = server.ccxt_exchange(**{**FAST, **kwargs})
    return dl.download(exchange, "binance", SYMBOLS, "5m", START, END, out)


def expected(symbol: str, lo: int = LO, hi: int = HI) -> pd.DataFrame:
    df = pd.read_parquet(sample_dir() / f"{symbol.replace('/', '-')}_5m.parquet")
    return df[(df.timestamp >= lo) & (df.timestamp < hi)].reset_index(drop=True)


def test_download_writes_what_file_source_reads_and_a_rerun_fetches_nothing(server, tmp_path):
    report = fetch(server, tmp_path)
    files = FileSource(tmp_path / "{symbol}_{interval}.parquet", "5m")
    assert files.symbols() == SYMBOLS
    for s in report.symbols:
        pd.testing.assert_frame_equal(files.frame(s.symbol), expected(s.symbol), check_exact=True)
        assert s.fetched == s.candles == len(expected(s.symbol)) == 2304 and s.requests == 3 and not s.gaps
    stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.glob("*.parquet")}
    asked = len(server.klines_requests())

    again = fetch(server, tmp_path)  # a second run, in the same process, from a fresh exchange object
    assert all(s.up_to_date and s.requests == 0 for s in again.symbols)
    assert len(server.klines_requests()) == asked
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.glob("*.parquet")} == stamps

    # A longer range: only the new days are asked for, and the file grows by exactly them.
    exchange = server.ccxt_exchange(**FAST)
    dl.download(exchange, "binance", SYMBOLS, "5m", START, "2018-01-21", tmp_path)
    new = server.klines_requests()[asked:]
    assert new and min(int(r.params["startTime"]) for r in new) == HI
    pd.testing.assert_frame_equal(files.__class__(tmp_path / "{symbol}_{interval}.parquet", "5m").frame("ETH/BTC"),
                                  expected("ETH/BTC", LO, datetime_to_ms("2018-01-22")), check_exact=True)


def test_a_download_cut_by_connection_resets_resumes_to_the_same_bytes(server, tmp_path):
    clean = tmp_path / "clean"
    fetch(server, clean)
    clean_requests = len(server.klines_requests())

    cut = tmp_path / "cut"
    server.fail("reset", None, after=4)  # ETH/BTC's 3 pages pass, then XLM/BTC's first; the rest reset
    with pytest.raises(CandleFetchError, match="failed 2 time"):
        fetch(server, cut, attempts=2)
    assert (cut / "ETH-BTC_5m.parquet").is_file() and not (cut / "XLM-BTC_5m.parquet").exists()
    kept = dl.Manifest.load(cut / ".download" / "XLM-BTC_5m.parquet.json", "binance", "XLM/BTC", "5m")
    assert kept is not None and kept.covered == [(LO, LO + 1000 * FIVE)] and len(kept.parts) == 1

    server.clear_faults()
    before = len(server.klines_requests())
    resumed = fetch(server, cut)
    assert [s.requests for s in resumed.symbols] == [0, 2]  # only XLM/BTC's two missing pages
    assert min(int(r.params["startTime"]) for r in server.klines_requests()[before:]) == LO + 1000 * FIVE
    for name in ("ETH-BTC_5m.parquet", "XLM-BTC_5m.parquet"):
        assert (cut / name).read_bytes() == (clean / name).read_bytes()
    assert sorted(p.name for p in (cut / ".download").glob("*.part-*")) == []
    assert len(server.klines_requests()) - before + 4 == clean_requests


def test_transient_errors_are_retried_and_the_download_completes(server, tmp_path):
    server.fail("503", 2)
    server.fail("reset", 1, after=2)
    report = fetch(server, tmp_path)
    assert [s.candles for s in report.symbols] == [2304, 2304]
    faults = [r.fault for r in server.klines_requests() if r.fault]
    assert sorted(faults) == ["503", "503", "reset"]


def test_gaps_stay_gaps_and_are_reported(tmp_path):
    data = tmp_path / "exchange"
    data.mkdir()
    df = pd.read_parquet(sample_dir() / "ETH-BTC_5m.parquet")
    hole = (df.timestamp >= LO + 100 * FIVE) & (df.timestamp < LO + 130 * FIVE)
    df[~hole].to_parquet(data / "ETH-BTC_5m.parquet")
    with ExchangeServer.from_dir(data) as server:
        exchange = server.ccxt_exchange(**FAST)
        report = dl.download(exchange, "binance", ["ETH/BTC"], "5m", START, END, tmp_path / "out")
    got = pd.read_parquet(tmp_path / "out" / "ETH-BTC_5m.parquet")
    assert len(got) == 2304 - 30 and not np.isin(df.timestamp[hole], got.timestamp).any()
    [s] = report.symbols
    assert s.gaps == [(LO + 100 * FIVE, LO + 130 * FIVE)]
    assert dl.describe_gaps(s, FIVE) == ("1 gap, 30 candles missing: 2018-01-12T08:20:00Z "
                                            "to 2018-01-12T10:45:00Z")


def test_only_closed_candles_are_downloaded_and_the_next_run_completes_them(server, tmp_path):
    now = LO + 3 * 3600_000 + 60_000  # one minute into the 5m candle opening at LO + 3h
    server.now_ms = now
    exchange = server.ccxt_exchange(clock=lambda: now, **FAST)
    dl.download(exchange, "binance", ["ETH/BTC"], "5m", START, None, tmp_path)
    got = pd.read_parquet(tmp_path / "ETH-BTC_5m.parquet")
    assert int(got.timestamp.iloc[-1]) == LO + 3 * 3600_000 - FIVE and len(got) == 36
    later = now + 3600_000
    server.now_ms = later
    exchange.clock = lambda: later
    before = len(server.klines_requests())
    dl.download(exchange, "binance", ["ETH/BTC"], "5m", START, None, tmp_path)
    assert [int(r.params["startTime"]) for r in server.klines_requests()[before:]] == [LO + 3 * 3600_000]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ETH-BTC_5m.parquet"),
                                  expected("ETH/BTC", LO, LO + 4 * 3600_000), check_exact=True)


def test_an_unknown_symbol_fails_before_anything_is_fetched(server, tmp_path):
    exchange = server.ccxt_exchange(**FAST)
    with pytest.raises(SymbolNotFoundError, match="'XLM/BTX' not found on binance.*did you mean 'XLM/BTC'"):
        dl.download(exchange, "binance", ["ETH/BTC", "XLM/BTX"], "5m", START, END, tmp_path)
    assert server.klines_requests() == [] and list(tmp_path.iterdir()) == []


def test_an_interval_the_exchange_does_not_serve_fails_before_any_request(tmp_path):
    from farm.errors import PermanentDataError
    from farm.exchanges import CcxtExchange

    # Kraken has no 3m candles; ccxt knows it without asking (no market load, no network).
    with pytest.raises(PermanentDataError, match="kraken has no 3m candles; it has 1m, 5m, 15m"):
        dl.download(CcxtExchange("kraken", api_url="http://127.0.0.1:9"), "kraken", ["BTC/USD"], "3m", START, END,
                    tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_holding_another_exchanges_download_is_refused(server, tmp_path):
    fetch(server, tmp_path)
    with pytest.raises(farm.SchemaError, match="downloaded from binance, not from kraken"):
        dl.download(server.ccxt_exchange(**FAST), "kraken", SYMBOLS, "5m", START, END, tmp_path)


def test_a_backtest_reads_the_downloaded_files_like_the_originals(server, tmp_path):
    from strategies import sma_cross

    fetch(server, tmp_path)
    farm.set_config(base_interval="5m")
    sma_cross.register()
    farm.add_exchange("downloaded", FileSource(tmp_path / "{symbol}_{interval}.parquet", "5m"))
    farm.add_exchange("bundled", sample_source("5m"))
    farm.add_frame("week", "5m", "2018-01-13", "2018-01-19")
    outcomes = []
    for name in ("downloaded", "bundled"):
        results = list(farm.Backtest.run("ETH/BTC", strategy_name="sma_cross", exchange_name=name, frame_name="week"))
        stats = farm.Backtest.get_data("ETH/BTC", "sma_cross")
        outcomes.append((len(results), stats.total_signals, stats.total_pnl))
    assert outcomes[0] == outcomes[1] and outcomes[0][1] > 0


def test_the_candle_cache_is_warmed_with_the_downloaded_days(server, tmp_path, redis_url, redis_prefix,
                                                             monkeypatch):
    from farm.cache import reset_cache

    monkeypatch.setenv("FARM_REDIS_URL", f"{redis_url}?prefix={redis_prefix}")
    reset_cache()
    try:
        report = fetch(server, tmp_path)
        assert report.warmed is not None and report.warmed.chunks == 2 * 8
        assert report.warmed.candles == 2 * 2304
        # A backtest on the exchange under the same name reads the downloaded days from the cache;
        # only its warm-up and look-ahead days outside them come from the exchange.
        from strategies import sma_cross

        farm.set_config(base_interval="5m")
        sma_cross.register()
        exchange = server.ccxt_exchange(**FAST)
        farm.add_exchange("binance", exchange)
        farm.add_frame("week", "5m", "2018-01-13", "2018-01-19")
        before = len(server.klines_requests())
        results = list(farm.Backtest.run("ETH/BTC", strategy_name="sma_cross", exchange_name="binance",
                                         frame_name="week"))
        asked = [int(r.params["startTime"]) for r in server.klines_requests()[before:]]
        assert results and asked and not [t for t in asked if LO <= t < HI]
    finally:
        reset_cache()


# ---- the command -------------------------------------------------------------------------------


def farm_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("FARM_REDIS_URL", "FARM_S3_BUCKET"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "farm.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_command_downloads_retries_a_5xx_and_then_has_nothing_to_do(server, tmp_path):
    args = ("data", "download", "--exchange", "binance", "--symbols", "ETH/BTC,XLM/BTC", "--interval", "5m",
            "--from", START, "--to", END, "--out", "candles", "--api-url", server.url)
    server.fail("503", 1)
    first = farm_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "ETH/BTC: 2,304 candles fetched in 4 request(s)" in first.stdout  # 3 pages, 1 retry and "no gap" in first.stdout
    assert "candles" in first.stderr  # the progress bar
    assert [r.fault for r in server.klines_requests()].count("503") == 1
    pd.testing.assert_frame_equal(FileSource(tmp_path / "candles" / "{symbol}_{interval}.parquet", "5m")
                                  .frame("XLM/BTC"), expected("XLM/BTC"), check_exact=True)
    asked = len(server.klines_requests())
    second = farm_cli(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("up to date, nothing fetched") == 2 and len(server.klines_requests()) == asked


def test_the_command_refuses_an_unknown_symbol_in_one_line(server, tmp_path):
    run = farm_cli("data", "download", "--exchange", "binance", "--symbols", "ETH/BTC,XLM/BTX", "--interval", "5m",
                   "--from", START, "--to", END, "--out", "candles", "--api-url", server.url, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1] == (
        "error: symbol 'XLM/BTX' not found on binance (2 markets listed); did you mean 'XLM/BTC'?")
    assert server.klines_requests() == [] and not (tmp_path / "candles").exists()


def download_args(server: ExchangeServer, out: str, *extra: str) -> tuple[str, ...]:
    return ("data", "download", "--exchange", "binance", "--symbols", "ETH/BTC,XLM/BTC", "--interval", "5m",
            "--from", START, "--to", END, "--out", out, "--api-url", server.url, *extra)


def test_the_command_cut_by_resets_says_how_to_resume_and_the_rerun_gives_the_same_files(server, tmp_path):
    fetch(server, tmp_path / "clean")  # in process: the same code writes the same bytes
    server.fail("reset", None, after=4)
    cut = farm_cli(*download_args(server, "cut", "--attempts", "1"), cwd=tmp_path)
    assert cut.returncode == 1
    assert "failed 1 time(s), last: NetworkError" in cut.stderr
    assert "run the same command again to resume" in cut.stderr
    server.clear_faults()
    resumed = farm_cli(*download_args(server, "cut"), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "ETH/BTC: up to date, nothing fetched" in resumed.stdout
    assert "XLM/BTC: 1,304 candles fetched in 2 request(s)" in resumed.stdout
    for name in ("ETH-BTC_5m.parquet", "XLM-BTC_5m.parquet"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()


def test_sigint_stops_the_command_promptly_keeping_what_it_fetched(server, tmp_path):
    import signal
    import time

    server.slow_seconds = 30.0  # the 4th page hangs, as on a stalled connection
    server.fail("slow", 1, after=3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "farm.cli", *download_args(server, "candles")], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(r.fault == "slow" for r in server.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(r.fault == "slow" for r in server.requests), "the download never reached the stalled page"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)  # long before the stalled answer would come
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted by SIGINT" in err and "run the same command again to resume" in err
    manifest = dl.Manifest.load(tmp_path / "candles" / ".download" / "XLM-BTC_5m.parquet.json", "binance",
                                "XLM/BTC", "5m")
    assert (tmp_path / "candles" / "ETH-BTC_5m.parquet").is_file()
    assert manifest is None or manifest.covered == []  # XLM/BTC's first page was the one in flight
    server.slow_seconds = 0.0
    again = farm_cli(*download_args(server, "candles"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "ETH/BTC: up to date" in again.stdout and "XLM/BTC: 2,304 candles fetched" in again.stdout
