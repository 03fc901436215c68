"""A candle source over any exchange ccxt knows: public OHLCV, closed candles only.

``CcxtExchange("binance")`` keeps farm's ``get_candles`` contract (`farm.data.sources`: the first
``limit`` candles opening at or after ``since``, oldest first, gaps left as gaps), so it is
registered like any source, ``farm.add_exchange("binance", CcxtExchange("binance"))``, and serves
backtests, the downloader (`farm.data.download`) and the live runner alike.

Why ccxt: one well-kept client for a hundred exchanges, with each exchange's request format, its
rate limit (ccxt's throttle is always on here) and its error codes mapped onto one class
hierarchy. What this module adds is the farm side of that contract:

* **Closed candles only.** Exchanges return the candle still forming (Binance does); it is
  dropped, by this object's clock, so no caller ever sees a candle that will still change.
* **Paging** by ``since``/``limit`` in pages of at most `page_limit` (an exchange may return fewer
  than asked; paging goes on from the last candle until the data or the closed candles end).
* **Transient or permanent**, by ccxt's own classes: `ccxt.OperationFailed` (its
  ``NetworkError``: ``RequestTimeout``, ``ExchangeNotAvailable`` for a 5xx, ``DDoSProtection``
  for a 429/418; and ``BadResponse``) is retried with exponential backoff (tenacity; a
  ``Retry-After`` header lengthens the wait), then raised as `CandleFetchError`.
  ``BadSymbol`` is `SymbolNotFoundError`; every other `ccxt.ExchangeError` (``BadRequest``,
  ``AuthenticationError``, ``NotSupported`` ...) is `PermanentDataError`: both fail the job at
  once and are never retried (`farm.errors.is_permanent`).
* **Identity** (result keys, docs/keys.md): deliberately no ``identity()`` method. An exchange's
  name says nothing about which candles it served (history gets corrected, a symbol relisted),
  so farm fingerprints the candles a job's frame reads (``read:<sha256>``): the key is content.
* **Credentials** are never arguments: only from the environment (`credentials_env`) or a JSON
  file (`credentials_file`), re-read in each process (a pickled source carries none), and masked
  in every message and repr. Public OHLCV needs none.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from farm.data.candles import arrays_to_frame, check_limit, concat, head, since_to_ms
from farm.errors import (
    CandleFetchError,
    ConfigError,
    PermanentDataError,
    SchemaError,
    SymbolNotFoundError,
)
from farm.intervals import CANDLE_INTERVALS, interval_ms
from farm.models import CandleArrays
from farm.redact import MASK, mask_text

log = logging.getLogger("farm.exchanges.ccxt")

INSTALL_HINT = 'pip install "backtest-farm[ccxt]"'
CREDENTIAL_FIELDS = {"API_KEY": "apiKey", "SECRET": "secret", "PASSWORD": "password", "UID": "uid"}
"""Environment suffix -> ccxt's attribute: ``BINANCE_API_KEY`` -> ``apiKey`` for prefix BINANCE."""
DEFAULT_PAGE_LIMIT = 1000


def import_ccxt() -> Any:
    """ccxt, or a `ConfigError` saying how to install the optional extra."""
    try:
        import ccxt
    except ImportError:
        raise ConfigError(f"the ccxt exchange needs the optional package ccxt: {INSTALL_HINT}") from None
    return ccxt


def point_urls_at(urls: Any, api_url: str) -> Any:
    """ccxt's ``urls['api']`` (a string, or nested dicts of strings) with every URL's scheme and
    host replaced by `api_url`, paths kept: ``https://api.binance.com/api/v3`` becomes
    ``http://127.0.0.1:8765/api/v3``. For a mirror, a recording proxy or a loopback test server."""
    base = api_url.rstrip("/")
    if isinstance(urls, str):
        return base + urlsplit(urls).path
    if isinstance(urls, Mapping):
        return {k: point_urls_at(v, api_url) for k, v in urls.items()}
    return urls


