"""The project's exception types: one per kind of problem a user must tell apart."""

from __future__ import annotations


class FarmError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(FarmError, ValueError):
    """Invalid engine config or settings."""


class RegistryError(FarmError):
    """A name registered twice or not registered at all."""


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
