"""Who gets which permission set in which account, and why: the assignment rules evaluated
against the Google directory and the Organization. Pure; used by the planner and by
`sso-sync access`."""

import difflib
from dataclasses import dataclass

from sync.errors import ConfigError
from sync.model import Account, GoogleGroup, GoogleSnapshot, OrganizationSnapshot
from sync.rules.model import Rules
from sync.rules.selectors import Condition, Selector, matched_accounts


@dataclass(frozen=True)
class Grant:
    account: Account
    permission_set: str
    principal_type: str  # GROUP or USER
    principal_google_id: str
    principal_name: str
    """The group's Identity Center name, or the user's email."""
    why: str
    selector: str = ""
    """The rule's account selector that chose the account."""


@dataclass(frozen=True)
class GrantEvaluation:
    grants: tuple[Grant, ...]
    warnings: tuple[str, ...]
    empty_rules: tuple[int, ...] = ()
    """Indexes of rules whose selectors matched no account, not marked allow_empty."""


def rule_label(rules: Rules, index: int) -> str:
    """How the plan names an assignment rule: 1-based, with its name if it has one."""
    name = rules.assignments[index].name
    return f"assignments rule {index + 1}" + (f" ({name})" if name else "")


def evaluate_grants(
    rules: Rules, google: GoogleSnapshot, org: OrganizationSnapshot
) -> GrantEvaluation:
    """Raises ConfigError when an `exclude` matches no account: a typo there would widen
    access, so it fails closed."""
    if problems := unmatched_exclusions(rules, org):
        raise ConfigError("the rules would " + "; ".join(problems))
    grants: list[Grant] = []
    warnings: list[str] = []
    empty_rules: list[int] = []
    active = [user for user in google.users.values() if user.active]
    users_by_email = {alias: user for user in active for alias in user.aliases}
    users_by_email |= {user.primary_email.lower(): user for user in active}
    for index, rule in enumerate(rules.assignments):
        matched = matched_accounts(
            org.accounts,
            tuple(rule.accounts),
            tuple(rule.exclude),
            org.management_account_id,
            rule.include_management_account,
        )
        if not matched:
            warnings.append(f"{rule_label(rules, index)}: the selectors match no active account")
            if not rule.allow_empty:
                empty_rules.append(index)
        for reference in rule.groups:
            for group in _groups_named(google.groups, reference):
                grants.extend(
                    Grant(
                        account,
                        permission_set,
                        "GROUP",
                        group.id,
                        group.display_name,
                        rule_label(rules, index),
                        selector.text,
                    )
                    for account, selector in matched
                    for permission_set in rule.permission_sets
                )
        if rule.user_from_tag is None:
            continue
        for account, selector in matched:
            owner = account.tags.get(rule.user_from_tag, "").strip().lower()
            user = users_by_email.get(owner)
            if user is None:
                warnings.append(
                    f"{rule_label(rules, index)}: account {account.name} ({account.id}) has "
                    f"{rule.user_from_tag}={owner or '(none)'}, not an active Google user"
                )
                continue
            grants.extend(
                Grant(
                    account,
                    permission_set,
                    "USER",
                    user.id,
                    user.primary_email,
                    f"{rule_label(rules, index)}, {rule.user_from_tag} tag of the account",
                    selector.text,
                )
                for permission_set in rule.permission_sets
            )
    return GrantEvaluation(tuple(grants), tuple(warnings), tuple(empty_rules))


def _groups_named(groups: tuple[GoogleGroup, ...], reference: str) -> list[GoogleGroup]:
    reference = reference.lower()
    return [g for g in groups if reference in (g.email.lower(), g.display_name.lower())]


def unmatched_exclusions(rules: Rules, org: OrganizationSnapshot) -> list[str]:
    """Each `exclude` selector that matches no account of the Organization, with what it may
    have meant."""
    problems = []
    for index, rule in enumerate(rules.assignments):
        for selector in rule.exclude:
            if any(selector.matches(a, org.management_account_id) for a in org.accounts):
                continue
            hint = _did_you_mean(selector, org)
            problems.append(
                f"{rule_label(rules, index)}: exclude {selector.text!r} matches no account, so "
                "it would leave nothing out and the rule would reach every account its "
                f"accounts select{hint}; fix the selector, or remove it"
            )
    return problems


def _did_you_mean(selector: Selector, org: OrganizationSnapshot) -> str:
    guesses = [
        f"{condition.kind}:{guess}"
        for condition in selector.conditions
        if not any(condition.matches(a, org.management_account_id) for a in org.accounts)
        for guess in _close_values(condition, org)
    ]
    return f" (did you mean {' or '.join(repr(g) for g in guesses)}?)" if guesses else ""


def _close_values(condition: Condition, org: OrganizationSnapshot) -> list[str]:
    accounts = org.accounts
    candidates: dict[str, list[str]] = {
        "name": [account.name for account in accounts],
        "id": [account.id for account in accounts],
        "tag": [f"{key}={value}" for account in accounts for key, value in account.tags.items()],
        "ou": sorted({unit for account in accounts for unit in _units_above(account.ou_path)}),
    }
    if condition.kind not in candidates:
        return []
    value = condition.value
    recursive = condition.kind == "ou" and value.endswith("/**")
    found = difflib.get_close_matches(
        value.removesuffix("/**") if recursive else value,
        sorted(set(candidates[condition.kind])),
        n=1,
        cutoff=0.6,
    )
    return [f"{guess}/**" if recursive else guess for guess in found]


def _units_above(ou_path: str) -> list[str]:
    """An account's OU and every OU above it: /Workloads/Production, /Workloads."""
    parts = ou_path.strip("/").split("/")
    return [f"/{'/'.join(parts[:depth])}" for depth in range(1, len(parts) + 1) if parts[0]]
