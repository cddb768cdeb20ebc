"""The planner: a pure function from both snapshots, the state and the rules to a Plan.

No I/O, no clock, no randomness. Ownership lives here: the sync acts only on objects recorded
in the state (or adopted in this plan), never on protected or hand-made ones.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sync.model import (
    GoogleGroup,
    GoogleSnapshot,
    GoogleUser,
    GroupAttributes,
    IdcGroup,
    IdcUser,
    IdentityCenterSnapshot,
    UserAttributes,
)
from sync.plan import Action, GroupOperation, MembershipOperation, Operation, Plan, UserOperation
from sync.rules import Rules
from sync.state import State

MANAGED_DESCRIPTION = "Managed by sso-sync from Google group {email}"


def user_attributes(user: GoogleUser) -> UserAttributes:
    given = user.given_name or user.primary_email.split("@")[0]
    family = user.family_name or "-"
    return UserAttributes(
        user_name=user.primary_email,
        display_name=user.full_name or f"{given} {family}",
        given_name=given,
        family_name=family,
        email=user.primary_email,
    )


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


def build_plan(
    google: GoogleSnapshot, idc: IdentityCenterSnapshot, state: State, rules: Rules
) -> Plan:
    return _Planner(google, idc, state, rules).plan()


@dataclass
class _Planner:
    google: GoogleSnapshot
    idc: IdentityCenterSnapshot
    state: State
    rules: Rules
    operations: list[Operation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Google id -> the Identity Center object it is managed as (None: created by this plan).
    users: dict[str, IdcUser | None] = field(default_factory=dict)
    groups: dict[str, IdcGroup | None] = field(default_factory=dict)

    def plan(self) -> Plan:
        self.warnings.extend(self.google.warnings)
        self._plan_groups()
        self._plan_users()
        managed_memberships = self._plan_memberships()
        managed = Counter(
            user=len(self.state.users),
            group=len(self.state.groups),
            membership=managed_memberships,
        )
        return Plan(tuple(self.operations), tuple(self.warnings), managed)

    # --- users --------------------------------------------------------------------------

    def _in_scope_users(self) -> dict[str, GoogleUser]:
        """Active directory users who are members of at least one synced group."""
        member_ids = {uid for group in self.google.groups for uid in group.member_ids}
        return {
            uid: self.google.users[uid]
            for uid in sorted(member_ids, key=lambda uid: self.google.users[uid].primary_email)
            if self.google.users[uid].active
        }

    def _plan_users(self) -> None:
        by_id = {user.user_id: user for user in self.idc.users}
        by_name = {user.attributes.user_name.lower(): user for user in self.idc.users}
        recorded = set(self.state.users.values())
        in_scope = self._in_scope_users()
        for google_id, google_user in in_scope.items():
            desired = user_attributes(google_user)
            current = by_id.get(self.state.users.get(google_id, ""))
            if current is None:
                candidate = by_name.get(desired.user_name.lower())
                if candidate is None:
                    self.operations.append(
                        UserOperation(
                            Action.CREATE,
                            google_id,
                            desired.user_name,
                            "active member of a synced Google group",
                            attributes=desired,
                        )
                    )
                    self.users[google_id] = None
                    continue
                blocker = _adoption_blocker(
                    "user",
                    candidate.attributes.user_name,
                    candidate.user_id in recorded,
                    self.rules.is_protected_user(candidate.attributes.user_name),
                )
                if blocker:
                    self.warnings.append(blocker)
                    continue
                self.operations.append(
                    UserOperation(
                        Action.ADOPT,
                        google_id,
                        candidate.attributes.user_name,
                        "an Identity Center user already has this Google user's primary email",
                        user_id=candidate.user_id,
                    )
                )
                current = candidate
            elif self.rules.is_protected_user(current.attributes.user_name):
                self.warnings.append(
                    f"user {current.attributes.user_name} is protected by the rules file; "
                    "left untouched"
                )
                continue
            self.users[google_id] = current
            self._plan_user_update(google_id, current, desired, by_name)
        self._plan_user_removals(in_scope, by_id)

    def _plan_user_update(
        self,
        google_id: str,
        current: IdcUser,
        desired: UserAttributes,
        by_name: Mapping[str, IdcUser],
    ) -> None:
        changes = user_changes(current.attributes, desired)
        if not changes:
            return
        holder = by_name.get(desired.user_name.lower())
        if holder is not None and holder.user_id != current.user_id:
            self.warnings.append(
                f"cannot rename {current.attributes.user_name} to {desired.user_name}: "
                "another Identity Center user has that name"
            )
            return
        renamed = current.attributes.user_name != desired.user_name
        self.operations.append(
            UserOperation(
                Action.UPDATE,
                google_id,
                current.attributes.user_name,
                "primary email changed in Google" if renamed else "attributes changed in Google",
                user_id=current.user_id,
                attributes=desired,
                changes=changes,
            )
        )

    def _plan_user_removals(
        self, in_scope: Mapping[str, GoogleUser], by_id: Mapping[str, IdcUser]
    ) -> None:
        for google_id, user_id in sorted(self.state.users.items()):
            if google_id in in_scope:
                continue
            current = by_id.get(user_id)
            if current is None:
                self.operations.append(
                    UserOperation(
                        Action.FORGET,
                        google_id,
                        user_id,
                        "deleted outside sso-sync",
                        user_id=user_id,
                    )
                )
                continue
            name = current.attributes.user_name
            if self.rules.is_protected_user(name):
                reason, action = "protected by the rules file", Action.FORGET
            else:
                reason, action = self._why_out_of_scope(google_id), Action.DELETE
            self.operations.append(UserOperation(action, google_id, name, reason, user_id=user_id))

    def _why_out_of_scope(self, google_id: str) -> str:
        user = self.google.users.get(google_id)
        if user is None:
            return "deleted from Google Workspace"
        if user.suspended:
            return "suspended in Google Workspace"
        if user.archived:
            return "archived in Google Workspace"
        return "no longer a member of any synced Google group"

    # --- groups -------------------------------------------------------------------------

    def _plan_groups(self) -> None:
        by_id = {group.group_id: group for group in self.idc.groups}
        by_name = {group.attributes.display_name.lower(): group for group in self.idc.groups}
        recorded = set(self.state.groups.values())
        seen_names: dict[str, str] = {}
        for google_group in self.google.groups:
            desired = group_attributes(google_group)
            other = seen_names.setdefault(desired.display_name.lower(), google_group.email)
            if other != google_group.email:
                self.warnings.append(
                    f"{google_group.email} and {other} both map to the Identity Center name "
                    f"{desired.display_name}; {google_group.email} not synced"
                )
                continue
            current = by_id.get(self.state.groups.get(google_group.id, ""))
            if current is None:
                candidate = by_name.get(desired.display_name.lower())
                if candidate is None:
                    self.operations.append(
                        GroupOperation(
                            Action.CREATE,
                            google_group.id,
                            desired.display_name,
                            f"synced from Google group {google_group.email}",
                            attributes=desired,
                        )
                    )
                    self.groups[google_group.id] = None
                    continue
                name = candidate.attributes.display_name
                blocker = _adoption_blocker(
                    "group",
                    name,
                    candidate.group_id in recorded,
                    self.rules.is_protected_group(name),
                )
                if blocker:
                    self.warnings.append(blocker)
                    continue
                self.operations.append(
                    GroupOperation(
                        Action.ADOPT,
                        google_group.id,
                        name,
                        f"an Identity Center group already has the name mapped from "
                        f"{google_group.email}",
                        group_id=candidate.group_id,
                    )
                )
                current = candidate
            elif self.rules.is_protected_group(current.attributes.display_name):
                self.warnings.append(
                    f"group {current.attributes.display_name} is protected; left untouched"
                )
                continue
            self.groups[google_group.id] = current
            self._plan_group_update(google_group, current, desired, by_name)
        self._plan_group_removals(by_id)

    def _plan_group_update(
        self,
        google_group: GoogleGroup,
        current: IdcGroup,
        desired: GroupAttributes,
        by_name: Mapping[str, IdcGroup],
    ) -> None:
        changes = group_changes(current.attributes, desired)
        if not changes:
            return
        holder = by_name.get(desired.display_name.lower())
        if holder is not None and holder.group_id != current.group_id:
            self.warnings.append(
                f"cannot rename group {current.attributes.display_name} to "
                f"{desired.display_name}: another group has that name"
            )
            return
        renamed = current.attributes.display_name != desired.display_name
        self.operations.append(
            GroupOperation(
                Action.UPDATE,
                google_group.id,
                current.attributes.display_name,
                "renamed" if renamed else "description differs from the managed one",
                group_id=current.group_id,
                attributes=desired,
                changes=changes,
            )
        )

    def _plan_group_removals(self, by_id: Mapping[str, IdcGroup]) -> None:
        synced = {group.id for group in self.google.groups}
        for google_id, group_id in sorted(self.state.groups.items()):
            if google_id in synced:
                continue
            current = by_id.get(group_id)
            if current is None:
                self.operations.append(
                    GroupOperation(
                        Action.FORGET,
                        google_id,
                        group_id,
                        "deleted outside sso-sync",
                        group_id=group_id,
                    )
                )
                continue
            name = current.attributes.display_name
            if self.rules.is_protected_group(name):
                reason, action = "protected by the rules file", Action.FORGET
            else:
                reason, action = (
                    "no longer synced from Google (deleted or out of the rules)",
                    (Action.DELETE),
                )
            self.operations.append(
                GroupOperation(action, google_id, name, reason, group_id=group_id)
            )

    # --- memberships --------------------------------------------------------------------

    def _plan_memberships(self) -> int:
        """Plan membership changes of managed groups; return how many the sync manages now."""
        google_id_of_user = {
            current.user_id: google_id
            for google_id, current in self.users.items()
            if current is not None
        }
        user_names = {
            google_id: user_attributes(self.google.users[google_id]).user_name
            for google_id in self.users
        }
        managed_count = 0
        for google_group in self.google.groups:
            if google_group.id not in self.groups:
                continue
            current_group = self.groups[google_group.id]
            current: dict[str, str] = {}
            if current_group is not None:
                for membership in self.idc.memberships:
                    if membership.group_id != current_group.group_id:
                        continue
                    member = google_id_of_user.get(membership.user_id)
                    if member is not None:
                        current[member] = membership.membership_id
            managed_count += len(current)
            desired = {uid for uid in google_group.member_ids if uid in self.users}
            name = group_attributes(google_group).display_name
            for uid in _by_name(desired - current.keys(), user_names):
                self.operations.append(
                    MembershipOperation(
                        Action.CREATE,
                        google_group.id,
                        name,
                        uid,
                        user_names[uid],
                        f"member of {google_group.email} in Google",
                    )
                )
            for uid in _by_name(current.keys() - desired, user_names):
                self.operations.append(
                    MembershipOperation(
                        Action.DELETE,
                        google_group.id,
                        name,
                        uid,
                        user_names[uid],
                        f"no longer a member of {google_group.email} in Google",
                        membership_id=current[uid],
                    )
                )
        return managed_count


def _adoption_blocker(kind: str, name: str, held: bool, protected: bool) -> str | None:
    """Why an existing object with the wanted name cannot be adopted, if it cannot."""
    if held:
        return f"{kind} name {name} is held by another managed {kind}; not synced this run"
    if protected:
        return f"{kind} {name} exists and is protected by the rules file; not adopted"
    return None


def _by_name(google_ids: Iterable[str], names: Mapping[str, str]) -> list[str]:
    return sorted(google_ids, key=lambda uid: names[uid])
