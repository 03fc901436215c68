"""Records that cross module boundaries: candles, signals, tick results, event payloads.

Candles are numpy-backed because a strategy reads a window on every tick; everything else is
a pydantic model because it is emitted, stored, rendered or sent as JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import pandas as pd

CANDLE_FIELDS = ("timestamp", "open", "high", "low", "close", "volume")

Position = Literal["long", "short"]
CloseReason = Literal["take_profit", "stop_loss", "time_expired"]


class Candle:
    """One candle; attribute access (`c.close`) and mapping access (`c["close"]`)."""

    __slots__ = CANDLE_FIELDS

    def __init__(self, timestamp: int, open: float, high: float, low: float, close: float, volume: float):
        self.timestamp = int(timestamp)
        self.open = float(open)
        self.high = float(high)
        self.low = float(low)
        self.close = float(close)
        self.volume = float(volume)

    def __getitem__(self, key: str) -> float | int:
        if key not in CANDLE_FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> tuple[str, ...]:
        return CANDLE_FIELDS

    def to_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in CANDLE_FIELDS}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Candle) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (
            f"Candle(timestamp={self.timestamp}, open={self.open}, high={self.high}, "
            f"low={self.low}, close={self.close}, volume={self.volume})"
        )


class CandleArrays:
    """Column arrays of one candle series: sorted, unique int64 ms timestamps, float64 prices.

    Arrays are marked read-only so windows handed to strategies cannot corrupt the series.
    """

    __slots__ = ("timestamp", "open", "high", "low", "close", "volume")

    def __init__(self, timestamp: np.ndarray, open: np.ndarray, high: np.ndarray, low: np.ndarray,
                 close: np.ndarray, volume: np.ndarray):
        self.timestamp = timestamp
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        for arr in (timestamp, open, high, low, close, volume):
            arr.flags.writeable = False

    def __len__(self) -> int:
        return len(self.timestamp)

    @classmethod
    def empty(cls) -> CandleArrays:
        f = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, dtype=np.int64), f, f.copy(), f.copy(), f.copy(), f.copy())


class Candles:
    """A read-only window `[lo, hi)` of a candle series, oldest first.

    Building one costs two attribute stores: column arrays are sliced (views, no copy) only
    when read, so a strategy that reads `.close` pays for `.close` alone.
    """

    __slots__ = ("_a", "_lo", "_hi")

    def __init__(self, arrays: CandleArrays, lo: int = 0, hi: int | None = None):
        self._a = arrays
        self._lo = lo
        self._hi = len(arrays) if hi is None else hi

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Candles:
        return cls(
            CandleArrays(
                frame["timestamp"].to_numpy(dtype=np.int64, copy=True),
                *(frame[k].to_numpy(dtype=np.float64, copy=True) for k in CANDLE_FIELDS[1:]),
            )
        )

    @property
    def timestamp(self) -> np.ndarray:
        return self._a.timestamp[self._lo : self._hi]

    @property
    def open(self) -> np.ndarray:
        return self._a.open[self._lo : self._hi]

    @property
    def high(self) -> np.ndarray:
        return self._a.high[self._lo : self._hi]

    @property
    def low(self) -> np.ndarray:
        return self._a.low[self._lo : self._hi]

    @property
    def close(self) -> np.ndarray:
        return self._a.close[self._lo : self._hi]

    @property
    def volume(self) -> np.ndarray:
        return self._a.volume[self._lo : self._hi]

    def __len__(self) -> int:
        return self._hi - self._lo

    def __getitem__(self, index: int | slice) -> Candle | Candles:
        n = self._hi - self._lo
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                raise ValueError("Candles slices must be contiguous (step 1)")
            return Candles(self._a, self._lo + start, self._lo + max(start, stop))
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("candle index out of range")
        i = self._lo + index
        a = self._a
        return Candle(a.timestamp[i], a.open[i], a.high[i], a.low[i], a.close[i], a.volume[i])

    def __iter__(self) -> Iterator[Candle]:
        for i in range(len(self)):
            yield self[i]  # type: ignore[misc]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({k: getattr(self, k).copy() for k in CANDLE_FIELDS})

    def __repr__(self) -> str:
        return f"Candles(len={len(self)})"


class Model(BaseModel):
    """Base of emitted records: plain, JSON round-trippable, extra keys kept."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)


