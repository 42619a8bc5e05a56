"""Ollama through its official client: the model check (or pull) at start, and JSON answers with
bounded, logged retries.

Retried (they can succeed on a second try): connection errors, timeouts and other transport
errors, HTTP 5xx, unreadable responses, and answers that are not JSON of the requested shape.
Never retried: HTTP 4xx such as "model not found" (asking again cannot help). Waits grow
exponentially with full jitter; attempts and total time are both bounded; every retry is logged.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx
import ollama
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    stop_when_event_set,
    wait_random_exponential,
)

from jobs.errors import (
    InvalidAnswer,
    JobInterrupted,
    ModelMissing,
    OllamaRejected,
    OllamaUnavailable,
)

log = structlog.get_logger("jobs.llm")
T = TypeVar("T")
PULL_LOG_SECONDS = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    max_seconds: float = 600.0  # total time of one call including its retries
    backoff_seconds: float = 1.0  # scale of the first wait; waits double, with full jitter
    backoff_max_seconds: float = 30.0


@dataclass
class Usage:
    """Calls, retries and tokens across all threads of a run."""

    calls: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retry_reasons: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_call(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += prompt_tokens or 0
            self.completion_tokens += completion_tokens or 0

    def add_retry(self, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.retry_reasons[reason] += 1

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Answer:
    items: list  # what `accept` returned: the records or labels of the answer
    prompt_tokens: int
    completion_tokens: int


class ChatModel(Protocol):
    """What generation and classification need from a model (Ollama, or an instant stand-in in
    the benchmark)."""

    model: str

    def complete_json(
        self,
        messages: list[dict],
        schema: dict,
        *,
        accept: Callable[[Any], list],
        seed: int,
        temperature: float,
        max_tokens: int,
        purpose: str,
    ) -> Answer: ...


class _Transient(Exception):
    """A failure worth another attempt; the message is the reason that gets logged."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.kind = kind  # short label for counting: http_5xx, timeout, invalid_json, ...


