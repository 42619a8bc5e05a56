"""SIGTERM / SIGINT for the job: the first asks it to stop after the batches in flight, the
second ends the process at once.

A Python signal handler runs on the main thread between two bytecodes, possibly while that
thread holds a lock, for instance structlog's output lock halfway through a log line. That lock
is not re-entrant, so a handler that logs can deadlock the job. The handler here only writes
the signal number to a pipe; a watcher thread reads it, sets the halt flag and logs, taking
the lock the ordinary way.
"""

from __future__ import annotations

import os
import signal
import threading

import structlog

log = structlog.get_logger("jobs")
EXIT_INTERRUPTED = 130


class StopSignals:
    """Context manager: installs the handlers on entry (main thread only), restores on exit."""

    def __init__(self, halt: threading.Event) -> None:
        self.halt = halt
        self.received: int | None = None
        self._previous: dict[int, object] = {}
        self._pipe: tuple[int, int] | None = None
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers can only be installed from the main thread
        self._pipe = os.pipe()
        self._watcher = threading.Thread(target=self._watch, name="signal-watcher", daemon=True)
        self._watcher.start()
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if self._pipe is not None:
            read_end, write_end = self._pipe
            os.close(write_end)  # the watcher reads end-of-file and returns
            if self._watcher is not None:
                self._watcher.join(timeout=5)
            os.close(read_end)
            self._pipe = None

    def _handle(self, signum: int, _frame) -> None:
        # Nothing here may take a lock: one byte to the pipe, the watcher does the rest.
        os.write(self._pipe[1], bytes([signum]))

    def _watch(self) -> None:
        read_end = self._pipe[0]
        while True:
            data = os.read(read_end, 1)
            if not data:
                return
            signum = data[0]
            name = signal.Signals(signum).name
            if self.received is not None:
                log.error("job_killed", signal=name)
                os._exit(128 + signum)
            self.received = signum
            self.halt.set()
            log.warning(
                "job_stopping",
                signal=name,
                detail="finishing the batches in flight; send the signal again to stop at once",
            )

    @property
    def exit_code(self) -> int:
        return 128 + self.received if self.received else EXIT_INTERRUPTED
