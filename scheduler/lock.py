"""One run per batch night, however many beats, workers or `farm batch run`s start it.

The lock is a redis-py `Lock` (a key with an expiry, released by its owner only) on FARM_REDIS_URL,
else on the broker when it is Redis: two beats that both send the night's task, or a task
redelivered while it still runs, find it held and return at once. Its holder renews it every
`LOCK_SECONDS / 3` from a thread, so a holder that died (a killed worker) frees the night within
`LOCK_SECONDS`, and beat's next send runs it, skipping the jobs already stored. The archive's summary (written
last) then makes every later attempt for the night a no-op. With no Redis reachable, the night
runs unlocked and says so in the log: run one beat per farm then.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import urlparse

from redis.exceptions import LockError

from farm.config import get_settings
from farm.persist.store import split_prefix

logger = logging.getLogger(__name__)

LOCK_SECONDS = 120
"""The lock's expiry, renewed while its holder lives."""


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
    # thread_local=False: the renewing thread needs the token the acquiring one got.
    lock = client.lock(f"farm:batch-lock:{batch}:{night.isoformat()}", timeout=LOCK_SECONDS, blocking=False,
                       thread_local=False)
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        logger.warning("batch %s %s: the lock's Redis is unreachable (%s); running unlocked", batch, night, exc)
        yield True
        return
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lock, stop), name=f"batch-lock-{batch}", daemon=True)
    if acquired:
        renewer.start()
    try:
        yield acquired
    finally:
        if acquired:
            stop.set()
            renewer.join()
            with contextlib.suppress(redis.RedisError, LockError):
                lock.release()
        client.close()


def _renew(lock: Any, stop: threading.Event) -> None:
    """Reset the lock's expiry every third of it until `stop`; a Redis hiccup is retried."""
    while not stop.wait(LOCK_SECONDS / 3):
        try:
            lock.reacquire()
        except LockError:
            logger.error("the batch lock %s was lost (expired or taken over)", lock.name)
            return
        except Exception:  # noqa: BLE001 - renewal retries at the next interval
            logger.warning("renewing the batch lock %s failed", lock.name, exc_info=True)
