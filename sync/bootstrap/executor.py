"""Applies a bootstrap plan in order, one call at a time (Organizations answers concurrent
changes with ConcurrentModificationException), each step retried and audited. Ids of what
earlier steps created are resolved as the run goes."""

import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying

from sync.aws.retry import aws_error_text, error_code
from sync.bootstrap.live import (
    IDENTITY_CENTER_PRINCIPAL,
    SCP,
    STACK_SET_TAG,
    LiveOrganization,
)
from sync.bootstrap.planner import BootstrapOperation, BootstrapPlan, Step
from sync.bootstrap.stack_sets import ORGANIZATION_PLACEHOLDER
from sync.records.audit import AuditLog

ACCOUNT_PLACEHOLDER = re.compile(r"<account:([^>]+)>")
NOTIFICATION_THRESHOLDS = (("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100))


class StepFailed(Exception):
    """A step AWS refused or reported FAILED, with its reason."""


@dataclass(frozen=True)
class StepOutcome:
    operation: BootstrapOperation
    ok: bool
    attempts: int
    error: str | None = None


@dataclass
class BootstrapResult:
    outcomes: list[StepOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[StepOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.ok]


def budget_amount(amount: float) -> str:
    """A budget limit as Budgets takes it: digits with an optional fraction, never 1e+06."""
    return format(Decimal(str(amount)).normalize(), "f")


class BootstrapExecutor:
    def __init__(
        self,
        organizations: Any,
        budgets: Any,
        live: LiveOrganization,
        retrying: Retrying,
        audit: AuditLog,
        poll_seconds: float = 0.1,
        wait_seconds: float = 900.0,
        cloudformation: Any | None = None,
    ) -> None:
        self._organizations = organizations
        self._budgets = budgets
        self._cloudformation = cloudformation
        self._retrying = retrying
        self._audit = audit
        self._poll_seconds = poll_seconds
        self._wait_seconds = wait_seconds
        self._root_id = live.root_id
        self._management_id = live.management_account_id
        self._organization_id = live.organization_id
        self._units = dict(live.units)
        self._accounts = {account.name.lower(): account.id for account in live.accounts}
        self._policies = {policy.name: policy.id for policy in live.policies}
        self._scps_enabled = live.scps_enabled

    def apply(self, plan: BootstrapPlan) -> BootstrapResult:
        result = BootstrapResult()
        for operation in plan.operations:
            retrying = self._retrying.copy()
            try:
                retrying(self._perform, operation)
                outcome = StepOutcome(operation, True, retrying.statistics.get("attempt_number", 1))
            except (ClientError, BotoCoreError, StepFailed) as error:
                code = error_code(error) or type(error).__name__
                attempts = retrying.statistics.get("attempt_number", 1)
                outcome = StepOutcome(
                    operation, False, attempts, f"{code}: {aws_error_text(error)}"
                )
            self._audit.record_entry(
                f"bootstrap.{operation.step.name.lower()}",
                {"target": operation.target, "reason": operation.reason},
                "success" if outcome.ok else "failed",
                outcome.attempts,
                outcome.error,
            )
            result.outcomes.append(outcome)
        return result

    def _perform(self, operation: BootstrapOperation) -> None:
        details = operation.details
        match operation.step:
            case Step.CREATE_ORGANIZATION:
                organization = self._organizations.create_organization(FeatureSet="ALL")
                self._management_id = organization["Organization"]["MasterAccountId"]
                self._organization_id = organization["Organization"]["Id"]
                self._root_id = self._organizations.list_roots()["Roots"][0]["Id"]
                self._units["/"] = self._root_id
            case Step.ENABLE_SCPS:
                self._organizations.enable_policy_type(RootId=self._root_id, PolicyType=SCP)
                self._wait_for_scps()
            case Step.CREATE_OU:
                parent, _, name = operation.target.rpartition("/")
                self._units[operation.target] = self._organizations.create_organizational_unit(
                    ParentId=self._unit(parent or "/"), Name=name
                )["OrganizationalUnit"]["Id"]
            case Step.CREATE_ACCOUNT:
                self._create_account(details)
            case Step.MOVE_ACCOUNT:
                self._organizations.move_account(
                    AccountId=details["account_id"],
                    SourceParentId=self._unit(details["from"]),
                    DestinationParentId=self._unit(details["to"]),
                )
            case Step.TAG_ACCOUNT:
                self._tag(details["account_id"], details["tags"])
            case Step.CREATE_SCP:
                self._policies[operation.target] = self._organizations.create_policy(
                    Name=operation.target,
                    Description="Managed by sso-sync bootstrap (deploy/scps)",
                    Type=SCP,
                    Content=details["content"],
                )["Policy"]["PolicySummary"]["Id"]
            case Step.UPDATE_SCP:
                self._organizations.update_policy(
                    PolicyId=self._policy(operation.target), Content=details["content"]
                )
            case Step.ATTACH_SCP | Step.DETACH_SCP:
                self._wait_for_scps()
                change = (
                    self._organizations.attach_policy
                    if operation.step is Step.ATTACH_SCP
                    else self._organizations.detach_policy
                )
                change(
                    PolicyId=self._policy(details["policy"]), TargetId=self._unit(details["path"])
                )
            case Step.CREATE_BUDGET | Step.UPDATE_BUDGET:
                self._budget(operation.step, details)
            case Step.UNSUBSCRIBE_OWNER:
                self._unsubscribe(details["budget"], details["email"])
            case (
                Step.ENABLE_STACK_SETS
                | Step.CREATE_STACK_SET
                | Step.UPDATE_STACK_SET
                | Step.DEPLOY_STACK_SET
                | Step.WITHDRAW_STACK_SET
                | Step.DELETE_STACK_SET
                | Step.ADOPT_OIDC_PROVIDER
                | Step.RETRY_STACK_INSTANCE
            ):
                self._stack_set(operation.step, details)
            case Step.DEREGISTER_ADMINISTRATOR:
                self._organizations.deregister_delegated_administrator(
                    AccountId=details["account_id"], ServicePrincipal=IDENTITY_CENTER_PRINCIPAL
                )
            case Step.REGISTER_ADMINISTRATOR:
                self._organizations.enable_aws_service_access(
                    ServicePrincipal=IDENTITY_CENTER_PRINCIPAL
                )
                self._organizations.register_delegated_administrator(
                    AccountId=self._account(details["account"]),
                    ServicePrincipal=IDENTITY_CENTER_PRINCIPAL,
                )

    def _stack_set(self, step: Step, details: dict[str, Any]) -> None:
        """Service-managed stack sets (CloudFormation User Guide, StackSets): each change is
        an operation that runs for a while; the next waits for it."""
        cloudformation = self._cloudformation
        name = details.get("stack_set", "")
        match step:
            case Step.ENABLE_STACK_SETS:
                cloudformation.activate_organizations_access()
                return
            case Step.CREATE_STACK_SET:
                cloudformation.create_stack_set(
                    StackSetName=name,
                    Description="sso-sync bootstrap (deploy/org.yaml)",
                    TemplateBody=self._template(details),
                    Parameters=self._parameters(details["parameters"]),
                    Capabilities=["CAPABILITY_NAMED_IAM"],
                    PermissionModel="SERVICE_MANAGED",
                    AutoDeployment={
                        "Enabled": details["auto_deployment"],
                        "RetainStacksOnAccountRemoval": False,
                    }
                    if details["auto_deployment"]
                    else {"Enabled": False},
                    Tags=[{"Key": STACK_SET_TAG[0], "Value": STACK_SET_TAG[1]}],
                )
                self._deploy(name, details)
            case Step.UPDATE_STACK_SET:
                answer = cloudformation.update_stack_set(
                    StackSetName=name,
                    TemplateBody=self._template(details),
                    Parameters=self._parameters(details["parameters"]),
                    Capabilities=["CAPABILITY_NAMED_IAM"],
                )
                self._wait_for_stack_set(name, answer["OperationId"])
            case Step.DEPLOY_STACK_SET:
                self._deploy(name, details)
            case Step.WITHDRAW_STACK_SET:
                answer = cloudformation.delete_stack_instances(
                    StackSetName=name,
                    DeploymentTargets={
                        "OrganizationalUnitIds": [self._unit(p) for p in details["targets"]]
                    },
                    Regions=details["regions"],
                    RetainStacks=False,
                )
                self._wait_for_stack_set(name, answer["OperationId"])
            case Step.DELETE_STACK_SET:
                cloudformation.delete_stack_set(StackSetName=name)
            case Step.ADOPT_OIDC_PROVIDER | Step.RETRY_STACK_INSTANCE:
                answer = cloudformation.update_stack_instances(
                    StackSetName=name,
                    DeploymentTargets={
                        "OrganizationalUnitIds": [self._unit(details["ou"])],
                        "Accounts": [details["account_id"]],
                        "AccountFilterType": "INTERSECTION",
                    },
                    Regions=[details["region"]],
                    ParameterOverrides=self._parameters(details["overrides"]),
                )
                self._wait_for_stack_set(name, answer["OperationId"])

    def _deploy(self, name: str, details: dict[str, Any]) -> None:
        targets: dict[str, Any] = {
            "OrganizationalUnitIds": [self._unit(path) for path in details["targets"]]
        }
        if details.get("only_account"):
            targets |= {
                "Accounts": [self._account(details["only_account"])],
                "AccountFilterType": "INTERSECTION",
            }
        answer = self._cloudformation.create_stack_instances(
            StackSetName=name, DeploymentTargets=targets, Regions=details["regions"]
        )
        self._wait_for_stack_set(name, answer["OperationId"])

    def _template(self, details: dict[str, Any]) -> str:
        return self._resolved(details["template"])

    def _resolved(self, text: str) -> str:
        """Placeholders of the plan (accounts, the Organization this run created) as ids."""
        text = text.replace(ORGANIZATION_PLACEHOLDER, self._organization_id or "")
        return ACCOUNT_PLACEHOLDER.sub(lambda found: self._account(found[1]), text)

    def _parameters(self, values: dict[str, str]) -> list[dict[str, str]]:
        return [
            {"ParameterKey": key, "ParameterValue": self._resolved(value)}
            for key, value in sorted(values.items())
        ]

    def _wait_for_stack_set(self, name: str, operation_id: str) -> None:
        deadline = time.monotonic() + self._wait_seconds
        pause = self._poll_seconds
        while True:
            operation = self._cloudformation.describe_stack_set_operation(
                StackSetName=name, OperationId=operation_id
            )["StackSetOperation"]
            if operation["Status"] == "SUCCEEDED":
                return
            if operation["Status"] in ("FAILED", "STOPPED"):
                reason = operation.get("StatusReason") or "see the stack instances' status"
                raise StepFailed(
                    f"stack set {name}: {operation['Action']} {operation['Status']}: {reason}. "
                    "`sso-sync bootstrap plan` shows each failed account with AWS's reason; "
                    "fix that in the account (an existing GitHub provider is adopted by the "
                    "next apply), then apply again"
                )
            if time.monotonic() > deadline:
                raise StepFailed(f"stack set {name}: operation {operation_id} still running")
            time.sleep(pause)
            pause = min(pause * 1.5, 10.0)

    def _create_account(self, details: dict[str, Any]) -> None:
        status = self._organizations.create_account(
            Email=details["email"], AccountName=details["name"]
        )["CreateAccountStatus"]
        deadline = time.monotonic() + self._wait_seconds
        pause = self._poll_seconds
        while status["State"] == "IN_PROGRESS":
            if time.monotonic() > deadline:
                raise StepFailed(f"account creation {status['Id']} still in progress; gave up")
            time.sleep(pause)
            pause = min(pause * 1.5, 10.0)
            status = self._organizations.describe_create_account_status(
                CreateAccountRequestId=status["Id"]
            )["CreateAccountStatus"]
        if status["State"] == "FAILED":
            raise StepFailed(f"CreateAccount FAILED: {status.get('FailureReason', 'no reason')}")
        account_id = status["AccountId"]
        self._accounts[details["name"].lower()] = account_id
        if details["ou"] != "/":
            self._organizations.move_account(
                AccountId=account_id,
                SourceParentId=self._root_id,
                DestinationParentId=self._unit(details["ou"]),
            )
        if details["tags"]:
            self._tag(account_id, details["tags"])

    def _tag(self, account_id: str, tags: dict[str, str]) -> None:
        self._organizations.tag_resource(
            ResourceId=account_id, Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        )

    def _wait_for_scps(self) -> None:
        """EnablePolicyType is asynchronous: attach only once the root says ENABLED."""
        deadline = time.monotonic() + self._wait_seconds
        while not self._scps_enabled:
            root = self._organizations.list_roots()["Roots"][0]
            statuses = {t["Type"]: t["Status"] for t in root.get("PolicyTypes", [])}
            self._scps_enabled = statuses.get(SCP) == "ENABLED"
            if self._scps_enabled:
                return
            if time.monotonic() > deadline:
                raise StepFailed(f"SCPs still {statuses.get(SCP, 'not enabled')} on the root")
            time.sleep(self._poll_seconds)

    def _budget(self, step: Step, details: dict[str, Any]) -> None:
        budget = {
            "BudgetName": details["budget"],
            "BudgetLimit": {"Amount": budget_amount(details["amount"]), "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
            # CostFilters is deprecated (botocore's budgets model: "lack support for newer
            # dimensions"); FilterExpression goes with Metrics, never with CostFilters.
            "FilterExpression": {
                "Dimensions": {
                    "Key": "LINKED_ACCOUNT",
                    "Values": [self._account(details["account"])],
                }
            },
            "Metrics": ["UnblendedCost"],
        }
        if step is Step.UPDATE_BUDGET:
            self._budgets.update_budget(AccountId=self._management_id, NewBudget=budget)
            return
        subscribers = [
            {"SubscriptionType": "EMAIL", "Address": address} for address in details["emails"]
        ]
        self._budgets.create_budget(
            AccountId=self._management_id,
            Budget=budget,
            NotificationsWithSubscribers=[
                {
                    "Notification": {
                        "NotificationType": kind,
                        "ComparisonOperator": "GREATER_THAN",
                        "Threshold": threshold,
                        "ThresholdType": "PERCENTAGE",
                    },
                    "Subscribers": subscribers,
                }
                for kind, threshold in NOTIFICATION_THRESHOLDS
            ],
        )

    def _unsubscribe(self, budget: str, email: str) -> None:
        ids = {"AccountId": self._management_id, "BudgetName": budget}
        notifications = self._budgets.describe_notifications_for_budget(**ids)["Notifications"]
        for notification in notifications:
            self._budgets.delete_subscriber(
                **ids,
                Notification=notification,
                Subscriber={"SubscriptionType": "EMAIL", "Address": email},
            )

    def _unit(self, path: str) -> str:
        if path not in self._units:
            raise StepFailed(f"OU {path} does not exist")
        return self._units[path]

    def _account(self, name: str) -> str:
        if name.lower() not in self._accounts:
            raise StepFailed(f"account {name} does not exist")
        return self._accounts[name.lower()]

    def _policy(self, name: str) -> str:
        if name not in self._policies:
            raise StepFailed(f"SCP {name} does not exist")
        return self._policies[name]
