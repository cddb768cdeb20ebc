"""Plans permission sets and account assignments: the access half of the plan. Pure.

Ownership: only permission sets tagged managed-by=sso-sync are changed or deleted, and only
their assignments to principals the sync manages are pruned. Assignments of other permission
sets, and to anyone else, are never touched.
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sync.model import (
    AccessSnapshot,
    GoogleSnapshot,
    OrganizationSnapshot,
    PermissionSetAttributes,
)
from sync.planning.grants import Grant, evaluate_grants, rule_label
from sync.planning.plan import (
    AccessControlOperation,
    Action,
    AssignmentOperation,
    Operation,
    PermissionSetOperation,
)
from sync.rules.access import PermissionSetSpec
from sync.rules.model import Rules

AssignmentKey = tuple[str, str, str, str]
"""(account id, permission set name, principal type, principal Google id)."""


def permission_set_attributes(spec: PermissionSetSpec) -> PermissionSetAttributes:
    boundary = spec.permissions_boundary
    if boundary is None:
        boundary_key = None
    elif boundary.managed_policy_arn is not None:
        boundary_key = ("managed", boundary.managed_policy_arn)
    else:
        assert boundary.customer_managed is not None
        reference = boundary.customer_managed
        boundary_key = ("customer", reference.path + reference.name)
    return PermissionSetAttributes(
        description=spec.description,
        session_duration=spec.session_duration,
        relay_state=spec.relay_state,
        managed_policy_arns=frozenset(spec.managed_policies),
        customer_managed_policies=frozenset(
            (policy.name, policy.path) for policy in spec.customer_managed_policies
        ),
        inline_policy=spec.inline_policy,
        permissions_boundary=boundary_key,
        tags=frozenset(spec.all_tags().items()),
    )


def permission_set_changes(
    current: PermissionSetAttributes, desired: PermissionSetAttributes
) -> tuple[str, ...]:
    return tuple(
        name
        for name in PermissionSetAttributes.__dataclass_fields__
        if getattr(current, name) != getattr(desired, name)
    )


@dataclass(frozen=True)
class Principals:
    """Identity Center ids of the principals the sync manages, by Google id."""

    groups: Mapping[str, str | None]
    """Managed after the plan (None: created by it)."""
    users: Mapping[str, str | None]
    recorded_groups: Mapping[str, str]
    """Managed before the plan, including those it deletes."""
    recorded_users: Mapping[str, str]
    names: Mapping[str, str]
    """Group names and user names, by Google id, for the plan's labels."""
    existing: frozenset[str]
    """Ids of every user and group in Identity Center now, managed or not."""


