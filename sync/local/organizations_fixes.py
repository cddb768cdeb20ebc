r"""Organizations and Budgets behaviour moto 5.2 is too kind about: CreateAccount is
IN_PROGRESS for a while before SUCCEEDED, and FAILED with EMAIL_ALREADY_EXISTS for a used
address; AttachPolicy is refused until the policy type is enabled and beyond 5 SCPs a target;
OU names are unique under a parent; SCP documents must be JSON of at most 5,120 characters;
EnablePolicyType is asynchronous (PENDING_ENABLE for a while: "This is an asynchronous request
that AWS performs in the background", Organizations API Reference); ServiceQuotas answers the
account quota (AWS Organizations quotas: 10 accounts by default, sometimes fewer for a new
organization); budget amounts must be plain numbers (botocore's model: NumericValue pattern
([0-9]*\.)?[0-9]+); UpdateBudget exists."""

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.budgets.models import budgets_backends
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.organizations.models import organizations_backends

from sync.local.aws_errors import AwsError, JsonBody

NUMERIC_VALUE = re.compile(r"([0-9]*\.)?[0-9]+")
MAX_SCPS_PER_TARGET = 5
MAX_SCP_CHARACTERS = 5_120
IDENTITY_CENTER = "sso.amazonaws.com"
Fix = Callable[[Any, JsonBody], JsonBody | None]


@dataclass
class _AccountRequest:
    started: float
    status: JsonBody


