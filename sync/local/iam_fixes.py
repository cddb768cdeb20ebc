"""IAM's answer to GetPolicy for AWS managed policies, which moto gives only after loading
every one of them into every account it creates (seconds and hundreds of MB for an
Organization of many accounts). AWS managed policy ARNs are global: one answer for all."""

import functools
import json
from xml.sax.saxutils import escape

from moto.iam.aws_managed_policies import aws_managed_policies_data

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy/"


@functools.cache
def aws_managed_policies() -> dict[str, dict]:
    """ARN -> moto's record of the policy (path, default version, dates)."""
    return {
        f"{AWS_POLICY_PREFIX}{record['Path'].lstrip('/')}{name}": {"Name": name, **record}
        for name, record in json.loads(aws_managed_policies_data).items()
    }


def get_policy(arn: str) -> tuple[int, str]:
    """(HTTP status, XML body) of GetPolicy for an AWS managed policy ARN."""
    record = aws_managed_policies().get(arn)
    if record is None:
        return 404, (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
            "<Type>Sender</Type><Code>NoSuchEntity</Code>"
            f"<Message>Policy {escape(arn)} does not exist or is not attachable.</Message>"
            "</Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        )
    return 200, (
        '<GetPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetPolicyResult>'
        f"<Policy><PolicyName>{escape(record['Name'])}</PolicyName>"
        f"<Arn>{escape(arn)}</Arn><Path>{escape(record['Path'])}</Path>"
        f"<DefaultVersionId>{record['DefaultVersionId']}</DefaultVersionId>"
        "<IsAttachable>true</IsAttachable>"
        f"<CreateDate>{record['CreateDate']}</CreateDate>"
        f"<UpdateDate>{record['UpdateDate']}</UpdateDate></Policy>"
        "</GetPolicyResult><ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000"
        "</RequestId></ResponseMetadata></GetPolicyResponse>"
    )
