"""The farm's Celery app (`celery -A workers.app:app worker`), configured from `FarmSettings`.

Everything on the wire is JSON (task payloads, results, events): a job is a `BacktestJob` dict
and the result lives in the farm store under the job's content hash, so the result backend
(optional, `FARM_RESULT_BACKEND`) only ever holds task state.

Delivery is at-least-once: a task is acknowledged after it ran (`task_acks_late`), a worker
process that dies mid-task gives its task back (`task_reject_on_worker_lost`), and on Redis a
worker killed outright (SIGKILL, OOM, a lost host) leaves its task unacknowledged, to be
redelivered once `FARM_VISIBILITY_TIMEOUT` seconds have passed since delivery. A double run is
harmless: both runs write the same record under the same key. Keep the visibility timeout above
the longest task, or a slow task is redelivered while it still runs.

At worker start every module in `FARM_IMPORTS` is imported (that is what registers exchanges,
frames, strategies and walkers); a module that fails to import is logged and does not stop the
worker, and the tasks that need it then fail with the import error as their message.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any
from urllib.parse import urlparse

from celery import Celery, signals
from celery.utils.log import get_logger

from farm.config import FarmSettings, get_settings
from farm.redact import install_log_masking

logger = get_logger(__name__)

REDIS_SCHEMES = ("redis", "rediss", "sentinel", "socket", "unix")
BROKER_TIMEOUT = 10.0
"""Seconds a broker connection may take to open, and any one broker call to answer (above
the Redis transport's 1 s BRPOP polls)."""


def celery_config(settings: FarmSettings) -> dict[str, Any]:
    """The Celery settings the farm runs with, from the farm's own settings."""
    transport_options: dict[str, Any] = {"visibility_timeout": settings.visibility_timeout}
    if urlparse(settings.broker_url).scheme in REDIS_SCHEMES:
        # A frozen broker (or `rediss://` against a plain Redis, whose TLS handshake is never
        # answered) ends every call within these seconds instead of blocking forever.
        transport_options["socket_connect_timeout"] = BROKER_TIMEOUT
        transport_options["socket_timeout"] = BROKER_TIMEOUT
        # kombu scans for expired unacknowledged messages every interval × throttle seconds
        # (100 s by default); scale the sweep with the timeout so a short one is honoured.
        transport_options["unacked_restore_interval"] = max(1, min(10, settings.visibility_timeout // 4))
        transport_options["unacked_restore_throttle"] = 1
    redis_broker = urlparse(settings.broker_url).scheme in ("redis", "rediss")
    return {
        "broker_url": settings.broker_url,
        # The Redis transport dead-letters queue entries that are no message (workers.transport);
        # the consumer refuses messages that are no farm task it can run (workers.consumer).
        **({"broker_transport": "workers.transport:Transport"} if redis_broker else {}),
        "worker_consumer": "workers.consumer:FarmConsumer",
        "result_backend": settings.result_backend or None,
        "redis_socket_connect_timeout": BROKER_TIMEOUT,
        "redis_socket_timeout": BROKER_TIMEOUT,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": transport_options,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_default_queue": settings.queue,
        "task_track_started": True,
        "broker_connection_retry_on_startup": True,
        # A task running when the broker connection drops finishes and stores its record (the
        # coordinator sees it at once); the broker redelivers it later and the re-run rewrites the
        # same record. Cancelling it would throw the work away and still wait for the redelivery.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }


def configure(target: Celery, settings: FarmSettings | None = None) -> None:
    """(Re)apply the farm settings to `target`; pooled broker connections made for another
    broker URL are dropped, so an app reconfigured at run time (tests) publishes to the new one."""
    settings = settings or get_settings()
    previous = target.conf.get("broker_url")
    target.conf.update(celery_config(settings))
    if previous is not None and previous != settings.broker_url:
        _drop_pooled_connections(target)


def _drop_pooled_connections(target: Celery) -> None:
    pool = getattr(target, "_pool", None)
    if pool is not None:
        try:
            pool.force_close_all()
        except Exception:  # noqa: BLE001 - closing connections to a broker we are leaving
            logger.debug("closing the old broker connections failed", exc_info=True)
    target._pool = None
    target.amqp._producer_pool = None


def import_farm_modules(settings: FarmSettings | None = None) -> dict[str, str]:
    """Import every module in FARM_IMPORTS; returns {module: error} for those that failed
    (logged, never raised: the tasks that need a broken module report it themselves)."""
    from farm.run.execute import mark_configured_imports

    settings = settings or get_settings()
    failed: dict[str, str] = {}
    before = set(sys.modules)
    for name in settings.import_list():
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a broken strategy module must not stop the worker
            failed[name] = f"{type(exc).__name__}: {exc}"
            logger.error("FARM_IMPORTS: module %r failed to import (%s); tasks that need it will fail",
                         name, failed[name], exc_info=True)
    mark_configured_imports(before)
    from farm import registry

    registry.note_imported(name for name in settings.import_list() if name not in failed)
    return failed


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _on_setup_logger(logger: Any = None, **_: Any) -> None:
    """Every worker log line passes `farm.redact`'s filter: no URL password reaches a log."""
    install_log_masking(*([logger] if logger is not None else []))


@signals.worker_init.connect
def _on_worker_init(**_: Any) -> None:
    """The main worker process (the solo pool runs tasks here; prefork children inherit it)."""
    import_farm_modules()


@signals.worker_process_init.connect
def _on_worker_process_init(**_: Any) -> None:
    """Each pool process: a no-op for modules the parent imported, a retry for the others."""
    import_farm_modules()


app = Celery("farm", include=["workers.tasks", "workers.batch"])
configure(app)

__all__ = ["app", "celery_config", "configure", "import_farm_modules"]
