"""The optimizer's Ollama client against a loopback Ollama-protocol server: replies stored by
content, invalid structured replies retried a bounded number of times, the key never shown."""

from __future__ import annotations

import json
import os

import pytest

from farm.errors import is_permanent
from farm.optimizer.llm import LlmClient, LlmReplyError, LlmUnavailableError, reply_store_key
from farm.optimizer.settings import get_llm_settings
from farm.persist import open_store

QUESTION = [{"role": "user", "content": "Current price: 2.5. Long or short?"}]


def client(tmp_path, **env) -> LlmClient:
    return LlmClient(store=open_store(f"file://{tmp_path / 'replies'}"))


def test_a_reply_is_asked_once_then_read_from_the_store_by_any_client(fake_ollama, tmp_path):
    first = client(tmp_path)
    signal = first.ask_signal(QUESTION)
    assert signal.position in ("long", "short", "wait") and signal.price_open == 2.5
    assert first.ask_signal(QUESTION) == signal
    assert fake_ollama.calls == 1 and first.requests == 1 and first.hits == 1
    # Another client (another process, another worker) on the same store: no request at all.
    second = client(tmp_path)
    assert second.ask_signal(QUESTION) == signal
    assert fake_ollama.calls == 1 and second.requests == 0
    # The request was Ollama's: the model, the schema as `format`, deterministic options.
    sent = fake_ollama.requests[0]
    assert sent["path"] == "/api/chat" and sent["model"] == "fake-model:1b"
    assert sent["format"]["properties"]["position"]["enum"] == ["wait", "long", "short"]
    assert sent["options"] == {"temperature": 0, "seed": 0}


def test_the_key_covers_model_messages_and_options(fake_ollama, tmp_path, monkeypatch):
    client(tmp_path).ask_text(QUESTION)
    client(tmp_path).ask_text([{"role": "user", "content": "another question"}])
    assert fake_ollama.calls == 2
    monkeypatch.setenv("FARM_LLM_MODEL", "other-model")
    client(tmp_path).ask_text(QUESTION)
    monkeypatch.setenv("FARM_LLM_SEED", "7")
    client(tmp_path).ask_text(QUESTION)
    assert fake_ollama.calls == 4
    monkeypatch.setenv("FARM_LLM_API_KEY", "another-key")  # the key decides no answer
    client(tmp_path).ask_text(QUESTION)
    assert fake_ollama.calls == 4


def test_an_invalid_reply_is_asked_again_with_the_problem_and_only_the_valid_one_is_stored(fake_ollama, tmp_path):
    fake_ollama.invalid_replies = 2  # not JSON, then a JSON object missing fields
    llm = client(tmp_path)
    signal = llm.ask_signal(QUESTION)
    assert llm.requests == 3 and fake_ollama.calls == 3
    retry = fake_ollama.requests[1]["messages"]
    assert retry[: len(QUESTION)] == QUESTION and "invalid" in retry[-1]["content"]
    assert "not JSON" in retry[-1]["content"]
    assert "note: Field required" in fake_ollama.requests[2]["messages"][-1]["content"]
    stored = [k for k in llm.store.list("llm/replies/")]
    assert len(stored) == 1
    record = json.loads(llm.store.read(stored[0]))
    assert record["attempts"] == 3 and json.loads(record["content"])["position"] == signal.position
    assert client(tmp_path).ask_signal(QUESTION) == signal and fake_ollama.calls == 3


def test_replies_that_stay_invalid_end_in_a_clear_permanent_error(fake_ollama, tmp_path, monkeypatch):
    monkeypatch.setenv("FARM_LLM_MAX_ATTEMPTS", "2")
    fake_ollama.invalid_replies = 10
    llm = client(tmp_path)
    with pytest.raises(LlmReplyError, match=r"no valid reply in 2 attempt\(s\).*FARM_LLM_MAX_ATTEMPTS") as info:
        llm.ask_signal(QUESTION)
    assert is_permanent(info.value) and fake_ollama.calls == 2
    assert list(llm.store.list("llm/")) == []  # nothing invalid is kept


def test_the_api_key_is_sent_as_a_bearer_token_and_never_shown(fake_ollama, tmp_path):
    client(tmp_path).ask_text(QUESTION)
    assert fake_ollama.authorizations == ["Bearer sk-test-secret-key"]
    settings = get_llm_settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "sk-test-secret-key" not in text
    for key in client(tmp_path).store.list(""):
        assert b"sk-test-secret-key" not in client(tmp_path).store.read(key)


def test_an_unreachable_endpoint_is_a_transient_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FARM_LLM_HOST", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("FARM_LLM_API_KEY", "sk-test-secret-key")
    with pytest.raises(LlmUnavailableError, match="127.0.0.1:9") as info:
        client(tmp_path).ask_text(QUESTION)
    assert isinstance(info.value, ConnectionError) and "sk-test" not in str(info.value)


def test_an_unreadable_stored_reply_is_asked_again(fake_ollama, tmp_path):
    llm = client(tmp_path)
    first = llm.ask_signal(QUESTION)
    key = next(iter(llm.store.list("llm/replies/")))
    llm.store.write(key, b"{broken")
    assert client(tmp_path).ask_signal(QUESTION) == first and fake_ollama.calls == 2
    assert key == reply_store_key(key.rsplit("/", 1)[1].removesuffix(".json"))


def test_the_test_server_speaks_ollama_s_protocol_to_the_ollama_package(fake_ollama):
    import ollama

    client = ollama.Client(host=fake_ollama.host)
    chat = client.chat(model="m", messages=[{"role": "user", "content": "hi"}])
    generated = client.generate(model="m", prompt="hi")
    assert chat.message.content.startswith("Buy breakouts") and generated.response.startswith("Buy breakouts")
    assert [r["path"] for r in fake_ollama.requests] == ["/api/chat", "/api/generate"]


def test_on_a_cluster_the_replies_live_in_the_s3_store_every_worker_shares(fake_ollama, s3_bucket, monkeypatch):
    import boto3

    from farm.optimizer import llm

    monkeypatch.setenv("FARM_S3_BUCKET", s3_bucket)
    monkeypatch.setenv("FARM_S3_PREFIX", "farm")
    answer = llm.ask_text(QUESTION)
    s3 = boto3.client("s3", endpoint_url=os.environ["FARM_S3_ENDPOINT_URL"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith("farm/llm/replies/")
    monkeypatch.setattr(llm, "_clients", {})  # as a fresh worker process would start
    assert llm.ask_text(QUESTION) == answer and fake_ollama.calls == 1
