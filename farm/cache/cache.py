"""The layered read-through candle cache: LRU → Redis → cold store → the exchange, by UTC day.

A chunk is the candles one (exchange, symbol, interval) has for one closed UTC day, exactly as
the exchange's `get_candles` returned them (paged through `ExchangeClient.fetch_checked`, so the
retries and checks are the engine's own), with the flagged candles in its metadata. Closed days
never change, so a chunk is written once and read everywhere; the day still forming is never
cached (the engine pages it from the exchange as it always did).

Single flight: when many workers miss the same chunk at once, exactly one fills it. With Redis,
a lock per chunk (SET NX PX with a random token, renewed while the fill runs, released only by
its holder); the others poll the chunk key and take over if the lock disappears without a chunk
(a crashed holder's lock simply expires). Without Redis, a lock per chunk inside the process.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from farm.cache.chunks import (
    DAY_MS,
    FAR,
    Chunk,
    ChunkError,
    closed_until,
    concat,
    day_name,
    decode,
    encode,
    slice_range,
)
from farm.cache.layers import LruLayer, RedisLayer, StoreLayer
from farm.cache.stats import STATS
from farm.config import get_config
from farm.intervals import interval_ms
from farm.models import CandleArrays
from farm.persist import keys
from farm.persist.store import describe

if TYPE_CHECKING:
    from farm.engine.exchange import ExchangeClient

log = logging.getLogger("farm.cache")


class CandleCache:
    def __init__(self, *, store: StoreLayer, redis: RedisLayer | None = None, lru_candles: int = 1_000_000,
                 lock_ttl_ms: int = 30_000, lock_wait_seconds: float = 300.0, poll_seconds: float = 0.02):
        self.store = store
        self.redis = redis
        self.lru = LruLayer(lru_candles)
        self.lock_ttl_ms = int(lock_ttl_ms)
        self.lock_wait_seconds = lock_wait_seconds
        self.poll_seconds = poll_seconds
        self._guard = threading.Lock()
        self._local: dict[str, _LocalLock] = {}

    def describe(self) -> str:
        layers = ["lru"] + ([f"redis {self.redis.where} (prefix {self.redis.prefix})"] if self.redis else [])
        return " -> ".join([*layers, f"store {describe(self.store)}", "source"])

    # -- what the engine calls ------------------------------------------------------------------

    @staticmethod
    def closed_until(step_ms: int, now: int) -> int:
        """Open times before this are in closed days, the only ones the cache holds."""
        return closed_until(step_ms, now)

    @staticmethod
    def note_forming() -> None:
        STATS.add("forming")

    def read_range(self, client: ExchangeClient, symbol: str, interval: str, start: int,
                   end: int) -> tuple[list[CandleArrays], dict[int, str]]:
        """Candles with open time in `[start, end)` (whole closed days only: the caller keeps
        `end` at or before `chunks.closed_until`), as per-day pages, and their flagged candles."""
        if end <= start:
            return [], {}
        first = start // DAY_MS * DAY_MS
        days = list(range(first, end, DAY_MS))
        chunks = self.chunks(client, symbol, interval, days)
        pages: list[CandleArrays] = []
        problems: dict[int, str] = {}
        for day, chunk in zip(days, chunks, strict=True):
            lo, hi = max(start, day), min(end, day + DAY_MS)
            part = slice_range(chunk.arrays, lo, hi)
            if len(part):
                pages.append(part)
            problems.update({t: m for t, m in chunk.problems.items() if lo <= t < hi})
        return pages, problems

    def chunks(self, client: ExchangeClient, symbol: str, interval: str, days: Sequence[int]) -> list[Chunk]:
        """The chunks of these (closed) days, from the fastest layer that has each."""
        if days and max(days) + DAY_MS > closed_until(interval_ms(interval), int(time.time() * 1000)):
            raise ValueError(f"the day {day_name(max(days))} is not closed yet: it cannot be cached")
        ckeys = [keys.candle_chunk(client.name, symbol, interval, day_name(d)) for d in days]
        found: dict[str, Chunk] = {}
        for k in ckeys:
            chunk = self.lru.get(k)
            if chunk is not None:
                found[k] = chunk
                STATS.add("lru")
        missing = [k for k in dict.fromkeys(ckeys) if k not in found]
        if missing and self.redis is not None:
            hits = 0
            for part, blobs in self.redis.iter_many(missing):
                for k, blob in zip(part, blobs, strict=True):
                    chunk = self._decode_redis(k, blob) if blob is not None else None
                    if chunk is not None:
                        found[k] = chunk
                        hits += 1
            STATS.add("redis", hits)
            missing = [k for k in missing if k not in found]
        if missing:
            found.update(self._from_store_many(missing))
            missing = [k for k in missing if k not in found]
        if missing:
            by_key = dict(zip(ckeys, days, strict=True))
            fill = _Fill(self, client, symbol, interval, by_key)
            found.update(fill.run(missing))
        return [found[k] for k in ckeys]

    # -- layers ---------------------------------------------------------------------------------

    def _decode_redis(self, key: str, blob: bytes) -> Chunk | None:
        try:
            chunk = decode(blob, key)
        except ChunkError as exc:
            STATS.add("corrupt")
            log.warning("candle cache: dropping a corrupted chunk from Redis: %s", exc)
            assert self.redis is not None
            self.redis.delete(key)
            return None
        self.lru.put(key, chunk)
        return chunk

    def _from_store(self, key: str, blob: bytes | None = None) -> tuple[Chunk, bytes] | None:
        blob = self.store.get(key) if blob is None else blob
        if blob is None:
            return None
        try:
            chunk = decode(blob, key)
        except ChunkError as exc:
            STATS.add("corrupt")
            log.warning("candle cache: dropping a corrupted chunk from %s: %s", describe(self.store), exc)
            self.store.delete(key)
            return None
        STATS.add("store")
        return chunk, blob

    def _from_store_many(self, ckeys: list[str]) -> dict[str, Chunk]:
        """The cold store's chunks among `ckeys`, read without locks (reading twice is harmless;
        only the source is single-flight) and promoted to Redis in one round trip."""
        found: dict[str, Chunk] = {}
        promote: dict[str, bytes] = {}
        for k, blob in zip(ckeys, self.store.get_many(ckeys), strict=True):
            got = self._from_store(k, blob) if blob is not None else None
            if got is not None:
                found[k] = got[0]
                promote[k] = got[1]
                self.lru.put(k, got[0])
        if promote and self.redis is not None:
            self.redis.put_many(promote)
        return found

    def load(self, client: ExchangeClient, symbol: str, interval: str, day: int, key: str) -> Chunk:
        """Fill one chunk below Redis: the cold store, else the source (then written to the cold
        store); in both cases promoted to Redis and the LRU. The caller holds the chunk's lock."""
        got = self._from_store(key)
        if got is None:
            chunk = fetch_day(client, symbol, interval, day)
            blob = encode(chunk, key)
            self.store.put(key, blob)  # the durable copy first: Redis may evict, S3 keeps
        else:
            chunk, blob = got
        if self.redis is not None:
            self.redis.put(key, blob)
        self.lru.put(key, chunk)
        return chunk

    @contextmanager
    def local_lock(self, key: str) -> Iterator[None]:
        """Single flight inside this process: one lock per chunk, dropped when nobody uses it."""
        with self._guard:
            entry = self._local.get(key)
            if entry is None:
                entry = self._local[key] = _LocalLock()
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._guard:
                entry.users -= 1
                if entry.users == 0:
                    self._local.pop(key, None)


