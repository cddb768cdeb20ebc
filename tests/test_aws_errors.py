"""The one table of what an AWS error means for a write (sync/aws/retry.py ERROR_RULES): each
row as the service answers it, and what the sync then does."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from sync.aws.retry import ERROR_RULES, ErrorRule, Verdict, verdict


def answered(
    code: str, reason: str | None = None, message: str = "", status: int = 400
) -> Exception:
    response: dict = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    if reason is not None:
        response["Reason"] = reason
    return ClientError(response, "AnyOperation")


@pytest.mark.parametrize("rule", ERROR_RULES, ids=lambda rule: f"{rule.code}-{rule.reason}")
def test_each_row_of_the_table_decides_the_error_it_names(rule: ErrorRule) -> None:
    assert verdict(answered(rule.code, rule.reason, "the service's words")) is rule.verdict


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (answered("ConflictException", "CONCURRENT_MODIFICATION"), Verdict.RETRY),
        (answered("ConflictException", "UNIQUENESS_CONSTRAINT_VIOLATION"), Verdict.PRESENT),
        (answered("ConflictException", None, "Duplicate UserName"), Verdict.PRESENT),
        (answered("ConflictException", None, "Permission set Ops already exists"), Verdict.PRESENT),
        (answered("ConflictException", None, "Too many outstanding requests"), Verdict.RETRY),
        (answered("OperationInProgressException", status=409), Verdict.RETRY),
        (answered("ValidationException"), Verdict.FAIL),
        (answered("AccessDeniedException"), Verdict.FAIL),
        (answered("SomethingNew", status=503), Verdict.RETRY),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), Verdict.RETRY),
        (ValueError("not from AWS"), Verdict.FAIL),
    ],
)
def test_errors_as_services_send_them(error: Exception, expected: Verdict) -> None:
    assert verdict(error) is expected
