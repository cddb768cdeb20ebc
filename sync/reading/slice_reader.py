"""Reads what a delta run reconciles: the users and groups Google's change events name, fresh
from the Directory API, and their counterparts in Identity Center.

Only groups the sync already manages are re-read (a newly synced group arrives with the full
sync, together with its permission sets). A change inside a nested group re-reads the managed
groups it is nested in, found in the nesting the last full sync recorded (Google's groups.list
takes a user, not a group); a user who is back (created, unsuspended, undeleted) brings the
managed groups they belong to. Whatever Google no longer has is found through its Identity
Center name and the state.
"""

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from sync.aws.identity_store import IdentityStore
from sync.errors import ReadError
from sync.google.api import google_errors
from sync.google.directory import SCOPES_HINT, GoogleDirectoryReader, outside_member_warnings
from sync.model import (
    GoogleGroup,
    GoogleSnapshot,
    GoogleUser,
    IdcMembership,
    IdentityCenterSnapshot,
    State,
)
from sync.planning.identity_planner import Scope
from sync.reading.change_hints import ChangeHints
from sync.rules.model import Rules

Found = TypeVar("Found")


@dataclass(frozen=True)
class Slice:
    google: GoogleSnapshot
    idc: IdentityCenterSnapshot
    scope: Scope
    rechecks: frozenset[str]
    """Ids of nested groups whose change reached a synced group: Google may take 10 minutes
    to show it in the parent's derived membership, so later runs read them again."""


def read_slice(
    directory: GoogleDirectoryReader,
    store: IdentityStore,
    state: State,
    rules: Rules,
    hints: ChangeHints,
    concurrency: int = 4,
) -> Slice:
    with google_errors("reading Google Workspace", SCOPES_HINT):
        names = _display_names(rules)
        google, gone_users, gone_groups, rechecks = _read_google(
            directory, state, names, hints, concurrency
        )
    groups_gone = _recorded_ids(
        state.groups, store.group_id_named, (names.get(a, a) for a in gone_groups)
    ) | frozenset(key for key in gone_groups if key in state.groups)  # named by Google id
    scope_groups = frozenset(group.id for group in google.groups) | groups_gone
    groups, memberships = store.read_groups(
        {state.groups[gid] for gid in scope_groups if gid in state.groups},
        {group.display_name for group in google.groups},
    )
    departing = _departing(google, memberships, state)
    with google_errors("reading Google Workspace", SCOPES_HINT):
        departed = {gid: directory.user(gid) for gid in sorted(departing)}
    users = dict(google.users) | {gid: u for gid, u in departed.items() if u is not None}
    scope_users = (
        frozenset(users)
        | frozenset(departing)
        | _recorded_ids(state.users, store.user_id_named, gone_users)
    )
    idc_users = store.read_users(
        {state.users[gid] for gid in scope_users if gid in state.users},
        {user.primary_email for user in users.values() if user.active},
    )
    scope = Scope(
        scope_users,
        scope_groups,
        _in_groups_elsewhere(store, state, scope_users, users, {g.group_id for g in groups}),
    )
    google = GoogleSnapshot(users, google.groups, google.warnings, google.known_emails)
    return Slice(google, IdentityCenterSnapshot(idc_users, groups, memberships), scope, rechecks)


def _departing(
    google: GoogleSnapshot, memberships: tuple[IdcMembership, ...], state: State
) -> set[str]:
    """Managed users not yet in the slice who left one of its groups: they may have left the
    last synced group they were in."""
    google_id_of = {user_id: gid for gid, user_id in state.users.items()}
    group_google_id = {object_id: gid for gid, object_id in state.groups.items()}
    members = {group.id: group.member_ids for group in google.groups}
    return {
        google_id_of[m.user_id]
        for m in memberships
        if m.user_id in google_id_of
        and google_id_of[m.user_id] not in members.get(group_google_id.get(m.group_id, ""), ())
    } - google.users.keys()


def _in_groups_elsewhere(
    store: IdentityStore,
    state: State,
    scope_users: frozenset[str],
    users: dict[str, GoogleUser],
    slice_group_ids: set[str],
) -> frozenset[str]:
    """Managed, active users of the slice who are members of a managed group outside it (so
    still in a synced group, as far as the last sync knows)."""
    checked = {
        state.users[gid]: gid
        for gid in scope_users
        if gid in state.users and gid in users and users[gid].active
    }
    managed_groups = set(state.groups.values()) - slice_group_ids
    groups_of = store.groups_of(set(checked))
    return frozenset(
        checked[user_id] for user_id, group_ids in groups_of.items() if group_ids & managed_groups
    )


