"""Backtest timelines (SPEC §4): ticks from start to end inclusive, cached per frame name."""

from __future__ import annotations

import numpy as np

from farm import registry
from farm.intervals import FRAME_INTERVALS, interval_ms
from farm.models import datetime_to_ms
from farm.schemas import FrameSchema

_timelines: dict[str, np.ndarray] = {}


def build_timeline(schema: FrameSchema) -> np.ndarray:
    step = interval_ms(schema.interval, FRAME_INTERVALS, "frame")
    start = datetime_to_ms(schema.start_date)
    end = datetime_to_ms(schema.end_date)
    out = np.arange(start, end + 1, step, dtype=np.int64)
    out.flags.writeable = False
    return out


def timeline(frame_name: str) -> np.ndarray:
    """Computed once per frame for the life of the process; `on_timeframe` fires that once."""
    cached = _timelines.get(frame_name)
    if cached is not None:
        return cached
    schema = registry.frames.get(frame_name, source="timeline")
    out = _timelines[frame_name] = build_timeline(schema)
    callback = schema.callbacks.get("on_timeframe")
    if callback is not None:
        from farm.models import ms_to_datetime

        callback([ms_to_datetime(int(t)) for t in out], schema.start_date, schema.end_date, schema.interval)
    return out


registry.on_clear(_timelines.clear)
