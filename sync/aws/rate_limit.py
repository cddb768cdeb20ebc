"""A thread-safe token bucket shared by every Identity Center call of a run.

AWS allows 20 calls per second for the whole Identity Center instance (Identity Store and SSO
Admin together, the console included); the sync starts at it by default. The bucket
adapts: a throttled call cuts its rate, calls that go through raise it again slowly
(additive increase, multiplicative decrease, as the AWS SDKs' adaptive retry mode does), so a
run shares the instance's limit with whoever else is calling. Like botocore's adaptive mode
(botocore/retries/adaptive.py: the new rate comes from min(measured rate, current rate)), a cut
starts from what was actually sent in the last second when that is below the configured rate:
a run set far above what it can send converges in one cut, not several.
"""

import threading
import time
from collections import Counter, deque
from typing import Any, Protocol

THROTTLED_CODES = frozenset({"ThrottlingException", "TooManyRequestsException"})
CUT_TO = 0.7
"""What a throttled call leaves of the rate."""
CUT_WINDOW_CALLS = 10
"""Throttles within the time of this many calls after a cut are the same congestion (calls in
flight together answer together): one cut, not one per call."""
RECOVERY_SHARE_PER_SECOND = 0.025
"""Share of the rate last found too high regained each second without throttling (0.5 calls/s
at 20): in step with the instance's capacity, whatever the configured rate."""
MEASURE_SECONDS = 1.0
"""The window over which the send rate is measured."""


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class TokenBucket:
    def __init__(
        self,
        rate_per_second: float,
        burst: float | None = None,
        starts_full: bool = False,
        clock: Clock | None = None,
    ) -> None:
        """A run's bucket starts empty, as botocore's adaptive one does (botocore/retries/
        bucket.py): its first second is sent at the rate, not as one burst. The emulators'
        quotas start full, the allowance a service gives a caller that was quiet."""
        self._clock = clock or MonotonicClock()
        self._ceiling = rate_per_second
        self._rate = rate_per_second
        self._capacity = burst if burst is not None else max(1.0, rate_per_second)
        self._tokens = self._capacity if starts_full else 0.0
        self._updated = self._clock.now()
        self._lock = threading.Lock()
        self._last_cut = float("-inf")
        self._recovery = RECOVERY_SHARE_PER_SECOND * rate_per_second
        self._sent: deque[float] = deque()

    @property
    def rate(self) -> float:
        return self._rate

    def throttled(self) -> None:
        """A call was throttled: cut the rate (once per moment: calls in flight together
        report the same congestion)."""
        with self._lock:
            now = self._clock.now()
            if now - self._last_cut < CUT_WINDOW_CALLS / self._rate:
                return
            self._last_cut = now
            too_high = min(self._rate, self._measured_rate(now) or self._rate)
            self._recovery = RECOVERY_SHARE_PER_SECOND * too_high
            self._rate = max(1.0, too_high * CUT_TO)
            self._capacity = max(1.0, min(self._capacity, self._rate))
            self._tokens = min(self._tokens, self._capacity)

    def _forget_sends_before(self, now: float) -> None:
        while self._sent and now - self._sent[0] > MEASURE_SECONDS:
            self._sent.popleft()

    def _measured_rate(self, now: float) -> float | None:
        """Calls let through per second lately; None while too few to tell."""
        self._forget_sends_before(now)
        if len(self._sent) < CUT_WINDOW_CALLS:
            return None
        return len(self._sent) / max(now - self._sent[0], 1 / self._rate)

    def _recover(self, now: float) -> None:
        elapsed = now - self._updated
        self._rate = min(self._ceiling, self._rate + elapsed * self._recovery)

    def acquire(self) -> None:
        """Block until a call may be made."""
        while (wait := self._take()) > 0:
            self._clock.sleep(wait)

    def try_acquire(self) -> bool:
        """Take a token if one is there now (the emulators throttle instead of waiting)."""
        return self._take() == 0

    def _take(self) -> float:
        """0 if a token was taken, else how long until one is there."""
        with self._lock:
            now = self._clock.now()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._recover(now)
            self._updated = now
            if self._tokens >= 1 - 1e-9:  # a wait's float rounding must not leave it short
                self._tokens = max(0.0, self._tokens - 1)
                self._sent.append(now)
                self._forget_sends_before(now)
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
        if rate_limited:
            client.meta.events.register("needs-retry", self._adapt)

    def _count(self, event_name: str, **_: Any) -> None:
        # event_name is "before-send.<service>.<Operation>"
        with self._lock:
            self.calls[event_name.split(".", 1)[1]] += 1

    def _adapt(self, response: Any = None, **_: Any) -> None:
        """botocore's needs-retry event sees every answer: a throttled one slows the bucket."""
        if self._limiter is None or not response:
            return
        parsed = response[1] if isinstance(response, tuple) else {}
        if (parsed or {}).get("Error", {}).get("Code") in THROTTLED_CODES:
            self._limiter.throttled()

    def _count_and_wait(self, event_name: str, **_: Any) -> None:
        self._count(event_name)
        if self._limiter is not None:
            self._limiter.acquire()
