"""The access report's data: who reaches which account with which permission set, and why;
the Organization's tree; the risks; what changed since a previous report. Pure: built from
the snapshots a run reads, as JSON for the HTML page, `--json` and the next report's diff.

Two views. *planned*: what the rules make true (the rules evaluated against Google and the
Organization, as the next sync applies them). *live*: what Identity Center holds now (every
assignment of every permission set, through Identity Center's group memberships), each
explained by the rule that makes it, or marked as outside the rules."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.model import (
    AccessSnapshot,
    Account,
    GoogleGroup,
    GoogleSnapshot,
    IdentityCenterSnapshot,
    OrganizationSnapshot,
)
from sync.planning.grants import Grant, evaluate_grants
from sync.reporting.risk import administrator_reason, is_sensitive
from sync.rules.model import Rules

REPORT_VERSION = 1
VIEW_LABELS = {
    "planned": "Planned: what the rules make true (Google Workspace and the Organization "
    "evaluated against the rules, as the next sync applies them)",
    "live": "Live: what IAM Identity Center holds now, every assignment of every permission "
    "set, explained by the rules where they make it",
}


@dataclass(frozen=True)
class LiveIdentityCenter:
    """What `--live` reads: every user, group and membership, every assignment."""

    directory: IdentityCenterSnapshot
    access: AccessSnapshot


@dataclass(frozen=True)
class _Why:
    text: str
    rule: str | None
    selector: str | None
    group: str | None
    through: tuple[str, ...]


class _Builder:
    def __init__(self, rules: Rules, google: GoogleSnapshot, org: OrganizationSnapshot) -> None:
        self.rules, self.google, self.org = rules, google, org
        self.accounts = sorted(
            (a for a in org.accounts if a.status == "ACTIVE"),
            key=lambda a: (a.id != org.management_account_id, a.ou_path.lower(), a.name.lower()),
        )
        self.account_index = {a.id: i for i, a in enumerate(self.accounts)}
        self.groups = sorted(google.groups, key=lambda g: g.display_name.lower())
        self.group_index = {g.id: i for i, g in enumerate(self.groups)}
        self.groups_by_id = {g.id: g for g in self.groups}
        self._through: dict[tuple[str, str], tuple[str, ...]] = {}
        self.permission_sets: dict[str, int] = {}
        self.whys: dict[_Why, int] = {}
        self.access: dict[str, dict[int, set[tuple[int, int]]]] = defaultdict(
            lambda: defaultdict(set)
        )

    def add(self, person: str, account_id: str, permission_set: str, why: _Why) -> None:
        account = self.account_index.get(account_id)
        if account is None:
            return
        ps = self.permission_sets.setdefault(permission_set, len(self.permission_sets))
        reason = self.whys.setdefault(why, len(self.whys))
        self.access[person.lower()][account].add((ps, reason))

    def through(self, group: GoogleGroup, user_id: str) -> tuple[str, ...]:
        """The synced groups nested in `group` that bring the person in."""
        key = (group.id, user_id)
        if key not in self._through:
            self._through[key] = tuple(
                sorted(
                    self.groups_by_id[nested].email
                    for nested in group.nested_ids
                    if nested in self.groups_by_id
                    and user_id in self.groups_by_id[nested].member_ids
                )
            )
        return self._through[key]


def build_report(
    rules: Rules,
    google: GoogleSnapshot,
    org: OrganizationSnapshot,
    generated: datetime,
    live: LiveIdentityCenter | None = None,
    policies: Mapping[str, tuple[str, ...]] | None = None,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report as JSON. `policies`: SCP names by OU path ("/" the root) or account id
    (None: not readable). `previous`: an earlier report, for what changed since."""
    builder = _Builder(rules, google, org)
    grants = evaluate_grants(rules, google, org).grants
    if live is None:
        _planned(builder, grants)
    else:
        _live(builder, grants, live)
    for name in rules.permission_sets:
        builder.permission_sets.setdefault(name, len(builder.permission_sets))
    people = _people(builder, live)
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "generated": generated.isoformat(timespec="seconds"),
        "view": "live" if live else "planned",
        "view_label": VIEW_LABELS["live" if live else "planned"],
        "management_account_id": org.management_account_id,
        "people": people,
        "accounts": [_account(builder, a, policies) for a in builder.accounts],
        "units": _units(builder.accounts, policies),
        "groups": [
            {
                "name": g.display_name,
                "email": g.email,
                "nested": sorted(
                    n.email for n in builder.groups if n.id in g.nested_ids and n.id != g.id
                ),
            }
            for g in builder.groups
        ],
        "permission_sets": _permission_sets(builder, live),
        "whys": [
            {
                "text": why.text,
                "rule": why.rule,
                "selector": why.selector,
                "group": why.group,
                "through": list(why.through),
            }
            for why in builder.whys
        ],
        "scps_read": policies is not None,
    }
    report["risk"] = _risk(report, builder, grants, live)
    report["changes"] = changes_since(previous, report) if previous else None
    return report


