"""A TCP fault proxy on loopback, for putting a real server (Redis, S3, RabbitMQ) behind faults.

    with FaultProxy(("127.0.0.1", 6379)) as proxy:   # listens on 127.0.0.1:<proxy.port>
        proxy.mode = "stall"                          # new connections: accepted, never answered
        ...
        proxy.mode = "pass"; proxy.cut()              # healthy again; drop the stalled ones

Modes (they apply to connections accepted from then on; `cut()` drops the current ones):
  pass    forward both ways
  delay   forward, each chunk held `delay` seconds first
  stall   accept, read and discard, never answer (a frozen server, a SIGSTOPped one)
  reset   accept and close at once with an RST (a crashed server process)
  refuse  not listening: connections are refused (a server that is down)
  http503 answer every request with `HTTP/1.1 503 Slow Down` (an S3 endpoint in trouble)

Threads only, no dependencies; every socket is closed by `close()`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
from typing import Literal

Mode = Literal["pass", "delay", "stall", "reset", "refuse", "http503"]
MODES: tuple[str, ...] = ("pass", "delay", "stall", "reset", "refuse", "http503")
HTTP_503 = (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: 97\r\nConnection: close"
            b"\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>x</Message>"
            b"</Error>")


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], *, mode: Mode = "pass", delay: float = 1.0, port: int = 0):
        self.upstream = upstream
        self.delay = delay
        self._mode: Mode = mode
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self._listener: socket.socket | None = None
        self.port = port
        self.accepted = 0
        """Connections accepted so far (a test can tell the client tried)."""
        self._listen()  # binds the port, kept across "refuse"
        if mode == "refuse":
            self._stop_listening()

    # ---- control -------------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r}: one of {', '.join(MODES)}")
        with self._lock:
            previous, self._mode = self._mode, mode
        if mode == "refuse" and previous != "refuse":
            self._stop_listening()
        elif mode != "refuse" and previous == "refuse":
            self._listen()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def url(self, scheme: str, path: str = "") -> str:
        """`scheme://127.0.0.1:<port><path>`: the proxied server's URL."""
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def cut(self) -> None:
        """Drop every connection open now (their clients see a reset)."""
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _reset(sock)

    def close(self) -> None:
        self._closed = True
        self._stop_listening()
        self.cut()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals -----------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name=f"fault-proxy-{self.port}", daemon=True).start()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _accept(self, listener: socket.socket) -> None:
        while not self._closed:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.accepted += 1
            mode = self._mode
            if mode == "reset":
                _reset(client)
                continue
            self._track(client)
            target = {"stall": self._stall, "http503": self._http503}.get(mode, self._forward)
            threading.Thread(target=target, args=(client, mode), daemon=True).start()

    def _stall(self, client: socket.socket, mode: str) -> None:
        with contextlib.suppress(OSError):
            while client.recv(65536):
                pass
        client.close()

    def _http503(self, client: socket.socket, mode: str) -> None:
        with contextlib.suppress(OSError):
            buffer = b""
            while b"\r\n\r\n" not in buffer:
                chunk = client.recv(65536)
                if not chunk:
                    break
                buffer += chunk
            client.sendall(HTTP_503)
        client.close()

    def _forward(self, client: socket.socket, mode: str) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _reset(client)
            return
        server.settimeout(None)
        self._track(server)
        pair = {client: server, server: client}
        try:
            while True:
                readable, _, _ = select.select(list(pair), [], [], 1.0)
                if self._closed:
                    break
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if mode == "delay":
                        time.sleep(self.delay)
                    pair[sock].sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            client.close()
            server.close()


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN: the peer sees 'connection reset by peer'."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


__all__ = ["MODES", "FaultProxy", "Mode"]
