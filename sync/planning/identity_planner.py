"""The planner: a pure function from both snapshots, the state and the rules to a Plan.

No I/O, no clock, no randomness. Ownership lives here: the sync acts only on objects recorded
in the state (or adopted in this plan), never on protected or hand-made ones.

A delta run plans a slice (a Scope): only the users and groups it re-read are reconciled, and
the Google snapshot holds just those (sync/delta_slice.py says which).
"""

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any, Literal

from sync.model import (
    AccessSnapshot,
    GoogleGroup,
    GoogleSnapshot,
    GoogleUser,
    GroupAttributes,
    IdcMembership,
    IdentityCenterSnapshot,
    OrganizationSnapshot,
    State,
    UserAttributes,
)
from sync.planning.access_planner import Principals, plan_access
from sync.planning.plan import Action, MembershipOperation, Operation, Plan, PrincipalOperation
from sync.rules.model import Rules

MANAGED_DESCRIPTION = "Managed by sso-sync from Google group {email}"
NAME_LENGTH = 1024
NAME_SPACES = frozenset("\t\n\r \u00a0\u3000")


def user_attributes(
    user: GoogleUser, extra: tuple[tuple[str, str | None], ...] = (), user_name: str = ""
) -> UserAttributes:
    given = identity_store_text(user.given_name) or user.primary_email.split("@")[0]
    family = identity_store_text(user.family_name) or "-"
    return UserAttributes(
        user_name=user_name or user.primary_email,
        display_name=identity_store_text(user.full_name) or f"{given} {family}"[:NAME_LENGTH],
        given_name=given,
        family_name=family,
        email=user.primary_email,
        extra=extra,
    )


class MappedAttributes:
    """The rules' attributes of each user, from the Google fields read. The manager becomes
    the manager's Identity Store UserId when sso-sync manages them (else it stays unset and
    one warning says who); a delta run's slice leaves managers alone (it has not read them)."""

    MANAGER = "enterprise.manager"

    def __init__(self, rules: Rules, google: GoogleSnapshot, state: State, slice_only: bool):
        mapping = rules.attributes
        self.user_name_field = mapping.user_name if mapping else None
        self._fields = dict(mapping.user) if mapping else {}
        if slice_only:
            self._fields.pop(self.MANAGER, None)
        self.names = sorted(self._fields)
        self._ids = state.users
        self._by_address: dict[str, str] = {}
        if self.MANAGER in self._fields:
            self._by_address = {
                address: uid
                for uid, user in google.users.items()
                for address in (user.primary_email.lower(), *user.aliases)
            }
        self.unresolved: list[str] = []
        self._pending: set[str] = set()
        self.pending_managers: dict[str, tuple[str, str]] = {}
        """User's Google id -> (manager's Google id, email) for managers this plan creates."""

    def user_name(self, user: GoogleUser) -> str | None:
        """The user's Identity Center UserName: the primary email, or the mapped field (None
        when the user has no value there: not synced)."""
        if self.user_name_field is None or self.user_name_field == "primaryEmail":
            return user.primary_email
        value = dict(user.fields).get(self.user_name_field)
        return identity_store_text(value) if value else None

    def will_sync(self, google_ids: set[str]) -> None:
        """Users this plan creates: their reports get them as manager from the next run on,
        without a warning."""
        self._pending = google_ids - self._ids.keys()

    def of(self, user: GoogleUser) -> tuple[tuple[str, str | None], ...]:
        values = dict(user.fields)
        extra = []
        for name in self.names:
            value = values.get(self._fields[name])
            if name == self.MANAGER and value is not None:
                manager = self._by_address.get(value.lower(), "")
                if manager in self._pending:
                    self.pending_managers[user.id] = (manager, value)
                value = self._ids.get(manager)
                if value is None and manager not in self._pending:
                    self.unresolved.append(user.primary_email)
            extra.append((name, identity_store_text(value) if value else None))
        return tuple(extra)

    def warning(self) -> str | None:
        if not self.unresolved:
            return None
        named = ", ".join(sorted(self.unresolved)[:5])
        more = f" and {len(self.unresolved) - 5} more" if len(self.unresolved) > 5 else ""
        return (
            f"enterprise.manager left unset for {named}{more}: their manager is not an "
            "Identity Center user sso-sync manages"
        )


