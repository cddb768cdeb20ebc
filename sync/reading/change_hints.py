"""Which users and groups Google's change events name. The events are hints: a delta run
re-reads what they name from the Directory API, which stays the truth."""

from collections.abc import Iterable
from dataclasses import dataclass

from sync.model import ActivityEvent

# Admin console and Directory API events (applicationName=admin). Names Google may add or
# rename only cost a missed hint: the full reconcile still catches the change.
USER_EVENTS = {
    "CREATE_USER",
    "DELETE_USER",
    "UNDELETE_USER",
    "SUSPEND_USER",
    "UNSUSPEND_USER",
    "ARCHIVE_USER",
    "UNARCHIVE_USER",
    "RENAME_USER",
    "CHANGE_FIRST_NAME",
    "CHANGE_LAST_NAME",
}
GROUP_EVENTS = {"CREATE_GROUP", "DELETE_GROUP", "CHANGE_GROUP_EMAIL", "CHANGE_GROUP_NAME"}
MEMBER_EVENTS = {"ADD_GROUP_MEMBER", "REMOVE_GROUP_MEMBER", "UPDATE_GROUP_MEMBER"}
# Google Groups events (applicationName=groups_enterprise) that change who is a member
# (Reports API, Enterprise Groups Audit Activity Events). They name the group by `group_id`,
# "Identifier of the target group": an email, an alias, the unique id or groups/<id>.
GROUPS_UI_MEMBER_EVENTS = {
    "add_member",
    "remove_member",
    "accept_invitation",
    "approve_join_request",
    "join",
    "ban_member_with_moderation",
}


@dataclass(frozen=True)
class ChangeHints:
    users: frozenset[str] = frozenset()
    """Addresses of users whose own record changed (created, suspended, renamed, deleted...)."""
    groups: frozenset[str] = frozenset()
    """Groups whose record or membership changed, by email or by Google's group id (any key
    groups.get takes)."""

    def __bool__(self) -> bool:
        return bool(self.users or self.groups)

    def with_groups(self, groups: frozenset[str]) -> "ChangeHints":
        return ChangeHints(self.users, self.groups | groups) if groups else self


def hints_from(events: Iterable[ActivityEvent]) -> ChangeHints:
    users: set[str] = set()
    groups: set[str] = set()
    for event in events:
        parameters = event.parameters
        if event.application == "groups_enterprise":
            if event.name in GROUPS_UI_MEMBER_EVENTS:
                groups.add(parameters.get("group_id", "").removeprefix("groups/"))
        elif event.name in USER_EVENTS:
            users.update((parameters.get("USER_EMAIL", ""), parameters.get("NEW_VALUE", "")))
        elif event.name in GROUP_EVENTS:
            groups.update((parameters.get("GROUP_EMAIL", ""), parameters.get("NEW_VALUE", "")))
        elif event.name in MEMBER_EVENTS:
            # Re-reading the group settles the member too.
            groups.add(parameters.get("GROUP_EMAIL", ""))
    return ChangeHints(
        frozenset(u.lower() for u in users if "@" in u),
        frozenset(_group_key(g) for g in groups if g),
    )


def _group_key(key: str) -> str:
    """Emails compare in lower case; a group id is kept as Google wrote it."""
    return key.lower() if "@" in key else key
