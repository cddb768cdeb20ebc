"""CloudFormation StackSets with service-managed permissions, as the bootstrap uses them; moto
5.2 records no automatic deployment, targets only one level of OUs and answers every operation
as finished. Modeled from the AWS CloudFormation User Guide (StackSets: "Enable trusted access
with AWS Organizations", "Manage automatic deployments", "StackSets concepts") and the API
Reference (CreateStackSet, CreateStackInstances, DescribeStackSetOperation):

- Service-managed stack sets need trusted access (ActivateOrganizationsAccess) first.
- Targets are OUs; every account in them and in OUs below them gets an instance, never the
  management account.
- With automatic deployment, an account moved or created into a target OU gets an instance,
  and one that leaves loses it (RetainStacksOnAccountRemoval false).
- One operation at a time per stack set (OperationInProgressException); operations run for a
  while (RUNNING) before SUCCEEDED.
- A template with named IAM resources needs CAPABILITY_NAMED_IAM
  (InsufficientCapabilitiesException); parameters without a default must be given.
- A stack set with instances cannot be deleted (StackSetNotEmptyException).
- A stack instance whose stack fails is OUTDATED with DetailedStatus FAILED and a
  StatusReason (ListStackInstances), and the operation that deployed it ends FAILED; an
  UpdateStackInstances with ParameterOverrides changes the parameters of the accounts it names
  (API Reference, UpdateStackInstances, StackInstanceSummary). One failure is modelled: IAM
  allows one OIDC provider per URL in an account (IAM User Guide, "Create an OpenID Connect
  (OIDC) identity provider"), so an AWS::IAM::OIDCProvider stack fails in an account that has
  GitHub's already, unless the instance's ExistingProviderArn parameter names that provider
  (the one condition of the shipped deploy-role template the emulator evaluates).

The templates are not run: what they would create in each account is checked by cfn-lint and
by the tests of the rendered templates."""

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import yaml
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.organizations.models import organizations_backends

from sync.bootstrap.template_yaml import read_template

NAMESPACE = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
IAM_NAMED = {"AWS::IAM::Role": "RoleName", "AWS::IAM::ManagedPolicy": "ManagedPolicyName"}


class StackSetError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class _StackSet:
    name: str
    id: str
    template: str
    parameters: dict[str, str]
    capabilities: list[str]
    tags: dict[str, str]
    auto_deployment: bool
    retain_on_removal: bool
    units: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    fixed_instances: set[tuple[str, str, str]] = field(default_factory=set)
    """(account, region, OU) deployed without automatic deployment."""
    busy_until: float = 0.0