def identity_store_text(text: str) -> str:
    """What the Identity Store takes of a name: botocore's model allows letters, marks,
    symbols, numbers, punctuation and a few spaces (no control or format characters such as
    a zero-width joiner or a right-to-left override), at most 1,024 of them."""
    kept = "".join(
        character
        for character in text
        if unicodedata.category(character)[0] in "LMSNP" or character in NAME_SPACES
    )
    return kept.strip()[:NAME_LENGTH].strip()


def _rename_reason(rules: Rules) -> str:
    field = rules.attributes.user_name if rules.attributes else None
    if field is None or field == "primaryEmail":
        return "primary email changed in Google"
    return f"user name ({field}) changed in Google"


def group_attributes(group: GoogleGroup) -> GroupAttributes:
    return GroupAttributes(group.display_name, MANAGED_DESCRIPTION.format(email=group.email))


def user_changes(current: UserAttributes, desired: UserAttributes) -> tuple[tuple[str, Any], ...]:
    changes: list[tuple[str, Any]] = []
    if current.user_name != desired.user_name:
        changes.append(("userName", desired.user_name))
    if current.display_name != desired.display_name:
        changes.append(("displayName", desired.display_name))
    if current.given_name != desired.given_name:
        changes.append(("name.givenName", desired.given_name))
    if current.family_name != desired.family_name:
        changes.append(("name.familyName", desired.family_name))
    if current.email != desired.email:
        changes.append(("emails", [{"value": desired.email, "type": "work", "primary": True}]))
    have = dict(current.extra)
    changes += [(name, value) for name, value in desired.extra if have.get(name) != value]
    return tuple(changes)


def group_changes(
    current: GroupAttributes, desired: GroupAttributes
) -> tuple[tuple[str, Any], ...]:
    changes: list[tuple[str, Any]] = []
    if current.display_name != desired.display_name:
        changes.append(("displayName", desired.display_name))
    if current.description != desired.description:
        changes.append(("description", desired.description))
    return tuple(changes)


@dataclass(frozen=True)
class Scope:
    """The slice a delta run reconciles; nothing outside it is created, changed or removed."""

    users: frozenset[str]
    """Google ids of the users re-read; one missing from the snapshot is gone from Google."""
    groups: frozenset[str]
    """Google ids of the groups re-read, with all their members; likewise."""
    users_elsewhere: frozenset[str] = frozenset()
    """Managed users of the slice who are members of a synced group outside it: kept."""


def build_plan(
    google: GoogleSnapshot,
    idc: IdentityCenterSnapshot,
    state: State,
    rules: Rules,
    access: tuple[OrganizationSnapshot, AccessSnapshot] | None = None,
    scope: Scope | None = None,
) -> Plan:
    """The whole plan, or the slice's (`scope`). Permission sets and assignments are planned
    when `access` is given."""
    return _Planner(google, idc, state, rules, access, scope).plan()


Attributes = UserAttributes | GroupAttributes


@dataclass(frozen=True)
class _Desired:
    """One user or group as Google says it should be in Identity Center."""

    google_id: str
    attributes: Attributes
    reason: str


@dataclass(frozen=True)
class _Kind:
    """What differs between reconciling users and reconciling groups."""

    resource: Literal["user", "group"]
    is_protected: Callable[[str], bool]
    changes: Callable[[Any, Any], tuple[tuple[str, Any], ...]]
    rename_reason: str
    update_reason: str
    removal_reason: Callable[[str], str]


