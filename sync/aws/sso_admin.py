"""Reads and writes permission sets and account assignments through SSO Admin.

Permission sets sso-sync owns carry the tag managed-by=sso-sync; only their assignments are
read. Assignment changes and provisioning are asynchronous in AWS: each call here waits for
its request to end, with at most 10 assignment creations and deletions outstanding together
and one provisioning at a time (IAM Identity Center quotas: one permission-set role per account
updated at a time, and a provisioning updates the role in every account that has the set).
"""

import json
import re
import threading
import time
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying

from sync.aws.identity_store import boto_config
from sync.aws.paging import all_pages
from sync.aws.rate_limit import CallMeter
from sync.aws.retry import RequestFailed, aws_error_text, error_code, is_transient
from sync.errors import ReadError
from sync.model import AccessSnapshot, IdcAssignment, IdcPermissionSet, PermissionSetAttributes
from sync.rules.access import MANAGED_TAG

# The Identity Center guide's 10 outstanding asynchronous assignment calls, creations and
# deletions together (the IAM guide's account access quotas say 15: the lower one holds).
MAX_OUTSTANDING_ASSIGNMENT_REQUESTS = 10
MAX_PROVISIONINGS = 1
EMPTY = PermissionSetAttributes(None, "", None, frozenset(), frozenset(), None, None, frozenset())


