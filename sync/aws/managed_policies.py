"""Checks that the AWS managed policies the rules name exist, before anything is written.

AWS managed policy ARNs are global and the same in every account, so one IAM GetPolicy per
policy per run settles a misspelling (PowerUserAcess) at plan time instead of at apply time,
when AttachManagedPolicyToPermissionSet would fail.
"""

from collections.abc import Iterable
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying

from sync.aws.identity_store import boto_config
from sync.aws.rate_limit import CallMeter
from sync.aws.retry import aws_error_text, error_code
from sync.errors import ReadError


class ManagedPolicies:
    def __init__(self, client: Any, retrying: Retrying) -> None:
        self._client = client
        self._retrying = retrying

    @classmethod
    def connect(cls, meter: CallMeter, retrying: Retrying) -> "ManagedPolicies":
        client = boto3.client("iam", config=boto_config(1))
        meter.attach(client, rate_limited=False)  # IAM has quotas of its own
        return cls(client, retrying)

    def missing(self, arns: Iterable[str]) -> list[str]:
        """The ARNs IAM has no policy for, in order."""
        unknown = []
        for arn in sorted(set(arns)):
            try:
                self._retrying(self._client.get_policy, PolicyArn=arn)
            except ClientError as error:
                if error_code(error) != "NoSuchEntity":
                    raise ReadError(
                        f"checking the AWS managed policy {arn}: {aws_error_text(error)}"
                    ) from error
                unknown.append(arn)
            except BotoCoreError as error:
                raise ReadError(
                    f"checking the AWS managed policy {arn}: {aws_error_text(error)}"
                ) from error
        return unknown
