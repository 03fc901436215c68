"""Which stores a process may write to: its own configuration decides, never a message.

A farm task names the store its coordinator follows by `store_name` (the store's URL with any
password masked: a message never carries a credential). A worker accepts the name only when it
is one of its *known* stores (its default store, and FARM_STORES), and then opens the URL from
its own configuration; anything else raises `UnknownStoreError`. So whoever can publish to the
broker can neither point a worker at another folder, bucket or Redis, nor learn a password.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from farm.config import FarmSettings, get_settings
from farm.persist.store import Store, StoreError, split_prefix
from farm.redact import mask_url


class UnknownStoreError(StoreError):
    """A task named a store this worker is not configured to write to."""


def default_store_url(settings: FarmSettings | None = None) -> str:
    """Where results live: S3 when FARM_S3_BUCKET is set (workers on many hosts), else files
    under FARM_DATA_DIR (one machine, the embedded default). Redis holds no results: a cache's
    eviction policy must never be able to drop them."""
    settings = settings or get_settings()
    if settings.s3_bucket:
        return f"s3://{settings.s3_bucket}/{settings.s3_prefix.strip('/')}"
    return f"file://{Path(settings.data_dir).resolve() / 'store'}"


def canonical_url(url: str) -> str:
    """The URL `open_store(url).url` would have, without opening anything: a file path resolved,
    an S3 prefix without its slashes, a Redis URL with its `?prefix=`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = parsed.netloc + parsed.path if parsed.netloc not in ("", "localhost") else parsed.path
        return f"file://{Path(path).expanduser().resolve()}"
    if parsed.scheme == "s3":
        return f"s3://{parsed.netloc}/{parsed.path.strip('/')}"
    if parsed.scheme in ("redis", "rediss", "unix"):
        base, prefix = split_prefix(url)
        return f"{base}?prefix={prefix}"
    return url


def store_name(store: Store) -> str:
    """How a task message names `store`: its URL, password masked."""
    return mask_url(store.url)


def known_store_urls(settings: FarmSettings | None = None) -> list[str]:
    """This process's own stores: the default one first, then FARM_STORES (canonical URLs)."""
    settings = settings or get_settings()
    extra = [u.strip() for u in settings.stores.split(",") if u.strip()]
    return list(dict.fromkeys(canonical_url(u) for u in [default_store_url(settings), *extra]))


def resolve_store_url(name: str | None, settings: FarmSettings | None = None) -> str:
    """The configured URL of the store a message names (None: the default store). Exact match on
    the masked canonical URL; a known `file://DIR` also admits the directories under DIR."""
    known = known_store_urls(settings)
    if name is None:
        return known[0]
    wanted = canonical_url(name)
    for url in known:
        if mask_url(url) == wanted:
            return url
    if wanted.startswith("file://"):
        path = Path(wanted[len("file://"):])
        for url in known:
            if url.startswith("file://") and path.is_relative_to(Path(url[len("file://"):])):
                return wanted
    raise UnknownStoreError(
        f"store {mask_url(name)!r} is not one of this worker's stores ({', '.join(map(mask_url, known))}); "
        f"configure it with FARM_S3_BUCKET/FARM_DATA_DIR or FARM_STORES on the worker"
    )


__all__ = ["UnknownStoreError", "canonical_url", "default_store_url", "known_store_urls", "resolve_store_url",
           "store_name"]