class CcxtExchange:
    """A farm candle source over ccxt's ``fetch_ohlcv`` (see the module docstring).

    exchange_id: ccxt's id (``binance``, ``kraken``, ``okx`` ...; ``ccxt.exchanges`` lists them).
    options: ccxt exchange options, e.g. ``{"defaultType": "swap"}`` for perpetuals.
    config: other ccxt constructor settings (``timeout`` in ms, ``rateLimit`` in ms between
        requests). Credentials are refused here: use `credentials_env` or `credentials_file`.
    api_url: send every API request to this scheme://host instead (paths kept).
    credentials_env: a prefix P: the keys come from ``P_API_KEY``, ``P_SECRET`` and optionally
        ``P_PASSWORD``, ``P_UID``.
    credentials_file: a JSON file ``{"apiKey": ..., "secret": ...}``.
    attempts: tries per request for transient errors; backoff_seconds/max_backoff_seconds: the
        exponential wait between them.
    page_limit: candles asked per request (ccxt caps it at the exchange's own maximum).
    clock: ms since the epoch, "now" for the closed-candle rule (default: the wall clock; a
        replay or a test passes its own).
    sleep: how to wait between attempts (default `time.sleep`).
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        options: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        api_url: str | None = None,
        credentials_env: str | None = None,
        credentials_file: str | os.PathLike[str] | None = None,
        attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        page_limit: int = DEFAULT_PAGE_LIMIT,
        clock: Callable[[], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        ccxt = import_ccxt()
        if not isinstance(exchange_id, str) or exchange_id not in ccxt.exchanges:
            close = difflib.get_close_matches(str(exchange_id), ccxt.exchanges, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else " (ccxt.exchanges lists them)"
            raise SchemaError(f"ccxt has no exchange {exchange_id!r}{hint}")
        config = dict(config or {})
        given = sorted(set(config) & set(CREDENTIAL_FIELDS.values()))
        if given:
            raise SchemaError(f"credentials ({', '.join(given)}) are not taken as arguments: set credentials_env "
                              "(environment variables) or credentials_file (a JSON file)")
        if credentials_env is not None and credentials_file is not None:
            raise SchemaError("give credentials_env or credentials_file, not both")
        if attempts < 1:
            raise SchemaError(f"attempts must be at least 1, got {attempts}")
        self.exchange_id = exchange_id
        self.options = dict(options or {})
        self.config = config
        self.api_url = api_url
        self.credentials_env = credentials_env
        self.credentials_file = str(credentials_file) if credentials_file is not None else None
        self.attempts = int(attempts)
        self.backoff_seconds = float(backoff_seconds)
        self.max_backoff_seconds = float(max_backoff_seconds)
        self.page_limit = check_limit(page_limit)
        self.clock = clock
        self.sleep = sleep
        self.requests = 0
        """OHLCV requests sent by this process (retries included)."""
        self._init_process_state()

    # -- per-process state: the ccxt client (its HTTP session, throttle) and the secrets ------

    def _init_process_state(self) -> None:
        self._client: Any = None
        self._pid = -1
        self._secrets: list[str] = []
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        # Shipped to worker processes without the client (sockets) and without the secrets:
        # a worker reads them again from its own environment or file.
        state = self.__dict__.copy()
        for name in ("_client", "_pid", "_secrets", "_lock"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_process_state()

    def _credentials(self) -> dict[str, str]:
        if self.credentials_env is not None:
            prefix = self.credentials_env.upper().rstrip("_")
            found = {attr: os.environ[f"{prefix}_{suffix}"] for suffix, attr in CREDENTIAL_FIELDS.items()
                     if os.environ.get(f"{prefix}_{suffix}")}
            if not found:
                raise ConfigError(f"credentials_env {prefix!r}: set {prefix}_API_KEY and {prefix}_SECRET")
            return found
        if self.credentials_file is not None:
            path = Path(self.credentials_file).expanduser()
            try:
                data = json.loads(path.read_text())
            except OSError as exc:
                raise ConfigError(f"credentials_file {str(path)!r}: cannot read it ({exc.strerror})") from None
            except ValueError:
                raise ConfigError(f"credentials_file {str(path)!r} is not JSON "
                                  '(expected {"apiKey": "...", "secret": "..."})') from None
            if not isinstance(data, dict):
                raise ConfigError(f"credentials_file {str(path)!r} must hold a JSON object")
            return {attr: str(data[attr]) for attr in CREDENTIAL_FIELDS.values() if data.get(attr)}
        return {}

    def client(self) -> Any:
        """The ccxt exchange object of this process (built on first use, again after a fork)."""
        pid = os.getpid()
        with self._lock:
            return self._client if self._client is not None and self._pid == pid else self._build(pid)

    def _build(self, pid: int) -> Any:
        ccxt = import_ccxt()
        credentials = self._credentials()
        settings = {**self.config, **credentials, "enableRateLimit": True}  # the throttle is never off
        if self.options:
            settings["options"] = {**self.config.get("options", {}), **self.options}
        client = getattr(ccxt, self.exchange_id)(settings)
        if self.api_url is not None:
            client.urls["api"] = point_urls_at(client.urls["api"], self.api_url)
        self._secrets = [v for v in credentials.values() if len(v) >= 4]
        self._client, self._pid = client, pid
        return client

    def mask(self, text: str) -> str:
        """`text` with this exchange's secrets and any URL password replaced by `**`."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return mask_text(text)

    # -- requests: retried when transient, mapped to farm's errors when not -------------------

    def _call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        """`fn(client)` under the lock, transient failures retried with backoff (tenacity)."""
        import tenacity

        ccxt = import_ccxt()

        def wait(state: tenacity.RetryCallState) -> float:
            seconds = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (state.attempt_number - 1))
            return max(seconds, self._retry_after())

        def note(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s: attempt %d/%d failed (%s), retrying in %.1fs", what, state.attempt_number,
                        self.attempts, self.mask(f"{type(exc).__name__}: {exc}"), state.upcoming_sleep)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(ccxt.OperationFailed),
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait, sleep=self.sleep, before_sleep=note, reraise=True,
        )
        # Errors are re-raised `from None`: a chained ccxt exception could quote a signed request.
        try:
            with self._lock:
                return retrying(fn, self.client())
        except ccxt.BadSymbol as exc:
            raise SymbolNotFoundError(f"{what}: not found on {self.exchange_id} ({self.mask(str(exc))}); "
                                      "check the symbol's spelling and that the exchange still lists it") from None
        except ccxt.AuthenticationError as exc:
            raise PermanentDataError(f"{what}: {self.exchange_id} refused the credentials "
                                     f"({self.mask(str(exc))}); check {self._credentials_source()}") from None
        except ccxt.ExchangeError as exc:
            raise PermanentDataError(f"{what}: {self.exchange_id} refused the request: "
                                     f"{type(exc).__name__}: {self.mask(str(exc))}") from None
        except ccxt.OperationFailed as exc:
            raise CandleFetchError(f"{what}: {self.exchange_id} failed {self.attempts} time(s), last: "
                                   f"{type(exc).__name__}: {self.mask(str(exc))}") from None

    def _retry_after(self) -> float:
        """Seconds the exchange asked to wait (a 429's ``Retry-After``), else 0."""
        headers = getattr(self._client, "last_response_headers", None) or {}
        value = next((v for k, v in dict(headers).items() if str(k).lower() == "retry-after"), None)
        try:
            return min(float(value), self.max_backoff_seconds) if value is not None else 0.0
        except ValueError:
            return 0.0

    def _credentials_source(self) -> str:
        if self.credentials_env is not None:
            return f"the {self.credentials_env.upper().rstrip('_')}_* environment variables"
        if self.credentials_file is not None:
            return f"credentials_file {self.credentials_file!r}"
        return "the exchange's terms (it wants credentials even for this public request)"

    # -- markets ------------------------------------------------------------------------------

    def load_markets(self) -> dict[str, Any]:
        """The exchange's markets (loaded once per process: ccxt keeps them)."""
        client = self.client()
        if client.markets:
            return client.markets
        return self._call(f"{self.exchange_id} markets", lambda c: c.load_markets())

    def symbols(self) -> list[str]:
        """Every symbol the exchange lists, in ccxt's unified form (``BTC/USDT``)."""
        return sorted(self.load_markets())

    def check_symbol(self, symbol: str) -> None:
        """Raise `SymbolNotFoundError` (with the closest listed names) unless the exchange lists
        `symbol`: a typo fails before anything is fetched."""
        markets = self.load_markets()
        if symbol not in markets:
            close = difflib.get_close_matches(symbol, list(markets), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else "; check the symbol's spelling"
            raise SymbolNotFoundError(f"symbol {symbol!r} not found on {self.exchange_id} "
                                      f"({len(markets)} markets listed){hint}")

    def timeframe(self, interval: str) -> int:
        """`interval`'s length in ms, once checked against farm's and the exchange's intervals."""
        if interval not in CANDLE_INTERVALS:
            raise PermanentDataError(f"unknown candle interval {interval!r}; farm's are {', '.join(CANDLE_INTERVALS)}")
        timeframes = getattr(self.client(), "timeframes", None) or {}
        if timeframes and interval not in timeframes:
            raise PermanentDataError(f"{self.exchange_id} has no {interval} candles; it has "
                                     f"{', '.join(t for t in timeframes if t in CANDLE_INTERVALS)}")
        return interval_ms(interval)

    # -- candles --------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.clock()) if self.clock is not None else int(time.time() * 1000)

    def closed_until(self, interval: str, now: int | None = None) -> int:
        """Candles opening before this have closed at `now` (default: this exchange's clock)."""
        step = interval_ms(interval)
        return (self.now_ms() if now is None else int(now)) // step * step

    def fetch_page(self, symbol: str, interval: str, since_ms: int, limit: int) -> CandleArrays:
        """One ``fetch_ohlcv`` request: the closed candles opening at or after `since_ms`, at most
        `limit` (the exchange may send fewer)."""
        step = self.timeframe(interval)
        closed = self.closed_until(interval)
        if since_ms >= closed:
            return CandleArrays.empty()
        self.check_symbol(symbol)

        def fetch(client: Any) -> list[list[Any]]:
            self.requests += 1
            return client.fetch_ohlcv(symbol, interval, since=int(since_ms), limit=int(min(limit, self.page_limit)))

        rows = self._call(f"{symbol} {interval} candles", fetch)
        return _rows_to_arrays(rows, since_ms, closed, step, f"{self.exchange_id} {symbol} {interval}")

    def get_arrays(self, symbol: str, interval: str, since: Any, limit: int) -> CandleArrays:
        """The first `limit` closed candles opening at or after `since` (the source contract)."""
        limit = check_limit(limit)
        since_ms = since_to_ms(since)
        step = self.timeframe(interval)
        pages: list[CandleArrays] = []
        have = 0
        while have < limit:
            page = self.fetch_page(symbol, interval, since_ms, limit - have)
            if not len(page):
                break
            page = head(page, limit - have)
            pages.append(page)
            have += len(page)
            since_ms = int(page.timestamp[-1]) + step
        return concat(pages)

    def get_candles(self, symbol: str, interval: str, since: Any, limit: int) -> pd.DataFrame:
        """`get_arrays` as the contract's DataFrame."""
        return arrays_to_frame(self.get_arrays(symbol, interval, since, limit))

    __call__ = get_candles

    def __repr__(self) -> str:
        where = f", api_url={self.api_url!r}" if self.api_url else ""
        if self.credentials_env is not None:
            where += f", credentials_env={self.credentials_env!r}"
        elif self.credentials_file is not None:
            where += ", credentials_file=<set>"
        return f"CcxtExchange({self.exchange_id!r}{where})"


def _rows_to_arrays(rows: Any, since_ms: int, closed: int, step: int, where: str) -> CandleArrays:
    """ccxt's ``[[ms, o, h, l, c, v], ...]`` -> column arrays, keeping open times in
    ``[since_ms, closed)`` (an exchange that returns the candle containing `since`, or the one
    still forming, has them dropped), sorted and unique as the contract wants."""
    if not isinstance(rows, list):
        raise PermanentDataError(f"{where}: fetch_ohlcv returned {type(rows).__name__}, not a list of rows")
    if not rows:
        return CandleArrays.empty()
    try:
        table = np.array([[r[0], r[1], r[2], r[3], r[4], r[5]] for r in rows], dtype=np.float64)
    except (TypeError, ValueError, IndexError) as exc:
        raise PermanentDataError(f"{where}: fetch_ohlcv rows are not [time, open, high, low, close, volume]: "
                                 f"{exc}") from None
    ts = table[:, 0].astype(np.int64)
    keep = (ts >= since_ms) & (ts < closed)
    ts, table = ts[keep], table[keep]
    order = np.argsort(ts, kind="stable")
    ts, table = ts[order], table[order]
    if len(ts) > 1:
        unique = np.concatenate(([True], np.diff(ts) > 0))
        ts, table = ts[unique], table[unique]
    if len(ts) and (ts % step).any():
        bad = int(ts[(ts % step) != 0][0])
        raise PermanentDataError(f"{where}: candle open time {bad} is not on the {step} ms grid")
    # ccxt gives None for a missing volume (some exchanges): a candle without volume weighs 0.
    volume = np.nan_to_num(table[:, 5], nan=0.0)
    return CandleArrays(np.ascontiguousarray(ts), *(np.ascontiguousarray(table[:, i]) for i in range(1, 5)),
                        np.ascontiguousarray(volume))


__all__ = ["CcxtExchange", "import_ccxt", "point_urls_at"]
