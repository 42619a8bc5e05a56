"""The Ollama wrapper with the real `ollama` client against the protocol server: what is retried,
what is not, the bounds, and the counters."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from structlog.testing import capture_logs

from jobs.errors import JobInterrupted, ModelMissing, OllamaRejected, OllamaUnavailable
from jobs.llm import OllamaChat, RetryPolicy
from jobs.sentiment import label_items, labels_schema
from tests.job.conftest import TEST_MODEL

MESSAGES = [{"role": "user", "content": "Label these 2 comments:\n1. Great!\n2. Terrible."}]


def chat_for(
    url: str,
    *,
    model: str = TEST_MODEL,
    attempts: int = 5,
    max_seconds: float = 30,
    backoff: float = 0.0,
    timeout: float = 5.0,
    halt=None,
) -> OllamaChat:
    return OllamaChat(
        host=url,
        model=model,
        timeout_seconds=timeout,
        policy=RetryPolicy(attempts, max_seconds, backoff, backoff),
        halt=halt,
    )


def label(chat: OllamaChat):
    return chat.complete_json(
        MESSAGES,
        labels_schema(2),
        accept=label_items,
        seed=100,
        temperature=0,
        max_tokens=50,
        purpose="classify",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_good_answer_is_parsed_and_its_tokens_counted(ollama):
    chat = chat_for(ollama.url)
    answer = label(chat)
    assert answer.items == [
        {"item": 1, "sentiment": "positive"},
        {"item": 2, "sentiment": "negative"},
    ]
    assert chat.usage.calls == 1
    assert chat.usage.prompt_tokens == ollama.stats.prompt_tokens > 0
    assert chat.usage.completion_tokens == ollama.stats.completion_tokens > 0
    # The request carried the strict schema as `format`.
    assert ollama.stats.formats[0]["properties"]["labels"]["minItems"] == 2


def test_5xx_and_garbage_are_retried_with_a_new_seed_each_time_and_logged(ollama):
    ollama.behaviour.error_rate = 0.5
    ollama.behaviour.garbage_rate = 0.4
    chat = chat_for(ollama.url, attempts=50)
    with capture_logs() as logs:
        for _ in range(10):
            label(chat)
    assert ollama.stats.answers["http_500"] > 0 and ollama.stats.answers["garbage"] > 0
    retries = [entry for entry in logs if entry["event"] == "ollama_retry"]
    assert (
        len(retries)
        == chat.usage.retries
        == (ollama.stats.answers["http_500"] + ollama.stats.answers["garbage"])
    )
    assert {entry["kind"] for entry in retries} <= {
        "http_5xx",
        "invalid_answer",
        "unreadable_response",
    }
    assert all(entry["model"] == TEST_MODEL and entry["reason"] for entry in retries)
    first_call_seeds = ollama.stats.seeds[: retries[0]["attempt"] + 1]
    assert len(set(first_call_seeds)) == len(first_call_seeds)


def test_a_4xx_is_not_retried(ollama):
    ollama.behaviour.client_error_status = 400
    chat = chat_for(ollama.url)
    with pytest.raises(OllamaRejected, match=r"refused the request .* \(HTTP 400\)"):
        label(chat)
    assert ollama.stats.chat_calls == 1


def test_a_missing_model_is_not_retried_and_the_message_says_how_to_pull(ollama):
    chat = chat_for(ollama.url, model="llama9:70b")
    with pytest.raises(ModelMissing) as error:
        chat.ensure_model(pull=False)
    message = str(error.value)
    assert "llama9:70b" in message and ollama.url in message
    assert "ollama pull llama9:70b" in message and "OLLAMA_PULL_MODEL=true" in message
    with pytest.raises(ModelMissing):
        label(chat)
    assert ollama.stats.chat_calls == 1


def test_a_missing_model_is_pulled_when_allowed(ollama):
    chat = chat_for(ollama.url, model="fresh-model")
    with capture_logs() as logs:
        chat.ensure_model(pull=True)
    assert "fresh-model:latest" in ollama.behaviour.models
    assert [e["event"] for e in logs if e["event"].startswith("model_pull")] == [
        "model_pull_started",
        "model_pull_progress",
        "model_pull_finished",
    ]
    assert label(chat).items


def test_ollama_down_fails_clearly_within_the_attempt_bound():
    url = f"http://127.0.0.1:{free_port()}"
    chat = chat_for(url, attempts=3, backoff=0.05)
    started = time.monotonic()
    with pytest.raises(OllamaUnavailable) as error:
        label(chat)
    assert time.monotonic() - started < 5
    message = str(error.value)
    assert url in message and TEST_MODEL in message
    assert "after 3 attempt(s)" in message and "cannot connect" in message
    assert chat.usage.retries == 2


def test_the_total_time_bound_stops_retries_before_the_attempt_bound():
    chat = chat_for(f"http://127.0.0.1:{free_port()}", attempts=1000, max_seconds=1.0, backoff=0.2)
    started = time.monotonic()
    with pytest.raises(OllamaUnavailable):
        label(chat)
    assert time.monotonic() - started < 2.5


def test_a_slow_server_times_out_and_is_retried(ollama):
    ollama.behaviour.delay_s = 0.6
    chat = chat_for(ollama.url, attempts=2, timeout=0.2)
    with pytest.raises(OllamaUnavailable, match=r"no answer within OLLAMA_TIMEOUT_SECONDS=0\.2"):
        label(chat)
    assert chat.usage.retries == 1


def test_halt_interrupts_the_backoff_at_once():
    halt = threading.Event()
    chat = chat_for(
        f"http://127.0.0.1:{free_port()}", attempts=10, max_seconds=600, backoff=30.0, halt=halt
    )
    threading.Timer(0.3, halt.set).start()
    started = time.monotonic()
    with pytest.raises(JobInterrupted):
        label(chat)
    assert time.monotonic() - started < 3
