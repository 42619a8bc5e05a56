"""Failed-login throttling and logout revocation: pure, thread-safe, clock injected.

The dashboard's database role cannot write, so these live in memory. One instance is shared by
every session and browser tab of a dashboard process (see auth.login_guards); they reset when the
process restarts and are not shared between replicas.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True)
class ThrottleRules:
    max_failures: int = 5  # failures inside the window that trigger a lockout
    window_seconds: float = 900.0
    lockout_seconds: float = 900.0

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window_seconds <= 0 or self.lockout_seconds <= 0:
            raise ValueError(f"throttle rules must be positive, got {self}")


@dataclass
class _Record:
    failures: deque[float]
    locked_until: float = 0.0


class LoginThrottle:
    """Sliding-window failure counter per username with a fixed lockout.

    Keys are compared case-insensitively (usernames are case-insensitive in the database).
    Unknown usernames are counted too, so a lockout does not reveal which accounts exist.
    At most `max_tracked` usernames are remembered; the least recently seen are forgotten
    first (locked ones last), so random usernames cannot exhaust memory or lift a lockout.
    """

    def __init__(
        self,
        rules: ThrottleRules,
        clock: Clock = time.monotonic,
        max_tracked: int = 10_000,
    ) -> None:
        self.rules = rules
        self._clock = clock
        self._max_tracked = max_tracked
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(username: str) -> str:
        return username.strip().lower()

    def retry_after(self, username: str) -> float | None:
        """Seconds until `username` may try again, or None if it is not locked."""
        now = self._clock()
        with self._lock:
            record = self._records.get(self.key(username))
            if record is None or record.locked_until <= now:
                return None
            return record.locked_until - now

    def attempts_left(self, username: str) -> int:
        """Failures still allowed before the lockout (0 while locked)."""
        now = self._clock()
        with self._lock:
            record = self._records.get(self.key(username))
            if record is None:
                return self.rules.max_failures
            if record.locked_until > now:
                return 0
            self._forget_old(record, now)
            return self.rules.max_failures - len(record.failures)

    def record_failure(self, username: str) -> float | None:
        """Counts a failed attempt; returns the lockout in seconds if this one triggered it."""
        now = self._clock()
        key = self.key(username)
        with self._lock:
            record = self._records.get(key)
            if record is None:
                self._make_room(now)
                record = self._records[key] = _Record(deque())
            self._records.move_to_end(key)
            if record.locked_until > now:  # a locked account is not re-counted
                return record.locked_until - now
            self._forget_old(record, now)
            record.failures.append(now)
            if len(record.failures) >= self.rules.max_failures:
                record.failures.clear()
                record.locked_until = now + self.rules.lockout_seconds
                return self.rules.lockout_seconds
            return None

    def record_success(self, username: str) -> None:
        with self._lock:
            self._records.pop(self.key(username), None)

    def _forget_old(self, record: _Record, now: float) -> None:
        horizon = now - self.rules.window_seconds
        while record.failures and record.failures[0] <= horizon:
            record.failures.popleft()

    def _make_room(self, now: float) -> None:
        # Forget the least recently seen unlocked username first, so flooding the store with
        # random names cannot lift a lockout.
        while len(self._records) >= self._max_tracked:
            victim = next((k for k, r in self._records.items() if r.locked_until <= now), None)
            if victim is None:
                self._records.popitem(last=False)
            else:
                del self._records[victim]


class LogoutRegistry:
    """When each user last logged out (wall-clock seconds). A remember-me cookie issued before
    that moment is refused, so a logout holds even if the browser never deleted the cookie, and
    it signs the user out of every remembered browser."""

    def __init__(self, clock: Clock = time.time, max_tracked: int = 10_000) -> None:
        self._clock = clock
        self._max_tracked = max_tracked
        self._logged_out_at: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def record_logout(self, username: str) -> None:
        key = LoginThrottle.key(username)
        with self._lock:
            self._logged_out_at[key] = self._clock()
            self._logged_out_at.move_to_end(key)
            while len(self._logged_out_at) > self._max_tracked:
                self._logged_out_at.popitem(last=False)

    def is_revoked(self, username: str, issued_at: float) -> bool:
        with self._lock:
            logged_out_at = self._logged_out_at.get(LoginThrottle.key(username))
        return logged_out_at is not None and issued_at <= logged_out_at