def _planned(builder: _Builder, grants: Iterable[Grant]) -> None:
    google = builder.google
    for grant in grants:
        selector = f"account chosen by {grant.selector}" if grant.selector else ""
        if grant.principal_type == "USER":
            why = _Why(f"{grant.why}; {selector}".rstrip("; "), grant.why, grant.selector, None, ())
            builder.add(grant.principal_name, grant.account.id, grant.permission_set, why)
            continue
        group = builder.groups_by_id[grant.principal_google_id]
        for user_id in group.member_ids:
            user = google.users.get(user_id)
            if user is None or not user.active:
                continue
            through = builder.through(group, user_id)
            why = _Why(
                _group_text(group.display_name, group.email, through)
                + f"; {grant.why}"
                + (f"; {selector}" if selector else ""),
                grant.why,
                grant.selector,
                group.display_name,
                through,
            )
            builder.add(user.primary_email, grant.account.id, grant.permission_set, why)


def _group_text(name: str, email: str | None, through: tuple[str, ...]) -> str:
    text = f"member of group {name}" + (f" ({email})" if email and email != name else "")
    return text + (f" through {', '.join(through)}" if through else "")


def _live(builder: _Builder, grants: Iterable[Grant], live: LiveIdentityCenter) -> None:
    users = {u.user_id: u.attributes.user_name for u in live.directory.users}
    groups = {g.group_id: g.attributes.display_name for g in live.directory.groups}
    members: dict[str, list[str]] = defaultdict(list)
    for membership in live.directory.memberships:
        members[membership.group_id].append(membership.user_id)
    names = {ps.arn: ps.name for ps in live.access.permission_sets}
    google_users = {u.primary_email.lower(): u for u in builder.google.users.values()}
    google_groups = {g.display_name.lower(): g for g in builder.groups}
    explained = {
        (g.account.id, g.permission_set, g.principal_type, g.principal_name.lower()): g
        for g in grants
    }
    for assignment in live.access.assignments:
        permission_set = names.get(assignment.permission_set_arn, assignment.permission_set_arn)
        if assignment.principal_type == "USER":
            name = users.get(assignment.principal_id, assignment.principal_id)
            grant = explained.get((assignment.account_id, permission_set, "USER", name.lower()))
            why = _Why(
                "assigned to the user directly; " + _rule_text(grant),
                grant.why if grant else None,
                grant.selector if grant else None,
                None,
                (),
            )
            builder.add(name, assignment.account_id, permission_set, why)
            continue
        group_name = groups.get(assignment.principal_id, assignment.principal_id)
        grant = explained.get((assignment.account_id, permission_set, "GROUP", group_name.lower()))
        google_group = google_groups.get(group_name.lower())
        for user_id in members.get(assignment.principal_id, ()):
            name = users.get(user_id, user_id)
            google_user = google_users.get(name.lower())
            through = (
                builder.through(google_group, google_user.id)
                if google_group and google_user
                else ()
            )
            why = _Why(
                _group_text(group_name, google_group.email if google_group else None, through)
                + "; "
                + _rule_text(grant),
                grant.why if grant else None,
                grant.selector if grant else None,
                group_name,
                through,
            )
            builder.add(name, assignment.account_id, permission_set, why)


def _rule_text(grant: Grant | None) -> str:
    if grant is None:
        return "not from the rules (made outside sso-sync)"
    return f"{grant.why}; account chosen by {grant.selector}"


def _people(builder: _Builder, live: LiveIdentityCenter | None) -> list[dict[str, Any]]:
    google = builder.google
    by_email = {u.primary_email.lower(): u for u in google.users.values()}
    in_groups: dict[str, list[int]] = defaultdict(list)
    for group in builder.groups:
        for user_id in group.member_ids:
            if user_id in google.users:
                in_groups[user_id].append(builder.group_index[group.id])
    emails = set(builder.access)
    if live is None:
        emails |= {google.users[uid].primary_email.lower() for uid in in_groups}
    else:
        emails |= {u.attributes.user_name.lower() for u in live.directory.users}
    people = []
    for email in sorted(emails):
        user = by_email.get(email)
        status = "not in Google Workspace"
        if user is not None:
            status = "suspended" if user.suspended else "archived" if user.archived else "active"
        people.append(
            {
                "email": user.primary_email if user else email,
                "name": user.full_name if user else "",
                "status": status,
                "groups": sorted(in_groups.get(user.id, [])) if user else [],
                "access": [
                    [account, sorted(entries)]
                    for account, entries in sorted(builder.access.get(email, {}).items())
                ],
            }
        )
    return people


def _account(
    builder: _Builder, account: Account, policies: Mapping[str, tuple[str, ...]] | None
) -> dict[str, Any]:
    owner_keys = {r.user_from_tag for r in builder.rules.assignments if r.user_from_tag}
    owner = next((account.tags[k] for k in sorted(owner_keys) if k in account.tags), None)
    return {
        "id": account.id,
        "name": account.name,
        "ou": account.ou_path,
        "tags": dict(sorted(account.tags.items())),
        "management": account.id == builder.org.management_account_id,
        "sensitive": is_sensitive(account),
        "owner": owner,
        "scps": list(policies.get(account.id, ())) if policies is not None else None,
    }


