"""One retry policy for every Identity Center call: exponential backoff with jitter.

botocore's own retries are switched off so that each attempt passes the shared rate limiter
and is counted; AWS's RetryAfterSeconds, which botocore ignores, is honoured here.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)


class Verdict(StrEnum):
    RETRY = "retry"
    """The write did not happen and may succeed if tried again."""
    PRESENT = "present"
    """What a create asked for already exists (a uniqueness conflict): the caller decides
    whether it is its own."""
    FAIL = "fail"


@dataclass(frozen=True)
class ErrorRule:
    code: str
    reason: str | None
    """Identity Store's ConflictException Reason; None: any (or none given)."""
    verdict: Verdict
    source: str


# What each AWS error means for a write, first match wins; anything else fails the write. A 5xx
# answer is retried whatever its code.
ERROR_RULES = (
    ErrorRule("ThrottlingException", None, Verdict.RETRY, "every service's rate limit"),
    ErrorRule("TooManyRequestsException", None, Verdict.RETRY, "Organizations, Budgets"),
    ErrorRule("InternalServerException", None, Verdict.RETRY, "SSO Admin, Identity Store"),
    ErrorRule("ServiceUnavailableException", None, Verdict.RETRY, "every service"),
    ErrorRule("RequestTimeout", None, Verdict.RETRY, "S3"),
    ErrorRule("RequestTimeoutException", None, Verdict.RETRY, "every service"),
    ErrorRule(
        "ConcurrentModificationException",
        None,
        Verdict.RETRY,
        "Organizations: another request changed the object; botocore does not retry it",
    ),
    ErrorRule(
        "OperationInProgressException",
        None,
        Verdict.RETRY,
        "CloudFormation StackSets (HTTP 409): one operation per stack set at a time",
    ),
    ErrorRule(
        "ConflictException",
        "CONCURRENT_MODIFICATION",
        Verdict.RETRY,
        "Identity Store (botocore model, ConflictExceptionReason): the resource was being "
        "modified by another request; the write did not happen",
    ),
    ErrorRule(
        "ConflictException",
        "UNIQUENESS_CONSTRAINT_VIOLATION",
        Verdict.PRESENT,
        "Identity Store: the user, group or membership already exists",
    ),
    ErrorRule(
        "ConflictException",
        None,
        Verdict.RETRY,
        "SSO Admin gives no Reason: a conflict whose message names no duplicate is a write "
        "not yet propagated or a full queue (SSO Admin API: ConflictException)",
    ),
)


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


def verdict(error: BaseException) -> Verdict:
    """What an error from an AWS call means: ERROR_RULES, by code and Reason."""
    if isinstance(error, (ConnectionError, HTTPClientError)):
        return Verdict.RETRY
    if not isinstance(error, ClientError):
        return Verdict.FAIL
    if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
        return Verdict.RETRY
    code, reason = error_code(error), error.response.get("Reason")
    if code == "ConflictException" and reason is None:
        message = error.response.get("Error", {}).get("Message", "")
        if UNIQUENESS.search(message):
            reason = "UNIQUENESS_CONSTRAINT_VIOLATION"  # SSO Admin says so only in words
    for rule in ERROR_RULES:
        if rule.code == code and rule.reason in (None, reason):
            return rule.verdict
    return Verdict.FAIL


def is_transient(error: BaseException) -> bool:
    return verdict(error) is Verdict.RETRY


def already_present(error: BaseException) -> bool:
    """A create refused because what it asked for exists."""
    return verdict(error) is Verdict.PRESENT


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
