"""The project's exception types: one per kind of problem a user must tell apart."""

from __future__ import annotations


class FarmError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(FarmError, ValueError):
    """Invalid engine config or settings."""


class RegistryError(FarmError):
    """A name registered twice or not registered at all."""


class PermanentError(FarmError):
    """A failure no retry can fix (a missing symbol, malformed candles, a bad argument): the
    exchange's fetch loop raises it at once and no worker retries the job (see `is_permanent`)."""


class NotFoundError(RegistryError, KeyError):
    """An unknown name; the message contains "not found"."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateError(RegistryError, ValueError):
    """A name registered twice; the message contains "already exist"."""


class SchemaError(FarmError, ValueError):
    """A registration whose fields are of the wrong shape."""


class SignalValidationError(FarmError, ValueError):
    """A signal that breaks the rules of SPEC §5.5."""


class CandleDataError(FarmError, ValueError):
    """Candles that are malformed, anomalous, unsorted or missing."""


class PermanentDataError(CandleDataError, PermanentError):
    """Candles no retry can fix: a missing column, a string price, unsorted or duplicated open
    times, high below low, times in seconds, no candle at all, or a source that cannot serve the
    interval. The message names the problem and the fix."""


class EmptyFrameError(PermanentDataError):
    """The source has no candle of the symbol inside a backtest's frame: a wrong symbol, date
    range or time unit, reported instead of an empty result."""


class SymbolNotFoundError(NotFoundError, PermanentError):
    """A source has no candles for the symbol (no file, no frame): a typo, not an outage."""


def is_permanent(exc: BaseException) -> bool:
    """True when retrying cannot help: `PermanentError`, any `NotFoundError` (the source
    contract's "unknown symbol") or `SchemaError` (a malformed argument or registration)."""
    return isinstance(exc, PermanentError | NotFoundError | SchemaError)


class CandleFetchError(CandleDataError):
    """The exchange's get_candles kept failing after every attempt; `__cause__` is its error."""


class NoCandlesError(CandleDataError):
    """No closed base candle in the VWAP window: a gap in the data (or before its start)."""


class ContextError(FarmError, RuntimeError):
    """A context helper (get_candles, get_date, ...) called outside a running strategy."""


class SignalTimeoutError(FarmError, TimeoutError):
    """A get_signal call that ran past max_signal_generation_seconds."""


class SizingError(FarmError, ValueError):
    """Invalid position-sizing input."""


class LookAheadError(FarmError):
    """A vectorised strategy's row changes when the candles after its bar are removed.
    (Keyword arguments have defaults so the error pickles: its attributes travel as state.)"""

    def __init__(self, message: str, *, strategy_name: str = "", bar: int = -1, timestamp: int = 0,
                 columns: list[str] | None = None):
        super().__init__(message)
        self.strategy_name = strategy_name
        self.bar = bar
        """Index of the first offending bar in the candles given to `signals`."""
        self.timestamp = timestamp
        """Its open time (ms)."""
        self.columns = columns or []


class FormsDisagreeError(FarmError):
    """A strategy's `get_signal` and `signals` give different signals at a frame tick."""

    def __init__(self, message: str, *, strategy_name: str = "", tick: int = 0, bar: int = -1,
                 columns: list[str] | None = None):
        super().__init__(message)
        self.strategy_name = strategy_name
        self.tick = tick
        """The first frame tick (ms) where they disagree."""
        self.bar = bar
        """The row the kernel reads at that tick (the newest bar closed by then)."""
        self.columns = columns or []
