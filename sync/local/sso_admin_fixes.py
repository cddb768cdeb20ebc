"""SSO Admin behaviour moto 5.2 lacks or gets wrong, so that the sync's asynchronous paths
run in tests: assignment creation and deletion and permission-set provisioning are
IN_PROGRESS for a while before SUCCEEDED (or FAILED, with a reason, for accounts told to fail),
at most 10 assignment creations and deletions together may be outstanding and one
provisioning per account at a time (ConflictException beyond; IAM Identity Center quotas,
https://docs.aws.amazon.com/singlesignon/latest/userguide/limits.html: "Number of IAM roles
(permission sets) in the AWS account that can be updated at a time: 1"), duplicate
permission-set names conflict, and permissions boundaries, tags and the accounts a permission
set is provisioned to are answered."""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ssoadmin.models import ManagedPolicy, ssoadmin_backends

from sync.local.aws_errors import AwsError, JsonBody
from sync.local.iam_fixes import aws_managed_policies

MAX_OUTSTANDING_ASSIGNMENT_REQUESTS = 10
ASSIGNMENT_STATUSES = ("AccountAssignmentCreationStatus", "AccountAssignmentDeletionStatus")
MAX_POLICIES = 20


@dataclass
class _Request:
    status_key: str
    started: float
    details: JsonBody
    failure: str | None = None
    accounts: frozenset[str] = frozenset()
    """The accounts whose roles a provisioning updates."""


# What a delegated administrator may not do (AWS IAM Identity Center User Guide, "Delegated
# administration": it cannot manage permission sets provisioned in the management account, nor
# enable or disable user access there), https://docs.aws.amazon.com/singlesignon/latest/
# userguide/delegated-admin.html. AWS answers AccessDeniedException.
CHANGES_A_PERMISSION_SET = frozenset(
    {
        "UpdatePermissionSet",
        "DeletePermissionSet",
        "ProvisionPermissionSet",
        "PutInlinePolicyToPermissionSet",
        "DeleteInlinePolicyFromPermissionSet",
        "AttachManagedPolicyToPermissionSet",
        "DetachManagedPolicyFromPermissionSet",
        "AttachCustomerManagedPolicyReferenceToPermissionSet",
        "DetachCustomerManagedPolicyReferenceFromPermissionSet",
        "PutPermissionsBoundaryToPermissionSet",
        "DeletePermissionsBoundaryFromPermissionSet",
        "TagResource",
        "UntagResource",
    }
)


IAM_MANAGED_POLICIES_PER_ROLE = 10