@dataclass
class StackSetsEmulator:
    seconds_running: float = 0.05
    organizations_access: bool = False
    existing_oidc_providers: set[str] = field(default_factory=set)
    """Accounts that have GitHub's OIDC provider already (made by hand, years ago)."""
    running_elsewhere: dict[str, int] = field(default_factory=dict)
    """Stack set name -> how many more operations started on it meet one that is not the
    bootstrap's (an automatic deployment for an account that just joined an OU)."""
    _stack_sets: dict[str, _StackSet] = field(default_factory=dict)
    _operations: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    """Operation id -> (stack set, action, when it ends)."""
    _overrides: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)
    """(stack set, account, region) -> ParameterOverrides of that instance."""

    HANDLED = frozenset(
        {
            "ActivateOrganizationsAccess",
            "DescribeOrganizationsAccess",
            "CreateStackSet",
            "DescribeStackSet",
            "ListStackSets",
            "UpdateStackSet",
            "DeleteStackSet",
            "CreateStackInstances",
            "DeleteStackInstances",
            "ListStackInstances",
            "UpdateStackInstances",
            "DescribeStackSetOperation",
        }
    )

    def handle(self, action: str, flat: dict[str, str]) -> tuple[int, str]:
        """(HTTP status, XML body) of a query-protocol request."""
        params = _nested(flat)
        try:
            result = getattr(self, "_" + _snake(action))(params)
        except StackSetError as error:
            return error.status, _error_xml(error)
        return 200, _response_xml(action, result)

    # --- operations --------------------------------------------------------------------

    def _activate_organizations_access(self, _: dict) -> dict:
        self.organizations_access = True
        return {}

    def _describe_organizations_access(self, _: dict) -> dict:
        return {"Status": "ENABLED" if self.organizations_access else "DISABLED"}

    def _create_stack_set(self, p: dict) -> dict:
        name = p["StackSetName"]
        if name in self._stack_sets:
            raise StackSetError("NameAlreadyExistsException", f"StackSet {name} already exists")
        if p.get("PermissionModel") != "SERVICE_MANAGED":
            raise StackSetError("ValidationError", "the emulator models SERVICE_MANAGED only")
        if not self.organizations_access:
            raise StackSetError(
                "ValidationError",
                "You must enable organizations access to operate a service managed stack set",
            )
        template, parameters, capabilities = self._checked(p, None)
        auto = p.get("AutoDeployment", {})
        stack_set = _StackSet(
            name,
            f"{name}:{uuid.uuid4()}",
            template,
            parameters,
            capabilities,
            {t["Key"]: t["Value"] for t in p.get("Tags", [])},
            auto.get("Enabled") == "true",
            auto.get("RetainStacksOnAccountRemoval") == "true",
        )
        self._stack_sets[name] = stack_set
        return {"StackSetId": stack_set.id}

    def _describe_stack_set(self, p: dict) -> dict:
        s = self._named(p["StackSetName"])
        return {
            "StackSet": {
                "StackSetName": s.name,
                "StackSetId": s.id,
                "Status": "ACTIVE",
                "TemplateBody": s.template,
                "Parameters": [
                    {"ParameterKey": k, "ParameterValue": v} for k, v in s.parameters.items()
                ],
                "Capabilities": s.capabilities,
                "Tags": [{"Key": k, "Value": v} for k, v in s.tags.items()],
                "PermissionModel": "SERVICE_MANAGED",
                "AutoDeployment": {
                    "Enabled": s.auto_deployment,
                    "RetainStacksOnAccountRemoval": s.retain_on_removal,
                },
                "OrganizationalUnitIds": sorted(s.units),
            }
        }

    def _list_stack_sets(self, _: dict) -> dict:
        return {
            "Summaries": [
                {
                    "StackSetName": s.name,
                    "StackSetId": s.id,
                    "Status": "ACTIVE",
                    "PermissionModel": "SERVICE_MANAGED",
                    "AutoDeployment": {"Enabled": s.auto_deployment},
                }
                for s in self._stack_sets.values()
            ]
        }

    def _update_stack_set(self, p: dict) -> dict:
        s = self._named(p["StackSetName"])
        self._start(s)
        s.template, s.parameters, s.capabilities = self._checked(p, s)
        return {"OperationId": self._operation(s, "UPDATE")}

    def _delete_stack_set(self, p: dict) -> dict:
        s = self._named(p["StackSetName"])
        self._start(s)
        if self._instances(s):
            raise StackSetError(
                "StackSetNotEmptyException", f"StackSet {s.name} still has stack instances"
            )
        del self._stack_sets[s.name]
        return {}

    def _create_stack_instances(self, p: dict) -> dict:
        s = self._named(p["StackSetName"])
        targets = p.get("DeploymentTargets", {})
        units = targets.get("OrganizationalUnitIds", [])
        if not units or p.get("Accounts"):
            raise StackSetError(
                "ValidationError",
                "StackSets with SERVICE_MANAGED permission model can only have "
                "OrganizationalUnit as target",
            )
        known = {ou.id for ou in _organizations().ou}
        if unknown := [u for u in units if u not in known]:
            raise StackSetError("ValidationError", f"OrganizationalUnitIds not found: {unknown}")
        only = set(targets.get("Accounts", []))
        if only and (targets.get("AccountFilterType") != "INTERSECTION" or s.auto_deployment):
            raise StackSetError(
                "ValidationError",
                "the emulator models accounts in DeploymentTargets only with AccountFilterType "
                "INTERSECTION, on a stack set without automatic deployment",
            )
        self._start(s)
        s.units |= set(units)
        s.regions |= set(p.get("Regions", []))
        if not s.auto_deployment:
            s.fixed_instances |= {
                (account, region, unit)
                for unit in units
                for account in _accounts_under(unit)
                if not only or account in only
                for region in p.get("Regions", [])
            }
        return {"OperationId": self._operation(s, "CREATE")}

    def _delete_stack_instances(self, p: dict) -> dict:
        s = self._named(p["StackSetName"])
        units = set(p.get("DeploymentTargets", {}).get("OrganizationalUnitIds", []))
        self._start(s)
        s.units -= units
        s.fixed_instances = {i for i in s.fixed_instances if i[2] not in units}
        return {"OperationId": self._operation(s, "DELETE")}

    def _list_stack_instances(self, p: dict) -> dict:
        s = self._named(p["StackSetName"])
        summaries = []
        for account, region, unit in sorted(self._instances(s)):
            summary = {
                "StackSetId": s.id,
                "Region": region,
                "Account": account,
                "OrganizationalUnitId": unit,
                "Status": "CURRENT",
                "StackInstanceStatus": {"DetailedStatus": "SUCCEEDED"},
            }
            if reason := self._failure(s, account, region):
                summary |= {
                    "Status": "OUTDATED",
                    "StatusReason": reason,
                    "StackInstanceStatus": {"DetailedStatus": "FAILED"},
                }
            summaries.append(summary)
        return {"Summaries": summaries}

    def _update_stack_instances(self, p: dict) -> dict:
        s = self._named(p["StackSetName"])
        targets = p.get("DeploymentTargets", {})
        accounts = targets.get("Accounts", [])
        if not targets.get("OrganizationalUnitIds") or (
            accounts and targets.get("AccountFilterType") != "INTERSECTION"
        ):
            raise StackSetError(
                "ValidationError",
                "the emulator models UpdateStackInstances on OUs, narrowed to accounts with "
                "AccountFilterType INTERSECTION",
            )
        self._start(s)
        given = {
            x["ParameterKey"]: x.get("ParameterValue", "") for x in p.get("ParameterOverrides", [])
        }
        for account, region, unit in self._instances(s):
            named = not accounts or account in accounts
            if unit in targets["OrganizationalUnitIds"] and named and region in p["Regions"]:
                self._overrides[(s.name, account, region)] = given
        return {"OperationId": self._operation(s, "UPDATE")}

    def _failure(self, s: _StackSet, account: str, region: str) -> str:
        """Why the stack in this account fails, or "" (see the module's docstring)."""
        if account not in self.existing_oidc_providers:
            return ""
        types = {r.get("Type") for r in read_template(s.template)["Resources"].values()}
        if "AWS::IAM::OIDCProvider" not in types:
            return ""
        overrides = self._overrides.get((s.name, account, region), {})
        if overrides.get("ExistingProviderArn", s.parameters.get("ExistingProviderArn", "")):
            return ""
        return (
            "ResourceLogicalId:GitHubOidcProvider, ResourceType:AWS::IAM::OIDCProvider, "
            "ResourceStatusReason:Provider with url https://token.actions.githubusercontent.com "
            "already exists."
        )

    def _describe_stack_set_operation(self, p: dict) -> dict:
        found = self._operations.get(p["OperationId"])
        if found is None or found[0] != p["StackSetName"]:
            raise StackSetError("OperationNotFoundException", "no such operation", 404)
        name, action, ends = found
        s = self._named(name)
        status = "RUNNING" if time.monotonic() < ends else "SUCCEEDED"
        failed = sorted({a for a, region, _ in self._instances(s) if self._failure(s, a, region)})
        answer = {"OperationId": p["OperationId"], "StackSetId": s.id, "Action": action}
        if status == "SUCCEEDED" and failed:
            status = "FAILED"
            answer["StatusReason"] = f"stack instances failed in account(s) {', '.join(failed)}"
        return {"StackSetOperation": answer | {"Status": status}}

    # --- helpers -----------------------------------------------------------------------

    def _named(self, name: str) -> _StackSet:
        if name not in self._stack_sets:
            raise StackSetError("StackSetNotFoundException", f"StackSet {name} not found", 404)
        return self._stack_sets[name]

    def _start(self, s: _StackSet) -> None:
        """One operation per stack set at a time: OperationInProgressException, HTTP 409
        (CloudFormation API Reference, UpdateStackSet: Errors)."""
        elsewhere = self.running_elsewhere.get(s.name, 0)
        if elsewhere:
            self.running_elsewhere[s.name] = elsewhere - 1
        if elsewhere or time.monotonic() < s.busy_until:
            raise StackSetError(
                "OperationInProgressException",
                f"another operation on {s.name} is in progress",
                409,
            )

    def _operation(self, s: _StackSet, action: str) -> str:
        operation = str(uuid.uuid4())
        s.busy_until = time.monotonic() + self.seconds_running
        self._operations[operation] = (s.name, action, s.busy_until)
        return operation

    def _instances(self, s: _StackSet) -> set[tuple[str, str, str]]:
        if not s.auto_deployment:
            return set(s.fixed_instances)
        return {
            (account, region, unit)
            for unit in s.units
            for account in _accounts_under(unit)
            for region in s.regions
        }

    def _checked(self, p: dict, current: _StackSet | None) -> tuple[str, dict[str, str], list[str]]:
        template = p.get("TemplateBody") or (current.template if current else "")
        try:
            document = read_template(template)
            resources = document["Resources"]
        except (yaml.YAMLError, TypeError, KeyError) as error:
            raise StackSetError("ValidationError", f"Template format error: {error}") from error
        given = {x["ParameterKey"]: x.get("ParameterValue", "") for x in p.get("Parameters", [])}
        if current is not None and "Parameters" not in p:
            given = dict(current.parameters)
        declared = document.get("Parameters") or {}
        if missing := [k for k, v in declared.items() if k not in given and "Default" not in v]:
            raise StackSetError("ValidationError", f"Parameters: {missing} must have values")
        if undeclared := sorted(set(given) - set(declared)):
            raise StackSetError(
                "ValidationError", f"Parameters: {undeclared} do not exist in the template"
            )
        capabilities = p.get("Capabilities", [])
        named_iam = any(
            isinstance(r, dict) and IAM_NAMED.get(r.get("Type", "")) in (r.get("Properties") or {})
            for r in resources.values()
        )
        if named_iam and "CAPABILITY_NAMED_IAM" not in capabilities:
            raise StackSetError(
                "InsufficientCapabilitiesException",
                "Requires capabilities : [CAPABILITY_NAMED_IAM]",
            )
        return template, given, capabilities


