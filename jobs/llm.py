"""Ollama through its official client: waiting for the model at start (following its download),
and JSON answers with logged retries that end only when the server stops being useful.

Two kinds of trouble, two bounds:
- The server fails (connection refused, timeout, HTTP 5xx, a body that is not the protocol's
  JSON): the call is retried with growing, jittered waits for as long as the server has given a
  usable answer to any call within OLLAMA_GIVE_UP_SECONDS. A flaky server that still answers
  now and then gets the job to its target; a dead one ends it with a message naming the host,
  the model and the last problem.
- The server answers, but the answer is unusable (not JSON, wrong shape, no record): asked
  again with another seed, UNUSABLE_ANSWERS_PER_CALL times, then the call gives up with
  AnswerUnusable and its items go back to the queue (bounded per item by the asker).
Never retried: HTTP 4xx such as "model not found" (asking again cannot help).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import httpx
import ollama
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_when_event_set,
    wait_random_exponential,
)

from jobs.errors import (
    AnswerUnusable,
    InvalidAnswer,
    JobInterrupted,
    ModelMissing,
    OllamaRejected,
    OllamaUnavailable,
)

log = structlog.get_logger("jobs.llm")
T = TypeVar("T")
R = TypeVar("R")
UNUSABLE_ANSWERS_PER_CALL = 3
MODEL_POLL_SECONDS = 3.0


@dataclass(frozen=True)
class RetryPolicy:
    give_up_seconds: float = 300.0  # no usable answer from the server for this long: stop
    backoff_seconds: float = 1.0  # scale of the first wait; waits double, with full jitter
    backoff_max_seconds: float = 30.0
    model_wait_seconds: float = 3600.0  # how long the model may take to appear (download)


@dataclass
class Usage:
    """Calls, retries, tokens and decode time across all threads of a run."""

    calls: int = 0
    retries: int = 0
    unusable_calls: int = 0  # calls given up after UNUSABLE_ANSWERS_PER_CALL unusable answers
    prompt_tokens: int = 0
    completion_tokens: int = 0
    eval_seconds: float = 0.0  # the server's own decode time (eval_duration)
    retry_reasons: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add_call(self, prompt_tokens: int, completion_tokens: int, eval_seconds: float) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.eval_seconds += eval_seconds

    def add_unusable_call(self) -> None:
        with self._lock:
            self.unusable_calls += 1

    def add_retry(self, reason: str) -> None:
        with self._lock:
            self.retries += 1
            self.retry_reasons[reason] += 1

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def tokens_per_second(self) -> float | None:
        """The model's decode speed, from the answers' own counters."""
        return self.completion_tokens / self.eval_seconds if self.eval_seconds else None


@dataclass(frozen=True)
class Answer(Generic[R]):
    result: R  # what `accept` made of the answer's text
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ModelProgress:
    """What waiting for the model looks like, for logs and the dashboard."""

    status: str  # "waiting" (for the server or someone else's pull) or the pull's own status
    elapsed_s: float
    completed: int | None = None  # bytes of the layer being downloaded
    total: int | None = None

    @property
    def percent(self) -> float | None:
        if not self.total or self.completed is None:
            return None
        return round(100.0 * self.completed / self.total, 1)


class ChatModel(Protocol):
    """What generation and classification need from a model (Ollama, or an instant stand-in in
    the benchmark)."""

    model: str

    def complete_json(
        self,
        messages: list[dict],
        schema: dict,
        *,
        accept: Callable[[str], R],
        seed: int,
        temperature: float,
        max_tokens: int,
        purpose: str,
        sampling: Mapping[str, float] | None = None,
    ) -> Answer[R]: ...


class _Transient(Exception):
    """A failure worth another attempt; the message is the reason that gets logged."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.kind = kind  # short label for counting: http_5xx, timeout, invalid_answer, ...


