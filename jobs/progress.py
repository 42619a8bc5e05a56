"""Progress of a long step: done / target, rate and ETA, and when it is worth a log line."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

LOG_EVERY_SECONDS = 5.0
LOG_EVERY_SHARE = 0.10  # and at least every 10 % of the work


@dataclass
class ProgressMeter:
    """`done` counts toward `target` from `done_at_start` (work a previous run already did)."""

    target: int
    done_at_start: int
    clock: Callable[[], float] = time.monotonic
    every_seconds: float = LOG_EVERY_SECONDS
    every_share: float = LOG_EVERY_SHARE
    started: float = field(init=False)
    _last_time: float = field(init=False)
    _last_done: int = field(init=False)

    def __post_init__(self) -> None:
        self.started = self._last_time = self.clock()
        self._last_done = self.done_at_start

    def snapshot(self, done: int) -> dict:
        """Fields of a progress log line."""
        elapsed = self.clock() - self.started
        made = done - self.done_at_start
        rate = made / elapsed if elapsed > 0 else 0.0
        left = max(self.target - done, 0)
        return {
            "done": done,
            "target": self.target,
            "percent": round(100.0 * done / self.target, 1) if self.target else 100.0,
            "records_per_s": round(rate, 1),
            "eta_s": round(left / rate, 1) if rate > 0 else None,
            "elapsed_s": round(elapsed, 1),
        }

    @property
    def last_logged(self) -> int:
        return self._last_done

    def due(self, done: int) -> bool:
        """True when a progress line is due (enough time or enough work since the last one);
        calling it when true resets both clocks."""
        now = self.clock()
        to_do = max(self.target - self.done_at_start, 1)
        if done == self._last_done:
            return False
        if (
            now - self._last_time >= self.every_seconds
            or (done - self._last_done) / to_do >= self.every_share
            or done >= self.target
        ):
            self._last_time, self._last_done = now, done
            return True
        return False
