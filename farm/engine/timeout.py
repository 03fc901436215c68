"""Calling user code under `max_signal_generation_seconds` (SPEC §5.4 step 4).

A per-call thread or timer would cost more than the strategy itself on every tick. Instead a
call only stamps its start time; one daemon watchdog thread polls and, past the deadline,
raises `SignalTimeoutError` inside the stuck thread (`PyThreadState_SetAsyncExc`). That stops a
pure-Python loop at once; a call blocked inside C (a long `time.sleep`) is stopped when it
returns. Coroutine functions run on a private event loop under `asyncio.wait_for`.
"""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

from farm.errors import SignalTimeoutError


class _Watch:
    __slots__ = ("thread_id", "started", "timeout", "active", "message", "fired")

    def __init__(self, thread_id: int):
        self.thread_id = thread_id
        self.started = 0.0
        self.timeout = 0.0
        self.active = False
        self.message = ""
        self.fired = False


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: list[_Watch] = []
        self._thread: threading.Thread | None = None

    def register(self) -> _Watch:
        watch = _Watch(threading.get_ident())
        with self._lock:
            self._watches.append(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="farm-signal-watchdog", daemon=True)
                self._thread.start()
        return watch

    def unregister(self, watch: _Watch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)

    def _run(self) -> None:
        while True:
            with self._lock:
                watches = list(self._watches)
            period = min((w.timeout for w in watches if w.timeout > 0), default=1.0)
            time.sleep(max(0.005, min(0.5, period / 10)))
            now = time.monotonic()
            for w in watches:
                with self._lock:
                    if w.active and w.timeout > 0 and now - w.started >= w.timeout:
                        w.active = False
                        w.fired = True
                        exc = type(
                            "SignalTimeoutError", (SignalTimeoutError,), {"__init__": _fixed_message(w.message)}
                        )
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(w.thread_id), ctypes.py_object(exc))


def _fixed_message(message: str) -> Callable[..., None]:
    def __init__(self: BaseException, *args: Any) -> None:
        BaseException.__init__(self, message)

    return __init__


_watchdog = _Watchdog()


class GuardedCall:
    """`fn(*args, **params)` with a deadline; one instance per strategy runtime."""

    def __init__(self, fn: Callable[..., Any], params: dict[str, Any]):
        self.fn = fn
        self.params = params
        self.is_async = inspect.iscoroutinefunction(fn)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watch: _Watch | None = None

    def __call__(self, timeout: float, message: str, *args: Any) -> Any:
        if self.is_async:
            return self._call_async(timeout, message, *args)
        if timeout <= 0:
            return self.fn(*args, **self.params)
        watch = self._watch
        if watch is None or watch.thread_id != threading.get_ident():
            watch = self._watch = _watchdog.register()
        watch.timeout = timeout
        watch.message = message
        started = watch.started = time.monotonic()
        watch.active = True
        try:
            result = self.fn(*args, **self.params)
        finally:
            watch.active = False  # no lock on the hot path: a late injection is cancelled below
            if watch.fired:
                with _watchdog._lock:
                    watch.fired = False
                    # The watchdog may have raced the return: drop an exception still pending.
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(watch.thread_id), None)
        if time.monotonic() - started >= timeout:
            raise SignalTimeoutError(message)
        return result

    def _call_async(self, timeout: float, message: str, *args: Any) -> Any:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        coro = self.fn(*args, **self.params)
        try:
            if timeout > 0:
                return self._loop.run_until_complete(asyncio.wait_for(coro, timeout))
            return self._loop.run_until_complete(coro)
        except TimeoutError:
            raise SignalTimeoutError(message) from None

    def close(self) -> None:
        if self._watch is not None:
            _watchdog.unregister(self._watch)
            self._watch = None
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
        self._loop = None