def _units(
    accounts: list[Account], policies: Mapping[str, tuple[str, ...]] | None
) -> list[dict[str, Any]]:
    paths = {"/"} | {p for p in (policies or {}) if p.startswith("/")}
    for account in accounts:
        parts = account.ou_path.strip("/").split("/")
        paths |= {"/" + "/".join(parts[:n]) for n in range(1, len(parts) + 1) if parts[0]}
    return [
        {"path": path, "scps": list(policies.get(path, ())) if policies is not None else None}
        for path in sorted(paths, key=str.lower)
    ]


def _permission_sets(builder: _Builder, live: LiveIdentityCenter | None) -> list[dict[str, Any]]:
    attributes = {ps.name: ps.attributes for ps in live.access.permission_sets} if live else {}
    result = []
    for name in builder.permission_sets:
        spec = builder.rules.permission_sets.get(name)
        reason = administrator_reason(spec if spec is not None else attributes.get(name))
        result.append(
            {
                "name": name,
                "managed": spec is not None,
                "description": spec.description if spec else None,
                "administrator": reason,
            }
        )
    return result


def _risk(
    report: dict[str, Any],
    builder: _Builder,
    grants: Iterable[Grant],
    live: LiveIdentityCenter | None,
) -> dict[str, Any]:
    sets, accounts = report["permission_sets"], report["accounts"]
    administrators, management, sensitive = [], [], defaultdict(list)
    for person in report["people"]:
        admin_where = []
        for account, entries in person["access"]:
            names = sorted({sets[ps]["name"] for ps, _ in entries})
            admin = [n for n in names if sets[builder.permission_sets[n]]["administrator"]]
            if admin:
                admin_where.append({"account": accounts[account]["name"], "permission_sets": admin})
            if accounts[account]["management"]:
                management.append({"person": person["email"], "permission_sets": names})
            if accounts[account]["sensitive"]:
                sensitive[account].append({"person": person["email"], "permission_sets": names})
        if admin_where:
            administrators.append({"person": person["email"], "where": admin_where})
    return {
        "administrator_sets": [
            {"name": ps["name"], "reason": ps["administrator"]}
            for ps in sets
            if ps["administrator"]
        ],
        "administrators": administrators,
        "management": management,
        "sensitive": [
            {"account": accounts[account]["name"], "people": people}
            for account, people in sorted(sensitive.items())
        ],
        "outside_rules": _outside_rules(builder, grants, live) if live else None,
    }


def _outside_rules(
    builder: _Builder, grants: Iterable[Grant], live: LiveIdentityCenter
) -> list[dict[str, Any]]:
    """Assignments Identity Center holds that no rule makes: left alone by sso-sync."""
    users = {u.user_id: u.attributes.user_name for u in live.directory.users}
    groups = {g.group_id: g.attributes.display_name for g in live.directory.groups}
    names = {ps.arn: ps.name for ps in live.access.permission_sets}
    accounts = {a.id: a.name for a in builder.org.accounts}
    explained = {
        (g.account.id, g.permission_set, g.principal_type, g.principal_name.lower()) for g in grants
    }
    members: dict[str, int] = defaultdict(int)
    for membership in live.directory.memberships:
        members[membership.group_id] += 1
    found = []
    for a in live.access.assignments:
        permission_set = names.get(a.permission_set_arn, a.permission_set_arn)
        principals = users if a.principal_type == "USER" else groups
        name = principals.get(a.principal_id, a.principal_id)
        if (a.account_id, permission_set, a.principal_type, name.lower()) in explained:
            continue
        found.append(
            {
                "principal": f"{a.principal_type.lower()} {name}",
                "account": f"{accounts.get(a.account_id, a.account_id)} ({a.account_id})",
                "permission_set": permission_set,
                "people": 1 if a.principal_type == "USER" else members[a.principal_id],
            }
        )
    return sorted(found, key=lambda f: (f["principal"].lower(), f["account"]))


def grants_of(report: Mapping[str, Any]) -> dict[str, set[tuple[str, str]]]:
    """Person -> {(account id, permission set)} of a report."""
    accounts, sets = report["accounts"], report["permission_sets"]
    return {
        person["email"].lower(): {
            (accounts[account]["id"], sets[ps]["name"])
            for account, entries in person["access"]
            for ps, _ in entries
        }
        for person in report["people"]
    }


def changes_since(previous: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """Per person, the access granted and removed between two reports."""
    before, after = grants_of(previous), grants_of(current)
    names = {a["id"]: a["name"] for a in previous["accounts"]}
    names |= {a["id"]: a["name"] for a in current["accounts"]}

    def labels(pairs: set[tuple[str, str]]) -> list[str]:
        return sorted(f"{names.get(account, account)}: {ps}" for account, ps in pairs)

    people = []
    for email in sorted(before.keys() | after.keys()):
        granted = after.get(email, set()) - before.get(email, set())
        removed = before.get(email, set()) - after.get(email, set())
        if granted or removed:
            people.append({"person": email, "granted": labels(granted), "removed": labels(removed)})
    return {
        "since": previous.get("generated"),
        "previous_view": previous.get("view"),
        "people": people,
    }
