"""Reads Google Workspace users and the synced groups' members through the Directory API.

The read is all or nothing: any error that survives the retries raises ReadError, so the run
stops before a single write. Members are read with includeDerivedMembership, so nested groups
arrive flattened.
"""

import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from google.auth.credentials import Credentials
from googleapiclient.errors import HttpError

from sync.errors import ConfigError
from sync.google.api import GoogleApi, configured_credentials, google_errors, is_not_found
from sync.google.user_fields import custom_schema_read, read_fields
from sync.model import GoogleGroup, GoogleSnapshot, GoogleUser
from sync.rules.model import GroupSelector
from sync.settings import Settings

log = logging.getLogger(__name__)

DIRECTORY_SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
)
SCOPES_HINT = "the three admin.directory read-only scopes"
USERS_PAGE = 500
GROUPS_PAGE = 200
MEMBERS_PAGE = 200
NO_ALIASES: frozenset[str] = frozenset()  # shared: most users have none


class GoogleDirectoryReader:
    """The Directory API reads the sync needs: the whole directory for a full run, single users
    and groups for a delta run."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        customer_id: str = "my_customer",
        api_endpoint: str | None = None,
        retry_attempts: int = 6,
        retry_max_wait: float = 60.0,
        concurrency: int = 4,
    ) -> None:
        self._api = GoogleApi(
            credentials,
            ("admin", "directory_v1"),
            api_endpoint=api_endpoint,
            retry_attempts=retry_attempts,
            retry_max_wait=retry_max_wait,
        )
        self._customer_id = customer_id
        self._concurrency = concurrency
        self._fields: tuple[str, ...] = ()
        self.calls = self._api.calls

    def read_fields_too(self, paths: Sequence[str]) -> None:
        """Also read these user fields (the rules' attributes), and the custom schemas they
        name (and no others)."""
        self._fields = tuple(paths)

    def read(self, selectors: Sequence[GroupSelector]) -> GoogleSnapshot:
        """Every user, and every synced group with its flattened members."""
        with google_errors("reading Google Workspace", SCOPES_HINT):
            return self._read(selectors)

    def _read(self, selectors: Sequence[GroupSelector]) -> GoogleSnapshot:
        users = {user.id: user for user in self._users()}
        selected: dict[str, tuple[dict, str]] = {}
        for raw, display_name in self._synced_groups(selectors):
            selected.setdefault(raw["id"], (raw, display_name))
        # One member listing per group: many small reads, side by side.
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="google") as pool:
            listings = list(
                pool.map(lambda item: self._member_ids(item[0], users), selected.values())
            )
        groups = tuple(
            GoogleGroup(
                id=raw["id"],
                email=raw["email"],
                name=raw.get("name", ""),
                display_name=display_name,
                member_ids=frozenset(member_ids),
                nested_ids=frozenset(nested_ids),
            )
            for (raw, display_name), (member_ids, nested_ids, _) in zip(
                selected.values(), listings, strict=True
            )
        )
        warnings = outside_member_warnings(pair for _, _, found in listings for pair in found)
        return GoogleSnapshot(users=users, groups=groups, warnings=warnings)

    # --- single reads, for a delta run (the caller handles errors with google_errors) -----

    def user(self, key: str) -> GoogleUser | None:
        """One user by id, primary email or alias; None when Google has no such user."""
        try:
            request = self._api.service.users().get(userKey=key, **custom_schema_read(self._fields))
            raw = self._api.execute("users.get", request)
        except HttpError as error:
            if is_not_found(error):
                return None
            raise
        return _user(raw, self._fields)

    def group(self, key: str) -> dict | None:
        """One group by id, email or alias; None when Google has no such group."""
        try:
            return self._api.execute("groups.get", self._api.service.groups().get(groupKey=key))
        except HttpError as error:
            if is_not_found(error):
                return None
            raise

    def groups_of(self, user_key: str) -> list[dict]:
        """The groups a user is a direct member of."""
        pages = self._api.pages(
            "groups.list",
            lambda token: self._api.service.groups().list(
                userKey=user_key, maxResults=GROUPS_PAGE, pageToken=token
            ),
        )
        return [raw for page in pages for raw in page.get("groups", [])]

    def member_rows(self, group_id: str) -> Iterator[dict]:
        """A group's members, nested groups flattened (includeDerivedMembership), page by page
        as they arrive (a 50,000-member group is never held whole)."""
        pages = self._api.pages(
            "members.list",
            lambda token: self._api.service.members().list(
                groupKey=group_id,
                includeDerivedMembership=True,
                maxResults=MEMBERS_PAGE,
                pageToken=token,
            ),
        )
        for page in pages:
            yield from page.get("members", [])

    def active_addresses(self) -> frozenset[str]:
        """Every address (primary and aliases, lower case) of the active users."""
        with google_errors("reading Google Workspace users", SCOPES_HINT):
            return frozenset(
                address
                for user in self._users()
                if user.active
                for address in (user.primary_email.lower(), *user.aliases)
            )

    # --- the full read ---------------------------------------------------------------------

    def _users(self) -> Iterator[GoogleUser]:
        pages = self._api.pages(
            "users.list",
            lambda token: self._api.service.users().list(
                customer=self._customer_id,
                maxResults=USERS_PAGE,
                pageToken=token,
                **custom_schema_read(self._fields),
            ),
        )
        for page in pages:
            for raw in page.get("users", []):
                yield _user(raw, self._fields)

    def _synced_groups(self, selectors: Sequence[GroupSelector]) -> Iterator[tuple[dict, str]]:
        """The groups the selectors name, from one listing of every group (a page per 200):
        Google's group search (groups.list query=) can take 36 hours to show a new or renamed
        group, so queries are matched here, and named groups found by email or alias."""
        every = list(self._all_groups())
        by_address = {
            address.lower(): raw
            for raw in every
            for address in (
                raw["email"],
                *raw.get("aliases", []),
                *raw.get("nonEditableAliases", []),
            )
        }
        for index, selector in enumerate(selectors):
            if selector.email is not None:
                raw = by_address.get(selector.email.lower())
                if raw is None:
                    raise ConfigError(
                        f"{selector.place or 'rules'}: sync.groups item {index + 1}: the rules "
                        f"file syncs {selector.email}, but Google has no such group (check the "
                        "address, or remove the entry)"
                    )
                yield raw, selector.name or raw["email"]
                continue
            matched = [raw for raw in every if selector.matches(raw["email"], raw.get("name", ""))]
            if not matched:
                log.warning("group query %r matched no Google group", selector.query)
            for raw in matched:
                yield raw, raw["email"]

    def _all_groups(self) -> Iterator[dict]:
        """Every group of the customer."""
        pages = self._api.pages(
            "groups.list",
            lambda token: self._api.service.groups().list(
                customer=self._customer_id, maxResults=GROUPS_PAGE, pageToken=token
            ),
        )
        for page in pages:
            yield from page.get("groups", [])

    def _member_ids(
        self, group: dict, users: dict[str, GoogleUser]
    ) -> tuple[set[str], set[str], list[tuple[str, dict]]]:
        """Directory users who are members, the groups nested in it, and a warning for each
        member who is not a directory user."""
        member_ids: set[str] = set()
        nested_ids: set[str] = set()
        outside: list[tuple[str, dict]] = []
        for member in self.member_rows(group["id"]):
            kind = member.get("type")
            if kind == "GROUP":
                nested_ids.add(member["id"])  # its members are listed too (derived)
                continue
            if kind == "CUSTOMER":
                member_ids.update(users)
            elif kind == "USER" and member.get("id") in users:
                member_ids.add(sys.intern(member["id"]))  # shared with the user's own id
            else:
                outside.append((group["email"], member))
        return member_ids, nested_ids, outside


def outside_member_warnings(found: Iterable[tuple[str, dict]]) -> tuple[str, ...]:
    """A warning per address outside the directory, naming every group it is a member of
    (a nested group's outsider is listed in the outer group too)."""
    groups: dict[str, set[str]] = {}
    for group_email, member in found:
        groups.setdefault(member.get("email", member.get("id", "?")), set()).add(group_email)
    return tuple(
        f"member {address} of {', '.join(sorted(emails))} is not a user of this directory; skipped"
        for address, emails in sorted(groups.items())
    )


def _user(raw: dict[str, Any], fields: Sequence[str] = ()) -> GoogleUser:
    name = raw.get("name", {})
    email = raw["primaryEmail"]
    addresses = {e.get("address", "").lower() for e in raw.get("emails", [])}
    addresses |= {a.lower() for a in raw.get("aliases", [])}
    addresses |= {a.lower() for a in raw.get("nonEditableAliases", [])}
    others = addresses - {email.lower(), ""}
    return GoogleUser(
        id=sys.intern(raw["id"]),
        primary_email=email,
        given_name=name.get("givenName", ""),
        family_name=name.get("familyName", ""),
        full_name=name.get("fullName", ""),
        suspended=bool(raw.get("suspended", False)),
        archived=bool(raw.get("archived", False)),
        aliases=frozenset(others) if others else NO_ALIASES,
        fields=read_fields(raw, fields) if fields else (),
    )


def connect_google(settings: Settings) -> GoogleDirectoryReader:
    """A reader for the configured Workspace, with credentials from a file or a secret."""
    return GoogleDirectoryReader(
        configured_credentials(settings, DIRECTORY_SCOPES),
        customer_id=settings.google_customer_id,
        api_endpoint=settings.google_api_endpoint,
        retry_attempts=settings.retry_attempts,
        retry_max_wait=settings.retry_max_wait,
    )
