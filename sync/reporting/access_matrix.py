"""The access report's data: who reaches which account with which permission set, and why;
the Organization's tree; the risks; what changed since a previous report. Pure: built from
the snapshots a run reads, as JSON for the HTML page, `--json` and the next report's diff.

Two views. *planned*: what the rules make true (the rules evaluated against Google and the
Organization, as the next sync applies them). *live*: what Identity Center holds now (every
assignment of every permission set, through Identity Center's group memberships), each
explained by the rule that makes it, or marked as outside the rules."""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.model import (
    AccessSnapshot,
    Account,
    GoogleGroup,
    GoogleSnapshot,
    GoogleUser,
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
    """Why a principal has a permission set in an account. Through which nested groups each
    person is in the group is the person's (their "through"), so whys stay few."""

    text: str
    rule: str | None
    selector: str | None
    group: str | None
    member_of: str = ""
    """The start of `text` naming the group, after which a person's nested groups go."""


def unit_rank(unit_order: Sequence[str]) -> Callable[[str], tuple[int, ...]]:
    """Where an OU path sorts: by the position of it and each ancestor in `unit_order` (the
    Organization's definition order: Workloads, Shared, Sandbox), units it lacks after."""
    position = {path.lower(): index for index, path in enumerate(unit_order)}

    def rank(ou_path: str) -> tuple[int, ...]:
        parts = [part for part in ou_path.lower().split("/") if part]
        paths = ["/" + "/".join(parts[: depth + 1]) for depth in range(len(parts))]
        return tuple(position.get(path, len(position)) for path in paths)

    return rank


class _Builder:
    def __init__(
        self,
        rules: Rules,
        google: GoogleSnapshot,
        org: OrganizationSnapshot,
        unit_order: Sequence[str] = (),
    ) -> None:
        self.rules, self.google, self.org = rules, google, org
        self.unit_rank = unit_rank(unit_order)
        self.accounts = sorted(
            (a for a in org.accounts if a.status == "ACTIVE"),
            key=lambda a: (
                a.id != org.management_account_id,
                self.unit_rank(a.ou_path),
                a.ou_path.lower(),
                a.name.lower(),
            ),
        )
        self.account_index = {a.id: i for i, a in enumerate(self.accounts)}
        self.groups = sorted(google.groups, key=lambda g: g.display_name.lower())
        self.group_index = {g.id: i for i, g in enumerate(self.groups)}
        self.groups_by_id = {g.id: g for g in self.groups}
        self.permission_sets: dict[str, int] = {}
        self.whys: dict[_Why, int] = {}
        self.kinds: dict[tuple[int, int], int] = {}
        """(permission set, why) -> its number: a cell is a set of these."""
        self.access: dict[str, dict[int, list[int]]] = defaultdict(dict)
        """Person -> account -> the cell's kinds."""
        self.throughs: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
        """Person -> group -> the synced nested groups that bring them into it."""
        self.pending: Callable[[str], None] | None = None
        """Adds a person's grants, by Google user id, when the planned view asks for them."""
        self.combos: dict[tuple[int, ...], int] = {}
        """A cell's kinds -> its number: cells repeat across people, so a cell is stored as
        two small numbers (compact at 50,000 people)."""

    def add(self, person: str, account_id: str, permission_set: str, why: _Why) -> None:
        account = self.account_index.get(account_id)
        if account is None:
            return
        ps = self.permission_sets.setdefault(permission_set, len(self.permission_sets))
        reason = self.whys.setdefault(why, len(self.whys))
        kind = self.kinds.setdefault((ps, reason), len(self.kinds))
        cell = self.access[person.lower()].setdefault(account, [])
        if kind not in cell:
            cell.append(kind)

    def cells_of(self, email: str, user: GoogleUser | None) -> dict[int, list[int]]:
        """A person's cells, made now if they were left for later (`pending`)."""
        if user is not None and self.pending is not None:
            self.pending(user.id)
        return self.access.pop(email, {})

    def through(self, group: GoogleGroup, user_id: str) -> tuple[str, ...]:
        """The synced groups nested in `group` that bring the person in."""
        return tuple(
            sorted(
                self.groups_by_id[nested].email
                for nested in group.nested_ids
                if nested in self.groups_by_id and user_id in self.groups_by_id[nested].member_ids
            )
        )


def build_report(
    rules: Rules,
    google: GoogleSnapshot,
    org: OrganizationSnapshot,
    generated: datetime,
    live: LiveIdentityCenter | None = None,
    policies: Mapping[str, tuple[str, ...]] | None = None,
    previous: Mapping[str, Any] | None = None,
    unit_order: Sequence[str] = (),
) -> dict[str, Any]:
    """The report as JSON. `policies`: SCP names by OU path ("/" the root) or account id
    (None: not readable). `previous`: an earlier report, for what changed since. Accounts in
    the order of their OUs in `unit_order` (then by path and name)."""
    builder = _Builder(rules, google, org, unit_order)
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
        "units": _units(builder.accounts, policies, builder.unit_rank),
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
        "kinds": [list(kind) for kind in builder.kinds],
        "combos": [list(combo) for combo in builder.combos],
        "whys": [
            {
                "text": why.text,
                "rule": why.rule,
                "selector": why.selector,
                "group": why.group,
                "member_of": why.member_of,
            }
            for why in builder.whys
        ],
        "scps_read": policies is not None,
    }
    report["risk"] = _risk(report, builder, grants, live)
    report["changes"] = changes_since(previous, report) if previous else None
    return report


