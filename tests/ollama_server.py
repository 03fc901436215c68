"""An Ollama-protocol HTTP server on loopback for tests: `POST /api/chat` and `POST
/api/generate` as the `ollama` package calls them (non-streaming), deterministic answers.

* A chat request with a JSON-schema `format` gets a trading decision derived from the request:
  the price is read from the last "Current price: X" in the conversation, the side from a hash
  of the messages (long, short or wait), take-profit/stop-loss 2 % away, 120 minutes.
* A request without `format` gets a strategy text that quotes a hash of its messages, so other
  data gives another prompt.
* `invalid_replies = n` makes the next n structured replies invalid (not JSON, then a JSON
  object missing fields), to exercise the client's retries.
* Every request is kept (`requests`), with the bearer token seen (`authorizations`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PRICE = re.compile(r"Current price: ([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)")


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def decide(messages: list[dict[str, Any]]) -> dict[str, Any]:
    text = "\n".join(str(m.get("content", "")) for m in messages)
    prices = PRICE.findall(text)
    price = float(prices[-1]) if prices else 100.0
    side = ("long", "short", "wait")[int(digest(messages)[:8], 16) % 3]
    up, down = price * 1.02, price * 0.98
    return {
        "position": side,
        "note": f"fake decision {digest(messages)[:8]}",
        "price_open": price,
        "price_take_profit": up if side != "short" else down,
        "price_stop_loss": down if side != "short" else up,
        "minute_estimated_time": 120,
    }


def strategy_text(messages: list[dict[str, Any]]) -> str:
    return f"Buy breakouts above the 24-bar high; strategy {digest(messages)[:12]}."


@dataclass
class FakeOllama:
    host: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    invalid_replies: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def calls(self) -> int:
        with self.lock:
            return len(self.requests)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.authorizations.clear()

    def answer(self, path: str, body: dict[str, Any], authorization: str | None) -> dict[str, Any]:
        with self.lock:
            self.requests.append({"path": path, **body})
            self.authorizations.append(authorization)
            invalid = None
            if body.get("format") and self.invalid_replies > 0:
                invalid = ("this is not json {", '{"position": "long"}')[self.invalid_replies % 2]
                self.invalid_replies -= 1
        model = body.get("model", "")
        if path == "/api/generate":
            prompt = body.get("prompt", "")
            return {"model": model, "created_at": "2024-01-01T00:00:00Z", "done": True, "done_reason": "stop",
                    "response": strategy_text([{"role": "user", "content": prompt}])}
        messages = body.get("messages") or []
        if invalid is not None:
            content = invalid
        elif body.get("format"):
            content = json.dumps(decide(messages))
        else:
            content = strategy_text(messages)
        return {"model": model, "created_at": "2024-01-01T00:00:00Z", "done": True, "done_reason": "stop",
                "message": {"role": "assistant", "content": content}}


def start(state: FakeOllama | None = None) -> tuple[FakeOllama, ThreadingHTTPServer]:
    """Serve on 127.0.0.1 (a free port) in a daemon thread; `server.shutdown()` stops it."""
    state = state or FakeOllama()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, {"error": "invalid JSON body"})
                return
            if self.path not in ("/api/chat", "/api/generate"):
                self._send(404, {"error": f"no route {self.path}"})
                return
            if body.get("stream"):
                self._send(400, {"error": "this test server answers stream=false only"})
                return
            self._send(200, state.answer(self.path, body, self.headers.get("Authorization")))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.host = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="fake-ollama", daemon=True).start()
    return state, server
