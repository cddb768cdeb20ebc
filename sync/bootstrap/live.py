"""Reads what the Organization holds now, for the bootstrap planner: OUs by path, accounts
with their OU, email and tags, SCPs with their content and targets, sandbox budgets, and the
Identity Center delegated administrators."""

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying

from sync.aws.paging import all_pages
from sync.aws.retry import aws_error_text, error_code
from sync.errors import ReadError

ACCOUNT_QUOTA_NAME = "Default maximum number of accounts"
ACCOUNT_QUOTA_CODE = "L-E619E033"
"""Its code today; AWS Organizations' quotas page warns codes may change, so the code
ListServiceQuotas answers is used when it answers (found by the name above)."""
SCP = "SERVICE_CONTROL_POLICY"
IDENTITY_CENTER_PRINCIPAL = "sso.amazonaws.com"
STACK_SET_PREFIX = "sso-sync-"
STACK_SET_TAG = ("managed-by", "sso-sync-bootstrap")


@dataclass(frozen=True)
class LiveAccount:
    id: str
    name: str
    email: str
    status: str
    ou_path: str
    tags: dict[str, str]


@dataclass(frozen=True)
class LivePolicy:
    id: str
    name: str
    document: Any
    """The parsed JSON, so that formatting differences are not drift."""
    target_paths: frozenset[str]
    """OU paths ("/" for the root) it is attached to; account attachments are not tracked."""


@dataclass(frozen=True)
class LiveStackInstance:
    account_id: str
    region: str
    ou_path: str
    status: str
    """CURRENT, OUTDATED or INOPERABLE."""
    detailed_status: str
    """SUCCEEDED, FAILED, CANCELLED, INOPERABLE, PENDING, RUNNING, ..."""
    reason: str

    @property
    def healthy(self) -> bool:
        return self.status == "CURRENT" and self.detailed_status in ("SUCCEEDED", "")


@dataclass(frozen=True)
class LiveStackSet:
    name: str
    template: str
    parameters: dict[str, str]
    target_paths: frozenset[str]
    """The OUs it is deployed to, as paths."""
    managed: bool
    """Tagged as made by the bootstrap: only these are ever changed or deleted."""
    instances: tuple[LiveStackInstance, ...] = ()
    """Read for the bootstrap's own stack sets: each account's stack, with AWS's reason."""


@dataclass(frozen=True)
class LiveOrganization:
    exists: bool
    organization_id: str | None = None
    management_account_id: str = ""
    root_id: str = ""
    scps_enabled: bool = False
    scps_pending: bool = False
    """EnablePolicyType is asynchronous: enabled, but PENDING_ENABLE until AWS is done."""
    account_quota: int | None = None
    """Accounts the Organization may hold (Service Quotas); None where it cannot be read."""
    account_quota_code: str = ACCOUNT_QUOTA_CODE
    """The quota's code, as Service Quotas names it (what a request for more needs)."""
    units: dict[str, str] = field(default_factory=dict)
    """OU path -> id, with "/" for the root."""
    accounts: tuple[LiveAccount, ...] = ()
    policies: tuple[LivePolicy, ...] = ()
    budgets: dict[str, float] = field(default_factory=dict)
    """Budget name -> monthly USD limit, in the management account."""
    budget_subscribers: dict[str, frozenset[str]] = field(default_factory=dict)
    """Budget name -> the addresses its notifications mail (lower case)."""
    delegated_administrators: frozenset[str] = frozenset()
    stack_sets_access: bool = False
    """CloudFormation StackSets' trusted access to the Organization is on."""
    stack_sets: tuple[LiveStackSet, ...] = ()
    """The stack sets whose names start with sso-sync-."""


def _policy_type_status(root: dict, policy_type: str) -> str | None:
    return next(
        (t["Status"] for t in root.get("PolicyTypes", []) if t["Type"] == policy_type), None
    )


