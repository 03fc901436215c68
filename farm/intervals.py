"""Interval names and their lengths in minutes (SPEC §3.1, §4, §5.1)."""

from __future__ import annotations

from farm.errors import SchemaError

CANDLE_INTERVALS: dict[str, int] = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30,
    "1h": 60, "2h": 120, "4h": 240, "6h": 360, "8h": 480,
}
FRAME_INTERVALS: dict[str, int] = {
    **{k: v for k, v in CANDLE_INTERVALS.items()},
    "12h": 720, "1d": 1440, "3d": 4320,
}
SIGNAL_INTERVALS: dict[str, int] = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60,
}
# A base candle interval must also be a signal-capable grid, but any candle interval works.

MINUTE_MS = 60_000


def interval_minutes(interval: str, table: dict[str, int] = CANDLE_INTERVALS, kind: str = "candle") -> int:
    try:
        return table[interval]
    except KeyError:
        raise SchemaError(
            f"unknown {kind} interval {interval!r}; expected one of {', '.join(table)}"
        ) from None


def interval_ms(interval: str, table: dict[str, int] = CANDLE_INTERVALS, kind: str = "candle") -> int:
    return interval_minutes(interval, table, kind) * MINUTE_MS
