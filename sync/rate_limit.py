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
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(
                    self._capacity, self._tokens + (now - self._updated) * self._rate
                )
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self._rate
            time.sleep(wait)


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
