"""The least work a sync needs, computed from the generated directory alone, never from what the
sync did: the writes that must happen and the listing pages that must be read, at the page
sizes the APIs allow. A sync that wastes a call shows as calls ÷ bound above 1.

Page sizes: Identity Store List* take at most 100 results (botocore's model: MaxResults
1-100); Directory API users.list at most 500, groups.list and members.list at most 200
(shared/FACTS.md). AWS deletes a user's group memberships with the user (moto does not:
shared/FACTS.md), so leaving costs one DeleteUser.
"""

import math
from dataclasses import dataclass

from sync.local.google_directory import GoogleDirectoryEmulator

IDENTITY_STORE_PAGE = 100
USERS_PAGE, GROUPS_PAGE, MEMBERS_PAGE = 500, 200, 200


@dataclass(frozen=True)
class Desired:
    """What Identity Center must hold for a directory: synced group email -> the emails of
    its active members (nested groups flattened), and the users in any of them."""

    groups: dict[str, frozenset[str]]

    @property
    def users(self) -> frozenset[str]:
        return frozenset().union(*self.groups.values()) if self.groups else frozenset()

    @property
    def memberships(self) -> set[tuple[str, str]]:
        return {(group, user) for group, users in self.groups.items() for user in users}


EMPTY = Desired({})


@dataclass(frozen=True)
class Work:
    google_calls: int
    aws_reads: int
    aws_writes: int

    @property
    def aws_calls(self) -> int:
        return self.aws_reads + self.aws_writes

    def seconds(self, google_rate: float, aws_rate: float) -> float:
        """The shortest possible run: AWS calls at AWS's rate, and no write before Google is
        read (Google and AWS are read side by side)."""
        return max(
            self.google_calls / google_rate + self.aws_writes / aws_rate,
            self.aws_calls / aws_rate,
        )


def desired(google: GoogleDirectoryEmulator, synced: list[str]) -> Desired:
    groups = {}
    for email in synced:
        group = google.group_by_email(email)
        groups[email] = frozenset(
            member.email.lower()
            for member in google._flattened(group, set())
            if member.type == "USER"
            and (user := google.users.get(member.id)) is not None
            and not (user.suspended or user.archived)
        )
    return Desired(groups)


def required_work(
    google: GoogleDirectoryEmulator, synced: list[str], before: Desired
) -> tuple[Work, Desired]:
    """The work of a sync from `before` (what Identity Center holds) to this directory, and
    what Identity Center holds after it."""
    after = desired(google, synced)
    google_calls = (
        _pages(len(google.users), USERS_PAGE)
        + _pages(len(google.groups), GROUPS_PAGE)
        + sum(
            _pages(len(google._flattened(google.group_by_email(email), set())), MEMBERS_PAGE)
            for email in synced
        )
    )
    aws_reads = (
        _pages(len(before.users), IDENTITY_STORE_PAGE)
        + _pages(len(before.groups), IDENTITY_STORE_PAGE)
        + sum(_pages(len(users), IDENTITY_STORE_PAGE) for users in before.groups.values())
    )
    gone = before.users - after.users
    writes = (
        len(after.users - before.users)
        + len(gone)
        + len(after.groups.keys() - before.groups.keys())
        + len(before.groups.keys() - after.groups.keys())
        + len(after.memberships - before.memberships)
        + len({(g, u) for g, u in before.memberships - after.memberships if u not in gone})
    )
    return Work(google_calls, aws_reads, writes), after


def _pages(items: int, page: int) -> int:
    """A listing is at least one call, even of nothing."""
    return max(1, math.ceil(items / page))