class _LocalLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0


class _Fill:
    """Fill the missing chunks of one request, one lock at a time, fetching the chunks nobody else
    is fetching and waiting for the ones others are: many workers missing many days split them."""

    def __init__(self, cache: CandleCache, client: ExchangeClient, symbol: str, interval: str,
                 days: dict[str, int]):
        self.cache, self.client, self.symbol, self.interval, self.days = cache, client, symbol, interval, days

    def run(self, missing: list[str]) -> dict[str, Chunk]:
        redis = self.cache.redis
        if redis is None or not redis.up:
            return {k: self._local(k) for k in missing}
        done: dict[str, Chunk] = {}
        pending = list(missing)
        free = set(pending)  # chunks whose lock may be free: try to take it
        deadline = time.monotonic() + self.cache.lock_wait_seconds
        pause = self.cache.poll_seconds
        while pending:
            for k in [k for k in pending if k in free]:
                token = secrets.token_hex(16)
                held = redis.acquire(k, token, self.cache.lock_ttl_ms)
                if held is None:  # Redis went away: the rest inside this process only
                    return done | {k2: self._local(k2) for k2 in pending}
                if held:
                    try:
                        done[k] = self._filled_locked(k, token)
                    finally:
                        redis.release(k, token)
                    pending.remove(k)
                    deadline = time.monotonic() + self.cache.lock_wait_seconds
            if not pending:
                break
            polled = redis.poll(pending)
            if polled is None:
                return done | {k2: self._local(k2) for k2 in pending}
            free = set()
            for k, blob, locked in zip(list(pending), *polled, strict=True):
                chunk = self.cache._decode_redis(k, blob) if blob is not None else None
                if chunk is not None:
                    STATS.add("redis")
                    STATS.add("waited")
                    done[k] = chunk
                    pending.remove(k)
                    deadline = time.monotonic() + self.cache.lock_wait_seconds
                    pause = self.cache.poll_seconds
                elif not locked:  # the holder finished without a chunk, or died: take over
                    free.add(k)
            if pending and not free:
                if time.monotonic() > deadline:
                    log.warning("candle cache: waited %.0f s for %d chunk(s) another worker is fetching; "
                                "fetching them here", self.cache.lock_wait_seconds, len(pending))
                    return done | {k2: self._local(k2) for k2 in pending}
                time.sleep(pause)
                pause = min(pause * 1.5, 0.25)
        return done

    def _filled_locked(self, key: str, token: str) -> Chunk:
        """Holding the Redis lock: check Redis again (filled between our miss and the lock), then
        fill, renewing the lock while the fill runs so a slow exchange does not lose it."""
        redis = self.cache.redis
        assert redis is not None
        blobs = redis.get_many([key])
        if blobs and blobs[0] is not None:
            chunk = self.cache._decode_redis(key, blobs[0])
            if chunk is not None:
                STATS.add("redis")
                return chunk
        with _Renewer(lambda: redis.renew(key, token, self.cache.lock_ttl_ms), self.cache.lock_ttl_ms / 3000):
            return self.cache.load(self.client, self.symbol, self.interval, self.days[key], key)

    def _local(self, key: str) -> Chunk:
        with self.cache.local_lock(key):
            chunk = self.cache.lru.get(key)
            if chunk is not None:
                STATS.add("lru")
                return chunk
            return self.cache.load(self.client, self.symbol, self.interval, self.days[key], key)


