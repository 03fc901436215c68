"""The cache's layers, fastest first: an in-process LRU of decoded chunks, Redis (hot, shared by
every worker, expiring), and a cold store (S3 or local files, immutable chunks).

Redis is an accelerator, never a dependency: any Redis failure is counted, logged once, and the
caller carries on with the next layer; it is tried again after `retry_after` seconds
(`farm.breaker`: a hung Redis costs one 2 s timeout per process per `retry_after`, not one per call). The cold
store is where a chunk lives for good, so its errors are raised (after boto3's bounded retries).

The cache and the broker stay apart: every key this module writes lives under the cache's
prefix and carries a TTL, and it deletes only its own keys (one chunk that failed its checksum, a
lock it holds). It never flushes, never scans outside its prefix and never touches a queue. An
LRU eviction policy (`maxmemory-policy allkeys-lru`) on a Redis that also holds the broker's
queues could evict queued tasks, so the cache warns when it finds itself on such a server.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import redis

from farm.breaker import Breaker
from farm.cache.chunks import Chunk
from farm.cache.stats import STATS
from farm.persist import Store, StoreError
from farm.persist.file_store import FileStore
from farm.persist.store import describe, split_prefix
from farm.redact import mask_url

log = logging.getLogger("farm.cache")

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
          "else return 0 end")


class LruLayer:
    """Decoded chunks of this process, bounded by their total candle count."""

    def __init__(self, max_candles: int):
        self.max_candles = max_candles
        self._items: OrderedDict[str, Chunk] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Chunk | None:
        with self._lock:
            chunk = self._items.get(key)
            if chunk is not None:
                self._items.move_to_end(key)
            return chunk

    def put(self, key: str, chunk: Chunk) -> None:
        if self.max_candles <= 0:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= max(1, len(old))
            self._items[key] = chunk
            self._size += max(1, len(chunk))
            while self._size > self.max_candles and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._size -= max(1, len(dropped))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


class RedisLayer:
    """Chunks under `<prefix>:candles/...` with a sliding TTL, locks under `<prefix>:locks/...`,
    farm-wide counters in the hash `<prefix>:stats/cache`."""

    def __init__(self, url: str, *, ttl_seconds: int, broker_url: str | None = None, prefix: str | None = None,
                 retry_after: float = 30.0, socket_timeout: float = 2.0):
        base, self.prefix = split_prefix(url)
        self.prefix = prefix or self.prefix
        self.url = base
        self.where = mask_url(base)
        """The server for messages (its password masked)."""
        self.ttl_seconds = int(ttl_seconds)
        self.retry_after = retry_after
        self.client = redis.Redis.from_url(base, socket_timeout=socket_timeout, socket_connect_timeout=2.0)
        self._broker_url = broker_url
        self.breaker = Breaker(f"candle cache: Redis at {self.where}", log, open_for=retry_after,
                               consequence="going on without it (next layer: the cold store, then the exchange)")
        self._checked = False
        self._release = self.client.register_script(_RELEASE)
        self._renew = self.client.register_script(_RENEW)

    # -- keys and health ------------------------------------------------------------------------

    def key(self, chunk_key: str) -> str:
        return f"{self.prefix}:{chunk_key}"

    def lock_key(self, chunk_key: str) -> str:
        return f"{self.prefix}:locks/{chunk_key}"

    @property
    def stats_key(self) -> str:
        return f"{self.prefix}:stats/cache"

    @property
    def up(self) -> bool:
        return self.breaker.closed

    def failed(self, exc: BaseException) -> None:
        STATS.add("redis_errors")
        self.breaker.failure(exc)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one Redis operation; None (and the layer marked down) if Redis failed."""
        if not self.up:
            return None
        try:
            if not self._checked:
                self._checked = True
                self._check_broker()
            value = fn(*args, **kwargs)
        except redis.RedisError as exc:
            self._checked = False
            self.failed(exc)
            return None
        self.breaker.success()
        return value

    def _check_broker(self) -> None:
        """Warn when the cache shares a server with a Redis broker under an allkeys-* eviction
        policy: evicting cache keys there can evict queued tasks too."""
        if not self._broker_url or not self._broker_url.startswith(("redis://", "rediss://")):
            return
        mine, broker = urlparse(self.url), urlparse(self._broker_url)
        if (mine.hostname, mine.port or 6379) != (broker.hostname, broker.port or 6379):
            return
        try:
            policy = str(self.client.config_get("maxmemory-policy").get("maxmemory-policy", ""))
        except redis.ResponseError:  # CONFIG disabled (managed Redis): nothing to check
            return
        if policy.startswith("allkeys"):
            log.warning("candle cache: Redis %s is also the broker and evicts with %s: queued tasks can be "
                        "evicted; give the cache its own Redis (see deploy/compose.yaml) or use volatile-lru",
                        self.where, policy)

    # -- chunks ---------------------------------------------------------------------------------

    def get_many(self, chunk_keys: Sequence[str], batch: int = 32) -> list[bytes | None] | None:
        """Values of the chunks (None where missing), refreshing the TTL of each hit (hot chunks
        stay), in pipelined round trips; the farm-wide counters ride along. None if Redis failed."""
        out: list[bytes | None] = []
        for i in range(0, len(chunk_keys), batch):
            part = chunk_keys[i : i + batch]
            deltas = STATS.drain() if i == 0 else {}

            def run(part: Sequence[str] = part, deltas: dict[str, int] = deltas) -> list[Any]:
                pipe = self.client.pipeline(transaction=False)
                for k in part:
                    pipe.getex(self.key(k), ex=self.ttl_seconds)
                for name, n in deltas.items():
                    pipe.hincrby(self.stats_key, name, n)
                return pipe.execute()

            values = self._call(run)
            if values is None:
                STATS.undrain(deltas)
                return None
            out.extend(values[: len(part)])
        return out

    def iter_many(self, chunk_keys: Sequence[str], batch: int = 32) -> Iterator[tuple[Sequence[str], list[bytes | None]]]:
        """`get_many` batch by batch, so a long range never holds all its compressed chunks at
        once; small batches read faster (redis-py's reply buffer stays small). A read-ahead
        thread was measured slower: redis-py parses replies in Python, under the GIL the decoding
        also needs. Stops early if Redis fails: the keys not yielded are then not found here."""
        for i in range(0, len(chunk_keys), batch):
            part = chunk_keys[i : i + batch]
            values = self.get_many(part, batch)
            if values is None:
                return
            yield part, values

    def put(self, chunk_key: str, blob: bytes) -> bool:
        return self._call(self.client.set, self.key(chunk_key), blob, ex=self.ttl_seconds) is not None

    def put_many(self, blobs: dict[str, bytes]) -> None:
        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for k, blob in blobs.items():
                pipe.set(self.key(k), blob, ex=self.ttl_seconds)
            return pipe.execute()

        self._call(run)

    def delete(self, chunk_key: str) -> None:
        self._call(self.client.delete, self.key(chunk_key))

    def flush_stats(self) -> None:
        deltas = STATS.drain()
        if not deltas:
            return

        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for name, n in deltas.items():
                pipe.hincrby(self.stats_key, name, n)
            return pipe.execute()

        if self._call(run) is None:
            STATS.undrain(deltas)

    # -- locks (single flight across processes) ------------------------------------------------

    def acquire(self, chunk_key: str, token: str, ttl_ms: int) -> bool | None:
        """SET NX PX: True if this caller now holds the chunk's lock; None if Redis failed."""
        got = self._call(self.client.set, self.lock_key(chunk_key), token, nx=True, px=ttl_ms)
        if got is None and not self.up:
            return None
        return bool(got)

    def release(self, chunk_key: str, token: str) -> None:
        """Delete the lock only if it is still ours (it may have expired and been taken over)."""
        self._call(self._release, keys=[self.lock_key(chunk_key)], args=[token])

    def renew(self, chunk_key: str, token: str, ttl_ms: int) -> bool:
        return bool(self._call(self._renew, keys=[self.lock_key(chunk_key)], args=[token, ttl_ms]))

    def poll(self, chunk_keys: Sequence[str]) -> tuple[list[bytes | None], list[bool]] | None:
        """Values of the chunks and whether each is still locked, in one round trip (a plain GET:
        a waiter must not keep a chunk alive that nobody reads)."""

        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for k in chunk_keys:
                pipe.get(self.key(k))
            for k in chunk_keys:
                pipe.exists(self.lock_key(k))
            return pipe.execute()

        values = self._call(run)
        if values is None:
            return None
        n = len(chunk_keys)
        return values[:n], [bool(v) for v in values[n:]]

    # -- reporting ------------------------------------------------------------------------------

    def usage(self) -> dict[str, int]:
        """Chunk keys, their total MEMORY USAGE in bytes, and the farm-wide counters (raises)."""
        keys = list(self.client.scan_iter(match=f"{_escape(self.prefix)}:candles/*", count=1000))
        total = 0
        for i in range(0, len(keys), 500):
            pipe = self.client.pipeline(transaction=False)
            for k in keys[i : i + 500]:
                pipe.memory_usage(k, samples=0)
            total += sum(int(v or 0) for v in pipe.execute())
        counters = {k.decode(): int(v) for k, v in self.client.hgetall(self.stats_key).items()}
        return {"chunks": len(keys), "memory_bytes": total, **{f"farm_{k}": v for k, v in counters.items()}}


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class StoreLayer:
    """Immutable chunks in a `Store` (S3 or files); errors are raised with the cache named."""

    READERS = 16
    """Concurrent reads from a remote store: S3 answers each GET in milliseconds, so a year of
    day chunks read one by one would take seconds."""

    def __init__(self, store: Store):
        self.store = store
        self.url = describe(store)
        # Local files: read directly (a pathlib round per key costs more than the read itself).
        # Chunk keys come from `keys.candle_chunk`, whose user-given parts are quoted.
        self._root = str(store.root) if isinstance(store, FileStore) else None

    def get(self, chunk_key: str) -> bytes | None:
        if self._root is not None:
            try:
                with open(f"{self._root}/{chunk_key}", "rb") as f:
                    return f.read()
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as exc:
                raise StoreError(f"candle cache: {self.url}: cannot read {chunk_key!r}: {exc}") from exc
        try:
            return self.store.read(chunk_key)
        except StoreError as exc:
            raise StoreError(f"candle cache: {exc}") from exc

    def get_many(self, chunk_keys: Sequence[str]) -> list[bytes | None]:
        if self._root is not None or len(chunk_keys) <= 1:
            return [self.get(k) for k in chunk_keys]
        with ThreadPoolExecutor(min(self.READERS, len(chunk_keys)), thread_name_prefix="farm-cache-store") as pool:
            return list(pool.map(self.get, chunk_keys))

    def put(self, chunk_key: str, blob: bytes) -> None:
        try:
            self.store.write(chunk_key, blob)
        except StoreError as exc:
            raise StoreError(f"candle cache: {exc}") from exc

    def delete(self, chunk_key: str) -> None:
        try:
            self.store.delete(chunk_key)
        except StoreError as exc:
            raise StoreError(f"candle cache: {exc}") from exc