class OrganizationState:
    def __init__(
        self,
        organizations: Any,
        budgets: Any,
        retrying: Retrying,
        quotas: Any | None = None,
        cloudformation: Any | None = None,
    ) -> None:
        self._organizations = organizations
        self._budgets = budgets
        self._retrying = retrying
        self._quotas = quotas
        self._cloudformation = cloudformation

    def _account_quota(self) -> dict[str, Any]:
        """The Organization's account quota; AWS Organizations documents 10 by default (fewer
        for some new organizations), found by name as its guide advises."""
        if self._quotas is None:
            return {}
        try:
            quotas = all_pages(
                self._quotas.list_service_quotas,
                "Quotas",
                self._retrying,
                ServiceCode="organizations",
            )
        except (ClientError, BotoCoreError):
            return {}  # not readable here: CreateAccount will say so if it is reached
        for quota in quotas:
            if quota.get("QuotaName") == ACCOUNT_QUOTA_NAME:
                return {
                    "account_quota": int(quota["Value"]),
                    "account_quota_code": quota.get("QuotaCode") or ACCOUNT_QUOTA_CODE,
                }
        return {}

    def read(self) -> LiveOrganization:
        try:
            return self._read()
        except (ClientError, BotoCoreError) as error:
            raise ReadError(
                f"reading the AWS Organization failed: {aws_error_text(error)}"
            ) from error

    def _read(self) -> LiveOrganization:
        try:
            organization = self._call("describe_organization")["Organization"]
        except ClientError as error:
            if error_code(error) == "AWSOrganizationsNotInUseException":
                return LiveOrganization(exists=False, **self._account_quota())
            raise
        (root,) = self._pages("list_roots", "Roots")
        units = {"/": root["Id"]}
        self._collect_units(root["Id"], "", units)
        paths = {unit_id: path for path, unit_id in units.items()}
        accounts = tuple(
            LiveAccount(
                raw["Id"],
                raw["Name"],
                raw["Email"],
                raw.get("State") or raw.get("Status", ""),
                path,
                {
                    t["Key"]: t["Value"]
                    for t in self._pages("list_tags_for_resource", "Tags", ResourceId=raw["Id"])
                },
            )
            for path, unit_id in units.items()
            for raw in self._pages("list_accounts_for_parent", "Accounts", ParentId=unit_id)
        )
        management = organization["MasterAccountId"]
        return LiveOrganization(
            exists=True,
            organization_id=organization["Id"],
            management_account_id=management,
            root_id=root["Id"],
            scps_enabled=_policy_type_status(root, SCP) == "ENABLED",
            scps_pending=_policy_type_status(root, SCP) == "PENDING_ENABLE",
            **self._account_quota(),
            units=units,
            accounts=accounts,
            policies=tuple(self._policies(paths)),
            budgets=self._budget_limits(management),
            budget_subscribers=self._budget_subscribers(management),
            delegated_administrators=frozenset(
                admin["Id"]
                for admin in self._pages(
                    "list_delegated_administrators",
                    "DelegatedAdministrators",
                    ServicePrincipal=IDENTITY_CENTER_PRINCIPAL,
                )
            ),
            stack_sets_access=self._stack_sets_access(),
            stack_sets=tuple(self._stack_sets(paths)),
        )

    def _collect_units(self, parent_id: str, path: str, units: dict[str, str]) -> None:
        for unit in self._pages(
            "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent_id
        ):
            units[f"{path}/{unit['Name']}"] = unit["Id"]
            self._collect_units(unit["Id"], f"{path}/{unit['Name']}", units)

    def _policies(self, paths: dict[str, str]) -> list[LivePolicy]:
        policies = []
        for summary in self._pages("list_policies", "Policies", Filter=SCP):
            policy = self._call("describe_policy", PolicyId=summary["Id"])["Policy"]
            targets = self._pages("list_targets_for_policy", "Targets", PolicyId=summary["Id"])
            policies.append(
                LivePolicy(
                    summary["Id"],
                    summary["Name"],
                    json.loads(policy["Content"]),
                    frozenset(paths[t["TargetId"]] for t in targets if t["TargetId"] in paths),
                )
            )
        return policies

    def _budget_limits(self, account_id: str) -> dict[str, float]:
        budgets = all_pages(
            self._budgets.describe_budgets, "Budgets", self._retrying, AccountId=account_id
        )
        return {
            b["BudgetName"]: float(b["BudgetLimit"]["Amount"])
            for b in budgets
            if "BudgetLimit" in b
        }

    def _budget_subscribers(self, account_id: str) -> dict[str, frozenset[str]]:
        subscribers: dict[str, frozenset[str]] = {}
        for name in self._budget_limits(account_id):
            notifications = all_pages(
                self._budgets.describe_notifications_for_budget,
                "Notifications",
                self._retrying,
                AccountId=account_id,
                BudgetName=name,
            )
            subscribers[name] = frozenset(
                subscriber["Address"].lower()
                for notification in notifications
                for subscriber in all_pages(
                    self._budgets.describe_subscribers_for_notification,
                    "Subscribers",
                    self._retrying,
                    AccountId=account_id,
                    BudgetName=name,
                    Notification=notification,
                )
            )
        return subscribers

    def _stack_sets_access(self) -> bool:
        if self._cloudformation is None:
            return False
        answer = self._retrying(self._cloudformation.describe_organizations_access)
        return answer.get("Status") == "ENABLED"

    def _stack_sets(self, paths: dict[str, str]) -> list[LiveStackSet]:
        if self._cloudformation is None:
            return []
        found = []
        summaries = all_pages(
            self._cloudformation.list_stack_sets, "Summaries", self._retrying, Status="ACTIVE"
        )
        for summary in summaries:
            if not summary["StackSetName"].startswith(STACK_SET_PREFIX):
                continue
            stack_set = self._retrying(
                self._cloudformation.describe_stack_set, StackSetName=summary["StackSetName"]
            )["StackSet"]
            tags = {tag["Key"]: tag["Value"] for tag in stack_set.get("Tags", [])}
            managed = tags.get(STACK_SET_TAG[0]) == STACK_SET_TAG[1]
            found.append(
                LiveStackSet(
                    stack_set["StackSetName"],
                    stack_set.get("TemplateBody", ""),
                    {
                        p["ParameterKey"]: p.get("ParameterValue", "")
                        for p in stack_set.get("Parameters", [])
                    },
                    frozenset(
                        paths.get(unit, unit) for unit in stack_set.get("OrganizationalUnitIds", [])
                    ),
                    managed,
                    self._stack_instances(stack_set["StackSetName"], paths) if managed else (),
                )
            )
        return found

    def _stack_instances(self, name: str, paths: dict[str, str]) -> tuple[LiveStackInstance, ...]:
        assert self._cloudformation is not None
        summaries = all_pages(
            self._cloudformation.list_stack_instances,
            "Summaries",
            self._retrying,
            StackSetName=name,
        )
        return tuple(
            LiveStackInstance(
                summary["Account"],
                summary["Region"],
                paths.get(summary.get("OrganizationalUnitId", ""), ""),
                summary.get("Status", ""),
                summary.get("StackInstanceStatus", {}).get("DetailedStatus", ""),
                summary.get("StatusReason", ""),
            )
            for summary in summaries
        )

    def _pages(self, operation: str, key: str, **params: Any) -> list:
        return all_pages(getattr(self._organizations, operation), key, self._retrying, **params)

    def _call(self, operation: str, **params: Any) -> dict:
        return self._retrying(getattr(self._organizations, operation), **params)