class _Renewer:
    """A daemon thread extending a held lock every `every` seconds until the block ends (a killed
    process takes the thread with it, so its lock still expires)."""

    def __init__(self, renew: Callable[[], bool], every: float):
        self.renew, self.every = renew, max(every, 0.05)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="farm-cache-lock", daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(self.every):
            if not self.renew():
                return

    def __enter__(self) -> _Renewer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def fetch_day(client: ExchangeClient, symbol: str, interval: str, day: int) -> Chunk:
    """The day's candles from the exchange, paged like the engine pages (at most
    `candle_page_limit` per request, never asking past the day's end)."""
    step = interval_ms(interval)
    limit = int(get_config().candle_page_limit)
    end = day + DAY_MS
    pages: list[CandleArrays] = []
    problems: dict[int, str] = {}
    since = day
    STATS.add("source")
    while since < end:
        n = min(limit, -(-(end - since) // step))
        STATS.add("source_requests")
        page, flagged = client.fetch_checked(symbol, interval, since, n)
        page = slice_range(page, since, FAR)
        if not len(page):
            since += n * step
            continue
        inside = slice_range(page, since, end)
        problems.update({t: m for t, m in flagged.items() if since <= t < end})
        if len(inside):
            pages.append(inside)
        if len(inside) < len(page):
            break
        since = int(inside.timestamp[-1]) + step
    return Chunk(concat(pages), problems)
