"""One run per batch night, however many beats, workers or `farm batch run`s start it.

The lock is a redis-py `Lock` (a key with an expiry, released by its owner only) on FARM_REDIS_URL,
else on the broker when it is Redis: two beats that both send the night's task, or a task
redelivered while it still runs, find it held and return at once. The archive's summary (written
last) then makes every later attempt for the night a no-op. With no Redis reachable, the night
runs unlocked and says so in the log: run one beat per farm then.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import urlparse

from farm.config import get_settings
from farm.persist.store import split_prefix

logger = logging.getLogger(__name__)

LOCK_SECONDS = 12 * 3600
"""Longer than any night's sweep; a holder that died frees the night after this long."""


def lock_url() -> str | None:
    settings = get_settings()
    if settings.redis_url:
        return split_prefix(settings.redis_url)[0]
    if urlparse(settings.broker_url).scheme in ("redis", "rediss", "unix"):
        return settings.broker_url
    return None


@contextlib.contextmanager
def night_lock(batch: str, night: date, store: Any = None) -> Iterator[bool]:
    """Yields True while this process holds the night, False when another one does."""
    import redis

    url = lock_url()
    if url is None:
        logger.warning("batch %s %s: no Redis for the night's lock; running unlocked", batch, night)
        yield True
        return
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    lock = client.lock(f"farm:batch-lock:{batch}:{night.isoformat()}", timeout=LOCK_SECONDS, blocking=False)
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        logger.warning("batch %s %s: the lock's Redis is unreachable (%s); running unlocked", batch, night, exc)
        yield True
        return
    try:
        yield acquired
    finally:
        if acquired:
            with contextlib.suppress(redis.RedisError):
                lock.release()
        client.close()