def _planned(builder: _Builder, grants: Iterable[Grant]) -> None:
    """Direct grants (an owner tag) now; a person's group grants when _people asks for them,
    one person at a time, so the whole matrix is never held twice."""
    by_group: dict[str, list[Grant]] = defaultdict(list)
    for grant in grants:
        if grant.principal_type == "USER":
            selector = f"; account chosen by {grant.selector}" if grant.selector else ""
            why = _Why(grant.why + selector, grant.why, grant.selector, None)
            builder.add(grant.principal_name, grant.account.id, grant.permission_set, why)
        else:
            by_group[grant.principal_google_id].append(grant)
    groups_of: dict[str, list[GoogleGroup]] = defaultdict(list)
    for group_id in by_group:
        group = builder.groups_by_id[group_id]
        for user_id in group.member_ids:
            groups_of[user_id].append(group)
    whys: dict[tuple[str, str, str], _Why] = {}

    def group_grants(user_id: str) -> None:
        user = builder.google.users.get(user_id)
        if user is None or not user.active:
            return
        for group in groups_of.get(user_id, ()):
            if through := builder.through(group, user_id):
                builder.throughs[user.primary_email.lower()][group.display_name] = through
            member_of = _group_text(group.display_name, group.email)
            for grant in by_group[group.id]:
                why = whys.get((group.id, grant.why, grant.selector))
                if why is None:
                    why = whys[group.id, grant.why, grant.selector] = _Why(
                        member_of
                        + f"; {grant.why}"
                        + (f"; account chosen by {grant.selector}" if grant.selector else ""),
                        grant.why,
                        grant.selector,
                        group.display_name,
                        member_of,
                    )
                builder.add(user.primary_email, grant.account.id, grant.permission_set, why)

    builder.pending = group_grants


def _group_text(name: str, email: str | None) -> str:
    return f"member of group {name}" + (f" ({email})" if email and email != name else "")


def why_text(report: Mapping[str, Any], person: Mapping[str, Any], why: int) -> str:
    """A why as the page shows it for a person: with the nested groups they are in through."""
    found = report["whys"][why]
    through = person["through"].get(found["group"] or "")
    if not through:
        return found["text"]
    start = found["member_of"]
    return f"{start} through {', '.join(through)}{found['text'][len(start) :]}"


