"""Safeguards refuse before anything is applied: empty Google answers and mass deletions."""

from collections import Counter

import pytest

from sync.errors import SafeguardRefusal
from sync.model import GoogleGroup, GoogleSnapshot, GoogleUser
from sync.planning.plan import Action, Plan, PrincipalOperation
from sync.planning.safeguards import check_deletions, check_google_answer
from sync.rules.loader import parse_rules

ALICE = GoogleUser("g1", "alice@example.com", "Alice", "A", "Alice A")
RULES = parse_rules("version: 1\nsync: {groups: [{email: eng@example.com}]}\n")


def deleting(count: int, managed: int) -> Plan:
    operations = tuple(
        PrincipalOperation("user", Action.DELETE, f"g{i}", f"u{i}@example.com", "suspended")
        for i in range(count)
    )
    return Plan(operations, managed=Counter(user=managed))


def test_no_users_from_google_is_refused() -> None:
    with pytest.raises(SafeguardRefusal, match="no users"):
        check_google_answer(GoogleSnapshot({}, ()))


def test_no_members_in_every_synced_group_is_refused() -> None:
    empty = GoogleGroup("g", "eng@example.com", "Eng", "Eng", frozenset())

    with pytest.raises(SafeguardRefusal, match="no members"):
        check_google_answer(GoogleSnapshot({ALICE.id: ALICE}, (empty, empty)))


def test_one_empty_group_among_others_is_fine() -> None:
    empty = GoogleGroup("g", "eng@example.com", "Eng", "Eng", frozenset())
    full = GoogleGroup("h", "data@example.com", "Data", "Data", frozenset({ALICE.id}))

    check_google_answer(GoogleSnapshot({ALICE.id: ALICE}, (empty, full)))


@pytest.mark.parametrize(
    ("count", "managed", "refused"),
    [(5, 10, False), (6, 10, True), (20, 200, False), (21, 200, True)],
)
def test_default_limit_is_ten_percent_or_five(count: int, managed: int, refused: bool) -> None:
    if refused:
        with pytest.raises(SafeguardRefusal, match=f"{count} user deletions"):
            check_deletions(deleting(count, managed), RULES, allow_mass_delete=False)
    else:
        check_deletions(deleting(count, managed), RULES, allow_mass_delete=False)


def test_override_allows_a_mass_deletion() -> None:
    check_deletions(deleting(50, 50), RULES, allow_mass_delete=True)
