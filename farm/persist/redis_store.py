"""Redis: values under `<prefix>:<key>`; SET is atomic, so readers see whole values."""

from __future__ import annotations

from collections.abc import Iterator

import redis

from farm.persist.store import StoreError, check_key
from farm.redact import mask_url


class RedisStore:
    def __init__(self, url: str, *, prefix: str = "farm", socket_timeout: float = 5.0):
        self.url = f"{url}?prefix={prefix}"
        self.where = mask_url(self.url)
        """The store for messages (its password masked)."""
        self.prefix = prefix
        self._args = (url, prefix, socket_timeout)
        self.client = redis.Redis.from_url(url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickles as its configuration: the receiving process opens its own connections."""
        url, prefix, socket_timeout = self._args
        return (_reopen, (url, prefix, socket_timeout))

    def _k(self, key: str) -> str:
        return f"{self.prefix}:{check_key(key)}"

    def _call(self, what: str, key: str, fn, *args):  # type: ignore[no-untyped-def]
        try:
            return fn(*args)
        except redis.RedisError as exc:
            transient = isinstance(exc, (redis.ConnectionError, redis.TimeoutError))
            raise StoreError(f"{self.where}: cannot {what} {key!r}: {exc}", transient=transient) from exc

    def read(self, key: str) -> bytes | None:
        return self._call("read", key, self.client.get, self._k(key))

    def write(self, key: str, data: bytes) -> None:
        self._call("write", key, self.client.set, self._k(key), data)

    def delete(self, key: str) -> None:
        self._call("delete", key, self.client.delete, self._k(key))

    def exists(self, key: str) -> bool:
        return bool(self._call("check", key, self.client.exists, self._k(key)))

    def list(self, prefix: str = "") -> Iterator[str]:
        start = len(self.prefix) + 1
        pattern = f"{_escape(self.prefix)}:{_escape(prefix)}*"
        keys = self._call("list", prefix or "*", lambda: list(self.client.scan_iter(match=pattern, count=1000)))
        return iter(sorted(k.decode()[start:] for k in keys))


def _reopen(url: str, prefix: str, socket_timeout: float) -> RedisStore:
    return RedisStore(url, prefix=prefix, socket_timeout=socket_timeout)


def _escape(text: str) -> str:
    """SCAN's MATCH is a glob: escape its special characters in a literal prefix."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