class _ServerHealth:
    """When the server last gave a usable answer (shared by all threads: one unlucky call must
    not end the run while the others get answers)."""

    def __init__(self) -> None:
        self.last_usable = time.monotonic()

    def usable(self) -> None:
        self.last_usable = time.monotonic()

    def silent_for(self) -> float:
        return time.monotonic() - self.last_usable


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
        self.health = _ServerHealth()
        self.client = ollama.Client(
            host=host, timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0))
        )

    # -- the start: wait for the model ----------------------------------------------------------

    def wait_for_model(
        self, *, pull: bool, on_progress: Callable[[ModelProgress], None] = lambda _p: None
    ) -> None:
        """Returns once the model is on the server. Meanwhile: waits for the server to come up;
        pulls the model when allowed (a pull of a model already downloading joins that
        download, so its progress is the real one), else waits for someone else's pull.
        Gives up after RetryPolicy.model_wait_seconds."""
        started = time.monotonic()
        last_problem = "none"
        while True:
            try:
                self._translated(lambda _n: self.client.show(self.model), 1)
                log.info("model_ready", host=self.host, model=self.model)
                self.health.usable()
                return
            except ModelMissing:
                last_problem = f"model '{self.model}' is not on the server yet"
                if pull:
                    try:
                        self._translated(lambda _n: self._pull(started, on_progress), 1)
                        continue  # downloaded: show() confirms it
                    except _Transient as exc:
                        last_problem = f"pull failed: {exc}"
            except _Transient as exc:
                last_problem = str(exc)
            elapsed = time.monotonic() - started
            on_progress(ModelProgress("waiting", elapsed))
            if elapsed >= self.policy.model_wait_seconds:
                raise ModelMissing(self._model_missing_message(pull, elapsed, last_problem))
            if self.halt.wait(MODEL_POLL_SECONDS):
                raise JobInterrupted()

    def _model_missing_message(self, pull: bool, elapsed: float, last_problem: str) -> str:
        how = (
            "the job's own pull did not complete"
            if pull
            else f"pull it (`ollama pull {self.model}`; with compose: `docker compose run --rm "
            "ollama-pull`), or set OLLAMA_PULL_MODEL=true to let the job pull it"
        )
        return (
            f"model '{self.model}' was not available on Ollama at {self.host} after "
            f"{elapsed:.0f} s (OLLAMA_MODEL_WAIT_SECONDS={self.policy.model_wait_seconds:g}); "
            f"last problem: {last_problem}. {how}"
        )

    def _pull(self, started: float, on_progress: Callable[[ModelProgress], None]) -> None:
        log.info("model_pull_started", host=self.host, model=self.model)
        for progress in self.client.pull(self.model, stream=True):
            on_progress(
                ModelProgress(
                    progress.status or "pulling",
                    time.monotonic() - started,
                    progress.completed,
                    progress.total,
                )
            )
            if self.halt.is_set():
                raise JobInterrupted()
        log.info("model_pull_finished", host=self.host, model=self.model)

    # -- answers --------------------------------------------------------------------------------

    def complete_json(
        self,
        messages: list[dict],
        schema: dict,
        *,
        accept: Callable[[str], R],
        seed: int,
        temperature: float,
        max_tokens: int,
        purpose: str,
        sampling: Mapping[str, float] | None = None,
    ) -> Answer[R]:
        """Asks until `accept` takes the answer's text (it raises InvalidAnswer otherwise).
        Each attempt uses another seed: re-sending the same seed would reproduce the same bad
        answer. `sampling` adds Ollama options (repeat_penalty, top_p, ...)."""
        unusable = 0

        def attempt(number: int) -> Answer[R]:
            nonlocal unusable
            response = self.client.chat(
                model=self.model,
                messages=messages,
                format=schema,
                stream=False,
                options={
                    **(sampling or {}),
                    "temperature": temperature,
                    "seed": seed + number - 1,
                    "num_predict": max_tokens,
                },
            )
            prompt_tokens = response.prompt_eval_count or 0
            completion_tokens = response.eval_count or 0
            self.usage.add_call(
                prompt_tokens, completion_tokens, (response.eval_duration or 0) / 1e9
            )
            try:
                result = accept(response.message.content or "")
            except InvalidAnswer as exc:
                unusable += 1
                if unusable >= UNUSABLE_ANSWERS_PER_CALL:
                    self.usage.add_unusable_call()
                    raise AnswerUnusable(str(exc)) from None
                raise
            self.health.usable()
            return Answer(result, prompt_tokens, completion_tokens)

        return self._with_retries(attempt, purpose)

    # -- retries --------------------------------------------------------------------------------

    def _server_gave_up(self, _state: RetryCallState) -> bool:
        return self.health.silent_for() >= self.policy.give_up_seconds

    def _with_retries(self, call: Callable[[int], T], purpose: str) -> T:
        policy = self.policy
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_when_event_set(self.halt) | self._server_gave_up,
            wait=wait_random_exponential(
                multiplier=policy.backoff_seconds, max=policy.backoff_max_seconds
            ),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(state, purpose),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._translated(call, attempt.retry_state.attempt_number)
        except _Transient as exc:
            if self.halt.is_set():
                raise JobInterrupted() from None
            raise OllamaUnavailable(
                f"Ollama at {self.host} (model {self.model}) has given no usable answer for "
                f"{self.health.silent_for():.0f} s (OLLAMA_GIVE_UP_SECONDS="
                f"{policy.give_up_seconds:g}); last problem, on a {purpose} request: {exc}. "
                "Check that Ollama is running and reachable at OLLAMA_HOST, or allow more with "
                "OLLAMA_GIVE_UP_SECONDS / OLLAMA_TIMEOUT_SECONDS"
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
            status = f" (HTTP {exc.status_code})" if exc.status_code > 0 else ""
            raise OllamaRejected(
                f"Ollama at {self.host} refused the request for model {self.model}{status}: "
                f"{exc.error}"
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
            wait_s=round(state.next_action.sleep, 2) if state.next_action else 0.0,
            reason=str(exc),
            kind=kind,
            silent_s=round(self.health.silent_for(), 1),
            host=self.host,
            model=self.model,
        )
