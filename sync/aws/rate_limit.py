"""A thread-safe token bucket shared by every Identity Center call of a run.

AWS allows 20 calls per second for the whole Identity Center instance (Identity Store and SSO
Admin together, the console included); the sync keeps well under it by default.
"""

import threading
import time
from collections import Counter
from typing import Any


class TokenBucket:
    def __init__(self, rate_per_second: float, burst: float | None = None) -> None:
        self._rate = rate_per_second
        self._capacity = burst if burst is not None else max(1.0, rate_per_second)
        self._tokens = self._capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until a call may be made."""
        while (wait := self._take()) > 0:
            time.sleep(wait)

    def try_acquire(self) -> bool:
        """Take a token if one is there now (the emulators throttle instead of waiting)."""
        return self._take() == 0

    def _take(self) -> float:
        """0 if a token was taken, else how long until one is there."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self._rate


class CallMeter:
    """Counts every HTTP attempt a boto3 client makes and makes it wait for the rate limit."""

    def __init__(self, limiter: TokenBucket | None) -> None:
        self.calls: Counter[str] = Counter()
        self._limiter = limiter
        self._lock = threading.Lock()

    def attach(self, client: Any, rate_limited: bool = True) -> None:
        handler = self._count_and_wait if rate_limited else self._count
        client.meta.events.register("before-send", handler)

    def _count(self, event_name: str, **_: Any) -> None:
        # event_name is "before-send.<service>.<Operation>"
        with self._lock:
            self.calls[event_name.split(".", 1)[1]] += 1

    def _count_and_wait(self, event_name: str, **_: Any) -> None:
        self._count(event_name)
        if self._limiter is not None:
            self._limiter.acquire()
