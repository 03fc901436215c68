"""The scheduler's clock: real UTC time, or the instant FARM_BATCH_NOW pins (an ISO date-time,
UTC when it has no offset). Pinning it makes beat, the batch task and `farm batch run` agree on
which night is due and which days its frame covers: used to replay a past night against old
data, and by the tests, which start real beat processes against the 2018 sample candles."""

from __future__ import annotations

import os
from datetime import UTC, datetime

NOW_ENV = "FARM_BATCH_NOW"


def parse_utc(value: str) -> datetime:
    """An ISO date or date-time as an aware UTC datetime (a bare date is its 00:00 UTC)."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def now() -> datetime:
    pinned = os.environ.get(NOW_ENV, "").strip()
    return parse_utc(pinned) if pinned else datetime.now(UTC)
