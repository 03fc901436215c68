"""Typed listener channels (SPEC §15).

Emission is synchronous and in subscription order; a listener that raises propagates into
the emitter (a throwing signal listener fails that tick, as in the reference). Producers
check `has_listeners` before building a payload, so an unobserved channel costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Unsubscribe = Callable[[], None]


class Channel(Generic[T]):
    __slots__ = ("name", "_listeners")

    def __init__(self, name: str):
        self.name = name
        self._listeners: list[Callable[[T], Any]] = []

    @property
    def has_listeners(self) -> bool:
        return bool(self._listeners)

    def subscribe(self, fn: Callable[[T], Any]) -> Unsubscribe:
        entry = _Listener(fn)  # a distinct object, so one fn subscribed twice unsubscribes once
        self._listeners.append(entry)

        def unsubscribe() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)

        return unsubscribe

    def once(self, filter_fn: Callable[[T], bool], fn: Callable[[T], Any]) -> Unsubscribe:
        holder: dict[str, Unsubscribe] = {}

        def listener(event: T) -> None:
            if filter_fn(event):
                holder["unsub"]()
                fn(event)

        holder["unsub"] = self.subscribe(listener)
        return holder["unsub"]

    def emit(self, event: T) -> None:
        for listener in tuple(self._listeners):
            listener(event)

    def clear(self) -> None:
        self._listeners.clear()


class _Listener:
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn

    def __call__(self, event: Any) -> Any:
        return self.fn(event)


# The raw channels (exported as `farm.emitters`).
signal = Channel[Any]("signal")
signal_backtest = Channel[Any]("signal_backtest")
signal_live = Channel[Any]("signal_live")
error = Channel[BaseException]("error")
exit = Channel[BaseException]("exit")
done_backtest = Channel[Any]("done_backtest")
done_live = Channel[Any]("done_live")
done_walker = Channel[Any]("done_walker")
backtest_progress = Channel[Any]("backtest_progress")
walker = Channel[Any]("walker")
walker_progress = Channel[Any]("walker_progress")
walker_complete = Channel[Any]("walker_complete")
walker_stop = Channel[Any]("walker_stop")
optimizer_progress = Channel[Any]("optimizer_progress")
partial_profit = Channel[Any]("partial_profit")
partial_loss = Channel[Any]("partial_loss")
risk = Channel[Any]("risk")
performance = Channel[Any]("performance")
validation = Channel[BaseException]("validation")

ALL_CHANNELS = (
    signal, signal_backtest, signal_live, error, exit, done_backtest, done_live, done_walker,
    backtest_progress, walker, walker_progress, walker_complete, walker_stop, optimizer_progress,
    partial_profit, partial_loss, risk, performance, validation,
)


def _listen(channel: Channel[Any]) -> Callable[[Callable[[Any], Any]], Unsubscribe]:
    def listen(fn: Callable[[Any], Any]) -> Unsubscribe:
        return channel.subscribe(fn)

    listen.__doc__ = f"Call `fn(event)` for every event on the {channel.name} channel; returns unsubscribe."
    return listen


def _listen_once(channel: Channel[Any]) -> Callable[[Callable[[Any], bool], Callable[[Any], Any]], Unsubscribe]:
    def listen_once(filter_fn: Callable[[Any], bool], fn: Callable[[Any], Any]) -> Unsubscribe:
        return channel.once(filter_fn, fn)

    listen_once.__doc__ = f"Call `fn(event)` once, for the first {channel.name} event passing `filter_fn`."
    return listen_once


listen_signal = _listen(signal)
listen_signal_once = _listen_once(signal)
listen_signal_backtest = _listen(signal_backtest)
listen_signal_backtest_once = _listen_once(signal_backtest)
listen_signal_live = _listen(signal_live)
listen_signal_live_once = _listen_once(signal_live)
listen_error = _listen(error)
listen_exit = _listen(exit)
listen_done_backtest = _listen(done_backtest)
listen_done_backtest_once = _listen_once(done_backtest)
listen_done_live = _listen(done_live)
listen_done_live_once = _listen_once(done_live)
listen_done_walker = _listen(done_walker)
listen_done_walker_once = _listen_once(done_walker)
listen_backtest_progress = _listen(backtest_progress)
listen_walker = _listen(walker)
listen_walker_once = _listen_once(walker)
listen_walker_progress = _listen(walker_progress)
listen_walker_complete = _listen(walker_complete)
listen_optimizer_progress = _listen(optimizer_progress)
listen_partial_profit = _listen(partial_profit)
listen_partial_profit_once = _listen_once(partial_profit)
listen_partial_loss = _listen(partial_loss)
listen_partial_loss_once = _listen_once(partial_loss)
listen_risk = _listen(risk)
listen_risk_once = _listen_once(risk)
listen_performance = _listen(performance)
listen_validation = _listen(validation)


def clear_listeners() -> None:
    """Drop every subscription (tests)."""
    for channel in ALL_CHANNELS:
        channel.clear()
