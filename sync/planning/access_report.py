"""`sso-sync access`: who can reach what, and why, from the rules and the live directory
and Organization (not from what Identity Center holds right now)."""

from dataclasses import dataclass
from typing import Any

from sync.errors import ConfigError
from sync.model import Account, GoogleSnapshot, OrganizationSnapshot
from sync.planning.grants import Grant, evaluate_grants
from sync.rules.model import Rules
from sync.rules.selectors import parse_selector, select_accounts


@dataclass(frozen=True)
class AccessLine:
    account: str
    account_id: str
    permission_set: str
    principal: str
    """The group, or "user <email>" for a per-user rule."""
    people: tuple[str, ...]
    why: str

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "account_id": self.account_id,
            "permission_set": self.permission_set,
            "principal": self.principal,
            "people": list(self.people),
            "why": self.why,
        }


@dataclass(frozen=True)
class AccessAnswer:
    lines: list[AccessLine]
    why_not: str | None = None
    """For a person the rules give nothing: why (suspended, in no synced group, ...)."""


def explain(
    rules: Rules,
    google: GoogleSnapshot,
    org: OrganizationSnapshot,
    person: str | None = None,
    account: str | None = None,
) -> AccessAnswer:
    """Who reaches what, and why: for a person, for accounts (a name, an id or a selector
    such as ou:/Workloads/**), or for a person in those accounts."""
    grants = list(evaluate_grants(rules, google, org).grants)
    why_not = None
    if person is not None:
        user = next(
            (u for u in google.users.values() if u.primary_email.lower() == person.lower()),
            None,
        )
        if user is None:
            raise ConfigError(f"{person} is not a user of this Google Workspace")
        groups = {group.id for group in google.groups if user.id in group.member_ids}
        grants = [g for g in grants if g.principal_google_id in groups | {user.id}]
        if not user.active:
            grants = []
            why_not = "suspended in Google Workspace" if user.suspended else "archived"
        elif not grants:
            why_not = (
                "in synced groups that no rule gives access"
                if groups
                else "not a member of any group the rules sync"
            )
    if account is not None:
        chosen = {a.id for a in accounts_named(account, org)}
        grants = [g for g in grants if g.account.id in chosen]
    return AccessAnswer([_line(grant, google) for grant in grants], why_not)


def accounts_named(account: str, org: OrganizationSnapshot) -> list[Account]:
    """Accounts by name, id or selector (ou:, name:, id:, tag:, all, management)."""
    named = [a for a in org.accounts if account.lower() in (a.name.lower(), a.id)]
    if named:
        return named
    try:
        selector = parse_selector(account)
    except ValueError:
        raise ConfigError(
            f"no account named {account!r} in the organization (or give a selector such as "
            "ou:/Workloads/**)"
        ) from None
    matched = select_accounts(org.accounts, (selector,), (), org.management_account_id, True)
    if not matched:
        raise ConfigError(f"the selector {account!r} matches no account in the organization")
    return matched


def _line(grant: Grant, google: GoogleSnapshot) -> AccessLine:
    if grant.principal_type == "USER":
        principal, people = f"user {grant.principal_name}", (grant.principal_name,)
    else:
        group = next(g for g in google.groups if g.id == grant.principal_google_id)
        principal = f"group {grant.principal_name}"
        people = tuple(
            sorted(
                google.users[uid].primary_email
                for uid in group.member_ids
                if google.users[uid].active
            )
        )
    return AccessLine(
        grant.account.name,
        grant.account.id,
        grant.permission_set,
        principal,
        people,
        grant.why,
    )
