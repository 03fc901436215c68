"""A loopback HTTP server that speaks Binance's public market-data REST protocol, exactly the
part ccxt's `binance` class calls to load markets and page candles, with faults on demand.

Why Binance and why a real protocol: the ccxt exchange (`farm.exchanges.CcxtExchange`), the
downloader (`farm data download`) and the live runner must be tested through ccxt itself (its
request building, its parsing, its error mapping and its throttle), with no network. The server
answers:

* ``GET /api/v3/exchangeInfo``: the spot markets, one per candle file (``ETH-BTC_5m.parquet`` is
  ``ETH/BTC``, market id ``ETHBTC``), in Binance's shape (status, assets, precisions, filters).
* ``GET /fapi/v1/exchangeInfo``, ``GET /dapi/v1/exchangeInfo``: no futures markets (ccxt's
  binance loads all three market types by default).
* ``GET /api/v3/klines?symbol=&interval=&startTime=&endTime=&limit=``: Binance's candle rows
  ``[openTime, "open", "high", "low", "close", "volume", closeTime, "quoteVolume", trades,
  "takerBase", "takerQuote", "0"]``, the first ``limit`` (default 500, at most 1000) with
  ``openTime >= startTime`` (and ``<= endTime``), oldest first; without ``startTime`` the latest
  ones. Candles up to the server's clock ``now_ms`` are served, the one still forming at ``now_ms``
  included, as Binance does. Coarser intervals than a file's are resampled the way farm does
  (epoch-aligned buckets); a finer one has no candle.
* ``GET /api/v3/time``, ``GET /api/v3/ping``; ``GET /sapi/v1/capital/config/getall`` and
  ``/sapi/v1/margin/allPairs``, ``/sapi/v1/margin/isolated/allPairs`` (empty; ccxt asks them when
  it holds keys; the signature is not checked).
* Binance's errors: HTTP 400 with ``{"code": -1121, "msg": "Invalid symbol."}`` for an unknown
  symbol, ``-1120`` for an unknown interval, ``-1130`` for a bad limit; 404 for any other path.

Faults (`ExchangeServer.fail`), each for the next N matching requests or until `clear_faults`:
``"500"``/``"502"``/``"503"`` (an HTML error page, as a load balancer sends), ``"429"`` (rate
limited, with Retry-After), ``"slow"`` (answers after `slow_seconds`, past a client's timeout),
``"reset"`` (the TCP connection is reset without an answer), ``"invalid-symbol"`` (the -1121
answer even for a listed symbol: a delisting between market load and the request), ``"auth"``
(401 with Binance's -2015 "Invalid API-key, IP, or permissions for action.").

Start it (it runs in a thread of the current process and binds 127.0.0.1 on a free port)::

    from tests.exchange_server import ExchangeServer
    with ExchangeServer.from_dir("farm/sample_data") as server:
        exchange = server.ccxt_exchange()        # a farm CcxtExchange pointed at it
        print(server.url, server.requests)       # http://127.0.0.1:PORT, what was asked

or from a shell (for a manual ``farm data download --api-url ...``)::

    python -m tests.exchange_server farm/sample_data --port 8765

A pytest fixture, ``exchange_server``, is in ``tests/exchanges/conftest.py``.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from farm.data.candles import resample
from farm.intervals import CANDLE_INTERVALS, interval_ms
from farm.models import CANDLE_FIELDS, CandleArrays

BINANCE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
                     "1w", "1M")
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
FAULTS = ("500", "502", "503", "429", "slow", "reset", "invalid-symbol", "auth")


@dataclass
class Market:
    symbol: str
    """Unified, e.g. ``ETH/BTC``."""
    base_interval: str
    arrays: CandleArrays

    @property
    def market_id(self) -> str:
        return self.symbol.replace("/", "")

    @property
    def base_asset(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote_asset(self) -> str:
        return self.symbol.split("/")[1]


@dataclass
class Fault:
    kind: str
    remaining: int | None
    """Requests left to spoil; None: every one until cleared."""
    path: str
    after: int = 0
    """Matching requests to let through first."""


@dataclass
class Request:
    path: str
    params: dict[str, str]
    status: int
    """The HTTP status sent (0: none yet, or the connection was reset)."""
    fault: str | None = None
    at: float = field(default_factory=time.monotonic)
    """When it arrived (monotonic seconds): how far apart a client spaces its requests."""


@dataclass
class _State:
    markets: dict[str, Market]
    now_ms: int | None
    slow_seconds: float
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_markets_from_dir(directory: str | Path, symbols: Iterable[str] | None = None) -> dict[str, Market]:
    """Markets from ``<SYMBOL with - for />_<interval>.parquet`` files (farm's layout)."""
    wanted = set(symbols) if symbols is not None else None
    markets: dict[str, Market] = {}
    for path in sorted(Path(directory).glob("*_*.parquet")):
        name, _, interval = path.stem.rpartition("_")
        if interval not in CANDLE_INTERVALS or "-" not in name:
            continue
        symbol = name.replace("-", "/")
        if wanted is not None and symbol not in wanted:
            continue
        df = pd.read_parquet(path)
        arrays = CandleArrays(*(np.ascontiguousarray(df[f].to_numpy(),
                                                     dtype=np.int64 if f == "timestamp" else np.float64)
                                for f in CANDLE_FIELDS))
        markets[symbol] = Market(symbol, interval, arrays)
    return markets


class ExchangeServer:
    """The Binance-speaking server (see the module docstring); a context manager."""

    def __init__(self, markets: Mapping[str, Market], *, now_ms: int | None = None, slow_seconds: float = 3.0,
                 port: int = 0):
        self._state = _State(dict(markets), now_ms, slow_seconds)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self._state))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @classmethod
    def from_dir(cls, directory: str | Path, symbols: Iterable[str] | None = None, **kwargs: Any) -> ExchangeServer:
        return cls(load_markets_from_dir(directory, symbols), **kwargs)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> ExchangeServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="exchange-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ExchangeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests use -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def markets(self) -> dict[str, Market]:
        return self._state.markets

    @property
    def now_ms(self) -> int | None:
        return self._state.now_ms

    @now_ms.setter
    def now_ms(self, value: int | None) -> None:
        self._state.now_ms = value

    @property
    def slow_seconds(self) -> float:
        return self._state.slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, value: float) -> None:
        self._state.slow_seconds = value

    @property
    def requests(self) -> list[Request]:
        with self._state.lock:
            return list(self._state.requests)

    def klines_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/api/v3/klines"]

    def fail(self, kind: str, times: int | None = 1, *, path: str = "/api/v3/klines", after: int = 0) -> None:
        """Spoil the next `times` requests to `path` (None: all of them until `clear_faults`),
        after letting `after` of them through."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        with self._state.lock:
            self._state.faults.append(Fault(kind, times, path, after))

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.faults.clear()

    def ccxt_exchange(self, **kwargs: Any) -> Any:
        """A `farm.exchanges.CcxtExchange("binance")` whose API URLs point at this server;
        `kwargs` go to it (tests pass short retry waits)."""
        from farm.exchanges import CcxtExchange

        return CcxtExchange("binance", api_url=self.url, **kwargs)


# ---- the protocol ------------------------------------------------------------------------


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "exchange-server"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            fault = _take_fault(state, parts.path)
            self._request = _record(state, parts.path, params, 0, fault)  # on arrival: a slow one counts at once
            if fault == "reset":
                _reset(self.connection)
                self.close_connection = True
                return
            if fault == "slow":
                time.sleep(state.slow_seconds)
            if fault in ("500", "502", "503"):
                body = f"<html><body><h1>{fault} Server Error</h1></body></html>".encode()
                return self._send(int(fault), body, "text/html", params, fault)
            if fault == "429":
                return self._json(429, {"code": -1003, "msg": "Too many requests; current limit is 6000 request "
                                                              "weight per 1 MINUTE."}, params, fault,
                                  headers={"Retry-After": "1"})
            if fault == "invalid-symbol":
                return self._json(400, {"code": -1121, "msg": "Invalid symbol."}, params, fault)
            if fault == "auth":
                return self._json(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
                                  params, fault)
            status, payload = _route(state, parts.path, params)
            self._json(status, payload, params, fault)

        def _json(self, status: int, payload: Any, params: dict[str, str], fault: str | None,
                  headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(payload, separators=(",", ":")).encode(), "application/json;charset=UTF-8",
                       params, fault, headers)

        def _send(self, status: int, body: bytes, content_type: str, params: dict[str, str], fault: str | None,
                  headers: dict[str, str] | None = None) -> None:
            self._request.status = status
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("x-mbx-used-weight-1m", "1")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # a client that timed out and left
                self.close_connection = True

    return Handler


def _record(state: _State, path: str, params: dict[str, str], status: int, fault: str | None) -> Request:
    request = Request(path, params, status, fault)
    with state.lock:
        state.requests.append(request)
    return request


def _take_fault(state: _State, path: str) -> str | None:
    with state.lock:
        for fault in state.faults:
            if fault.path != path:
                continue
            if fault.after > 0:
                fault.after -= 1
                return None
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    state.faults.remove(fault)
            return fault.kind
    return None


def _reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST, as from a proxy that drops a connection."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
    except OSError:
        pass


def _now(state: _State) -> int:
    return state.now_ms if state.now_ms is not None else int(time.time() * 1000)


def _route(state: _State, path: str, params: dict[str, str]) -> tuple[int, Any]:
    if path == "/api/v3/ping":
        return 200, {}
    if path == "/api/v3/time":
        return 200, {"serverTime": _now(state)}
    if path == "/api/v3/exchangeInfo":
        return 200, _exchange_info(state)
    if path in ("/fapi/v1/exchangeInfo", "/dapi/v1/exchangeInfo"):
        return 200, {"timezone": "UTC", "serverTime": _now(state), "rateLimits": [], "exchangeFilters": [],
                     "assets": [], "symbols": []}
    if path == "/api/v3/klines":
        return _klines(state, params)
    if path in ("/sapi/v1/capital/config/getall", "/sapi/v1/margin/allPairs", "/sapi/v1/margin/isolated/allPairs"):
        return 200, []  # ccxt loads currencies and margin pairs when it holds keys (the signature is not checked)
    return 404, {"code": -1, "msg": f"no route {path}"}


def _exchange_info(state: _State) -> dict[str, Any]:
    symbols = []
    for m in state.markets.values():
        symbols.append({
            "symbol": m.market_id, "status": "TRADING", "baseAsset": m.base_asset, "baseAssetPrecision": 8,
            "quoteAsset": m.quote_asset, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.00000001", "maxPrice": "1000.00000000",
                 "tickSize": "0.00000001"},
                {"filterType": "LOT_SIZE", "minQty": "0.00100000", "maxQty": "100000.00000000",
                 "stepSize": "0.00100000"},
            ],
            "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        })
    return {
        "timezone": "UTC", "serverTime": _now(state),
        "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}],
        "exchangeFilters": [], "symbols": symbols,
    }


def _error(code: int, msg: str) -> tuple[int, Any]:
    return 400, {"code": code, "msg": msg}


def _klines(state: _State, params: dict[str, str]) -> tuple[int, Any]:
    market = next((m for m in state.markets.values() if m.market_id == params.get("symbol")), None)
    if market is None:
        return _error(-1121, "Invalid symbol.")
    interval = params.get("interval", "")
    if interval not in BINANCE_INTERVALS:
        return _error(-1120, "Invalid interval.")
    try:
        limit = int(params.get("limit", DEFAULT_LIMIT))
        start = int(params["startTime"]) if "startTime" in params else None
        end = int(params["endTime"]) if "endTime" in params else None
    except ValueError:
        return _error(-1100, "Illegal characters found in a parameter.")
    if not 1 <= limit <= MAX_LIMIT:
        return _error(-1130, "Data sent for parameter 'limit' is not valid.")
    if interval not in CANDLE_INTERVALS or CANDLE_INTERVALS[interval] < CANDLE_INTERVALS[market.base_interval]:
        return 200, []
    step = interval_ms(interval)
    arrays = market.arrays if interval == market.base_interval else resample(market.arrays, step)
    ts = arrays.timestamp
    hi = int(np.searchsorted(ts, _now(state), "right"))  # opened by now: the forming one too
    if end is not None:
        hi = min(hi, int(np.searchsorted(ts, end, "right")))
    if start is not None:
        lo = int(np.searchsorted(ts, start, "left"))
        hi = min(hi, lo + limit)
    else:
        lo = max(0, hi - limit)
    rows = []
    for i in range(lo, hi):
        t = int(ts[i])
        o, h, lw, c, v = (float(getattr(arrays, f)[i]) for f in ("open", "high", "low", "close", "volume"))
        rows.append([t, _num(o), _num(h), _num(lw), _num(c), _num(v), t + step - 1, _num(v * c), 1,
                     _num(v / 2), _num(v * c / 2), "0"])
    return 200, rows


def _num(x: float) -> str:
    """A decimal string as Binance sends (repr round-trips the float exactly)."""
    return repr(float(x))


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="A Binance-speaking candle server on 127.0.0.1 (tests only).")
    parser.add_argument("directory", help="directory of <SYMBOL>_<interval>.parquet files")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = ExchangeServer.from_dir(args.directory, port=args.port).start()
    print(f"serving {', '.join(server.markets)} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
