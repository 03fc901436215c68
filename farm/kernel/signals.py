"""The vectorised strategy form: its contract, its conversion to per-bar arrays, and which bar
a frame tick acts on.

A vectorised strategy is `fn(candles: farm.Candles, **params)` returning, for every base candle
(bar) `i` of `candles`, what the strategy's per-tick `get_signal` would return at the close of
bar `i` — a dict of arrays (scalars broadcast) or a DataFrame with columns:

* ``position``: +1 long, −1 short, 0 no signal (what `None` is per tick);
* ``price_open``: the entry price of a limit (scheduled) signal, NaN for a market entry at the
  current VWAP (optional column, default all NaN);
* ``price_take_profit``, ``price_stop_loss``: absolute prices;
* ``minute_estimated_time``: the lifetime in minutes;
* ``note``: optional, one string for all bars or one per bar.

A numeric column other than ``position`` may hold one value for all bars (a scalar), one per
bar, or one per *signal*: as many values as ``position`` has non-zero entries, in bar order
(where the two coincide, every bar signals, they mean the same). A strategy that signals on a
few bars then computes and allocates its prices for those bars only; the kernel reads them
where they are, and per-bar arrays are built only if something asks for them (records).

The engine, not the strategy, keeps time honest: a row means what `get_signal` returns at any
generation attempt while its bar is the newest closed one. At a frame tick `t` that is an
attempt (strategy interval throttle, nothing pending or scheduled, D2 after a close) the engine
reads the row of the newest bar with `open + step <= t` (closed, D1) — at the first tick after
the bar closed and again at every later attempt until a newer bar closes (a gap in the data, a
strategy interval coarser than the candles, an attempt rejected by validation). A row that is
never read at an attempt is gone, exactly as a per-tick answer nobody asked for. So a row must
not depend on when it is read: a strategy whose `get_signal` prices its TP/SL from the current
price at the tick has the same vectorised form only where the data has no gaps (use the close
or `average_prices`, the price at the bar's close, in both forms; the bundled examples read
`strategies.newest_window` and `strategies.close_price` per tick). Rows are arrays rather than
objects because a sweep evaluates millions of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from farm.errors import SchemaError
from farm.models import Candles

SIGNAL_COLUMNS = ("position", "price_open", "price_take_profit", "price_stop_loss", "minute_estimated_time")
REQUIRED_COLUMNS = ("position", "price_take_profit", "price_stop_loss", "minute_estimated_time")


_FLOAT_COLUMNS = ("price_open", "price_take_profit", "price_stop_loss", "minute_estimated_time")


class SignalTable:
    """Per-bar signal rows aligned with the candles the strategy was given (`timestamp`).

    The float columns read as per-bar arrays; a column given per signal is spread over the bars
    (NaN between) the first time it is read that way, and `kernel_columns` hands it to the
    kernel as it is."""

    __slots__ = ("timestamp", "position", "note", "_cols", "_bars")

    timestamp: np.ndarray
    """Open times of the bars (int64 ms)."""
    position: np.ndarray
    """int8: +1, −1 or 0."""
    note: str | np.ndarray | None

    def __init__(self, timestamp: np.ndarray, position: np.ndarray, price_open: np.ndarray,
                 price_take_profit: np.ndarray, price_stop_loss: np.ndarray, minute_estimated_time: np.ndarray,
                 note: str | np.ndarray | None = None):
        self.timestamp = timestamp
        self.position = position
        self.note = note
        self._cols = [price_open, price_take_profit, price_stop_loss, minute_estimated_time]
        self._bars: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.timestamp)

    def _per_bar(self, k: int) -> np.ndarray:
        col = self._cols[k]
        if len(col) != len(self.timestamp):  # one value per signal: spread once, then kept
            full = np.full(len(self.timestamp), np.nan)
            full[self.signal_bars()] = col
            self._cols[k] = col = full
        return col

    @property
    def price_open(self) -> np.ndarray:
        return self._per_bar(0)

    @property
    def price_take_profit(self) -> np.ndarray:
        return self._per_bar(1)

    @property
    def price_stop_loss(self) -> np.ndarray:
        return self._per_bar(2)

    @property
    def minute_estimated_time(self) -> np.ndarray:
        return self._per_bar(3)

    def signal_bars(self) -> np.ndarray:
        """Indices of the bars with a position, in order (what per-signal values belong to)."""
        if self._bars is None:
            self._bars = np.flatnonzero(self.position)
        return self._bars

    def realigned(self, timestamp: np.ndarray) -> SignalTable:
        """The same rows on another array holding the same open times (after the series grew),
        columns as they are."""
        return SignalTable(timestamp, self.position, *self._cols, note=self.note)

    def note_at(self, i: int) -> Any:
        if self.note is None or isinstance(self.note, str):
            return self.note
        return self.note[i]

    def kernel_columns(self) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray]:
        """The columns as the kernel reads them: contiguous arrays of one dtype each (one
        compiled signature whatever the strategy returned), each with its mode (0: one value
        for all bars, passed as that value rather than n copies; 1: per bar; 2: per signal).
        Returns (position, (price_open, take_profit, stop_loss, lifetime), modes)."""
        floats = []
        modes = np.ones(4, dtype=np.int64)
        n = len(self.timestamp)
        for k, col in enumerate(self._cols):
            if len(col) == n and n and col.strides[0] == 0:
                floats.append(np.array(col[:1], dtype=np.float64))
                modes[k] = 0
            else:
                floats.append(np.ascontiguousarray(col, dtype=np.float64))
                modes[k] = 1 if len(col) == n else 2
        return np.ascontiguousarray(self.position, dtype=np.int8), tuple(floats), modes

    def dto(self, i: int) -> dict[str, Any] | None:
        """Bar `i` as the dict a per-tick `get_signal` would return (None for no signal)."""
        side = int(self.position[i])
        if side == 0:
            return None
        met = float(self.minute_estimated_time[i])
        out: dict[str, Any] = {
            "position": "long" if side > 0 else "short",
            "price_take_profit": float(self.price_take_profit[i]),
            "price_stop_loss": float(self.price_stop_loss[i]),
            "minute_estimated_time": int(met) if math.isfinite(met) and met.is_integer() else met,
        }
        price_open = float(self.price_open[i])
        if not math.isnan(price_open):
            out["price_open"] = price_open
        note = self.note_at(i)
        if note is not None:
            out["note"] = note
        return out


def _column(raw: Any, name: str, n: int, where: str, *, required: bool, signals: int | None = None
            ) -> np.ndarray | None:
    """One column as float64: (n,) or, if `signals` is given, (signals,) — one value per
    signal; arrays as they are when already float64 (no copy), a scalar as a read-only
    zero-stride (n,) view (one value, not n copies: a sweep builds a table per variant)."""
    present = name in raw if isinstance(raw, Mapping) else name in raw.columns  # a DataFrame
    value = raw[name] if present else None
    if value is None:
        if required:
            raise SchemaError(f"{where}: the result lacks column {name!r} (needs {', '.join(REQUIRED_COLUMNS)})")
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SchemaError(f"{where}: column {name!r} must be numeric") from None
    if arr.ndim == 0:
        return _broadcast(float(arr), n)
    if arr.shape != (n,) and (signals is None or arr.shape != (signals,)):
        per_signal = "" if signals is None else f" or ({signals},) (one value per signal)"
        raise SchemaError(
            f"{where}: column {name!r} has shape {arr.shape}, expected ({n},) (one row per candle){per_signal}"
        )
    return arr


def _broadcast(value: float, n: int) -> np.ndarray:
    return np.broadcast_to(np.float64(value), (n,))


def _position(raw: Any, n: int, where: str) -> np.ndarray:
    """The position column as int8 (n,), checked to hold only +1, −1 and 0. Integer and bool
    arrays are range-checked with two reductions and kept (bool viewed as int8, no copy)."""
    present = "position" in raw if isinstance(raw, Mapping) else "position" in raw.columns
    value = raw["position"] if present else None
    if isinstance(value, np.ndarray) and value.shape == (n,) and value.dtype.kind in "biu":
        if value.dtype == np.bool_:
            return value.view(np.int8)
        if n == 0 or (int(value.min()) >= -1 and int(value.max()) <= 1):
            return value if value.dtype == np.int8 else value.astype(np.int8)
    position = _column(raw, "position", n, where, required=True)
    assert position is not None
    bad = (position != 0) & (position != 1) & (position != -1)
    if bad.any():
        k = int(np.argmax(bad))
        raise SchemaError(f"{where}: position must be +1, -1 or 0, got {position[k]!r} at bar {k}")
    return position.astype(np.int8)


def to_table(raw: Any, candles: Candles, where: str = "signals") -> SignalTable:
    """Check what a vectorised strategy returned and turn it into a `SignalTable`.

    Shape problems are errors of the strategy's code, raised at once (not per bar): a column
    of the wrong length would otherwise silently shift every signal in time. Columns are not
    copied when they already have the table's dtype, and scalars stay one value."""
    n = len(candles)
    if not isinstance(raw, Mapping) and not hasattr(raw, "columns"):
        raise SchemaError(f"{where}: must return a dict of arrays or a DataFrame, got {type(raw).__name__}")
    position = _position(raw, n, where)
    signals = int(np.count_nonzero(position))
    cols = {name: _column(raw, name, n, where, required=name in REQUIRED_COLUMNS, signals=signals)
            for name in _FLOAT_COLUMNS}
    price_open = cols["price_open"]
    note: Any = raw.get("note") if isinstance(raw, Mapping) else (raw["note"] if "note" in raw.columns else None)
    if note is not None and not isinstance(note, str):
        note = np.asarray(note, dtype=object)
        if note.shape != (n,):
            raise SchemaError(f"{where}: column 'note' has shape {note.shape}, expected ({n},) or one string")
    return SignalTable(
        timestamp=candles.timestamp,
        position=position,
        price_open=_broadcast(np.nan, n) if price_open is None else price_open,
        price_take_profit=cols["price_take_profit"],  # type: ignore[arg-type]
        price_stop_loss=cols["price_stop_loss"],  # type: ignore[arg-type]
        minute_estimated_time=cols["minute_estimated_time"],  # type: ignore[arg-type]
        note=note,
    )