def _live(builder: _Builder, grants: Iterable[Grant], live: LiveIdentityCenter) -> None:
    users = {u.user_id: u.attributes.user_name for u in live.directory.users}
    groups = {g.group_id: g.attributes.display_name for g in live.directory.groups}
    members: dict[str, list[str]] = defaultdict(list)
    for membership in live.directory.memberships:
        members[membership.group_id].append(membership.user_id)
    names = {ps.arn: ps.name for ps in live.access.permission_sets}
    google_users = {u.primary_email.lower(): u for u in builder.google.users.values()}
    google_groups = {g.display_name.lower(): g for g in builder.groups}
    explained = _by_assignment(grants)
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
            )
            builder.add(name, assignment.account_id, permission_set, why)
            continue
        group_name = groups.get(assignment.principal_id, assignment.principal_id)
        grant = explained.get((assignment.account_id, permission_set, "GROUP", group_name.lower()))
        google_group = google_groups.get(group_name.lower())
        for user_id in members.get(assignment.principal_id, ()):
            name = users.get(user_id, user_id)
            google_user = google_users.get(name.lower())
            through = builder.through(google_group, google_user.id) if google_user else ()
            if google_group and through:
                builder.throughs[name.lower()][group_name] = through
            member_of = _group_text(group_name, google_group.email if google_group else None)
            why = _Why(
                member_of + "; " + _rule_text(grant),
                grant.why if grant else None,
                grant.selector if grant else None,
                group_name,
                member_of,
            )
            builder.add(name, assignment.account_id, permission_set, why)


def _by_assignment(grants: Iterable[Grant]) -> dict[tuple[str, str, str, str], Grant]:
    """Grants by the assignment that carries them: (account, permission set, principal type,
    principal name in lower case)."""
    return {
        (g.account.id, g.permission_set, g.principal_type, g.principal_name.lower()): g
        for g in grants
    }


def _rule_text(grant: Grant | None) -> str:
    if grant is None:
        return "not from the rules (made outside sso-sync)"
    return f"{grant.why}; account chosen by {grant.selector}"


SHOWN_ATTRIBUTES = {
    "enterprise.department": "Department",
    "enterprise.costCenter": "Cost center",
    "title": "Title",
    "enterprise.division": "Division",
}
"""Mapped attributes the report shows beside a person and filters by."""


def _shown_attributes(rules: Rules, user: GoogleUser | None) -> dict[str, str]:
    """Label -> value of the person's mapped attributes the report shows."""
    if user is None or rules.attributes is None:
        return {}
    values = dict(user.fields)
    return {
        label: values[rules.attributes.user[name]]
        for name, label in SHOWN_ATTRIBUTES.items()
        if name in rules.attributes.user and rules.attributes.user[name] in values
    }


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
                "id": user.id if user else None,
                "email": user.primary_email if user else email,
                "name": user.full_name if user else "",
                "status": status,
                "groups": sorted(in_groups.get(user.id, [])) if user else [],
                "attributes": _shown_attributes(builder.rules, user),
                "access": _flat_cells(builder, builder.cells_of(email, user)),
                "through": builder.throughs.pop(email, {}),
            }
        )
    return people


def _flat_cells(builder: _Builder, cells: dict[int, list[int]]) -> list[int]:
    """account, combination, account, combination ...: two small numbers a cell."""
    flat = []
    for account, kinds in sorted(cells.items()):
        combo = tuple(sorted(kinds))
        flat += [account, builder.combos.setdefault(combo, len(builder.combos))]
    return flat