@dataclass
class SsoAdminFixes:
    seconds_in_progress: float = 0.05
    """How long an asynchronous request stays IN_PROGRESS."""
    failing_accounts: dict[str, str] = field(default_factory=dict)
    """Account id -> the FailureReason its assignment creations end with."""
    most_outstanding_assignment_requests: int = 0
    refused_for_limits: int = 0
    _requests: dict[str, _Request] = field(default_factory=dict)
    _boundaries: dict[str, JsonBody] = field(default_factory=dict)
    access_control: dict[str, list[JsonBody]] = field(default_factory=dict)
    """Instance ARN -> its access-control attributes (moto has none of these operations)."""
    _fixes: dict[str, Callable[[Any, JsonBody], JsonBody | None]] = field(init=False)

    def __post_init__(self) -> None:
        self._fixes = {
            "CreatePermissionSet": self._create_permission_set,
            "UpdatePermissionSet": self._update_permission_set,
            "CreateAccountAssignment": self._create_assignment,
            "DeleteAccountAssignment": self._delete_assignment,
            "DescribeAccountAssignmentCreationStatus": self._status(
                "AccountAssignmentCreationStatus", "AccountAssignmentCreationRequestId"
            ),
            "DescribeAccountAssignmentDeletionStatus": self._status(
                "AccountAssignmentDeletionStatus", "AccountAssignmentDeletionRequestId"
            ),
            "ProvisionPermissionSet": self._provision,
            "DescribePermissionSetProvisioningStatus": self._status(
                "PermissionSetProvisioningStatus", "ProvisionPermissionSetRequestId"
            ),
            "ListAccountsForProvisionedPermissionSet": self._provisioned_accounts,
            "PutPermissionsBoundaryToPermissionSet": self._put_boundary,
            "GetPermissionsBoundaryForPermissionSet": self._get_boundary,
            "DeletePermissionsBoundaryFromPermissionSet": self._delete_boundary,
            "TagResource": self._tag,
            "UntagResource": self._untag,
            "ListTagsForResource": self._list_tags,
            "AttachManagedPolicyToPermissionSet": self._attach_managed_policy,
            "CreateInstanceAccessControlAttributeConfiguration": self._create_access_control,
            "UpdateInstanceAccessControlAttributeConfiguration": self._update_access_control,
            "DescribeInstanceAccessControlAttributeConfiguration": self._describe_access_control,
            "DeleteInstanceAccessControlAttributeConfiguration": self._delete_access_control,
        }

    # Access-control attributes, as the SSO Admin API reference describes them: one
    # configuration per instance; Create on an instance that has one is ConflictException,
    # Update/Describe/Delete without one ResourceNotFoundException; each attribute's Source is
    # exactly one string (AccessControlAttributeValue), keys unique.

    def _create_access_control(self, _: Any, body: JsonBody) -> JsonBody:
        instance = body["InstanceArn"]
        if instance in self.access_control:
            raise AwsError("ConflictException", "The configuration already exists")
        self.access_control[instance] = _attributes(body)
        return {}

    def _update_access_control(self, _: Any, body: JsonBody) -> JsonBody:
        instance = body["InstanceArn"]
        if instance not in self.access_control:
            raise AwsError("ResourceNotFoundException", "No access control configuration")
        self.access_control[instance] = _attributes(body)
        return {}

    def _describe_access_control(self, _: Any, body: JsonBody) -> JsonBody:
        attributes = self.access_control.get(body["InstanceArn"])
        if attributes is None:
            raise AwsError("ResourceNotFoundException", "No access control configuration")
        return {
            "Status": "ENABLED",
            "InstanceAccessControlAttributeConfiguration": {"AccessControlAttributes": attributes},
        }

    def _delete_access_control(self, _: Any, body: JsonBody) -> JsonBody:
        if self.access_control.pop(body["InstanceArn"], None) is None:
            raise AwsError("ResourceNotFoundException", "No access control configuration")
        return {}

    def refuse_delegated_administrator(
        self, operation: str, body: JsonBody, region: str, management_account_id: str
    ) -> None:
        """AccessDeniedException for what only the management account may do."""
        backend = ssoadmin_backends[DEFAULT_ACCOUNT_ID][region]
        if operation in ("CreateAccountAssignment", "DeleteAccountAssignment"):
            if body.get("TargetId") == management_account_id:
                raise AwsError(
                    "AccessDeniedException",
                    "A delegated administrator cannot manage assignments in the management account",
                )
        elif operation in CHANGES_A_PERMISSION_SET:
            arn = body.get("PermissionSetArn") or body.get("ResourceArn")
            accounts = self._provisioned_accounts(backend, {"PermissionSetArn": arn})
            if management_account_id in accounts["AccountIds"]:
                raise AwsError(
                    "AccessDeniedException",
                    "A delegated administrator cannot change a permission set provisioned in "
                    "the management account",
                )

    def handle(self, operation: str, body: JsonBody, region: str) -> JsonBody | None:
        """AWS's answer where moto's is wrong or missing; None to let moto answer."""
        fix = self._fixes.get(operation)
        return fix(ssoadmin_backends[DEFAULT_ACCOUNT_ID][region], body) if fix else None

    # --- permission sets ----------------------------------------------------------------

    def _create_permission_set(self, backend: Any, body: JsonBody) -> None:
        if any(
            ps.name == body.get("Name") and ps.instance_arn == body.get("InstanceArn")
            for ps in backend.permission_sets
        ):
            raise AwsError("ConflictException", f"Permission set {body.get('Name')} exists")
        return None

    def _update_permission_set(self, backend: Any, body: JsonBody) -> JsonBody:
        """A member left out keeps its value (moto clears it), and none can be set empty:
        botocore's model gives Description and RelayState a minimum length of 1, so what is
        set can be changed but never cleared."""
        ps = self._permission_set(backend, body)
        for member in ("Description", "SessionDuration", "RelayState"):
            if body.get(member) == "":
                raise AwsError("ValidationException", f"{member} must have length >= 1")
        ps.description = body.get("Description", ps.description)
        ps.session_duration = body.get("SessionDuration", ps.session_duration)
        ps.relay_state = body.get("RelayState", ps.relay_state)
        return {}

    def _permission_set(self, backend: Any, body: JsonBody, key: str = "PermissionSetArn") -> Any:
        for ps in backend.permission_sets:
            if ps.permission_set_arn == body.get(key):
                return ps
        raise AwsError("ResourceNotFoundException", "Could not find PermissionSet")

    def _attach_managed_policy(self, backend: Any, body: JsonBody) -> JsonBody:
        """moto knows AWS managed policies without their paths, so it refuses real ARNs such
        as arn:aws:iam::aws:policy/job-function/Billing; accept the ARNs IAM has."""
        ps = self._permission_set(backend, body)
        arn = body.get("ManagedPolicyArn", "")
        name = arn.rsplit("/", 1)[-1]
        if arn not in aws_managed_policies():
            raise AwsError("ResourceNotFoundException", f"Policy does not exist with ARN: {arn}")
        if any(policy.arn == arn for policy in ps.managed_policies):
            raise AwsError("ConflictException", f"{arn} is already attached")
        if ps.total_managed_policies_attached >= MAX_POLICIES:
            raise AwsError("ServiceQuotaExceededException", "Too many policies attached")
        ps.managed_policies.append(ManagedPolicy(arn, name))
        ps.total_managed_policies_attached += 1
        return {}

    def _put_boundary(self, backend: Any, body: JsonBody) -> JsonBody:
        ps = self._permission_set(backend, body)
        self._boundaries[ps.permission_set_arn] = body["PermissionsBoundary"]
        return {}

    def _get_boundary(self, backend: Any, body: JsonBody) -> JsonBody:
        ps = self._permission_set(backend, body)
        if ps.permission_set_arn not in self._boundaries:
            raise AwsError("ResourceNotFoundException", "No permissions boundary is attached")
        return {"PermissionsBoundary": self._boundaries[ps.permission_set_arn]}

    def _delete_boundary(self, backend: Any, body: JsonBody) -> JsonBody:
        ps = self._permission_set(backend, body)
        if self._boundaries.pop(ps.permission_set_arn, None) is None:
            raise AwsError("ResourceNotFoundException", "No permissions boundary is attached")
        return {}

    def _tag(self, backend: Any, body: JsonBody) -> JsonBody:
        ps = self._permission_set(backend, body, "ResourceArn")
        added = {tag["Key"]: tag["Value"] for tag in body.get("Tags", [])}
        kept = [tag for tag in ps.tags or [] if tag["Key"] not in added]
        ps.tags = kept + [{"Key": k, "Value": v} for k, v in added.items()]
        return {}

    def _untag(self, backend: Any, body: JsonBody) -> JsonBody:
        ps = self._permission_set(backend, body, "ResourceArn")
        removed = set(body.get("TagKeys", []))
        ps.tags = [tag for tag in ps.tags or [] if tag["Key"] not in removed]
        return {}

    def _list_tags(self, backend: Any, body: JsonBody) -> JsonBody:
        return {"Tags": list(self._permission_set(backend, body, "ResourceArn").tags or [])}

    def _provisioned_accounts(self, backend: Any, body: JsonBody) -> JsonBody:
        arn = body.get("PermissionSetArn")
        accounts = sorted(
            {a.target_id for a in backend.account_assignments if a.permission_set_arn == arn}
        )
        return {"AccountIds": accounts}

    def _provision(self, backend: Any, body: JsonBody) -> JsonBody:
        ps = self._permission_set(backend, body)
        accounts = set(self._provisioned_accounts(backend, body)["AccountIds"])
        now = time.monotonic()
        busy = {
            account
            for request in self._requests.values()
            if request.status_key == "PermissionSetProvisioningStatus"
            and now - request.started < self.seconds_in_progress
            for account in request.accounts
        }
        if accounts & busy:
            self.refused_for_limits += 1
            raise AwsError(
                "ConflictException", "A permission set is being provisioned in these accounts"
            )
        details = {"PermissionSetArn": ps.permission_set_arn, "AccountId": DEFAULT_ACCOUNT_ID}
        return self._start("PermissionSetProvisioningStatus", details, accounts=accounts)

    # --- assignments --------------------------------------------------------------------

    def _create_assignment(self, backend: Any, body: JsonBody) -> JsonBody:
        self._permission_set(backend, body)
        self._admit_assignment_request()
        details = _assignment_details(body)
        failure = self.failing_accounts.get(body["TargetId"]) or _role_quota_failure(
            self._permission_set(backend, body)
        )
        if failure is None and _find_assignment(backend, body) is None:
            backend.create_account_assignment(
                body["InstanceArn"],
                body["TargetId"],
                body["TargetType"],
                body["PermissionSetArn"],
                body["PrincipalType"],
                body["PrincipalId"],
            )
        return self._start("AccountAssignmentCreationStatus", details, failure)

    def _admit_assignment_request(self) -> None:
        outstanding = sum(self._in_flight(status) for status in ASSIGNMENT_STATUSES)
        if outstanding >= MAX_OUTSTANDING_ASSIGNMENT_REQUESTS:
            self.refused_for_limits += 1
            raise AwsError("ConflictException", "Too many outstanding assignment requests")
        self.most_outstanding_assignment_requests = max(
            self.most_outstanding_assignment_requests, outstanding + 1
        )

    def _delete_assignment(self, backend: Any, body: JsonBody) -> JsonBody:
        self._admit_assignment_request()
        assignment = _find_assignment(backend, body)
        if assignment is None:
            raise AwsError("ResourceNotFoundException", "Account assignment not found")
        backend.account_assignments.remove(assignment)
        return self._start("AccountAssignmentDeletionStatus", _assignment_details(body))

    # --- asynchronous requests ----------------------------------------------------------

    def _start(
        self,
        status_key: str,
        details: JsonBody,
        failure: str | None = None,
        accounts: set[str] | None = None,
    ) -> JsonBody:
        request_id = str(uuid.uuid4())
        self._requests[request_id] = _Request(
            status_key, time.monotonic(), details, failure, frozenset(accounts or ())
        )
        return {status_key: self._describe(request_id)}

    def _status(self, status_key: str, id_key: str) -> Callable[[Any, JsonBody], JsonBody]:
        def describe(_backend: Any, body: JsonBody) -> JsonBody:
            request = self._requests.get(body.get(id_key, ""))
            if request is None or request.status_key != status_key:
                raise AwsError("ResourceNotFoundException", "No such request")
            return {status_key: self._describe(body[id_key])}

        return describe

    def _describe(self, request_id: str) -> JsonBody:
        request = self._requests[request_id]
        done = time.monotonic() - request.started >= self.seconds_in_progress
        status = {"RequestId": request_id, **request.details, "Status": "IN_PROGRESS"}
        if done:
            status["Status"] = "FAILED" if request.failure else "SUCCEEDED"
            if request.failure:
                status["FailureReason"] = request.failure
        return status

    def _in_flight(self, status_key: str) -> int:
        now = time.monotonic()
        return sum(
            1
            for request in self._requests.values()
            if request.status_key == status_key and now - request.started < self.seconds_in_progress
        )


