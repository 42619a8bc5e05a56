"""The Ollama wrapper with the real `ollama` client against the protocol server: what is retried,
what is not, the bounds, waiting for the model, and the counters."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from structlog.testing import capture_logs

from jobs.errors import (
    AnswerUnusable,
    JobInterrupted,
    ModelMissing,
    OllamaRejected,
    OllamaUnavailable,
)
from jobs.llm import OllamaChat, RetryPolicy
from jobs.sentiment import labels_schema, read_labels
from testkit.ports import free_port
from tests.job.conftest import TEST_MODEL

MESSAGES = [{"role": "user", "content": "Label these 2 comments:\n1. Great!\n2. Terrible."}]


def chat_for(
    url: str,
    *,
    model: str = TEST_MODEL,
    give_up: float = 30,
    backoff: float = 0.0,
    timeout: float = 5.0,
    model_wait: float = 30,
    halt=None,
) -> OllamaChat:
    return OllamaChat(
        host=url,
        model=model,
        timeout_seconds=timeout,
        policy=RetryPolicy(give_up, backoff, backoff, model_wait),
        halt=halt,
    )


def label(chat: OllamaChat):
    return chat.complete_json(
        MESSAGES,
        labels_schema(2),
        accept=lambda content: read_labels(content, 2),
        seed=100,
        temperature=0,
        max_tokens=50,
        purpose="classify",
    )


def test_a_good_answer_is_parsed_and_its_tokens_counted(ollama):
    chat = chat_for(ollama.url)
    answer = label(chat)
    assert answer.result.labels == {1: "positive", 2: "negative"}
    assert chat.usage.calls == 1
    assert chat.usage.prompt_tokens == ollama.stats.prompt_tokens > 0
    assert chat.usage.completion_tokens == ollama.stats.completion_tokens > 0
    assert chat.usage.tokens_per_second == pytest.approx(1000)  # the server's own counters
    # The request carried the strict schema as `format`, and the token cap.
    assert ollama.stats.formats[0]["properties"]["labels"]["minItems"] == 2
    assert ollama.stats.num_predicts == [50]


def test_5xx_and_garbage_are_retried_with_a_new_seed_each_time_and_logged(ollama):
    ollama.behaviour.error_rate = 0.5
    ollama.behaviour.garbage_rate = 0.2
    chat = chat_for(ollama.url)
    with capture_logs() as logs:
        for _ in range(10):
            # Three garbage answers in a row end a call as unusable: its caller asks later.
            with contextlib.suppress(AnswerUnusable):
                label(chat)
    assert ollama.stats.answers["http_500"] > 0 and ollama.stats.answers["garbage"] > 0
    retries = [entry for entry in logs if entry["event"] == "ollama_retry"]
    assert len(retries) == chat.usage.retries > 0
    assert {entry["kind"] for entry in retries} <= {
        "http_5xx",
        "invalid_answer",
        "unreadable_response",
    }
    assert all(entry["model"] == TEST_MODEL and entry["reason"] for entry in retries)
    first_call_seeds = ollama.stats.seeds[: retries[0]["attempt"] + 1]
    assert len(set(first_call_seeds)) == len(first_call_seeds)


def test_unusable_answers_give_up_the_call_not_the_run(ollama):
    ollama.behaviour.garbage_rate = 1.0
    chat = chat_for(ollama.url)
    with pytest.raises(AnswerUnusable):
        label(chat)
    assert ollama.stats.chat_calls == 3  # UNUSABLE_ANSWERS_PER_CALL


def test_a_4xx_is_not_retried(ollama):
    ollama.behaviour.client_error_status = 400
    chat = chat_for(ollama.url)
    with pytest.raises(OllamaRejected, match=r"refused the request .* \(HTTP 400\)"):
        label(chat)
    assert ollama.stats.chat_calls == 1


def test_a_missing_model_is_waited_for_then_named_with_how_to_pull(ollama):
    chat = chat_for(ollama.url, model="llama9:70b", model_wait=0.5)
    started = time.monotonic()
    with pytest.raises(ModelMissing) as error:
        chat.wait_for_model(pull=False)
    assert time.monotonic() - started < 5
    message = str(error.value)
    assert "llama9:70b" in message and ollama.url in message
    assert "ollama pull llama9:70b" in message and "OLLAMA_PULL_MODEL=true" in message
    with pytest.raises(ModelMissing):
        label(chat)
    assert ollama.stats.chat_calls == 1


def test_a_model_that_appears_later_ends_the_wait(ollama):
    chat = chat_for(ollama.url, model="late-model")
    seen = []
    threading.Timer(0.5, ollama.add_model, args=("late-model",)).start()
    chat.wait_for_model(pull=False, on_progress=seen.append)
    assert seen and seen[0].status == "waiting"


def test_a_missing_model_is_pulled_when_allowed_with_its_progress(ollama):
    ollama.behaviour.pull_seconds = 0.3
    chat = chat_for(ollama.url, model="fresh-model")
    seen = []
    with capture_logs() as logs:
        chat.wait_for_model(pull=True, on_progress=seen.append)
    assert "fresh-model:latest" in ollama.behaviour.models
    percents = [p.percent for p in seen if p.percent is not None]
    assert percents == sorted(percents) and percents[-1] == 100.0 and len(percents) > 3
    assert [e["event"] for e in logs] == [
        "model_pull_started",
        "model_pull_finished",
        "model_ready",
    ]
    assert label(chat).result.labels


def test_a_server_not_up_yet_is_waited_for(ollama):
    url = f"http://127.0.0.1:{free_port()}"
    chat = chat_for(url, model_wait=0.5)
    with pytest.raises(ModelMissing, match="cannot connect"):
        chat.wait_for_model(pull=True)


def test_ollama_down_fails_clearly_once_it_has_been_silent_for_the_bound():
    url = f"http://127.0.0.1:{free_port()}"
    chat = chat_for(url, give_up=1.0, backoff=0.05)
    started = time.monotonic()
    with pytest.raises(OllamaUnavailable) as error:
        label(chat)
    assert 0.9 <= time.monotonic() - started < 4  # the clock started with the client
    message = str(error.value)
    assert url in message and TEST_MODEL in message
    assert "OLLAMA_GIVE_UP_SECONDS=1" in message and "cannot connect" in message
    assert chat.usage.retries > 2


def test_a_usable_answer_on_another_call_keeps_a_failing_call_going(ollama):
    """The bound is the server's silence, not one call's bad luck."""
    chat = chat_for(ollama.url, give_up=1.0)
    ollama.behaviour.error_rate = 1.0
    result: list = []
    worker = threading.Thread(target=lambda: result.append(label(chat)))
    worker.start()
    for _ in range(6):  # another thread's calls succeed now and then
        time.sleep(0.3)
        chat.health.usable()
    ollama.behaviour.error_rate = 0.0
    worker.join(5)
    assert result and result[0].result.labels


def test_a_slow_server_times_out_and_is_retried(ollama):
    ollama.behaviour.delay_s = 0.6
    chat = chat_for(ollama.url, give_up=1.0, timeout=0.2)
    with pytest.raises(OllamaUnavailable, match=r"no answer within OLLAMA_TIMEOUT_SECONDS=0\.2"):
        label(chat)
    assert chat.usage.retries >= 1


def test_halt_interrupts_the_backoff_at_once():
    halt = threading.Event()
    chat = chat_for(f"http://127.0.0.1:{free_port()}", give_up=600, backoff=30.0, halt=halt)
    threading.Timer(0.3, halt.set).start()
    started = time.monotonic()
    with pytest.raises(JobInterrupted):
        label(chat)
    assert time.monotonic() - started < 3


def test_halt_interrupts_the_wait_for_the_model(ollama):
    halt = threading.Event()
    chat = chat_for(ollama.url, model="never-there", model_wait=600, halt=halt)
    threading.Timer(0.3, halt.set).start()
    with pytest.raises(JobInterrupted):
        chat.wait_for_model(pull=False)
