"""Dead letters: what a worker refuses goes to the queue `<queue>.dead` (`farm.dead` for the
default queue), never back to the queue it came from and never into a crash.

A dead letter is a JSON message whose body is a record:

    {"reason": "...", "queue": "farm", "worker": "w1@host", "at": "2026-01-01T00:00:00+00:00",
     "task": "farm.run_job" | null, "id": "<task id>" | null, "content_type": "...",
     "headers": {...}, "body": "<the refused message's body, base64, at most 64 KiB>"}

With a Redis broker the queue is the list `farm.dead` (`LRANGE farm.dead 0 -1`; each entry is a
kombu envelope whose `body` is the record, base64); with RabbitMQ a durable queue of that name.
`dead_letters` reads them back (Redis). Nothing consumes the queue: an operator reads it, fixes
the sender, and deletes it.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
from datetime import UTC, datetime
from typing import Any

from kombu import Exchange, Producer, Queue

from farm.redact import mask_text

logger = logging.getLogger("farm.deadletter")

DEAD_SUFFIX = ".dead"
BODY_LIMIT = 64 * 1024
"""Bytes of a refused body kept in its dead letter (garbage can be large)."""


def dead_queue(queue: str) -> str:
    """The dead-letter queue of `queue`."""
    return f"{queue}{DEAD_SUFFIX}"


def record(reason: str, queue: str, *, body: bytes | str | None, headers: Any = None, content_type: Any = None,
           worker: str | None = None) -> dict[str, Any]:
    """A dead letter: why, from where, and the refused message (credentials masked in the headers)."""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else (body or b"")
    head = headers if isinstance(headers, dict) else {}
    try:
        shown = json.loads(mask_text(json.dumps(head, default=repr)))
    except (TypeError, ValueError):
        shown = {}
    return {
        "reason": mask_text(reason), "queue": queue, "worker": worker or socket.gethostname(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "task": head.get("task") if isinstance(head.get("task"), str) else None,
        "id": head.get("id") if isinstance(head.get("id"), str) else None,
        "content_type": content_type if isinstance(content_type, str) else None,
        "headers": shown, "body": base64.b64encode(raw[:BODY_LIMIT]).decode(),
    }


def send(channel: Any, queue: str, letter: dict[str, Any]) -> None:
    """Publish `letter` to `queue`'s dead-letter queue on `channel` (any kombu transport), and log
    the refusal once. A dead letter that cannot be published is logged and dropped: a worker
    never dies of, nor loops on, a message it refused."""
    target = dead_queue(queue)
    logger.error("refused a message on queue %r (task %s, id %s): %s; moved to %r", queue, letter.get("task"),
                  letter.get("id"), letter["reason"], target)
    try:
        Producer(channel).publish(
            letter, exchange="", routing_key=target, serializer="json",
            declare=[Queue(target, Exchange(""), routing_key=target, durable=True)],
        )
    except Exception as exc:  # noqa: BLE001 - the refusal stands even if the letter is lost
        logger.error("could not publish the dead letter to %r: %s: %s", target, type(exc).__name__, exc)


def dead_letters(broker_url: str, queue: str, limit: int = 100) -> list[dict[str, Any]]:
    """The newest `limit` dead letters of `queue` on a Redis broker, oldest first (a peek: they
    stay in the queue)."""
    import redis

    from farm.persist.store import split_prefix

    base, _ = split_prefix(broker_url)
    client = redis.Redis.from_url(base, socket_timeout=5, socket_connect_timeout=5)
    try:
        entries = client.lrange(dead_queue(queue), 0, limit - 1)
    finally:
        client.close()
    letters = []
    for entry in reversed(entries):
        envelope = json.loads(entry)
        letters.append(json.loads(base64.b64decode(envelope["body"])))
    return letters


__all__ = ["DEAD_SUFFIX", "dead_letters", "dead_queue", "record", "send"]