def _role_quota_failure(ps: Any) -> str | None:
    """Provisioning makes a role in the account, and IAM attaches at most 10 managed policies
    to a role unless the account's quota is raised (IAM and AWS STS quotas: "Managed policies
    attached to an IAM role", default 10, adjustable to 20)."""
    attached = ps.total_managed_policies_attached
    if attached <= IAM_MANAGED_POLICIES_PER_ROLE:
        return None
    return (
        "Request failed: LimitExceeded: Cannot exceed quota for PoliciesPerRole: "
        f"{IAM_MANAGED_POLICIES_PER_ROLE}"
    )


def _assignment_details(body: JsonBody) -> JsonBody:
    keys = ("TargetId", "TargetType", "PermissionSetArn", "PrincipalType", "PrincipalId")
    return {key: body.get(key) for key in keys}


def _find_assignment(backend: Any, body: JsonBody) -> Any:
    for assignment in backend.account_assignments:
        if (
            assignment.instance_arn == body.get("InstanceArn")
            and assignment.target_id == body.get("TargetId")
            and assignment.permission_set_arn == body.get("PermissionSetArn")
            and assignment.principal_type == body.get("PrincipalType")
            and assignment.principal_id == body.get("PrincipalId")
        ):
            return assignment
    return None


def _attributes(body: JsonBody) -> list[JsonBody]:
    configuration = body.get("InstanceAccessControlAttributeConfiguration") or {}
    attributes = configuration.get("AccessControlAttributes") or []
    keys = [item.get("Key") for item in attributes]
    if len(set(keys)) != len(keys) or any(
        len((item.get("Value") or {}).get("Source") or []) != 1 for item in attributes
    ):
        raise AwsError("ValidationException", "Keys must be unique, each with one Source")
    return attributes
