"""The `Store` protocol and `open_store(url)`.

A store maps string keys (`/`-separated, see `farm.persist.keys`) to bytes. Writes are atomic
from a reader's point of view: a reader sees the old value or the new one, never a part.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from farm.errors import FarmError


class StoreError(FarmError):
    """A store that cannot be reached, read or written; the message names the store and key.

    `transient` is True when the store may answer later (a connection refused or reset, a
    timeout, a 5xx or a throttling reply): whoever holds a record waits and tries again rather
    than giving the record up. A refusal (access denied, no such bucket) is not transient."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@runtime_checkable
class Store(Protocol):
    url: str

    def read(self, key: str) -> bytes | None: ...

    def write(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[str]: ...


def describe(store: Store) -> str:
    """How a store reads in messages and logs: its URL with any password masked, and where the
    URL does not say it (an S3 endpoint) the server it reaches."""
    from farm.redact import mask_url

    return getattr(store, "where", None) or mask_url(store.url)


def check_key(key: str) -> str:
    """Keys are relative paths without `..`, so no store can be steered outside its root."""
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        raise StoreError(f"invalid store key {key!r}: use non-empty '/'-separated names without '.' or '..'")
    return key


def split_prefix(url: str, default: str = "farm") -> tuple[str, str]:
    """`redis://h:p/db?prefix=P` → (`redis://h:p/db`, `P`): the same URL form as `open_store`,
    with the prefix removed before redis-py sees it (it would pass it to the connection)."""
    parsed = urlparse(url)
    query = parse_qsl(parsed.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), default) or default
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunparse(parsed._replace(query=rest)), prefix


def open_store(url: str) -> Store:
    """`file://PATH`, `redis://HOST:PORT/DB[?prefix=P]` or `s3://BUCKET/PREFIX` (endpoint from
    FARM_S3_ENDPOINT_URL, credentials from the environment as boto3 reads them).

    `open_store(store.url)` reaches the same keys as `store` (given the same settings): the URL
    is a store's identity, with nothing else appended."""
    from farm.redact import mask_url

    parsed = urlparse(url)
    if parsed.scheme == "file":
        from farm.persist.file_store import FileStore

        return FileStore(parsed.netloc + parsed.path if parsed.netloc not in ("", "localhost") else parsed.path)
    if parsed.scheme in ("redis", "rediss", "unix"):
        from farm.persist.redis_store import RedisStore

        base, prefix = split_prefix(url)
        return RedisStore(base, prefix=prefix)
    if parsed.scheme == "s3":
        from farm.persist.s3_store import S3Store

        if not parsed.netloc:
            raise StoreError(f"store URL {mask_url(url)!r} names no bucket (s3://BUCKET/PREFIX)")
        return S3Store(parsed.netloc, prefix=parsed.path.strip("/"))
    raise StoreError(f"unsupported store URL {mask_url(url)!r}: use file://PATH, redis://HOST:PORT/DB or s3://BUCKET/PREFIX")