def cells_of(report: Mapping[str, Any], person: Mapping[str, Any]) -> dict[int, list[list[int]]]:
    """A person's cells: account index -> [permission set index, why index] pairs."""
    combos, kinds, flat = report["combos"], report["kinds"], person["access"]
    return {flat[i]: [kinds[kind] for kind in combos[flat[i + 1]]] for i in range(0, len(flat), 2)}


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
    accounts: list[Account],
    policies: Mapping[str, tuple[str, ...]] | None,
    rank: Callable[[str], tuple[int, ...]],
) -> list[dict[str, Any]]:
    paths = {"/"} | {p for p in (policies or {}) if p.startswith("/")}
    for account in accounts:
        parts = account.ou_path.strip("/").split("/")
        paths |= {"/" + "/".join(parts[:n]) for n in range(1, len(parts) + 1) if parts[0]}
    return [
        {"path": path, "scps": list(policies.get(path, ())) if policies is not None else None}
        for path in sorted(paths, key=lambda path: (rank(path), path.lower()))
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
    names_of = [
        sorted({sets[report["kinds"][kind][0]]["name"] for kind in combo})
        for combo in report["combos"]
    ]
    admin_of = [
        [n for n in names if sets[builder.permission_sets[n]]["administrator"]]
        for names in names_of
    ]
    for person in report["people"]:
        admin_where = []
        flat = person["access"]
        for account, combo in zip(flat[::2], flat[1::2], strict=True):
            names, admin = names_of[combo], admin_of[combo]
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
    explained = _by_assignment(grants)
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


def changes_since(previous: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """A row a person whose access changed between two reports: what was granted and why,
    what was removed and why it goes (a rename, found by Google's user id, is one row), worked
    out person by person: never all of both reports' pairs at once."""
    names = {a["id"]: a["name"] for a in previous["accounts"]}
    names |= {a["id"]: a["name"] for a in current["accounts"]}

    def by_name(key: tuple[str, str]) -> tuple[str, str]:  # (account id, permission set)
        return names.get(key[0], key[0]), key[1]

    def label(key: tuple[str, str]) -> str:
        return "{}: {}".format(*by_name(key))

    before = {p["email"].lower(): p for p in previous["people"]}
    before_by_id = {p["id"]: p for p in previous["people"] if p.get("id")}
    pairs: list[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]] = []
    seen = set()
    for person in current["people"]:
        old = before.get(person["email"].lower()) or before_by_id.get(person.get("id") or "")
        if old is not None:
            seen.add(old["email"].lower())
        pairs.append((old, person))
    pairs += [(old, None) for email, old in before.items() if email not in seen]
    rows = []
    for old, new in sorted(pairs, key=lambda pair: _either(pair)["email"].lower()):
        had = _reasons(previous, old) if old else {}
        has = _reasons(current, new) if new else {}
        renamed = old is not None and new is not None and old["email"] != new["email"]
        if had.keys() == has.keys() and not renamed:
            continue
        gone = _why_removed(new)
        rows.append(
            {
                "person": _either((old, new))["email"],
                "renamed_from": old["email"] if renamed and old else None,
                "status": new["status"] if new else "not synced any more",
                "granted": [
                    {"access": label(key), "why": has[key]}
                    for key in sorted(has.keys() - had.keys(), key=by_name)
                ],
                "removed": [
                    {"access": label(key), "why": f"{gone}; it came from: {had[key]}"}
                    for key in sorted(had.keys() - has.keys(), key=by_name)
                ],
            }
        )
    return {
        "since": previous.get("generated"),
        "previous_view": previous.get("view"),
        "people": rows,
    }


def _either(pair: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]) -> Mapping[str, Any]:
    old, new = pair
    return new if new is not None else old  # type: ignore[return-value]


def _reasons(report: Mapping[str, Any], person: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """A person's (account id, permission set) pairs in a report, each with its why."""
    accounts, sets = report["accounts"], report["permission_sets"]
    found: dict[tuple[str, str], str] = {}
    for account, entries in cells_of(report, person).items():
        for ps, why in entries:
            key = (accounts[account]["id"], sets[ps]["name"])
            found[key] = "; or ".join(filter(None, (found.get(key), why_text(report, person, why))))
    return found


def _why_removed(now: Mapping[str, Any] | None) -> str:
    if now is None:
        return "no longer in a synced group, or gone from Google Workspace"
    if now["status"] != "active":
        return f"{now['status']} in Google Workspace"
    return "no rule gives it any more (a group left, or the rules or the account changed)"
