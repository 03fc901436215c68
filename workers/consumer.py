"""The worker's consumer: every message is checked before Celery builds a request from it.

Celery trusts a message's shape: a task message whose body is not `[args, kwargs, embed]`
raised while the request was built and stopped the worker, and with late acknowledgement the
message went back to the queue to stop the next worker too. Here a message that is not a farm
task this worker can run (see `message_problem`) is acknowledged, logged once and moved to the
dead-letter queue (`workers.deadletter`); so is one that still makes Celery raise. The worker
goes on with the next message.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer

from farm.persist.known import UnknownStoreError, resolve_store_url
from workers import deadletter

logger = logging.getLogger(__name__)

JSON = "application/json"
FARM_ARGS = {"farm.run_job": dict, "farm.run_block": list}
"""Each farm task's first argument: one job (an object) or a block of them (a list)."""


def body_problem(name: str, body: Any) -> str | None:
    """Why a decoded task body cannot be a call of farm task `name`, or None."""
    if not (isinstance(body, (list, tuple)) and len(body) == 3):
        return "a body that is not [args, kwargs, embed]"
    args, kwargs, embed = body
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict) or not isinstance(embed, (dict, type(None))):
        return "a body whose args, kwargs or embed have the wrong type"
    if name not in FARM_ARGS:
        return None
    if not 2 <= len(args) <= 3 or not set(kwargs) <= {"sweep_id"} or len(args) + len(kwargs) > 3:
        return f"arguments that do not fit {name}(jobs, store, sweep_id=None)"
    if not isinstance(args[0], FARM_ARGS[name]) or not (args[1] is None or isinstance(args[1], str)):
        return f"arguments that do not fit {name}(jobs, store, sweep_id=None)"
    try:
        resolve_store_url(args[1])
    except UnknownStoreError as exc:
        return f"a task naming a store this worker does not write to: {exc}"
    return None


def message_problem(message: Any, tasks: Any) -> str | None:
    """Why `message` is not a task this worker can run, or None."""
    headers = message.headers
    if not isinstance(headers, dict) or not isinstance(headers.get("task"), str) or not isinstance(
            headers.get("id"), str):
        return "not a task message (its headers name no task and id)"
    name = headers["task"]
    if name not in tasks:
        return f"unknown task {name!r}"
    if message.content_type != JSON:
        return f"content type {message.content_type!r} (this farm accepts {JSON} only)"
    try:
        body = message.decode()
    except Exception as exc:  # noqa: BLE001 - any decoding failure is the message's problem
        return f"a body that does not decode as JSON ({type(exc).__name__}: {exc})"
    return body_problem(name, body)


class FarmConsumer(Consumer):
    """`worker_consumer` of the farm's app (`workers.app.celery_config`)."""

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Any:
        handle = super().create_task_handler(*args, **kwargs)
        connection_errors = tuple(self.connection_errors or ())

        def on_task_received(message: Any) -> Any:
            try:
                problem = message_problem(message, self.app.tasks)
            except Exception as exc:  # noqa: BLE001 - a check that fails is a refusal, not a crash
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                return self._refuse(message, problem)
            try:
                return handle(message)
            except connection_errors:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever the message did, the worker goes on
                if message.acknowledged:
                    raise
                return self._refuse(message, f"{type(exc).__name__}: {exc}")

        return on_task_received

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._refuse(message, f"a body that does not decode ({type(exc).__name__}: {exc})")

    def _refuse(self, message: Any, reason: str) -> None:
        """Acknowledge (so it is never redelivered), dead-letter and log once."""
        queue = (message.delivery_info or {}).get("routing_key") or self.app.conf.task_default_queue
        body = message.body if isinstance(message.body, (bytes, str)) else repr(message.body)
        letter = deadletter.record(reason, queue, body=body, headers=message.headers,
                                   content_type=message.content_type, worker=self.hostname)
        try:
            message.ack()
        except Exception:  # noqa: BLE001 - a lost ack means a redelivery, refused again
            logger.warning("could not acknowledge a refused message", exc_info=True)
        deadletter.send(message.channel, queue, letter)


__all__ = ["FarmConsumer", "body_problem", "message_problem"]