@dataclass
class OrganizationsFixes:
    seconds_in_progress: float = 0.05
    seconds_policy_type_pending: float = 0.2
    """How long an enabled policy type stays PENDING_ENABLE."""
    clock: Callable[[], float] = time.monotonic
    """What the two delays above are measured with (a test may move it by hand)."""
    emails_in_use_elsewhere: set[str] = field(default_factory=set)
    """Addresses of AWS accounts outside this organization: CreateAccount FAILS with them."""
    _requests: dict[str, _AccountRequest] = field(default_factory=dict)
    _identity_center_administrators: list[str] = field(default_factory=list)
    _pending_policy_types: dict[str, float] = field(default_factory=dict)
    _fixes: dict[str, Fix] = field(init=False)

    def __post_init__(self) -> None:
        self._fixes = {
            "EnablePolicyType": self._enable_policy_type,
            "CreateAccount": self._create_account,
            "DescribeCreateAccountStatus": self._describe_create_account,
            "AttachPolicy": self._attach_policy,
            "CreateOrganizationalUnit": self._create_unit,
            "CreatePolicy": self._check_policy_content,
            "UpdatePolicy": self._check_policy_content,
            "RegisterDelegatedAdministrator": self._register_administrator,
            "ListDelegatedAdministrators": self._list_administrators,
            "DeregisterDelegatedAdministrator": self._deregister_administrator,
        }

    def handle(self, operation: str, body: JsonBody, _region: str) -> JsonBody | None:
        backend = organizations_backends[DEFAULT_ACCOUNT_ID]["aws"]
        self._settle_policy_types(backend)
        fix = self._fixes.get(operation)
        return fix(backend, body) if fix else None

    def _enable_policy_type(self, backend: Any, body: JsonBody) -> JsonBody:
        root = next(ou for ou in backend.ou if ou.id == body.get("RootId"))
        for policy_type in root.policy_types:
            if policy_type["Type"] == body["PolicyType"]:
                if policy_type["Status"] == "PENDING_ENABLE":
                    raise AwsError(
                        "PolicyChangesInProgressException", "The policy type is being enabled"
                    )
                raise AwsError("PolicyTypeAlreadyEnabledException", "Already enabled")
        root.policy_types.append({"Type": body["PolicyType"], "Status": "PENDING_ENABLE"})
        self._pending_policy_types[body["PolicyType"]] = (
            self.clock() + self.seconds_policy_type_pending
        )
        return {"Root": root.describe()}

    def _settle_policy_types(self, backend: Any) -> None:
        now = self.clock()
        for root in (ou for ou in backend.ou if ou.id.startswith("r-")):
            for policy_type in root.policy_types:
                ready = self._pending_policy_types.get(policy_type["Type"], 0.0)
                if policy_type["Status"] == "PENDING_ENABLE" and ready <= now:
                    policy_type["Status"] = "ENABLED"

    def _create_account(self, backend: Any, body: JsonBody) -> JsonBody:
        request_id = "car-" + uuid.uuid4().hex
        status: JsonBody = {
            "Id": request_id,
            "AccountName": body["AccountName"],
            "RequestedTimestamp": time.time(),
        }
        email = body["Email"].lower()
        in_use = {a.email.lower() for a in backend.accounts} | self.emails_in_use_elsewhere
        if email in in_use:
            status |= {"State": "FAILED", "FailureReason": "EMAIL_ALREADY_EXISTS"}
        else:
            created = backend.create_account(**body)["CreateAccountStatus"]
            status |= {"State": "SUCCEEDED", "AccountId": created["AccountId"]}
        self._requests[request_id] = _AccountRequest(self.clock(), status)
        return {"CreateAccountStatus": self._status(request_id)}

    def _describe_create_account(self, _backend: Any, body: JsonBody) -> JsonBody:
        if body.get("CreateAccountRequestId") not in self._requests:
            raise AwsError("CreateAccountStatusNotFoundException", "No such request")
        return {"CreateAccountStatus": self._status(body["CreateAccountRequestId"])}

    def _status(self, request_id: str) -> JsonBody:
        request = self._requests[request_id]
        if self.clock() - request.started >= self.seconds_in_progress:
            return request.status
        return {key: request.status[key] for key in ("Id", "AccountName", "RequestedTimestamp")} | {
            "State": "IN_PROGRESS"
        }

    def finish_account_requests(self) -> None:
        """End every CreateAccount request's IN_PROGRESS now (a test's setup need not wait)."""
        for request in self._requests.values():
            request.started = float("-inf")

    def _attach_policy(self, backend: Any, body: JsonBody) -> None:
        policy = backend.get_policy_by_id(body["PolicyId"])
        if policy.type != "SERVICE_CONTROL_POLICY":
            return None
        root = next(ou for ou in backend.ou if ou.id.startswith("r-"))
        if not any(
            t["Type"] == policy.type and t["Status"] == "ENABLED" for t in root.policy_types
        ):
            raise AwsError("PolicyTypeNotEnabledException", "SCPs are not enabled on the root")
        target = next(
            (t for t in [*backend.ou, *backend.accounts] if t.id == body["TargetId"]), None
        )
        attached = [p for p in getattr(target, "attached_policies", []) if p.type == policy.type]
        if policy not in attached and len(attached) >= MAX_SCPS_PER_TARGET:
            raise AwsError(
                "ConstraintViolationException",
                "You attempted to attach more policies of this type than allowed",
                "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED",
            )
        return None

    def _create_unit(self, backend: Any, body: JsonBody) -> None:
        if any(
            ou.parent_id == body.get("ParentId") and getattr(ou, "name", None) == body.get("Name")
            for ou in backend.ou
        ):
            raise AwsError("DuplicateOrganizationalUnitException", "That OU already exists")
        return None

    def _register_administrator(self, backend: Any, body: JsonBody) -> JsonBody | None:
        """moto knows no delegated administrator for Identity Center (sso.amazonaws.com)."""
        if body.get("ServicePrincipal") != IDENTITY_CENTER:
            return None
        if not any(s["ServicePrincipal"] == IDENTITY_CENTER for s in backend.services):
            raise AwsError(
                "AccessDeniedForDependencyException",
                "Enable trusted access for sso.amazonaws.com first",
            )
        account = backend.get_account_by_id(body["AccountId"])
        if account.id in self._identity_center_administrators:
            raise AwsError("AccountAlreadyRegisteredException", "Already registered")
        if self._identity_center_administrators:
            # Identity Center has one delegated administrator (Organizations API Reference,
            # ConstraintViolationException: DELEGATED_ADMINISTRATOR_EXISTS_FOR_THIS_SERVICE).
            raise AwsError(
                "ConstraintViolationException",
                "sso.amazonaws.com already has a delegated administrator; deregister it first",
                "DELEGATED_ADMINISTRATOR_EXISTS_FOR_THIS_SERVICE",
            )
        self._identity_center_administrators.append(account.id)
        return {}

    def _deregister_administrator(self, backend: Any, body: JsonBody) -> JsonBody | None:
        if body.get("ServicePrincipal") != IDENTITY_CENTER:
            return None
        if body.get("AccountId") not in self._identity_center_administrators:
            raise AwsError(
                "AccountNotRegisteredException",
                "The account is not a delegated administrator for this service",
            )
        self._identity_center_administrators.remove(body["AccountId"])
        return {}

    def _list_administrators(self, backend: Any, body: JsonBody) -> JsonBody | None:
        if body.get("ServicePrincipal") != IDENTITY_CENTER:
            return None
        accounts = [backend.get_account_by_id(i) for i in self._identity_center_administrators]
        return {
            "DelegatedAdministrators": [
                {"Id": a.id, "Name": a.name, "Email": a.email, "Status": "ACTIVE"} for a in accounts
            ]
        }

    def _check_policy_content(self, _backend: Any, body: JsonBody) -> None:
        content = body.get("Content")
        if content is None:
            return None
        try:
            json.loads(content)
        except json.JSONDecodeError as error:
            raise AwsError("MalformedPolicyDocumentException", str(error)) from None
        if len(content) > MAX_SCP_CHARACTERS:
            raise AwsError(
                "ConstraintViolationException",
                "Policy content is too large",
                "POLICY_CONTENT_LIMIT_EXCEEDED",
            )
        return None


