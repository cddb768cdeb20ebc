"""Plans the Organization from deploy/org.yaml against what AWS holds. Pure.

Accounts are matched by email (AWS keeps emails unique; names can change) and never closed or
deleted: one in AWS but not in the file is reported and left alone. SCPs named in the file are
created, kept equal to their documents and attached exactly where the file says; any other SCP
(FullAWSAccess, hand-made ones) is never touched.
"""

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sync.bootstrap.definition import DesiredAccount, OrgDefinition, within
from sync.bootstrap.live import ACCOUNT_QUOTA_NAME, LiveAccount, LiveOrganization, LiveStackSet
from sync.bootstrap.stack_sets import AccountView, DesiredStackSet, desired_stack_sets
from sync.bootstrap.template_yaml import read_template


class Step(StrEnum):
    CREATE_ORGANIZATION = "create organization"
    ENABLE_SCPS = "enable SCPs"
    CREATE_OU = "create OU"
    CREATE_ACCOUNT = "create account"
    MOVE_ACCOUNT = "move account"
    TAG_ACCOUNT = "tag account"
    CREATE_SCP = "create SCP"
    UPDATE_SCP = "update SCP"
    DETACH_SCP = "detach SCP"
    ATTACH_SCP = "attach SCP"
    CREATE_BUDGET = "create budget"
    UPDATE_BUDGET = "update budget"
    UNSUBSCRIBE_OWNER = "stop budget mail to"
    DEREGISTER_ADMINISTRATOR = "deregister delegated administrator"
    REGISTER_ADMINISTRATOR = "register delegated administrator"
    ADOPT_OIDC_PROVIDER = "adopt the existing GitHub OIDC provider"
    RETRY_STACK_INSTANCE = "retry the failed stack"
    ENABLE_STACK_SETS = "enable StackSets trusted access"
    CREATE_STACK_SET = "create stack set"
    UPDATE_STACK_SET = "update stack set"
    DEPLOY_STACK_SET = "deploy stack set"
    WITHDRAW_STACK_SET = "withdraw stack set"
    DELETE_STACK_SET = "delete stack set"


@dataclass(frozen=True)
class BootstrapOperation:
    step: Step
    target: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    shows: tuple[str, ...] = ()
    """What the step puts where, one line each, for the plan."""

    @property
    def label(self) -> str:
        return self.target


@dataclass(frozen=True)
class BootstrapPlan:
    operations: tuple[BootstrapOperation, ...]
    notices: tuple[str, ...]
    blockers: tuple[str, ...] = ()
    """What AWS would refuse part-way through: the plan is not applied while any stands."""
    deploy_roles: tuple[str, ...] = ()
    """Each CI deploy role's ARN and who may assume it: what workflows' role-to-assume name."""


def budget_name(account: DesiredAccount) -> str:
    return f"{account.name}-monthly"


def plan_bootstrap(
    definition: OrgDefinition,
    documents: dict[str, str],
    live: LiveOrganization,
    active_people: frozenset[str] | None = None,
    templates: dict[str, str] | None = None,
) -> BootstrapPlan:
    """`active_people`: addresses of Google's active users, when Google can be read; a
    sandbox whose owner is not among them is shown as such, and mails only the platform.
    `templates`: the stack set templates of deploy/stacksets (needed for ci_access and
    shared_registry)."""
    operations: list[BootstrapOperation] = []
    notices: list[str] = []
    if not live.exists:
        operations.append(
            BootstrapOperation(Step.CREATE_ORGANIZATION, "with all features", "none exists yet")
        )
    if live.scps_pending:
        notices.append("SCPs are being enabled on the root (PENDING_ENABLE); attaching waits")
    elif documents and not live.scps_enabled:
        operations.append(
            BootstrapOperation(
                Step.ENABLE_SCPS, "on the root", "SCPs must be enabled to attach any"
            )
        )
    for path in sorted(definition.organizational_units, key=lambda p: (p.count("/"), p)):
        if path not in live.units:
            operations.append(BootstrapOperation(Step.CREATE_OU, path, "in the definition"))
    accounts = _plan_accounts(definition, live, operations, notices)
    _plan_scps(definition, documents, live, operations)
    _plan_budgets(definition, live, operations, notices, active_people)
    blockers = _account_quota_blockers(live, operations)
    blockers += _plan_delegated_administrator(definition, live, accounts, operations)
    if templates is not None:
        view = _account_view(definition, live, accounts)
        _plan_stack_sets(
            desired_stack_sets(definition, templates, view, live.organization_id),
            definition,
            live,
            operations,
            notices,
        )
    return BootstrapPlan(
        tuple(operations), tuple(notices), blockers, _deploy_roles(definition, live)
    )