@dataclass
class _Planner:
    google: GoogleSnapshot
    idc: IdentityCenterSnapshot
    state: State
    rules: Rules
    access: tuple[OrganizationSnapshot, AccessSnapshot] | None
    scope: Scope | None = None
    operations: list[Operation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def plan(self) -> Plan:
        self.warnings.extend(self.google.warnings)
        mapped = MappedAttributes(self.rules, self.google, self.state, self.scope is not None)
        groups = self._reconcile(
            _Kind(
                "group",
                self.rules.is_protected_group,
                group_changes,
                "renamed",
                "description differs from the managed one",
                lambda _: "no longer synced from Google (deleted or out of the rules)",
            ),
            self._desired_groups(),
            {group.group_id: group.attributes for group in self.idc.groups},
            self.state.groups,
            self.scope.groups if self.scope else None,
        )
        users = self._reconcile(
            _Kind(
                "user",
                self.rules.is_protected_user,
                user_changes,
                _rename_reason(self.rules),
                "attributes changed in Google",
                self._why_out_of_scope,
            ),
            self._desired_users(mapped),
            {user.user_id: user.attributes.restricted_to(mapped.names) for user in self.idc.users},
            self.state.users,
            self.scope.users if self.scope else None,
        )
        self._set_new_managers(mapped, users)
        memberships = self._plan_memberships(groups, users)
        if self.scope is not None:  # a slice: limits are shares of the whole population
            memberships = max(memberships, self.state.memberships)
        managed = Counter(
            user=len(self.state.users), group=len(self.state.groups), membership=memberships
        )
        problems: tuple[str, ...] = ()
        if self.access is not None:
            org, access = self.access
            principals = Principals(
                groups,
                users,
                self.state.groups,
                self.state.users,
                self._principal_names(),
                frozenset(u.user_id for u in self.idc.users)
                | frozenset(g.group_id for g in self.idc.groups),
            )
            access_plan = plan_access(self.rules, self.google, org, access, principals)
            self.operations.extend(access_plan.operations)
            self.warnings.extend(access_plan.warnings)
            managed.update(access_plan.managed)
            problems = tuple(access_plan.problems)
        return Plan(tuple(self.operations), tuple(self.warnings), managed, problems)

    def _set_new_managers(self, mapped: MappedAttributes, users: Mapping[str, str | None]) -> None:
        """Managers this plan creates are set once created: an update after the principals."""
        if not mapped.pending_managers:
            return  # every plan passes here: no lookup of the whole snapshot for nothing
        current = {user.user_id: dict(user.attributes.extra) for user in self.idc.users}
        for google_id, (manager_id, manager_email) in sorted(mapped.pending_managers.items()):
            if google_id not in users:
                continue
            object_id = users[google_id]
            before = current.get(object_id or "", {}).get(MappedAttributes.MANAGER)
            self.operations.append(
                PrincipalOperation(
                    "user",
                    Action.UPDATE,
                    google_id,
                    self.google.users[google_id].primary_email,
                    f"manager {manager_email} is created by this plan",
                    object_id,
                    changes=((MappedAttributes.MANAGER, manager_email),),
                    before=((MappedAttributes.MANAGER, before),),
                    manager_google_id=manager_id,
                )
            )

    def _principal_names(self) -> dict[str, str]:
        """Names in Identity Center of recorded principals, and Google's for the rest."""
        names = {group.id: group.display_name for group in self.google.groups}
        names |= {uid: user.primary_email for uid, user in self.google.users.items()}
        groups = {group.group_id: group.attributes.name for group in self.idc.groups}
        users = {user.user_id: user.attributes.name for user in self.idc.users}
        names |= {g: groups[i] for g, i in self.state.groups.items() if i in groups}
        names |= {g: users[i] for g, i in self.state.users.items() if i in users}
        return names

    def _desired_groups(self) -> list[_Desired]:
        desired, seen = [], {}
        for group in self.google.groups:
            attributes = group_attributes(group)
            first = seen.setdefault(attributes.name.lower(), group.email)
            if first != group.email:
                self.warnings.append(
                    f"{group.email} and {first} both map to the Identity Center name "
                    f"{attributes.name}; {group.email} not synced"
                )
                continue
            desired.append(
                _Desired(group.id, attributes, f"synced from Google group {group.email}")
            )
        return desired

    def _desired_users(self, mapped: MappedAttributes) -> list[_Desired]:
        """Active directory users who are members of at least one synced group (for a slice:
        of one of its groups, or of one outside it)."""
        candidates = {uid for group in self.google.groups for uid in group.member_ids}
        if self.scope is not None:
            candidates |= self.scope.users_elsewhere
        users = sorted(
            (
                self.google.users[uid]
                for uid in candidates
                if uid in self.google.users and self.google.users[uid].active
            ),
            key=lambda user: user.primary_email,
        )
        desired, nameless = [], []
        mapped.will_sync({user.id for user in users})
        for user in users:
            user_name = mapped.user_name(user)
            if user_name is None:
                nameless.append(user.primary_email)
                continue
            attributes = user_attributes(user, mapped.of(user), user_name)
            changed = (
                (user.given_name and attributes.given_name != user.given_name)
                or (user.family_name and attributes.family_name != user.family_name)
                or (user.full_name and attributes.display_name != user.full_name)
            )
            if changed:
                self.warnings.append(
                    f"{user.primary_email}: name changed to what Identity Center accepts "
                    f"({attributes.given_name!r} {attributes.family_name!r})"
                )
            desired.append(_Desired(user.id, attributes, "active member of a synced Google group"))
        if (warning := mapped.warning()) is not None:
            self.warnings.append(warning)
        if nameless:
            self.warnings.append(
                f"{', '.join(nameless[:5])}{' and more' if len(nameless) > 5 else ''}: no "
                f"{mapped.user_name_field} in Google, so no Identity Center user name; not "
                "synced (set the field, or change attributes.user_name)"
            )
        return desired

    def _why_out_of_scope(self, google_id: str) -> str:
        user = self.google.users.get(google_id)
        if user is None:
            return "deleted from Google Workspace"
        if user.suspended:
            return "suspended in Google Workspace"
        if user.archived:
            return "archived in Google Workspace"
        return "no longer a member of any synced Google group"

    # --- users and groups ---------------------------------------------------------------

    def _reconcile(
        self,
        kind: _Kind,
        desired: list[_Desired],
        existing: Mapping[str, Attributes],
        recorded: Mapping[str, str],
        in_scope: Set[str] | None,
    ) -> dict[str, str | None]:
        """Plan creates, adoptions, updates and removals of one kind of principal; a slice
        removes only what it re-read.

        Returns the Google ids this plan manages, each with its Identity Center id (None for
        one the plan creates).
        """
        by_name = {attributes.name.lower(): object_id for object_id, attributes in existing.items()}
        held = set(recorded.values())
        if in_scope is not None:
            recorded = {gid: oid for gid, oid in recorded.items() if gid in in_scope}
        managed: dict[str, str | None] = {}
        left_alone: set[str] = set()
        for wanted in desired:
            object_id = self._managed_object(kind, wanted, existing, recorded, by_name, held)
            if object_id is False:
                left_alone.add(wanted.google_id)
                continue
            managed[wanted.google_id] = object_id
            if object_id is not None:
                self._plan_update(kind, wanted, object_id, existing[object_id], by_name)
        self._plan_removals(kind, managed.keys() | left_alone, existing, recorded)
        return managed

    def _managed_object(
        self,
        kind: _Kind,
        wanted: _Desired,
        existing: Mapping[str, Attributes],
        recorded: Mapping[str, str],
        by_name: Mapping[str, str],
        held: set[str],
    ) -> Literal[False] | str | None:
        """The Identity Center id this Google object is managed as: the recorded one, one it
        adopts, None when the plan creates it, or False when it must be left alone."""
        name = wanted.attributes.name
        object_id = recorded.get(wanted.google_id)
        if object_id in existing:
            if kind.is_protected(existing[object_id].name) or kind.is_protected(name):
                self.warnings.append(
                    f"{kind.resource} {existing[object_id].name} is protected by the rules "
                    "file; left untouched"
                )
                return False
            return object_id
        if kind.is_protected(name):
            self.warnings.append(
                f"{kind.resource} name {name} is protected by the rules file; not synced"
            )
            return False
        object_id = by_name.get(name.lower())
        if object_id is None:
            self._add(
                kind,
                Action.CREATE,
                wanted.google_id,
                name,
                wanted.reason,
                attributes=wanted.attributes,
            )
            return None
        if object_id in held:
            self.warnings.append(
                f"{kind.resource} name {name} is held by another managed {kind.resource}; "
                "not synced this run"
            )
            return False
        self._add(
            kind,
            Action.ADOPT,
            wanted.google_id,
            existing[object_id].name,
            f"an Identity Center {kind.resource} already has this name",
            object_id=object_id,
        )
        return object_id

    def _plan_update(
        self,
        kind: _Kind,
        wanted: _Desired,
        object_id: str,
        current: Attributes,
        by_name: Mapping[str, str],
    ) -> None:
        changes = kind.changes(current, wanted.attributes)
        if not changes:
            return
        holder = by_name.get(wanted.attributes.name.lower())
        if holder is not None and holder != object_id:
            self.warnings.append(
                f"cannot rename {kind.resource} {current.name} to {wanted.attributes.name}: "
                f"another Identity Center {kind.resource} has that name"
            )
            return
        renamed = current.name != wanted.attributes.name
        self._add(
            kind,
            Action.UPDATE,
            wanted.google_id,
            current.name,
            kind.rename_reason if renamed else kind.update_reason,
            object_id=object_id,
            attributes=wanted.attributes,
            changes=changes,
            before=kind.changes(wanted.attributes, current),
        )

    def _plan_removals(
        self,
        kind: _Kind,
        keep: Set[str],
        existing: Mapping[str, Attributes],
        recorded: Mapping[str, str],
    ) -> None:
        for google_id, object_id in sorted(recorded.items()):
            if google_id in keep:
                continue
            current = existing.get(object_id)
            if current is None:
                self._add(
                    kind,
                    Action.FORGET,
                    google_id,
                    object_id,
                    "deleted outside sso-sync",
                    object_id=object_id,
                )
            elif kind.is_protected(current.name):
                self._add(
                    kind,
                    Action.FORGET,
                    google_id,
                    current.name,
                    "protected by the rules file",
                    object_id=object_id,
                )
            else:
                self._add(
                    kind,
                    Action.DELETE,
                    google_id,
                    current.name,
                    kind.removal_reason(google_id),
                    object_id=object_id,
                )

    def _add(
        self, kind: _Kind, action: Action, google_id: str, name: str, reason: str, **details: Any
    ) -> None:
        sensitive = self._sensitive if kind.resource == "user" else ()
        self.operations.append(
            PrincipalOperation(
                kind.resource, action, google_id, name, reason, sensitive=sensitive, **details
            )
        )

    @property
    def _sensitive(self) -> tuple[str, ...]:
        mapping = self.rules.attributes
        return tuple(sorted(mapping.sensitive)) if mapping else ()

    # --- memberships --------------------------------------------------------------------

    def _plan_memberships(
        self, groups: Mapping[str, str | None], users: Mapping[str, str | None]
    ) -> int:
        """Plan the memberships of managed users in managed groups; return how many exist.

        Memberships of anyone else, even in a managed group, are not the sync's to touch.
        """
        if self.scope is not None:
            users = self._unread_managed_users() | users
        google_id_of_user = {user_id: gid for gid, user_id in users.items() if user_id}
        user_names = {
            gid: self.google.users[gid].primary_email
            if gid in self.google.users
            else self.google.known_emails.get(gid, gid)
            for gid in users
        }
        by_group: dict[str, list[IdcMembership]] = {}
        for membership in self.idc.memberships:
            by_group.setdefault(membership.group_id, []).append(membership)
        managed_count = 0
        for google_group in self.google.groups:
            if google_group.id not in groups:
                continue
            group_id = groups[google_group.id]
            current = {
                google_id_of_user[membership.user_id]: membership.membership_id
                for membership in by_group.get(group_id or "", [])
                if membership.user_id in google_id_of_user
            }
            managed_count += len(current)
            wanted = {uid for uid in google_group.member_ids if uid in users}
            group_name = group_attributes(google_group).name
            joined = f"member of {google_group.email} in Google"  # one string for all members
            for uid in _by_name(wanted - current.keys(), user_names):
                self.operations.append(
                    MembershipOperation(
                        Action.CREATE, google_group.id, group_name, uid, user_names[uid], joined
                    )
                )
            left = f"no longer a member of {google_group.email} in Google"
            for uid in _by_name(current.keys() - wanted, user_names):
                self.operations.append(
                    MembershipOperation(
                        Action.DELETE,
                        google_group.id,
                        group_name,
                        uid,
                        user_names[uid],
                        left,
                        membership_id=current[uid],
                    )
                )
        return managed_count

    def _unread_managed_users(self) -> dict[str, str]:
        """Managed users the slice did not re-read: unchanged, so still managed."""
        assert self.scope is not None
        return {
            uid: user_id for uid, user_id in self.state.users.items() if uid not in self.scope.users
        }


def _by_name(google_ids: Iterable[str], names: Mapping[str, str]) -> list[str]:
    return sorted(google_ids, key=lambda uid: names[uid])
