"""Raw broker traffic for the fault tests: kombu envelopes as the Redis transport stores them,
built by hand so a test can push exactly the garbage it means (redis-py, no Celery)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any


def envelope(queue: str, body: bytes, *, content_type: str = "application/json",
             headers: dict[str, Any] | None = None) -> str:
    """A queue entry kombu's Redis transport would deliver: `body` base64, the given headers."""
    return json.dumps({
        "body": base64.b64encode(body).decode(), "content-encoding": "utf-8", "content-type": content_type,
        "headers": headers or {},
        "properties": {"delivery_tag": uuid.uuid4().hex, "body_encoding": "base64", "priority": 0,
                       "delivery_info": {"exchange": "", "routing_key": queue}},
    })


def task_headers(task: str = "farm.run_job", task_id: str | None = None) -> dict[str, Any]:
    return {"lang": "py", "task": task, "id": task_id or uuid.uuid4().hex, "retries": 0, "argsrepr": "",
            "kwargsrepr": "", "root_id": None, "parent_id": None, "group": None}


def task_message(queue: str, task: str, args: list[Any], kwargs: dict[str, Any] | None = None,
                 task_id: str | None = None) -> str:
    """A well-formed protocol-2 task message."""
    body = json.dumps([args, kwargs or {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    return envelope(queue, body.encode(), headers=task_headers(task, task_id))


def poison(queue: str) -> dict[str, str]:
    """The five kinds of garbage of issue 14 point 3, by name."""
    return {
        "not JSON": "this is not json",
        "wrong content type": envelope(queue, b"\x80\x04K\x01.", content_type="application/x-python-serialize",
                                       headers=task_headers()),
        "JSON of the wrong shape": json.dumps([1, 2, 3]),
        "empty body": envelope(queue, b"{}", headers=task_headers()),
        "unknown task": task_message(queue, "no.such.task", []),
    }