def _deploy_roles(definition: OrgDefinition, live: LiveOrganization) -> tuple[str, ...]:
    """`arn:aws:iam::<id>:role/<name>  (<account>: <who>)` for every account under an OU
    with a deploy role; an account not created yet is named without its id."""
    if definition.ci_access is None:
        return ()
    ids = {a.email.lower(): a.id for a in live.accounts}
    accounts = definition.all_accounts()
    found = []
    for unit, role in definition.ci_access.deploy_roles.items():
        who = ", ".join(role.repositories)
        only = role.environments or role.branches
        kind = "environment" if role.environments else "branch"
        condition = f"; {kind} {', '.join(only)} only" if only else ""
        for account in accounts:
            if not within(account.ou, unit):
                continue
            account_id = ids.get(account.email.lower(), "<its id once created>")
            found.append(
                f"arn:aws:iam::{account_id}:role/{role.role_name}  ({account.name}: "
                f"{definition.ci_access.github_organization}/{{{who}}}{condition})"
            )
    return tuple(found)


def _account_view(
    definition: OrgDefinition, live: LiveOrganization, matched: dict[str, LiveAccount]
) -> list[AccountView]:
    """Every account as it will be once the plan is applied: where the definition puts it,
    with its id where it exists already."""
    view = [
        AccountView(a.name, getattr(matched.get(a.name.lower()), "id", None), a.ou)
        for a in definition.all_accounts()
    ]
    known = {account.id for account in matched.values()}
    view += [
        AccountView(a.name, a.id, a.ou_path)
        for a in live.accounts
        if a.id not in known and a.id != live.management_account_id
    ]
    return view


def _plan_stack_sets(
    desired: list[DesiredStackSet],
    definition: OrgDefinition,
    live: LiveOrganization,
    operations: list[BootstrapOperation],
    notices: list[str],
) -> None:
    if desired and not live.stack_sets_access:
        operations.append(
            BootstrapOperation(
                Step.ENABLE_STACK_SETS,
                "for the Organization",
                "service-managed stack sets deploy into member accounts through it",
            )
        )
    current = {stack_set.name: stack_set for stack_set in live.stack_sets}
    regions = [definition.home_region]
    for wanted in desired:
        details = {
            "stack_set": wanted.name,
            "template": wanted.template,
            "parameters": wanted.parameters,
            "targets": sorted(wanted.targets),
            "regions": regions,
            "auto_deployment": wanted.auto_deployment,
            "only_account": wanted.only_account,
        }
        found = current.get(wanted.name)
        if found is None:
            operations.append(
                BootstrapOperation(
                    Step.CREATE_STACK_SET,
                    f"{wanted.name} in {', '.join(sorted(wanted.targets))}",
                    "in the definition",
                    details,
                    wanted.shows,
                )
            )
            continue
        if not found.managed:
            notices.append(
                f"stack set {wanted.name} exists and was not made by sso-sync bootstrap: left "
                "alone (rename or delete it to let the bootstrap make its own)"
            )
            continue
        _plan_failed_instances(wanted, found, live, operations)
        if (found.template, found.parameters) != (wanted.template, wanted.parameters):
            operations.append(
                BootstrapOperation(
                    Step.UPDATE_STACK_SET,
                    wanted.name,
                    _what_changed(found.parameters, wanted.parameters),
                    details,
                    wanted.shows,
                )
            )
        for path in sorted(wanted.targets - found.target_paths):
            operations.append(
                BootstrapOperation(
                    Step.DEPLOY_STACK_SET,
                    f"{wanted.name} to {path}",
                    "a target in the definition",
                    details | {"targets": [path]},
                )
            )
        for path in sorted(found.target_paths - wanted.targets):
            operations.append(
                BootstrapOperation(
                    Step.WITHDRAW_STACK_SET,
                    f"{wanted.name} from {path}",
                    "not a target in the definition: its stacks there are deleted",
                    {"stack_set": wanted.name, "targets": [path], "regions": regions},
                )
            )
    wanted_names = {stack_set.name for stack_set in desired}
    for found in live.stack_sets:
        if found.name in wanted_names or not found.managed:
            continue
        if found.target_paths:
            operations.append(
                BootstrapOperation(
                    Step.WITHDRAW_STACK_SET,
                    f"{found.name} from {', '.join(sorted(found.target_paths))}",
                    "no longer in the definition",
                    {
                        "stack_set": found.name,
                        "targets": sorted(found.target_paths),
                        "regions": regions,
                    },
                )
            )
        operations.append(
            BootstrapOperation(
                Step.DELETE_STACK_SET,
                found.name,
                "made by the bootstrap, no longer in the definition",
                {"stack_set": found.name},
            )
        )


GITHUB_PROVIDER = "token.actions.githubusercontent.com"