def _organizations() -> Any:
    return organizations_backends[DEFAULT_ACCOUNT_ID]["aws"]


def _accounts_under(unit: str) -> list[str]:
    """Active accounts in the OU or any OU below it; never the management account."""
    backend = _organizations()
    units, frontier = {unit}, [unit]
    while frontier:
        parent = frontier.pop()
        for ou in backend.ou:
            if ou.parent_id == parent and ou.id not in units:
                units.add(ou.id)
                frontier.append(ou.id)
    management = backend.org.master_account_id if backend.org else None
    return [
        a.id
        for a in backend.accounts
        if a.parent_id in units and a.id != management and a.status == "ACTIVE"
    ]


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _nested(flat: dict[str, str]) -> dict[str, Any]:
    """Query-protocol parameters (Parameters.member.1.ParameterKey=...) as dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        if key in ("Action", "Version"):
            continue
        parts = key.split(".")
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "member":
                continue
            if part.isdigit():
                position = int(part) - 1
                while len(node) <= position:
                    node.append({})
                if last:
                    node[position] = value
                else:
                    node = node[position]
                continue
            following = parts[index + 1] if not last else None
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if following == "member" else {})
    return root


def _xml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(f"<{k}>{_xml_value(v)}</{k}>" for k, v in value.items())
    if isinstance(value, list):
        return "".join(f"<member>{_xml_value(item)}</member>" for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return escape(str(value))


def _response_xml(action: str, result: dict) -> str:
    return (
        f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{_xml_value(result)}'
        f"</{action}Result><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
        f"</ResponseMetadata></{action}Response>"
    )


def _error_xml(error: StackSetError) -> str:
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type>'
        f"<Code>{error.code}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