class SignalDto(BaseModel):
    """What `get_signal` returns. Types are loose on purpose: the engine's validator (SPEC §5.5),
    not pydantic, rejects bad values, with the messages users know from the reference."""

    model_config = ConfigDict(extra="allow")

    position: Any = None
    price_open: Any = None
    price_take_profit: Any = None
    price_stop_loss: Any = None
    minute_estimated_time: Any = None
    note: Any = None
    id: Any = None


class SignalRow(Model):
    """A signal as the engine tracks and emits it (SPEC §5.3); timestamps in ms."""

    id: str
    position: str
    price_open: float
    price_take_profit: float
    price_stop_loss: float
    minute_estimated_time: int
    note: str = ""
    symbol: str
    strategy_name: str
    exchange_name: str
    scheduled_at: int
    pending_at: int
    is_scheduled: bool = False


class PnL(Model):
    pnl_percentage: float
    price_open: float
    price_close: float


class _Result(Model):
    strategy_name: str
    exchange_name: str
    symbol: str
    current_price: float


class IdleResult(_Result):
    action: Literal["idle"] = "idle"
    signal: None = None


class ScheduledResult(_Result):
    action: Literal["scheduled"] = "scheduled"
    signal: SignalRow


class OpenedResult(_Result):
    action: Literal["opened"] = "opened"
    signal: SignalRow


class ActiveResult(_Result):
    action: Literal["active"] = "active"
    signal: SignalRow
    percent_tp: float = 0.0
    percent_sl: float = 0.0


class ClosedResult(_Result):
    action: Literal["closed"] = "closed"
    signal: SignalRow
    close_reason: CloseReason
    close_timestamp: int
    pnl: PnL


class CancelledResult(_Result):
    action: Literal["cancelled"] = "cancelled"
    signal: SignalRow
    close_timestamp: int


TickResult = Annotated[
    IdleResult | ScheduledResult | OpenedResult | ActiveResult | ClosedResult | CancelledResult,
    Field(discriminator="action"),
]
BacktestResult = ClosedResult | CancelledResult | ActiveResult


# ---- event payloads (SPEC §15) ---------------------------------------------------------


class DoneEvent(Model):
    exchange_name: str
    strategy_name: str
    backtest: bool
    symbol: str


@dataclass(frozen=True, slots=True)
class BacktestProgress:
    """Emitted on every frame while someone listens: a plain slotted record, because a validated
    model per frame would cost more than the frame (progress is never stored or sent as is)."""

    exchange_name: str
    strategy_name: str
    symbol: str
    total_frames: int
    processed_frames: int
    progress: float


class PerformanceEvent(Model):
    timestamp: int
    previous_timestamp: int | None
    metric_type: str
    duration: float
    strategy_name: str
    exchange_name: str
    symbol: str
    backtest: bool


class PartialEvent(Model):
    symbol: str
    strategy_name: str
    exchange_name: str
    data: SignalRow
    current_price: float
    level: int
    backtest: bool
    timestamp: int


class RiskEvent(Model):
    symbol: str
    pending_signal: Any
    strategy_name: str
    exchange_name: str
    current_price: float
    active_position_count: int
    comment: str
    timestamp: int


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def datetime_to_ms(value: datetime | str | int | float | pd.Timestamp) -> int:
    """Accept what users write for a date (aware/naive datetime = UTC, ISO string, ms int)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a date")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float):
        return int(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // _ONE_MS  # exact integer arithmetic, no float rounding
    import pandas as pd

    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value // 1_000_000)


def iso_ms(ms: int) -> str:
    """ISO 8601 UTC with milliseconds and a Z suffix, as every report renders times."""
    dt = ms_to_datetime(ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"