def _plan_failed_instances(
    wanted: DesiredStackSet,
    found: LiveStackSet,
    live: LiveOrganization,
    operations: list[BootstrapOperation],
) -> None:
    """A deploy role's stack that failed because the account has GitHub's provider already is
    pointed at that provider; any other failed stack is retried, with AWS's reason shown."""
    names = {account.id: account.name for account in live.accounts}
    adopts = "ExistingProviderArn" in read_template(wanted.template).get("Parameters", {})
    for instance in found.instances:
        if instance.healthy:
            continue
        account = f"{names.get(instance.account_id, 'account')} ({instance.account_id})"
        details = {
            "stack_set": found.name,
            "account_id": instance.account_id,
            "ou": instance.ou_path,
            "region": instance.region,
        }
        if adopts and GITHUB_PROVIDER in instance.reason and "already exists" in instance.reason:
            operations.append(
                BootstrapOperation(
                    Step.ADOPT_OIDC_PROVIDER,
                    f"in {account} for {found.name}",
                    "the account has GitHub's provider already (IAM allows one per URL): its "
                    "deploy role trusts that one",
                    details
                    | {
                        "overrides": {
                            "ExistingProviderArn": f"arn:aws:iam::{instance.account_id}:"
                            f"oidc-provider/{GITHUB_PROVIDER}"
                        }
                    },
                )
            )
            continue
        operations.append(
            BootstrapOperation(
                Step.RETRY_STACK_INSTANCE,
                f"{found.name} in {account}, {instance.region}",
                f"{instance.status} ({instance.detailed_status}): "
                f"{instance.reason or 'AWS gave no reason'}; fix that in the account if apply "
                "fails again",
                details | {"overrides": {}},
            )
        )


def _what_changed(before: dict[str, str], after: dict[str, str]) -> str:
    changed = [
        f"{key}: {before.get(key, '(none)')!r} → {after.get(key, '(none)')!r}"
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]
    return "; ".join(changed) if changed else "the template differs from deploy/stacksets"


def _account_quota_blockers(
    live: LiveOrganization, operations: list[BootstrapOperation]
) -> tuple[str, ...]:
    """The accounts the plan creates must fit the Organization's account quota (10 by
    default, fewer for some new organizations), or CreateAccount fails part-way."""
    creating = sum(1 for operation in operations if operation.step is Step.CREATE_ACCOUNT)
    total = len(live.accounts) + creating + (0 if live.exists else 1)
    if live.account_quota is None or not creating or total <= live.account_quota:
        return ()
    return (
        f"the Organization would hold {total} accounts and its quota is {live.account_quota}: "
        "raise it first, from the management account, in Service Quotas (AWS Organizations, "
        f"'{ACCOUNT_QUOTA_NAME}', region us-east-1), for example: aws service-quotas "
        "request-service-quota-increase --region us-east-1 --service-code organizations "
        f"--quota-code {live.account_quota_code} --desired-value {total}",
    )


def _plan_delegated_administrator(
    definition: OrgDefinition,
    live: LiveOrganization,
    accounts: dict[str, LiveAccount],
    operations: list[BootstrapOperation],
) -> tuple[str, ...]:
    """Identity Center has one delegated administrator: moving it deregisters the old account
    before the new one is registered. Returns blockers."""
    administrator = definition.delegated_administrator
    if administrator is None:
        return ()
    wanted = accounts.get(administrator.lower())
    if wanted is not None and wanted.status != "ACTIVE":
        return (
            f"delegated_administrator {administrator} is {wanted.status} in the Organization; "
            "only an active member account can be Identity Center's delegated administrator",
        )
    if wanted is not None and wanted.id in live.delegated_administrators:
        return ()
    names = {account.id: account.name for account in live.accounts}
    for old in sorted(live.delegated_administrators):
        operations.append(
            BootstrapOperation(
                Step.DEREGISTER_ADMINISTRATOR,
                f"{names.get(old, 'an account outside the definition')} ({old})",
                f"Identity Center has one delegated administrator; {administrator} replaces "
                "it (sso-sync deployed there loses its rights: deploy it in the new one)",
                {"account_id": old},
            )
        )
    operations.append(
        BootstrapOperation(
            Step.REGISTER_ADMINISTRATOR,
            administrator,
            "Identity Center delegated administrator in the definition",
            {"account": administrator},
        )
    )
    return ()


