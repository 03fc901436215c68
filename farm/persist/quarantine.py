"""A stored record that cannot be read is moved aside, not raised.

One corrupted result file (a torn copy, a disk error, a hand edit) used to stop `farm report`
and every re-run of its sweep with a validation error, and its job was never run again. Now a
reader that finds a record it cannot parse moves it to `quarantine/<key>` (`keys.quarantine`),
logs where, and carries on as if the record were missing: the job shows as failed with the
reason, and the next run computes it again.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from farm.persist import keys as K
from farm.persist.store import Store, StoreError, describe

log = logging.getLogger("farm.persist")

M = TypeVar("M", bound=BaseModel)


def read_or_quarantine(store: Store, key: str, model: type[M]) -> tuple[M | None, str | None]:
    """(the record under `key` as `model`, None), (None, None) if there is none, or (None, why)
    once an unreadable record has been moved to `quarantine/<key>`."""
    data = store.read(key)
    if data is None:
        return None, None
    try:
        return model.model_validate_json(data), None
    except ValidationError as exc:
        problem = f"{exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}"
    target = K.quarantine(key)
    try:
        store.write(target, data)
        store.delete(key)
    except StoreError as exc:
        log.error("%s: record %r is unreadable (%s) and could not be moved aside: %s", describe(store), key,
                  problem, exc)
        return None, f"unreadable record {key!r} ({problem})"
    log.warning("%s: record %r is unreadable (%s); moved to %r", describe(store), key, problem, target)
    return None, f"unreadable record moved to {target!r} ({problem})"


__all__ = ["read_or_quarantine"]
