"""An optimizer's sources (SPEC §12.1-12.2): what they are called and how their rows are paged.

A source is a fetch function or `{name, fetch, user?, assistant?, note?}`. A fetch receives
`symbol, start_date, end_date, limit, offset` as keyword arguments and returns rows that each
have an `id` (a mapping key or an attribute).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from farm.errors import SchemaError
from farm.models import datetime_to_ms, ms_to_datetime

PAGE_SIZE = 25
MAX_ROWS = 10_000
MIN_REQUEST_INTERVAL = 0.1
"""Seconds between the starts of two page requests (SPEC §12.2: ~100 ms)."""


@dataclass(frozen=True)
class Source:
    name: str
    fetch: Callable[..., Any]
    user: Callable[..., Any] | None = None
    assistant: Callable[..., Any] | None = None
    note: str | None = None


@dataclass(frozen=True)
class DateRange:
    start_date: datetime
    end_date: datetime
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"start_date": self.start_date.isoformat(), "end_date": self.end_date.isoformat(), "note": self.note}


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def to_source(value: Any, where: str) -> Source:
    """A bare function is named "unknown" (as in the reference)."""
    if callable(value) and not isinstance(value, Mapping):
        return Source(name="unknown", fetch=value)
    fetch = _field(value, "fetch")
    if not callable(fetch):
        raise SchemaError(f"{where}: a source needs a callable fetch, got {type(fetch).__name__}")
    return Source(name=str(_field(value, "name") or "unknown"), fetch=fetch, user=_field(value, "user"),
                  assistant=_field(value, "assistant"), note=_field(value, "note"))


def to_range(value: Any, where: str) -> DateRange:
    start, end = _field(value, "start_date"), _field(value, "end_date")
    if start is None or end is None:
        raise SchemaError(f"{where}: a range needs start_date and end_date, got {value!r}")
    start_dt, end_dt = ms_to_datetime(datetime_to_ms(start)), ms_to_datetime(datetime_to_ms(end))
    if start_dt > end_dt:
        raise SchemaError(f"{where}: start_date {start_dt.isoformat()} is after end_date {end_dt.isoformat()}")
    return DateRange(start_dt, end_dt, _field(value, "note"))


def row_id(row: Any) -> Any:
    rid = _field(row, "id")
    if rid is None:
        raise SchemaError(f"a source row has no id: {row!r:.200}")
    return rid


def paginate(source: Source, symbol: str, window: DateRange, *, page_size: int = PAGE_SIZE,
             max_rows: int = MAX_ROWS, min_interval: float = MIN_REQUEST_INTERVAL) -> list[Any]:
    """Pages of `page_size` at offsets 0, 25, 50, ... while a page is full; rows de-duplicated by
    id (first kept), flattened; at most `max_rows`, asked at offsets below `max_rows`. A page
    longer than `page_size` is the source's error (it ignored the limit: its offsets cannot be
    trusted); a full page with no new id ends the paging (the source ignores `offset`)."""
    rows: list[Any] = []
    seen: set[Any] = set()
    offset = 0
    last_start: float | None = None
    while len(rows) < max_rows:
        if last_start is not None:
            wait = min_interval - (time.monotonic() - last_start)
            if wait > 0:
                time.sleep(wait)
        last_start = time.monotonic()
        page = list(source.fetch(symbol=symbol, start_date=window.start_date, end_date=window.end_date,
                                 limit=page_size, offset=offset) or [])
        if len(page) > page_size:
            raise SchemaError(f"source {source.name}: a page has {len(page)} rows, more than the limit {page_size}")
        added = 0
        for row in page:
            rid = row_id(row)
            key = rid if isinstance(rid, str | int | float) else repr(rid)
            if key not in seen:
                seen.add(key)
                rows.append(row)
                added += 1
                if len(rows) >= max_rows:
                    break
        # A full page of rows seen before: the source ignores `offset` (it would answer forever).
        if len(page) < page_size or added == 0 or offset + page_size >= max_rows:
            break
        offset += page_size
    return rows


__all__ = ["DateRange", "MAX_ROWS", "PAGE_SIZE", "Source", "paginate", "row_id", "to_range", "to_source"]