def _plan_accounts(
    definition: OrgDefinition,
    live: LiveOrganization,
    operations: list[BootstrapOperation],
    notices: list[str],
) -> dict[str, LiveAccount]:
    """Create, move and tag accounts; return the live ones matched, by lower-case name."""
    by_email = {account.email.lower(): account for account in live.accounts}
    matched: dict[str, LiveAccount] = {}
    for wanted in definition.all_accounts():
        current = by_email.get(wanted.email.lower())
        if current is None:
            operations.append(
                BootstrapOperation(
                    Step.CREATE_ACCOUNT,
                    wanted.name,
                    "in the definition",
                    {
                        "name": wanted.name,
                        "email": wanted.email,
                        "ou": wanted.ou,
                        "tags": wanted.tags,
                    },
                )
            )
            continue
        matched[wanted.name.lower()] = current
        if current.name != wanted.name:
            notices.append(
                f"account {wanted.email} is named {current.name!r} in AWS, {wanted.name!r} here"
            )
        if current.ou_path != wanted.ou:
            operations.append(
                BootstrapOperation(
                    Step.MOVE_ACCOUNT,
                    wanted.name,
                    f"in {current.ou_path}, the definition says {wanted.ou}",
                    {"account_id": current.id, "from": current.ou_path, "to": wanted.ou},
                )
            )
        missing = {k: v for k, v in wanted.tags.items() if current.tags.get(k) != v}
        if missing:
            operations.append(
                BootstrapOperation(
                    Step.TAG_ACCOUNT,
                    wanted.name,
                    "tags differ from the definition",
                    {"account_id": current.id, "tags": missing},
                )
            )
    known = {account.id for account in matched.values()}
    for account in live.accounts:
        if account.id not in known and account.id != live.management_account_id:
            notices.append(
                f"account {account.name} ({account.id}) in {account.ou_path} is not in the "
                "definition; left alone"
            )
    return matched


def _plan_scps(
    definition: OrgDefinition,
    documents: dict[str, str],
    live: LiveOrganization,
    operations: list[BootstrapOperation],
) -> None:
    wanted_targets: dict[str, set[str]] = {name: set() for name in documents}
    for name in definition.root_scps:
        wanted_targets[name].add("/")
    for path, unit in definition.organizational_units.items():
        for name in unit.scps:
            wanted_targets[name].add(path)
    live_by_name = {policy.name: policy for policy in live.policies}
    detaches, attaches = [], []
    for name, document in sorted(documents.items()):
        current = live_by_name.get(name)
        if current is None:
            operations.append(
                BootstrapOperation(
                    Step.CREATE_SCP, name, "in the definition", {"content": document}
                )
            )
        elif current.document != json.loads(document):
            operations.append(
                BootstrapOperation(
                    Step.UPDATE_SCP,
                    name,
                    "differs from deploy/scps (edited in the console, or in the file)",
                    {"content": document},
                )
            )
        held = current.target_paths if current else frozenset()
        detaches += [
            BootstrapOperation(
                Step.DETACH_SCP,
                f"{name} from {path}",
                "not in the definition",
                {"policy": name, "path": path},
            )
            for path in sorted(held - wanted_targets[name])
        ]
        attaches += [
            BootstrapOperation(
                Step.ATTACH_SCP,
                f"{name} to {path}",
                "in the definition",
                {"policy": name, "path": path},
            )
            for path in sorted(wanted_targets[name] - held)
        ]
    operations += detaches + attaches


def _plan_budgets(
    definition: OrgDefinition,
    live: LiveOrganization,
    operations: list[BootstrapOperation],
    notices: list[str],
    active_people: frozenset[str] | None,
) -> None:
    for account in definition.all_accounts():
        if account.monthly_budget is None:
            continue
        name = budget_name(account)
        current = live.budgets.get(name)
        owner = account.tags["owner"]
        gone = active_people is not None and owner.lower() not in active_people
        details = {
            "budget": name,
            "account": account.name,
            "amount": account.monthly_budget,
            "emails": [definition.platform_email] if gone else [owner, definition.platform_email],
        }
        if gone:
            notices.append(
                f"{account.name}: its owner {owner} is not an active Google user; its budget "
                f"mails only {definition.platform_email} (sso-sync bootstrap remove-sandbox "
                f"{owner} takes it out of the definition; the account is never closed)"
            )
            if owner.lower() in live.budget_subscribers.get(name, frozenset()):
                operations.append(
                    BootstrapOperation(
                        Step.UNSUBSCRIBE_OWNER,
                        f"{owner} ({name})",
                        "the owner left Google Workspace",
                        {"budget": name, "email": owner},
                    )
                )
        if current is None:
            operations.append(
                BootstrapOperation(Step.CREATE_BUDGET, name, "sandbox budget", details)
            )
        elif current != account.monthly_budget:
            operations.append(
                BootstrapOperation(
                    Step.UPDATE_BUDGET,
                    name,
                    f"{current:g} USD in AWS, {account.monthly_budget:g} in the definition",
                    details,
                )
            )
