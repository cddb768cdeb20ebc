"""`sso-sync access`: who can reach what, and why, from the rules and the live directory
and Organization (not from what Identity Center holds right now)."""

from dataclasses import dataclass
from typing import Any

from sync.errors import ConfigError
from sync.model import GoogleSnapshot, OrganizationSnapshot
from sync.planning.grants import Grant, evaluate_grants
from sync.rules.model import Rules


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


def access_of_person(
    email: str, rules: Rules, google: GoogleSnapshot, org: OrganizationSnapshot
) -> list[AccessLine]:
    user = next(
        (u for u in google.users.values() if u.primary_email.lower() == email.lower()), None
    )
    if user is None:
        raise ConfigError(f"{email} is not a user of this Google Workspace")
    if not user.active:
        return []
    groups = {group.id for group in google.groups if user.id in group.member_ids}
    return [
        _line(grant, google)
        for grant in evaluate_grants(rules, google, org).grants
        if grant.principal_google_id == user.id or grant.principal_google_id in groups
    ]


def access_to_account(
    account: str, rules: Rules, google: GoogleSnapshot, org: OrganizationSnapshot
) -> list[AccessLine]:
    known = {a.name.lower() for a in org.accounts} | {a.id for a in org.accounts}
    if account.lower() not in known:
        raise ConfigError(f"no account named {account!r} in the organization")
    return [
        _line(grant, google)
        for grant in evaluate_grants(rules, google, org).grants
        if account.lower() in (grant.account.name.lower(), grant.account.id)
    ]


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
