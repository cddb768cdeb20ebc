"""One retry policy for every Identity Center call: exponential backoff with jitter.

botocore's own retries are switched off so that each attempt passes the shared rate limiter
and is counted; AWS's RetryAfterSeconds, which botocore ignores, is honoured here.
"""

import re

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

TRANSIENT_CODES = {
    "ThrottlingException",
    "TooManyRequestsException",
    "InternalServerException",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ConcurrentModificationException",  # Organizations; botocore does not retry it
}


class RequestFailed(Exception):
    """A write AWS refused for good, or an asynchronous request that ended FAILED (with AWS's
    reason) or never ended: not retried, reported with the operation."""


BOTOCORE_RETRIES_NOTE = re.compile(r" \(reached max retries: \d+\)")
UNIQUENESS = re.compile(r"duplicate|already|unique", re.IGNORECASE)


def aws_error_text(error: BaseException) -> str:
    """The error as people read it: without botocore's "(reached max retries: 0)", which
    speaks of botocore's own retries (off: sso-sync retries every call itself)."""
    return BOTOCORE_RETRIES_NOTE.sub("", str(error))


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "")
    return ""


def is_transient(error: BaseException) -> bool:
    if isinstance(error, (ConnectionError, HTTPClientError)):
        return True
    code = error_code(error)
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500:
            return True
    if code == "ConflictException":
        # A concurrent modification or a full queue clears up; a uniqueness violation does not.
        # Identity Store says which in Reason; SSO Admin (and an answer without it) only in
        # the message.
        response = getattr(error, "response", {})
        reason = response.get("Reason")
        if reason is not None:
            return reason != "UNIQUENESS_CONSTRAINT_VIOLATION"
        return not UNIQUENESS.search(response.get("Error", {}).get("Message", ""))
    return code in TRANSIENT_CODES


class _WaitHonouringRetryAfter:
    def __init__(self, initial: float, maximum: float) -> None:
        self._backoff = wait_random_exponential(multiplier=initial, max=maximum)
        self._maximum = maximum

    def __call__(self, state: RetryCallState) -> float:
        wait = self._backoff(state)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ClientError):
            retry_after = error.response.get("RetryAfterSeconds")
            if isinstance(retry_after, (int, float)):
                wait = max(wait, min(float(retry_after), self._maximum))
        return wait


def aws_retrying(attempts: int, max_wait: float, initial_wait: float = 0.1) -> Retrying:
    return Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(attempts),
        wait=_WaitHonouringRetryAfter(initial_wait, max_wait),
        reraise=True,
    )
