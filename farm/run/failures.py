"""What went wrong, said once per cause: the engine publishes one error per failed tick (a
get_signal that raised, a signal the validation rejected), and a sweep one failure per task.
A user needs the cause, how often, and where in their code it was raised, not 1,730 lines.

Causes group as follows:
- a rejected signal (`SignalValidationError`) by its reasons with the numbers of the one signal
  left out (`Long: StopLoss too close to priceOpen. Minimum distance: 0.5% ...`);
- an exception a strategy raised, by its type and the file:line that raised it;
- a message without its exception (stored sweep outcomes, task failures) by its text with
  digits blanked, so `no data at 00:05` and `no data at 00:10` are one cause.
The first occurrence of each cause is kept to show in full.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from farm.errors import SignalValidationError

_TICK_PREFIX = re.compile(r"^strategy \S+ symbol \S+(?: at \S+)? \([\w ]+\): ")
_DETAIL = re.compile(r"\s*\([^)]*\)")
_CURRENT = re.compile(r"\s*Current: .*$")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


@dataclass
class Cause:
    kind: str
    """"rejected" (the engine refused the signal) or "raised" (the strategy's code raised)."""
    text: str
    count: int
    first: str
    """The first occurrence's message, whole."""
    first_exception: BaseException | None = None

    def line(self) -> str:
        if self.kind == "rejected":
            noun = "signal" if self.count == 1 else "signals"
            return f"{self.count:,} {noun} rejected: {self.text}"
        return f"{self.count:,} × {self.text}"


def rejection_reason(message: str) -> str:
    """`Invalid signal for long position:\\nLong: StopLoss too close to priceOpen (0.100%). Minimum
    distance: 0.5% ... Current: SL=.., Open=..` → its reasons without this signal's numbers."""
    lines = [line for line in message.splitlines()[1:] if line.strip()] or message.splitlines()[:1]
    reasons = [_CURRENT.sub("", _DETAIL.sub("", line)).strip() for line in lines]
    return "; ".join(dict.fromkeys(r for r in reasons if r))


def raise_site(exc: BaseException) -> str | None:
    """`path/to/file.py:42 in fn` of the innermost frame that raised (relative to the current
    directory when under it)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    frame = frames[-1]
    path = frame.filename
    try:
        rel = os.path.relpath(path)
        path = rel if not rel.startswith("..") else path
    except ValueError:
        pass
    return f"{path}:{frame.lineno} in {frame.name}"


def user_traceback(exc: BaseException) -> str:
    """The traceback of `exc` from the first frame outside this package (the user's code), so the
    engine's own frames do not bury the file:line that matters."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frames = traceback.extract_tb(exc.__traceback__)
    keep = [i for i, f in enumerate(frames) if not os.path.abspath(f.filename).startswith(package + os.sep)]
    start = keep[0] if keep else 0
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames[start:]),
             *traceback.format_exception_only(type(exc), exc)]
    return "".join(lines).rstrip()


def tick_error_causes(errors: Iterable[BaseException]) -> list[Cause]:
    """Group the errors published on `listen_error` (a `TickError` carries the original as its
    cause) by cause, in order of first occurrence."""
    causes: dict[tuple[str, str], Cause] = {}
    for err in errors:
        original = err.__cause__ or err
        if isinstance(original, SignalValidationError):
            kind, text = "rejected", rejection_reason(str(original))
        else:
            site = raise_site(original)
            kind, text = "raised", f"{type(original).__name__}" + (f" at {site}" if site else f": {original}")
        cause = causes.get((kind, text))
        if cause is None:
            causes[(kind, text)] = Cause(kind, text, 1, str(err), original)
        else:
            cause.count += 1
    return list(causes.values())


def message_causes(messages: Iterable[str]) -> list[Cause]:
    """Group plain messages (stored outcomes' errors, task failures) by cause."""
    causes: dict[tuple[str, str], Cause] = {}
    varied: set[tuple[str, str]] = set()
    for message in messages:
        body = _TICK_PREFIX.sub("", message)
        if body.startswith(f"{SignalValidationError.__name__}: "):
            kind, text = "rejected", rejection_reason(body.split(": ", 1)[1])
        else:
            kind, text = "raised", _DIGITS.sub("#", body.splitlines()[0] if body else body)
        first_line = body.splitlines()[0] if body else body
        cause = causes.get((kind, text))
        if cause is None:
            causes[(kind, text)] = cause = Cause(kind, text, 1, first_line)
        else:
            cause.count += 1
        if first_line != cause.first:
            varied.add((kind, text))
    for key, cause in causes.items():
        if cause.kind == "raised":
            cause.text = f"{cause.first} (and {cause.count - 1:,} like it)" if key in varied else cause.first
    return list(causes.values())


@contextmanager
def quiet_tick_errors(loggers: Sequence[str] = ("farm.strategy",)) -> Iterator[None]:
    """Keep the engine's one-warning-per-failed-tick off stderr while the caller collects the
    errors (listen_error) to summarize them. Pool processes forked meanwhile inherit it."""
    handler = logging.NullHandler()
    targets = [logging.getLogger(name) for name in loggers]
    saved = [(t, t.propagate) for t in targets]
    for target in targets:
        target.addHandler(handler)
        target.propagate = False
    try:
        yield
    finally:
        for target, propagate in saved:
            target.removeHandler(handler)
            target.propagate = propagate


def frame_has_candles(exchange_name: str, frame_name: str, symbol: str) -> bool:
    """Whether the exchange has any candle of `symbol` inside the frame (one request for the
    first candle at or after the frame's start)."""
    from farm import registry
    from farm.config import get_config
    from farm.engine.exchange import ExchangeClient
    from farm.models import datetime_to_ms

    frame = registry.frames.get(frame_name, source="backtest")
    client = ExchangeClient(registry.exchanges.get(exchange_name, source="backtest"))
    arrays, _ = client.fetch_checked(symbol, get_config().base_interval, datetime_to_ms(frame.start_date), 1)
    return len(arrays.timestamp) > 0 and int(arrays.timestamp[0]) <= datetime_to_ms(frame.end_date)