class BudgetsFixes:
    """UpdateBudget, DescribeSubscribersForNotification and DeleteSubscriber, which moto
    lacks."""

    def handle(self, operation: str, body: JsonBody, _region: str) -> JsonBody | None:
        if operation in ("DescribeSubscribersForNotification", "DeleteSubscriber"):
            return self._subscribers(operation, body)
        budget = body.get("Budget") or body.get("NewBudget") or {}
        if "FilterExpression" in budget and ("CostFilters" in budget or "CostTypes" in budget):
            # AWS Budgets API Reference, Budget: FilterExpression and Metrics replace the
            # deprecated CostFilters and CostTypes; a budget gives one or the other.
            raise AwsError(
                "InvalidParameterException",
                "FilterExpression cannot be combined with CostFilters or CostTypes",
            )
        amount = budget.get("BudgetLimit", {}).get("Amount")
        if amount is not None and not NUMERIC_VALUE.fullmatch(amount):
            raise AwsError("InvalidParameterException", f"Invalid amount {amount!r}")
        if operation != "UpdateBudget":
            return None
        budgets = budgets_backends[body["AccountId"]]["aws"].budgets[body["AccountId"]]
        new = body["NewBudget"]
        if new["BudgetName"] not in budgets:
            raise AwsError("NotFoundException", f"Unable to update budget: {new['BudgetName']}")
        budgets[new["BudgetName"]].budget.update(new)
        return {}

    def _subscribers(self, operation: str, body: JsonBody) -> JsonBody:
        budgets = budgets_backends[body["AccountId"]]["aws"].budgets[body["AccountId"]]
        if body["BudgetName"] not in budgets:
            raise AwsError("NotFoundException", f"No budget {body['BudgetName']}")
        notification = next(
            (
                n
                for n in budgets[body["BudgetName"]].notifications
                if n.details == body["Notification"]
            ),
            None,
        )
        if notification is None:
            raise AwsError("NotFoundException", "No such notification")
        if operation == "DescribeSubscribersForNotification":
            return {"Subscribers": list(notification.subscribers)}
        notification.subscribers = [s for s in notification.subscribers if s != body["Subscriber"]]
        return {}


@dataclass
class ServiceQuotasFixes:
    """ListServiceQuotas for AWS Organizations, which moto lacks: the account quota."""

    account_quota: int = 10
    """AWS Organizations: 10 accounts by default (fewer for some new organizations)."""
    account_quota_code: str = "L-E619E033"
    """Its code; AWS Organizations' quotas page warns that codes may change over time."""

    def handle(self, operation: str, body: JsonBody, _region: str) -> JsonBody | None:
        if operation != "ListServiceQuotas" or body.get("ServiceCode") != "organizations":
            return None
        return {
            "Quotas": [
                {
                    "ServiceCode": "organizations",
                    "ServiceName": "AWS Organizations",
                    "QuotaCode": self.account_quota_code,
                    "QuotaName": "Default maximum number of accounts",
                    "Value": float(self.account_quota),
                    "Unit": "None",
                    "Adjustable": True,
                    "GlobalQuota": True,
                }
            ]
        }
