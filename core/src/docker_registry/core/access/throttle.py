"""Failed logins counted per client address; too many in a window locks the address out.

Checked before any password is hashed, so an address that guesses cannot make the
registry spend CPU on it either. Memory is bounded: addresses whose failures are all
older than the window are forgotten.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class FailedLogins:
    """At most ``limit`` failed logins per address within ``window`` seconds.

    :param limit: failures allowed per window (0: no limit).
    :param window: seconds a failure counts.
    :param clock: monotonic seconds (tests pass their own).
    """

    #: Addresses tracked at most; the oldest are dropped beyond it.
    MAX_ADDRESSES = 100_000

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again (0: it may now)."""
        if self.limit <= 0:
            return 0
        now = self.clock()
        with self._lock:
            failures = self._failures.get(address)
            if not failures:
                return 0
            self._expire(failures, now)
            if len(failures) < self.limit:
                return 0
            return max(1, int(failures[0] + self.window - now + 0.999))

    def failed(self, address: str) -> None:
        """Count one failed login from ``address``."""
        if self.limit <= 0:
            return
        now = self.clock()
        with self._lock:
            failures = self._failures.get(address)
            if failures is None:
                if len(self._failures) >= self.MAX_ADDRESSES:
                    self._forget_idle(now)
                failures = self._failures[address] = deque(maxlen=self.limit)
            failures.append(now)

    def _expire(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self.window:
            failures.popleft()

    def _forget_idle(self, now: float) -> None:
        for address in list(self._failures):
            failures = self._failures[address]
            self._expire(failures, now)
            if not failures:
                del self._failures[address]
        while len(self._failures) >= self.MAX_ADDRESSES:
            del self._failures[next(iter(self._failures))]