@dataclass
class AccessPlan:
    operations: list[Operation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    managed: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    """Rules that would do what their author cannot have meant: the run is refused."""


def _plan_access_control(rules: Rules, access: AccessSnapshot, result: "AccessPlan") -> None:
    """The instance's access-control attributes exactly as the rules say, when they say any;
    a configuration the rules do not mention is left alone."""
    if rules.attributes is None or not rules.attributes.access_control:
        return
    wanted = rules.attributes.session_tags()
    if access.access_control == wanted:
        return
    exists = access.access_control is not None
    result.operations.append(
        AccessControlOperation(
            Action.UPDATE if exists else Action.CREATE,
            wanted,
            "attributes.access_control in the rules",
            access.access_control or (),
        )
    )


def plan_access(
    rules: Rules,
    google: GoogleSnapshot,
    org: OrganizationSnapshot,
    access: AccessSnapshot,
    principals: Principals,
) -> AccessPlan:
    result = AccessPlan()
    _plan_access_control(rules, access, result)
    out_of_reach = _management_only(org)
    usable = _plan_permission_sets(rules, access, result, out_of_reach)
    evaluation = evaluate_grants(rules, google, org)
    result.warnings.extend(evaluation.warnings)
    wanted = _wanted_assignments(evaluation.grants, usable, principals, result)
    current = _current_assignments(access, principals)
    result.problems.extend(
        _empty_rules_that_remove(rules, google, evaluation.empty_rules, wanted, current)
    )
    if out_of_reach:
        _leave_to_the_management_account(out_of_reach, wanted, current, result)
    accounts = {account.id: account.name for account in org.accounts}
    result.managed["assignment"] = len(current)
    for key in sorted(wanted.keys() - current.keys()):
        grant = wanted[key]
        ids = principals.groups if grant.principal_type == "GROUP" else principals.users
        result.operations.append(
            AssignmentOperation(
                Action.CREATE,
                grant.account.id,
                grant.account.name,
                grant.permission_set,
                grant.principal_type,
                grant.principal_google_id,
                grant.principal_name,
                grant.why,
                permission_set_arn=usable[grant.permission_set],
                principal_id=ids[grant.principal_google_id],
            )
        )
    for key in sorted(current.keys() - wanted.keys()):
        account_id, permission_set, principal_type, google_id = key
        assignment_arn, principal_id = current[key]
        result.operations.append(
            AssignmentOperation(
                Action.DELETE,
                account_id,
                accounts.get(account_id, "an account outside the organization"),
                permission_set,
                principal_type,
                google_id,
                principals.names.get(google_id, google_id),
                "no rule grants this any more",
                permission_set_arn=assignment_arn,
                principal_id=principal_id,
            )
        )
    result.operations.extend(
        removal
        for removal in _orphan_removals(access, principals, accounts)
        if removal.account_id not in out_of_reach
    )
    _plan_permission_set_deletions(rules, access, principals, result, out_of_reach)
    return result


def _empty_rules_that_remove(
    rules: Rules,
    google: GoogleSnapshot,
    empty_rules: tuple[int, ...],
    wanted: Mapping[AssignmentKey, Grant],
    current: Mapping[AssignmentKey, tuple[str, str]],
) -> list[str]:
    """A rule whose selectors match nothing (ou:/Workloads/Prod for /Workloads/Production)
    while assignments it made exist would remove them all: refuse, unless it says
    allow_empty."""
    problems = []
    for index in empty_rules:
        rule = rules.assignments[index]
        references = {reference.lower() for reference in rule.groups}
        group_ids = {
            group.id
            for group in google.groups
            if references & {group.email.lower(), group.display_name.lower()}
        }
        removed = [
            key
            for key in current.keys() - wanted.keys()
            if key[1] in rule.permission_sets and key[2] == "GROUP" and key[3] in group_ids
        ]
        if removed:
            selectors = ", ".join(selector.text for selector in rule.accounts)
            problems.append(
                f"{rule_label(rules, index)}: its accounts ({selectors}) match no account, so "
                f"the {len(removed)} assignment(s) it made would be removed; fix the selector, "
                "or set allow_empty: true on the rule if that is intended"
            )
    return problems


def _management_only(org: OrganizationSnapshot) -> frozenset[str]:
    """The account whose assignments and provisioned permission sets this run may not change:
    the management account, when run by the delegated administrator (AWS refuses it)."""
    if org.run_by_delegated_administrator:
        return frozenset({org.management_account_id})
    return frozenset()


def _leave_to_the_management_account(
    out_of_reach: frozenset[str],
    wanted: dict[AssignmentKey, Grant],
    current: dict[AssignmentKey, tuple[str, str]],
    result: AccessPlan,
) -> None:
    """Drop assignments in the management account from the plan, saying so once per rule."""
    rules_there: dict[str, int] = {}
    for key in [key for key in wanted if key[0] in out_of_reach]:
        rule = wanted.pop(key).why.split(",")[0]
        rules_there[rule] = rules_there.get(rule, 0) + 1
        current.pop(key, None)
    for rule, count in rules_there.items():
        result.warnings.append(
            f"{rule}: {count} assignment(s) in the management account are managed from the "
            "management account: a delegated administrator cannot make them (run the same "
            "rules there, see the README's 'The management account')"
        )
    stale = [key for key in current if key[0] in out_of_reach]
    for key in stale:
        del current[key]
    if stale:
        result.warnings.append(
            f"{len(stale)} assignment(s) in the management account that no rule grants any "
            "more are left: only the management account can remove them"
        )


def _orphan_removals(
    access: AccessSnapshot, principals: Principals, accounts: Mapping[str, str]
) -> list[AssignmentOperation]:
    """Assignments of managed permission sets to users or groups that no longer exist (a delta
    run deleted a sandbox owner, say): they grant nothing, and are removed."""
    managed_sets = {ps.arn: ps.name for ps in access.permission_sets if ps.managed}
    return [
        AssignmentOperation(
            Action.DELETE,
            assignment.account_id,
            accounts.get(assignment.account_id, "an account outside the organization"),
            managed_sets[assignment.permission_set_arn],
            assignment.principal_type,
            "",
            f"{assignment.principal_id} (deleted)",
            "its principal no longer exists in Identity Center",
            permission_set_arn=assignment.permission_set_arn,
            principal_id=assignment.principal_id,
            orphan=True,
        )
        for assignment in access.assignments
        if assignment.permission_set_arn in managed_sets
        and assignment.principal_id not in principals.existing
    ]


def _plan_permission_sets(
    rules: Rules, access: AccessSnapshot, result: AccessPlan, out_of_reach: frozenset[str]
) -> dict[str, str | None]:
    """Create and update the file's permission sets; return the usable ones' ARNs by name."""
    existing = {ps.name: ps for ps in access.permission_sets}
    result.managed["permission_set"] = sum(ps.managed for ps in access.permission_sets)
    usable: dict[str, str | None] = {}
    for name, spec in sorted(rules.permission_sets.items()):
        desired = permission_set_attributes(spec)
        current = existing.get(name)
        if current is None:
            result.operations.append(
                PermissionSetOperation(
                    Action.CREATE, name, "defined in the rules file", desired=desired
                )
            )
            usable[name] = None
            continue
        if not current.managed:
            result.warnings.append(
                f"permission set {name} exists and is not managed by sso-sync; "
                "left untouched, and not assigned"
            )
            continue
        usable[name] = current.arn
        assert current.attributes is not None, "managed permission sets are read in full"
        desired = _reachable(name, current.attributes, desired, result)
        changes = permission_set_changes(current.attributes, desired)
        if not changes:
            continue
        if current.provisioned_accounts & out_of_reach:
            result.warnings.append(
                f"permission set {name} is provisioned in the management account, so it is "
                f"managed from the management account: {', '.join(changes)} left as they are"
            )
            continue
        result.operations.append(
            PermissionSetOperation(
                Action.UPDATE,
                name,
                "differs from the rules file",
                arn=current.arn,
                current=current.attributes,
                desired=desired,
                changes=changes,
            )
        )
        if current.provisioned:
            result.operations.append(
                PermissionSetOperation(
                    Action.PROVISION,
                    name,
                    "edited while provisioned: roles in accounts change only when provisioned",
                    arn=current.arn,
                )
            )
    return usable


def _reachable(
    name: str,
    current: PermissionSetAttributes,
    desired: PermissionSetAttributes,
    result: AccessPlan,
) -> PermissionSetAttributes:
    """What an update can make true: UpdatePermissionSet cannot clear a description or relay
    state (botocore's model: at least one character; a member left out keeps its value)."""
    kept = {
        attribute: getattr(current, attribute)
        for attribute in ("description", "relay_state")
        if getattr(desired, attribute) is None and getattr(current, attribute) is not None
    }
    for attribute, value in kept.items():
        result.warnings.append(
            f"permission set {name}: its {attribute} cannot be cleared through AWS's API; it "
            f"stays {value!r} (give a new value to change it)"
        )
    return replace(desired, **kept) if kept else desired


def _wanted_assignments(
    grants: tuple[Grant, ...],
    usable: Mapping[str, str | None],
    principals: Principals,
    result: AccessPlan,
) -> dict[AssignmentKey, Grant]:
    wanted: dict[AssignmentKey, Grant] = {}
    for grant in grants:
        managed = principals.groups if grant.principal_type == "GROUP" else principals.users
        if grant.permission_set not in usable:
            continue
        if grant.principal_google_id not in managed:
            if grant.principal_type == "USER":
                result.warnings.append(
                    f"{grant.principal_name} owns {grant.account.name} but is not a synced "
                    "user (add them to a synced group)"
                )
            continue
        key = (
            grant.account.id,
            grant.permission_set,
            grant.principal_type,
            grant.principal_google_id,
        )
        wanted.setdefault(key, grant)
    return wanted


def _current_assignments(
    access: AccessSnapshot, principals: Principals
) -> dict[AssignmentKey, tuple[str, str]]:
    """Assignments of managed permission sets to managed principals: key -> (ARN, principal)."""
    managed_sets = {ps.arn: ps for ps in access.permission_sets if ps.managed}
    google_ids = {
        "GROUP": _reverse(principals.recorded_groups, principals.groups),
        "USER": _reverse(principals.recorded_users, principals.users),
    }
    current: dict[AssignmentKey, tuple[str, str]] = {}
    for assignment in access.assignments:
        permission_set = managed_sets.get(assignment.permission_set_arn)
        google_id = google_ids.get(assignment.principal_type, {}).get(assignment.principal_id)
        if permission_set is None or google_id is None:
            continue
        key = (assignment.account_id, permission_set.name, assignment.principal_type, google_id)
        current[key] = (assignment.permission_set_arn, assignment.principal_id)
    return current


def _reverse(recorded: Mapping[str, str], managed: Mapping[str, str | None]) -> dict[str, str]:
    ids = {object_id: google_id for google_id, object_id in recorded.items()}
    ids |= {object_id: google_id for google_id, object_id in managed.items() if object_id}
    return ids


def _plan_permission_set_deletions(
    rules: Rules,
    access: AccessSnapshot,
    principals: Principals,
    result: AccessPlan,
    out_of_reach: frozenset[str],
) -> None:
    """A managed permission set gone from the file is deleted once its assignments are; one
    still assigned to principals sso-sync does not manage is left, with a warning."""
    managed_ids = {
        "GROUP": set(_reverse(principals.recorded_groups, principals.groups)),
        "USER": set(_reverse(principals.recorded_users, principals.users)),
    }
    for permission_set in sorted(access.permission_sets, key=lambda ps: ps.name):
        if not permission_set.managed or permission_set.name in rules.permission_sets:
            continue
        foreign = [
            a
            for a in access.assignments
            if a.permission_set_arn == permission_set.arn
            and a.principal_id in principals.existing
            and a.principal_id not in managed_ids.get(a.principal_type, set())
        ]
        if permission_set.provisioned_accounts & out_of_reach:
            result.warnings.append(
                f"permission set {permission_set.name} left the rules file but is provisioned "
                "in the management account: not deleted (managed from the management account)"
            )
            continue
        if foreign:
            result.warnings.append(
                f"permission set {permission_set.name} left the rules file but is still assigned "
                f"to {len(foreign)} principal(s) sso-sync does not manage; not deleted"
            )
            continue
        result.operations.append(
            PermissionSetOperation(
                Action.DELETE,
                permission_set.name,
                "no longer in the rules file",
                arn=permission_set.arn,
            )
        )