class AccessAdmin:
    def __init__(
        self,
        client: Any,
        instance_arn: str,
        retrying: Retrying,
        poll_seconds: float = 0.2,
        wait_seconds: float = 600.0,
    ) -> None:
        self._client = client
        self._instance = instance_arn
        self._retrying = retrying
        self._poll_seconds = poll_seconds
        self._wait_seconds = wait_seconds
        self._assignment_requests = threading.BoundedSemaphore(MAX_OUTSTANDING_ASSIGNMENT_REQUESTS)
        self._provisionings = threading.BoundedSemaphore(MAX_PROVISIONINGS)

    @classmethod
    def connect(
        cls, instance_arn: str, meter: CallMeter, retrying: Retrying, concurrency: int
    ) -> "AccessAdmin":
        client = boto3.client("sso-admin", config=boto_config(concurrency))
        meter.attach(client)
        return cls(client, instance_arn, retrying)

    # --- reading ------------------------------------------------------------------------

    def read(self, every_assignment: bool = False, access_control: bool = False) -> AccessSnapshot:
        """Every permission set; the assignments of the managed ones (of all of them with
        `every_assignment`, for the access report's live view); with `access_control`, the
        instance's access-control attributes."""
        try:
            permission_sets = [
                self._permission_set(arn)
                for arn in self._pages("list_permission_sets", "PermissionSets")
            ]
            provisioned_to = {
                ps.arn: self._pages(
                    "list_accounts_for_provisioned_permission_set",
                    "AccountIds",
                    PermissionSetArn=ps.arn,
                )
                for ps in permission_sets
                if ps.managed or every_assignment
            }
            assignments = [
                IdcAssignment(
                    raw["AccountId"],
                    raw["PermissionSetArn"],
                    raw["PrincipalType"],
                    raw["PrincipalId"],
                )
                for ps in permission_sets
                if ps.arn in provisioned_to
                for account_id in provisioned_to[ps.arn]
                for raw in self._pages(
                    "list_account_assignments",
                    "AccountAssignments",
                    AccountId=account_id,
                    PermissionSetArn=ps.arn,
                )
            ]
        except (ClientError, BotoCoreError) as error:
            raise ReadError(
                f"reading permission sets and assignments failed: {aws_error_text(error)}"
            ) from error
        provisioned = {a.permission_set_arn for a in assignments}
        return AccessSnapshot(
            tuple(
                IdcPermissionSet(
                    ps.arn,
                    ps.name,
                    ps.attributes,
                    ps.managed,
                    ps.arn in provisioned,
                    frozenset(provisioned_to.get(ps.arn, ())),
                )
                for ps in permission_sets
            ),
            tuple(assignments),
            self._access_control() if access_control else None,
        )

    def _access_control(self) -> tuple[tuple[str, str], ...] | None:
        """(key, source) of the instance's access-control attributes; None when it has no
        configuration (DescribeInstanceAccessControlAttributeConfiguration:
        ResourceNotFoundException)."""
        try:
            described = self._call("describe_instance_access_control_attribute_configuration")
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise
        attributes = described["InstanceAccessControlAttributeConfiguration"][
            "AccessControlAttributes"
        ]
        return tuple(sorted((item["Key"], item["Value"]["Source"][0]) for item in attributes))

    # --- access-control attributes: one attempt each; the executor retries ---------------

    def put_access_control(self, attributes: tuple[tuple[str, str], ...], exists: bool) -> None:
        """Create the instance's configuration, or replace its attributes."""
        put = (
            "update_instance_access_control_attribute_configuration"
            if exists
            else "create_instance_access_control_attribute_configuration"
        )
        getattr(self._client, put)(
            InstanceArn=self._instance,
            InstanceAccessControlAttributeConfiguration={
                "AccessControlAttributes": [
                    {"Key": key, "Value": {"Source": [source]}} for key, source in attributes
                ]
            },
        )

    def _permission_set(self, arn: str) -> IdcPermissionSet:
        described = self._call("describe_permission_set", PermissionSetArn=arn)["PermissionSet"]
        tags = {
            tag["Key"]: tag["Value"]
            for tag in self._pages("list_tags_for_resource", "Tags", ResourceArn=arn)
        }
        managed = tags.get(MANAGED_TAG[0]) == MANAGED_TAG[1]
        if not managed:
            return IdcPermissionSet(arn, described["Name"], None, managed=False)
        managed_policies = self._pages(
            "list_managed_policies_in_permission_set",
            "AttachedManagedPolicies",
            PermissionSetArn=arn,
        )
        customer_policies = self._pages(
            "list_customer_managed_policy_references_in_permission_set",
            "CustomerManagedPolicyReferences",
            PermissionSetArn=arn,
        )
        inline = self._call("get_inline_policy_for_permission_set", PermissionSetArn=arn).get(
            "InlinePolicy"
        )
        attributes = PermissionSetAttributes(
            description=described.get("Description") or None,
            session_duration=described.get("SessionDuration", "PT1H"),
            relay_state=described.get("RelayState") or None,
            managed_policy_arns=frozenset(policy["Arn"] for policy in managed_policies),
            customer_managed_policies=frozenset(
                (policy["Name"], policy.get("Path", "/")) for policy in customer_policies
            ),
            inline_policy=_canonical(inline) if inline else None,
            permissions_boundary=self._boundary(arn),
            tags=frozenset(tags.items()),
        )
        return IdcPermissionSet(arn, described["Name"], attributes, managed=True)

    def _boundary(self, arn: str) -> tuple[str, str] | None:
        try:
            boundary = self._call(
                "get_permissions_boundary_for_permission_set", PermissionSetArn=arn
            )["PermissionsBoundary"]
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise
        if "ManagedPolicyArn" in boundary:
            return ("managed", boundary["ManagedPolicyArn"])
        reference = boundary["CustomerManagedPolicyReference"]
        return ("customer", reference.get("Path", "/") + reference["Name"])

    # --- permission sets: each method is one attempt; the executor retries ---------------

    def create_permission_set(self, name: str, desired: PermissionSetAttributes) -> str:
        """Create it tagged as managed, then attach what it needs; return its ARN."""
        optional = {"Description": desired.description, "RelayState": desired.relay_state}
        try:
            arn = self._client.create_permission_set(
                InstanceArn=self._instance,
                Name=name,
                SessionDuration=desired.session_duration,
                Tags=[{"Key": key, "Value": value} for key, value in sorted(desired.tags)],
                **{key: value for key, value in optional.items() if value},
            )["PermissionSet"]["PermissionSetArn"]
        except ClientError as error:
            if error_code(error) != "ConflictException":
                raise
            # SSO Admin answers ConflictException for a name in use and for writes that have
            # not propagated yet: only a permission set of this name makes it the former.
            found = self._adopt_own(name)  # created by an interrupted run
            if found is None:
                raise
            arn = found
        current = self._permission_set(arn).attributes or EMPTY
        self.update_permission_set(arn, current, desired)
        return arn

    def _adopt_own(self, name: str) -> str | None:
        """The ARN of sso-sync's permission set of this name; None if there is none by that
        name; RequestFailed if it is someone else's."""
        for arn in self._pages("list_permission_sets", "PermissionSets"):
            permission_set = self._permission_set(arn)
            if permission_set.name == name:
                if permission_set.managed:
                    return arn
                raise RequestFailed(f"a permission set named {name} exists and is not sso-sync's")
        return None

    def update_permission_set(
        self, arn: str, current: PermissionSetAttributes, desired: PermissionSetAttributes
    ) -> None:
        """Make the permission set match `desired`, touching only what differs."""
        call = self._client
        ids = {"InstanceArn": self._instance, "PermissionSetArn": arn}
        basics = ("description", "session_duration", "relay_state")
        if any(getattr(current, name) != getattr(desired, name) for name in basics):
            optional = {"Description": desired.description, "RelayState": desired.relay_state}
            call.update_permission_set(
                **ids,
                SessionDuration=desired.session_duration,
                **{key: value for key, value in optional.items() if value},
            )
        for policy in desired.managed_policy_arns - current.managed_policy_arns:
            call.attach_managed_policy_to_permission_set(**ids, ManagedPolicyArn=policy)
        for policy in current.managed_policy_arns - desired.managed_policy_arns:
            call.detach_managed_policy_from_permission_set(**ids, ManagedPolicyArn=policy)
        for name, path in desired.customer_managed_policies - current.customer_managed_policies:
            call.attach_customer_managed_policy_reference_to_permission_set(
                **ids, CustomerManagedPolicyReference={"Name": name, "Path": path}
            )
        for name, path in current.customer_managed_policies - desired.customer_managed_policies:
            call.detach_customer_managed_policy_reference_from_permission_set(
                **ids, CustomerManagedPolicyReference={"Name": name, "Path": path}
            )
        if desired.inline_policy != current.inline_policy:
            if desired.inline_policy:
                call.put_inline_policy_to_permission_set(**ids, InlinePolicy=desired.inline_policy)
            else:
                call.delete_inline_policy_from_permission_set(**ids)
        if desired.permissions_boundary != current.permissions_boundary:
            if desired.permissions_boundary:
                call.put_permissions_boundary_to_permission_set(
                    **ids, PermissionsBoundary=_boundary_shape(desired.permissions_boundary)
                )
            else:
                call.delete_permissions_boundary_from_permission_set(**ids)
        self._converge_tags(arn, dict(current.tags), dict(desired.tags))

    def _converge_tags(self, arn: str, current: dict[str, str], desired: dict[str, str]) -> None:
        changed = {k: v for k, v in desired.items() if current.get(k) != v}
        removed = sorted(current.keys() - desired.keys())
        ids = {"InstanceArn": self._instance, "ResourceArn": arn}
        if changed:
            self._client.tag_resource(
                **ids, Tags=[{"Key": k, "Value": v} for k, v in sorted(changed.items())]
            )
        if removed:
            self._client.untag_resource(**ids, TagKeys=removed)

    def delete_permission_set(self, arn: str) -> None:
        try:
            self._client.delete_permission_set(InstanceArn=self._instance, PermissionSetArn=arn)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise

    def provision(self, arn: str) -> None:
        """Push the permission set's current version to every account it is provisioned to."""
        with self._provisionings:
            status = self._client.provision_permission_set(
                InstanceArn=self._instance,
                PermissionSetArn=arn,
                TargetType="ALL_PROVISIONED_ACCOUNTS",
            )["PermissionSetProvisioningStatus"]
            self._wait(status, "PermissionSetProvisioningStatus", "ProvisionPermissionSetRequestId")

    # --- assignments --------------------------------------------------------------------

    def create_assignment(
        self, account_id: str, arn: str, principal_type: str, principal_id: str
    ) -> None:
        with self._assignment_requests:
            status = self._client.create_account_assignment(
                **self._assignment(account_id, arn, principal_type, principal_id)
            )["AccountAssignmentCreationStatus"]
            self._wait(
                status, "AccountAssignmentCreationStatus", "AccountAssignmentCreationRequestId"
            )

    def delete_assignment(
        self, account_id: str, arn: str, principal_type: str, principal_id: str
    ) -> None:
        with self._assignment_requests:
            try:
                status = self._client.delete_account_assignment(
                    **self._assignment(account_id, arn, principal_type, principal_id)
                )["AccountAssignmentDeletionStatus"]
            except ClientError as error:
                if error_code(error) == "ResourceNotFoundException":
                    return
                raise
            self._wait(
                status, "AccountAssignmentDeletionStatus", "AccountAssignmentDeletionRequestId"
            )

    def _assignment(
        self, account_id: str, arn: str, principal_type: str, principal_id: str
    ) -> dict[str, str]:
        return {
            "InstanceArn": self._instance,
            "TargetId": account_id,
            "TargetType": "AWS_ACCOUNT",
            "PermissionSetArn": arn,
            "PrincipalType": principal_type,
            "PrincipalId": principal_id,
        }

    def _wait(self, status: dict, key: str, request_parameter: str) -> None:
        """Poll Describe<key> until the request ends; transient errors only delay it."""
        describe = getattr(self._client, "describe_" + _snake(key))
        deadline = time.monotonic() + self._wait_seconds
        pause = self._poll_seconds
        while status["Status"] == "IN_PROGRESS":
            if time.monotonic() > deadline:
                raise RequestFailed(f"request {status['RequestId']} still in progress; gave up")
            time.sleep(pause)
            pause = min(pause * 1.5, 5.0)
            try:
                status = describe(
                    InstanceArn=self._instance, **{request_parameter: status["RequestId"]}
                )[key]
            except ClientError as error:
                if not is_transient(error):
                    raise
        if status["Status"] == "FAILED":
            reason = status.get("FailureReason", "FAILED without a reason")
            if "PoliciesPerRole" in reason:
                reason += (
                    " (the permission set has more managed policies than IAM allows per role "
                    "in this account: raise the account's 'Managed policies per role' quota, "
                    "up to 20, or attach fewer)"
                )
            raise RequestFailed(reason)

    # --- paging -------------------------------------------------------------------------

    def _pages(self, operation: str, key: str, **params: Any) -> list[Any]:
        call = getattr(self._client, operation)
        return all_pages(call, key, self._retrying, InstanceArn=self._instance, **params)

    def _call(self, operation: str, **params: Any) -> dict:
        call = getattr(self._client, operation)
        return self._retrying(call, InstanceArn=self._instance, **params)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _canonical(policy: str) -> str:
    return json.dumps(json.loads(policy), separators=(",", ":"), sort_keys=True)


def _boundary_shape(boundary: tuple[str, str]) -> dict:
    kind, value = boundary
    if kind == "managed":
        return {"ManagedPolicyArn": value}
    path, _, name = value.rpartition("/")
    return {"CustomerManagedPolicyReference": {"Name": name, "Path": path + "/"}}
