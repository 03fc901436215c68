"""A sweep's status record in Redis (when FARM_REDIS_URL is set), readable by any client:

    farm:sweep:<id>          hash: walker, total, symbols, strategies
    farm:sweep:<id>:done     set of task keys with a stored result
    farm:sweep:<id>:failed   set of task keys with a stored failure

Sets make it idempotent: a redelivered or re-run task adds its key once. The record is a
convenience for dashboards; the result store stays the truth (`farm status` falls back to it),
so a Redis that is down or evicted the record costs nothing but the shortcut.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

from farm.breaker import Breaker
from farm.config import get_settings
from farm.persist.store import split_prefix
from farm.redact import mask_url

log = logging.getLogger("farm.status")
TTL_SECONDS = 30 * 24 * 3600


def _client():  # type: ignore[no-untyped-def]
    """The record's Redis client, or None without FARM_REDIS_URL or while its breaker is open
    (a Redis that failed is skipped for a while: a hung one must not cost a timeout per job)."""
    url = get_settings().redis_url
    if not url:
        return None
    base, _ = split_prefix(url)  # the cache's ?prefix= is not a redis-py option
    client, breaker = _client_for(base)
    return client if breaker.closed else None


def _breaker() -> Breaker | None:
    url = get_settings().redis_url
    return _client_for(split_prefix(url)[0])[1] if url else None


def _failed(exc: BaseException) -> None:
    breaker = _breaker()
    if breaker is not None:
        breaker.failure(exc)


def _answered() -> None:
    breaker = _breaker()
    if breaker is not None:
        breaker.success()


@functools.lru_cache(maxsize=8)
def _client_for(url: str):  # type: ignore[no-untyped-def]
    """One client (one connection pool) and breaker per URL and process: a worker marks every
    task it runs, and a new connection per mark cost more than the mark. redis-py pools
    reconnect after a fork."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client, Breaker(f"sweep status record: Redis at {mask_url(url)}", log,
                           consequence="sweeps go on and `farm status` reads the result store")


def key(sweep_id: str) -> str:
    return f"farm:sweep:{sweep_id}"


def open_record(sweep_id: str, *, walker_name: str, total: int, symbols: int, strategies: int,
                stored: Iterable[str] = (), pending: Iterable[str] = ()) -> None:
    """At submission: what the sweep is, the tasks already stored (a re-run's skipped ones), and
    the tasks about to run (whatever the record said of them before is dropped)."""
    client = _client()
    if client is None:
        return
    try:
        pipe = client.pipeline()
        pipe.hset(key(sweep_id), mapping={"walker": walker_name, "total": total, "symbols": symbols,
                                          "strategies": strategies})
        stored = list(stored)
        if stored:
            pipe.sadd(f"{key(sweep_id)}:done", *stored)
        pending = list(pending)
        if pending:  # an earlier run's outcome of the jobs about to run again is no longer theirs
            pipe.srem(f"{key(sweep_id)}:failed", *pending)
            pipe.srem(f"{key(sweep_id)}:done", *pending)
        for suffix in ("", ":done", ":failed"):
            pipe.expire(f"{key(sweep_id)}{suffix}", TTL_SECONDS)
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - best effort, the store is the truth
        _failed(exc)
        return
    _answered()


def mark(sweep_id: str, task_key: str, *, ok: bool) -> None:
    """After a task's record is stored (by a worker or a local pool process)."""
    client = _client()
    if client is None:
        return
    try:
        pipe = client.pipeline()
        pipe.sadd(f"{key(sweep_id)}:{'done' if ok else 'failed'}", task_key)
        if ok:
            pipe.srem(f"{key(sweep_id)}:failed", task_key)  # a retried task that now succeeded
        pipe.expire(f"{key(sweep_id)}:{'done' if ok else 'failed'}", TTL_SECONDS)
        pipe.execute()
    except Exception as exc:  # noqa: BLE001
        _failed(exc)
        return
    _answered()


def members(sweep_id: str) -> tuple[set[str], set[str]] | None:
    """(done keys, failed keys) as the record has them, or None without a readable record."""
    client = _client()
    if client is None:
        return None
    try:
        pipe = client.pipeline()
        pipe.exists(key(sweep_id))
        pipe.smembers(f"{key(sweep_id)}:done")
        pipe.smembers(f"{key(sweep_id)}:failed")
        exists, done, failed = pipe.execute()
    except Exception as exc:  # noqa: BLE001
        _failed(exc)
        return None
    _answered()
    if not exists:
        return None
    return {k.decode() for k in done}, {k.decode() for k in failed}


def repair(sweep_id: str, *, done: Iterable[str] = (), failed: Iterable[str] = ()) -> None:
    """Put back what the store holds and the record missed (a mark lost while Redis was away,
    an evicted set): the record is a view of the store, rebuilt from it."""
    client = _client()
    done, failed = list(done), list(failed)
    if client is None or not (done or failed):
        return
    try:
        pipe = client.pipeline()
        if done:
            pipe.sadd(f"{key(sweep_id)}:done", *done)
            pipe.srem(f"{key(sweep_id)}:failed", *done)
        if failed:
            pipe.sadd(f"{key(sweep_id)}:failed", *failed)
        for suffix in (":done", ":failed"):
            pipe.expire(f"{key(sweep_id)}{suffix}", TTL_SECONDS)
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - a view: repaired next time
        _failed(exc)


def read(sweep_id: str) -> tuple[int, int, int] | None:
    """(total, done, failed) from Redis, or None when there is no record to read."""
    client = _client()
    if client is None:
        return None
    try:
        pipe = client.pipeline()
        pipe.hget(key(sweep_id), "total")
        pipe.scard(f"{key(sweep_id)}:done")
        pipe.scard(f"{key(sweep_id)}:failed")
        total, done, failed = pipe.execute()
    except Exception as exc:  # noqa: BLE001
        _failed(exc)
        return None
    _answered()
    if total is None:
        return None
    return int(total), int(done), int(failed)