def compute_table(fn: Callable[..., Any], candles: Candles, params: Mapping[str, Any], where: str) -> SignalTable:
    return to_table(fn(candles, **params), candles, where)


def average_prices(candles: Candles, n: int | None = None, step: int | None = None, *,
                   where: np.ndarray | None = None, at: np.ndarray | None = None) -> np.ndarray:
    """The "current price" (SPEC §3.4 with D1) at the close of every bar: the VWAP of the base
    candles with open times in `(open(i) − n·step, open(i)]`, summed left to right exactly as
    `farm.get_average_price` does, so a vectorised strategy can set TP/SL from the very price a
    per-tick strategy would read. `candles` must be base candles; n defaults to the config.

    `where` (a per-bar mask, e.g. the position column): prices only on those bars, NaN on the
    others — what a strategy that signals on few bars needs, at a fraction of the cost. `at`
    (a per-bar mask, e.g. the position column): one price per bar where it is non-zero, in bar
    order, for columns given per signal."""
    from farm.config import get_config
    from farm.intervals import interval_ms
    from farm.kernel.indicators import vwap_at, vwap_at_close, vwap_where

    cfg = get_config()
    n = int(cfg.avg_price_candles_count) if n is None else n
    step = interval_ms(cfg.base_interval) if step is None else step
    cols = (candles.timestamp, candles.high, candles.low, candles.close, candles.volume)
    for name, mask in (("at", at), ("where", where)):
        if mask is None:
            continue
        mask = np.asarray(mask)
        if mask.shape != (len(candles),):
            raise SchemaError(f"average_prices: {name} has shape {mask.shape}, expected ({len(candles)},)")
        mask = mask.view(np.int8) if mask.dtype == np.bool_ else mask
        return (vwap_at if name == "at" else vwap_where)(*cols, mask, n, step)
    # Every variant of a sweep asks for the same prices: keep the last answer. The key holds the
    # five column arrays themselves (so their addresses cannot be reused while cached); candles
    # are read-only, so the same arrays mean the same prices.
    key = (n, step, len(cols[0]), *(c.__array_interface__["data"][0] for c in cols))
    last = _last_prices[:]  # one read: a run in another thread may replace the entry meanwhile
    if last and last[0] == key:
        return last[2]
    out = vwap_at_close(*cols, n, step)
    out.flags.writeable = False
    _last_prices[:] = [key, [c.base if c.base is not None else c for c in cols], out]
    return out


_last_prices: list = []


def as_get_signal(table: SignalTable, step: int, frame_step: int | None = None
                  ) -> Callable[..., dict[str, Any] | None]:
    """A per-tick `get_signal` reading a precomputed table with the kernel's bar rule
    (`steps.newest_closed`: the row of the newest bar closed at the tick): what the per-tick engine runs when the kernel cannot
    (partial listeners, callbacks, risk), and the reference the kernel is tested against.
    `frame_step` is accepted for older callers and not used: the rule does not depend on it."""
    from farm.engine.steps import newest_closed

    opens = np.ascontiguousarray(table.timestamp, dtype=np.int64)

    def get_signal(symbol: str, when: datetime, **_params: Any) -> dict[str, Any] | None:
        t = int(round(when.timestamp() * 1000))
        j = newest_closed(opens, t, step, (t - int(opens[0])) // step if len(opens) else 0)
        if j < 0:
            return None
        return table.dto(j)

    return get_signal


__all__ = [
    "REQUIRED_COLUMNS",
    "SIGNAL_COLUMNS",
    "SignalTable",
    "as_get_signal",
    "average_prices",
    "compute_table",
    "to_table",
]
