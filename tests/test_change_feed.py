"""What Google's change events name, and how the delta cursor moves (pure, no emulator)."""

from datetime import UTC, datetime, timedelta

import pytest

from sync.errors import ConfigError
from sync.model import ActivityEvent
from sync.reading.change_hints import hints_from
from sync.records.delta_cursor import DeltaCursor

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=10)


def event(
    name: str, application: str = "admin", at: datetime = NOW, **parameters: str
) -> ActivityEvent:
    return ActivityEvent(f"{application}|{at}|{name}|0", at, application, name, parameters)


def test_user_group_and_member_events_name_what_to_re_read() -> None:
    hints = hints_from(
        [
            event("SUSPEND_USER", USER_EMAIL="Bob@Example.com"),
            event("RENAME_USER", USER_EMAIL="lena@example.com", NEW_VALUE="lena.b@example.com"),
            event(
                "ADD_GROUP_MEMBER", USER_EMAIL="nora@example.com", GROUP_EMAIL="data@example.com"
            ),
            event("CHANGE_GROUP_EMAIL", GROUP_EMAIL="ops@example.com", NEW_VALUE="sre@example.com"),
            event(
                "remove_member",
                "groups_enterprise",
                group_id="eng@example.com",
                member_id="tom@example.com",
            ),
        ]
    )

    assert hints.users == {"bob@example.com", "lena@example.com", "lena.b@example.com"}
    assert hints.groups == {
        "data@example.com",
        "ops@example.com",
        "sre@example.com",
        "eng@example.com",
    }


@pytest.mark.parametrize(
    ("group_id", "key"),
    [
        ("Eng@Example.com", "eng@example.com"),
        ("03x8tuzt1a2b3c4", "03x8tuzt1a2b3c4"),
        ("groups/03x8tuzt1a2b3c4", "03x8tuzt1a2b3c4"),
    ],
)
@pytest.mark.parametrize(
    "name",
    [
        "add_member",
        "remove_member",
        "accept_invitation",
        "approve_join_request",
        "join",
        "ban_member_with_moderation",
    ],
)
def test_google_groups_events_name_the_group_in_any_form_groups_get_takes(
    name: str, group_id: str, key: str
) -> None:
    hints = hints_from([event(name, "groups_enterprise", group_id=group_id)])

    assert hints.groups == {key}


def test_events_that_change_no_user_or_group_are_no_hint() -> None:
    hints = hints_from(
        [
            event("CHANGE_PASSWORD", USER_EMAIL="bob@example.com"),
            event("GENERATE_2SV_SCRATCH_CODES", USER_EMAIL="bob@example.com"),
            event("change_info_setting", "groups_enterprise", group_id="eng@example.com"),
            event("SUSPEND_USER"),  # no address: nothing to re-read
        ]
    )

    assert not hints


def test_the_cursor_reads_again_over_the_overlap_and_skips_what_it_handled() -> None:
    seen = event("SUSPEND_USER", at=NOW - timedelta(minutes=1), USER_EMAIL="a@example.com")
    late = event("SUSPEND_USER", at=NOW - timedelta(minutes=3), USER_EMAIL="b@example.com")
    cursor = DeltaCursor().advanced(NOW, [seen], OVERLAP)

    later = NOW + timedelta(minutes=1)

    assert cursor.window_start(later, OVERLAP) == NOW - OVERLAP
    assert cursor.unhandled([seen, late]) == [late]


def test_handled_events_are_forgotten_once_no_window_can_show_them() -> None:
    old = event("SUSPEND_USER", at=NOW - 3 * OVERLAP, USER_EMAIL="a@example.com")
    recent = event("SUSPEND_USER", at=NOW - OVERLAP / 2, USER_EMAIL="b@example.com")

    cursor = DeltaCursor().advanced(NOW, [old, recent], OVERLAP).advanced(NOW, [], OVERLAP)

    assert set(cursor.handled) == {recent.key}
    assert DeltaCursor.from_json(cursor.to_json(), "cursor") == cursor


def test_a_cursor_of_another_version_is_refused() -> None:
    with pytest.raises(ConfigError, match="unsupported version"):
        DeltaCursor.from_json('{"version": 9}', "cursor.json")