def _read_google(
    directory: GoogleDirectoryReader,
    state: State,
    names: dict[str, str],
    hints: ChangeHints,
    concurrency: int,
) -> tuple[GoogleSnapshot, list[str], list[str], frozenset[str]]:
    """The slice's Google snapshot, the user and group addresses Google no longer has, and the
    nested groups to read again later."""
    found_users, gone_users = _found_and_gone(directory.user, hints.users)
    users = {user.id: user for user in found_users}
    candidates, gone_groups = _found_and_gone(directory.group, hints.groups)
    for user in list(users.values()):
        if user.active and user.id not in state.users:
            candidates.extend(directory.groups_of(user.id))
    warnings: list[str] = []
    outside: list[tuple[str, dict]] = []
    groups = _managed_among(directory, candidates, state)
    rechecks = frozenset(raw["id"] for raw in candidates if raw["id"] in state.nesting)
    with ThreadPoolExecutor(concurrency, thread_name_prefix="google") as pool:
        listings = list(
            pool.map(lambda raw: list(directory.member_rows(raw["id"])), groups.values())
        )
    snapshot_groups, known_emails = [], {}
    for raw, rows in zip(groups.values(), listings, strict=True):
        if any(row.get("type") == "CUSTOMER" for row in rows):
            warnings.append(
                f"{raw['email']} has the whole domain as a member; left to the full sync"
            )
            continue
        member_ids = set()
        nested_ids = frozenset(row["id"] for row in rows if row.get("type") == "GROUP")
        for row in (row for row in rows if row.get("type") == "USER"):  # nested: flattened
            member_id = row.get("id", "")
            if member_id not in users and member_id not in state.users:
                # Not managed yet: a new member to create, or an address outside the directory.
                found = directory.user(member_id)
                if found is None:
                    outside.append((raw["email"], row))
                    continue
                users[found.id] = found
            member_ids.add(member_id)
            known_emails[member_id] = row.get("email", member_id)
        snapshot_groups.append(
            GoogleGroup(
                id=raw["id"],
                email=raw["email"],
                name=raw.get("name", ""),
                display_name=names.get(raw["email"].lower(), raw["email"]),
                member_ids=frozenset(member_ids),
                nested_ids=nested_ids,
            )
        )
    warnings += outside_member_warnings(outside)
    snapshot = GoogleSnapshot(users, tuple(snapshot_groups), tuple(warnings), known_emails)
    return snapshot, gone_users, gone_groups, rechecks


def _found_and_gone(
    read: Callable[[str], Found | None], addresses: Iterable[str]
) -> tuple[list[Found], list[str]]:
    """What Google has for these addresses, and the addresses it has nothing for."""
    found, gone = [], []
    for address in sorted(addresses):
        item = read(address)
        if item is None:
            gone.append(address)
        else:
            found.append(item)
    return found, gone


def _managed_among(
    directory: GoogleDirectoryReader, candidates: list[dict], state: State
) -> dict[str, dict]:
    """The managed groups among the candidates and the managed groups they are nested in
    (whose flattened membership changes with theirs), by the recorded nesting."""
    managed = {raw["id"]: raw for raw in candidates if raw["id"] in state.groups}
    parents = {
        parent
        for raw in candidates
        for parent in state.nesting.get(raw["id"], ())
        if parent in state.groups and parent not in managed
    }
    for parent in sorted(parents):
        raw = directory.group(parent)
        if raw is not None:  # gone since: the full sync settles it
            managed[parent] = raw
    return managed


def _display_names(rules: Rules) -> dict[str, str]:
    """Group email (lower case) -> Identity Center DisplayName, for groups the rules rename."""
    return {
        selector.email.lower(): selector.name or selector.email
        for selector in rules.sync.groups
        if selector.email is not None
    }


def _recorded_ids(
    recorded: dict[str, str], id_named: Callable[[str], str | None], names: Iterable[str]
) -> frozenset[str]:
    """Google ids, from the state, of the Identity Center objects with these names."""
    google_id_of = {object_id: google_id for google_id, object_id in recorded.items()}
    try:
        found = [id_named(name) for name in names]
    except (ClientError, BotoCoreError) as error:
        raise ReadError(f"reading the identity store failed: {error}") from error
    return frozenset(google_id_of[i] for i in found if i is not None and i in google_id_of)
