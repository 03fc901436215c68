"""The optimizer's LLM client: Ollama's protocol, every reply content-addressed in the store.

A reply is stored under the hash of everything that decides it (model, messages, output format,
options), so asking the same question again, in this process, another one or on another worker
of the cluster, reads the stored reply and makes no request: a re-run of an optimizer or of a
generated strategy's backtest is deterministic and free, and a changed prompt misses only the
questions that contain it. The endpoint, model and key come from `LlmSettings` (environment);
the key is in no cache key, log or message.

Structured replies (`ask_signal`) are validated against `SignalReply`; an invalid one is asked
again with the problem quoted back to the model, up to `max_attempts` requests, then
`LlmReplyError` (permanent: retrying the same question cannot help). Only a valid reply is
stored. A server that cannot be reached or answers 5xx/429 raises `LlmUnavailableError` (a
`ConnectionError`: a farm job that meets it is retried).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from farm.errors import FarmError, PermanentError
from farm.optimizer.settings import LlmSettings, get_llm_settings
from farm.persist import Store, open_store

T = TypeVar("T")

SIGNAL_NOTE = "at most 360 minutes; prices in the quote currency"


class SignalReply(BaseModel):
    """What the generated strategy asks the model for (SPEC §12.3's JSON schema, snake_case)."""

    model_config = ConfigDict(extra="forbid")

    position: Literal["wait", "long", "short"] = Field(description="wait: no trade now")
    note: str = Field(description="why, in one or two sentences")
    price_open: float = Field(description="entry price")
    price_take_profit: float = Field(description="take-profit price")
    price_stop_loss: float = Field(description="stop-loss price")
    minute_estimated_time: float = Field(description=f"expected holding time in minutes, {SIGNAL_NOTE}")


SIGNAL_SCHEMA: dict[str, Any] = SignalReply.model_json_schema()


class LlmError(FarmError):
    """The LLM could not give an answer."""


class LlmReplyError(LlmError, PermanentError):
    """Every attempt gave a reply that is not valid against the schema."""


class LlmUnavailableError(LlmError, ConnectionError):
    """The endpoint could not be reached or is overloaded (transient)."""


def reply_key(model: str, messages: Sequence[Mapping[str, Any]], fmt: Any, options: Mapping[str, Any]) -> str:
    """The content address of a question: sha256 of its canonical JSON."""
    body = json.dumps({"model": model, "messages": [dict(m) for m in messages], "format": fmt,
                       "options": dict(options)}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def reply_store_key(key: str) -> str:
    """`llm/replies/<2 hex>/<sha256>.json` (fanned out: a long run asks tens of thousands)."""
    return f"llm/replies/{key[:2]}/{key}.json"


class LlmClient:
    """One endpoint and one reply store. `requests` counts the requests this object sent,
    `hits` the replies read from the store (for reports and tests)."""

    def __init__(self, settings: LlmSettings | None = None, store: Store | None = None):
        self.settings = settings or get_llm_settings()
        self._store = store
        self._ollama: Any = None
        self._lock = threading.Lock()
        self.requests = 0
        self.hits = 0

    @property
    def store(self) -> Store:
        if self._store is None:
            from farm.persist.known import default_store_url

            self._store = open_store(self.settings.store or default_store_url())
        return self._store

    @property
    def options(self) -> dict[str, Any]:
        return {"temperature": 0, "seed": self.settings.seed}

    def ask_text(self, messages: Sequence[Mapping[str, Any]]) -> str:
        """A free-text answer (the user's `get_prompt` turning data into a strategy)."""
        return self._ask(messages, None, lambda content: content)

    def ask_signal(self, messages: Sequence[Mapping[str, Any]]) -> SignalReply:
        """A trading decision, validated against `SignalReply`."""
        return self._ask(messages, SIGNAL_SCHEMA, parse_signal)

    def ask_json(self, messages: Sequence[Mapping[str, Any]], schema: dict[str, Any],
                 parse: Callable[[str], T]) -> T:
        """Any structured answer: `parse` raises ValueError on an invalid reply."""
        return self._ask(messages, schema, parse)

    def _ask(self, messages: Sequence[Mapping[str, Any]], fmt: Any, parse: Callable[[str], T]) -> T:
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
        key = reply_key(self.settings.model, messages, fmt, self.options)
        stored = self.store.read(reply_store_key(key))
        if stored is not None:
            try:
                content = json.loads(stored)["content"]
                result = parse(content)
                with self._lock:
                    self.hits += 1
                return result
            except (ValueError, KeyError, TypeError):
                pass  # an unreadable record is asked again and overwritten
        conversation = list(messages)
        problems: list[str] = []
        for _ in range(self.settings.max_attempts):
            content = self._request(conversation, fmt)
            try:
                result = parse(content)
            except ValueError as exc:
                problem = str(exc).splitlines()[0][:300]
                problems.append(problem)
                # The model sees what was wrong; the stored reply stays under the question's key.
                conversation = [*messages, {"role": "assistant", "content": content},
                                {"role": "user", "content": f"That reply is invalid ({problem}). "
                                                            "Answer again with the JSON object only."}]
                continue
            record = {"model": self.settings.model, "content": content, "attempts": len(problems) + 1}
            self.store.write(reply_store_key(key), json.dumps(record, ensure_ascii=False).encode())
            return result
        raise LlmReplyError(
            f"model {self.settings.model} gave no valid reply in {self.settings.max_attempts} attempt(s) "
            f"(FARM_LLM_MAX_ATTEMPTS); last problem: {problems[-1]}"
        )

    def _client(self) -> Any:
        if self._ollama is None:
            try:
                import ollama
            except ImportError:
                raise LlmError("the optimizer's LLM client needs the ollama package: "
                               "pip install 'backtest-farm[llm]'") from None
            key = self.settings.api_key
            headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else None
            self._ollama = ollama.Client(host=self.settings.host, headers=headers, timeout=self.settings.timeout)
        return self._ollama

    def _request(self, messages: list[dict[str, str]], fmt: Any) -> str:
        import httpx
        import ollama

        with self._lock:
            self.requests += 1
        try:
            response = self._client().chat(model=self.settings.model, messages=messages, format=fmt,
                                           options=self.options, stream=False)
        except ollama.ResponseError as exc:
            message = f"{self.settings.host} answered {exc.status_code}: {str(exc.error)[:200]}"
            if exc.status_code >= 500 or exc.status_code == 429:
                raise LlmUnavailableError(message) from None
            raise LlmError(message) from None
        except (ConnectionError, httpx.TransportError) as exc:
            raise LlmUnavailableError(f"cannot reach the LLM at {self.settings.host}: {type(exc).__name__}") from None
        return response.message.content or ""


def parse_signal(content: str) -> SignalReply:
    """The reply's JSON object as a `SignalReply`; ValueError naming the problem otherwise."""
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at character {exc.pos}") from None
    try:
        return SignalReply.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{'.'.join(map(str, first['loc'])) or 'reply'}: {first['msg']}") from None


_clients: dict[tuple[int, str], LlmClient] = {}
_clients_lock = threading.Lock()


def default_client() -> LlmClient:
    """This process's client for the settings and the store in force (one per process: a forked
    pool process or a worker builds its own connections)."""
    from farm.persist.known import default_store_url

    settings = get_llm_settings()
    store_url = settings.store or default_store_url()
    secret = settings.api_key.get_secret_value() if settings.api_key else ""
    key = (os.getpid(), settings.model_dump_json(), store_url, hashlib.sha256(secret.encode()).hexdigest())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = LlmClient(settings, open_store(store_url))
        return client


def ask_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """`default_client().ask_text`: what a user's `get_prompt` calls."""
    return default_client().ask_text(messages)


def ask_signal(messages: Sequence[Mapping[str, Any]]) -> SignalReply:
    return default_client().ask_signal(messages)


__all__ = ["LlmClient", "LlmError", "LlmReplyError", "LlmUnavailableError", "SIGNAL_SCHEMA", "SignalReply",
           "ask_signal", "ask_text", "default_client", "parse_signal", "reply_key", "reply_store_key"]