class OllamaChat:
    """Thread-safe: one httpx connection pool shared by the worker threads."""

    def __init__(
        self,
        *,
        host: str,
        model: str,
        timeout_seconds: float,
        policy: RetryPolicy,
        usage: Usage | None = None,
        halt: threading.Event | None = None,
    ) -> None:
        self.host = host
        self.model = model
        self.timeout_seconds = timeout_seconds
        self.policy = policy
        self.usage = usage or Usage()
        self.halt = halt or threading.Event()
        self.client = ollama.Client(
            host=host, timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0))
        )

    # -- the start check ------------------------------------------------------------------------

    def ensure_model(self, *, pull: bool) -> None:
        """Checks that the model is there; pulls it when allowed, else says how to pull it."""
        try:
            self._with_retries(lambda _attempt: self.client.show(self.model), "model_check")
            log.info("model_ready", host=self.host, model=self.model)
            return
        except ModelMissing:
            if not pull:
                raise ModelMissing(
                    f"model '{self.model}' is not on Ollama at {self.host}. Pull it first "
                    f"(`ollama pull {self.model}`; with compose: `docker compose exec ollama "
                    f"ollama pull {self.model}`), or set OLLAMA_PULL_MODEL=true to let the job "
                    "pull it"
                ) from None
        log.info("model_pull_started", host=self.host, model=self.model)
        self._with_retries(lambda _attempt: self._pull(), "model_pull")
        log.info("model_pull_finished", host=self.host, model=self.model)

    def _pull(self) -> None:
        last_log = 0.0
        for progress in self.client.pull(self.model, stream=True):
            now = time.monotonic()
            if now - last_log >= PULL_LOG_SECONDS:
                last_log = now
                log.info(
                    "model_pull_progress",
                    model=self.model,
                    status=progress.status,
                    completed=progress.completed,
                    total=progress.total,
                )
            if self.halt.is_set():
                raise JobInterrupted()

    # -- answers --------------------------------------------------------------------------------

    def complete_json(
        self,
        messages: list[dict],
        schema: dict,
        *,
        accept: Callable[[Any], list],
        seed: int,
        temperature: float,
        max_tokens: int,
        purpose: str,
    ) -> Answer:
        """Asks until the answer is JSON that `accept` takes (it raises InvalidAnswer otherwise).
        Each attempt uses another seed: re-sending the same seed would reproduce the same bad
        answer."""

        def attempt(number: int) -> Answer:
            response = self.client.chat(
                model=self.model,
                messages=messages,
                format=schema,
                stream=False,
                options={
                    "temperature": temperature,
                    "seed": seed + number - 1,
                    "num_predict": max_tokens,
                },
            )
            self.usage.add_call(response.prompt_eval_count, response.eval_count)
            content = response.message.content or ""
            try:
                data = json.loads(content)
            except ValueError:
                raise InvalidAnswer(f"not JSON: {content[:80]!r}") from None
            return Answer(accept(data), response.prompt_eval_count or 0, response.eval_count or 0)

        return self._with_retries(attempt, purpose)

    # -- retries --------------------------------------------------------------------------------

    def _with_retries(self, call: Callable[[int], T], purpose: str) -> T:
        policy = self.policy
        started = time.monotonic()
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=(
                stop_after_attempt(policy.max_attempts)
                | stop_before_delay(policy.max_seconds)
                | stop_when_event_set(self.halt)
            ),
            wait=wait_random_exponential(
                multiplier=policy.backoff_seconds, max=policy.backoff_max_seconds
            ),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(state, purpose),
            reraise=True,
        )
        number = 0
        try:
            for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    return self._translated(call, number)
        except _Transient as exc:
            if self.halt.is_set():
                raise JobInterrupted() from None
            raise OllamaUnavailable(
                f"Ollama at {self.host} (model {self.model}) gave no usable answer to the "
                f"{purpose} request after {number} attempt(s) in "
                f"{time.monotonic() - started:.1f} s; last problem: {exc}. Check that Ollama is "
                "running and reachable at OLLAMA_HOST, or allow more with OLLAMA_MAX_ATTEMPTS / "
                "OLLAMA_RETRY_MAX_SECONDS / OLLAMA_TIMEOUT_SECONDS"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _translated(self, call: Callable[[int], T], number: int) -> T:
        """Runs one attempt, sorting failures into retryable ones and final ones."""
        try:
            return call(number)
        except ollama.ResponseError as exc:
            if exc.status_code >= 500:
                raise _Transient(f"HTTP {exc.status_code}: {exc.error}", "http_5xx") from None
            if exc.status_code == 404:
                raise ModelMissing(
                    f"model '{self.model}' was not found on Ollama at {self.host}: {exc.error}"
                ) from None
            raise OllamaRejected(
                f"Ollama at {self.host} refused the request for model {self.model} "
                f"(HTTP {exc.status_code}): {exc.error}"
            ) from None
        except ConnectionError:  # the client's translation of httpx.ConnectError
            raise _Transient(f"cannot connect to {self.host}", "connection") from None
        except httpx.TimeoutException:
            raise _Transient(
                f"no answer within OLLAMA_TIMEOUT_SECONDS={self.timeout_seconds:g}", "timeout"
            ) from None
        except httpx.TransportError as exc:
            raise _Transient(f"transport error: {type(exc).__name__}", "transport") from None
        except InvalidAnswer as exc:
            raise _Transient(f"answer does not fit the schema ({exc})", "invalid_answer") from None
        except ValueError:  # the HTTP body was not the JSON the protocol promises
            raise _Transient("unreadable response body", "unreadable_response") from None

    def _sleep(self, seconds: float) -> None:
        # Wakes up at once on SIGTERM instead of sleeping through the backoff.
        if self.halt.wait(seconds):
            raise JobInterrupted()

    def _log_retry(self, state: RetryCallState, purpose: str) -> None:
        exc = state.outcome.exception() if state.outcome else None
        kind = getattr(exc, "kind", "unknown")
        self.usage.add_retry(kind)
        log.warning(
            "ollama_retry",
            purpose=purpose,
            attempt=state.attempt_number,
            max_attempts=self.policy.max_attempts,
            wait_s=round(state.next_action.sleep, 2) if state.next_action else 0.0,
            reason=str(exc),
            kind=kind,
            host=self.host,
            model=self.model,
        )
