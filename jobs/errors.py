"""Errors of the data job. NpscsatError subclasses end the job with one `job_failed` line;
InvalidAnswer is internal: the model's answer is unusable, so the call is retried."""

from __future__ import annotations

from npscsat.errors import NpscsatError


class InvalidAnswer(Exception):
    """The model answered, but not with JSON of the requested shape (worth asking again)."""


class AnswerUnusable(Exception):
    """One call got only unusable answers, several times: its items go back to the queue."""


class OllamaUnavailable(NpscsatError):
    """Ollama has given no usable answer to any call for OLLAMA_GIVE_UP_SECONDS."""


class ModelMissing(NpscsatError):
    """The configured model is not on the Ollama server (and pulling was not allowed)."""


class OllamaRejected(NpscsatError):
    """Ollama refused the request (HTTP 4xx): asking again cannot help."""


class GenerationStalled(NpscsatError):
    """Some records stayed invalid after the configured number of asks."""


class AnotherRunActive(NpscsatError):
    """Another job run holds the data lock on this database."""


class UserError(NpscsatError):
    """A user-management request cannot be done (unknown user, duplicate, bad password)."""


class JobInterrupted(Exception):
    """SIGTERM / SIGINT arrived: stop after the work in flight, keep what is written."""
