"""Every key the farm writes, in one place (rq's lesson: a key scheme written down once).

    results/<task_key>.json                 a finished task's result (JSON, idempotent by key)
    failures/<task_key>.json                a task that failed, with its traceback
    sweeps/<sweep_id>/manifest.json         the jobs of a sweep and where its reports go
    sweeps/<sweep_id>/status.json           progress any client can read
    candles/<exchange>/<symbol>/<interval>/<YYYY-MM-DD>.arrow   cold candle chunks (one day)
    state/<kind>/<name>.json                live-mode persistence (signal, schedule, risk, partial)
    quarantine/<key>                        a record that could not be read, moved aside (any key above)

Names that come from users (symbols like BTC/USDT, variant names with parentheses) are
quoted so they stay one path segment on every store.
"""

from __future__ import annotations

from urllib.parse import quote


def segment(name: str) -> str:
    """One path segment for any user-given name ('/' and other specials percent-encoded)."""
    return quote(name, safe="=(),-_.+@")


def result(task_key: str) -> str:
    return f"results/{task_key}.json"


def failure(task_key: str) -> str:
    return f"failures/{task_key}.json"


def sweep_manifest(sweep_id: str) -> str:
    return f"sweeps/{segment(sweep_id)}/manifest.json"


def sweep_status(sweep_id: str) -> str:
    return f"sweeps/{segment(sweep_id)}/status.json"


def candle_chunk(exchange: str, symbol: str, interval: str, day: str) -> str:
    return f"candles/{segment(exchange)}/{segment(symbol)}/{interval}/{day}.arrow"


def state(kind: str, name: str) -> str:
    return f"state/{kind}/{segment(name)}.json"


def quarantine(key: str) -> str:
    """Where an unreadable record under `key` is moved (`farm.persist.quarantine`)."""
    return f"quarantine/{key}"
