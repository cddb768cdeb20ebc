"""The Google reader through googleapiclient, against the Directory API emulator over HTTP."""

import json
from pathlib import Path

import pytest

from sync.errors import ConfigError, ReadError
from sync.google.api import google_credentials
from sync.google.directory import DIRECTORY_SCOPES, GoogleDirectoryReader
from sync.local.google_directory import Fault, GoogleDirectoryEmulator
from sync.local.stack import ADMIN_EMAIL
from sync.rules.model import GroupSelector
from tests.helpers import seed_small_company, write_key

SCOPE = "https://www.googleapis.com/auth/"


def reader(
    server: tuple[GoogleDirectoryEmulator, str],
    tmp_path: Path,
    subject: str = ADMIN_EMAIL,
    scopes: list[str] | None = None,
) -> GoogleDirectoryReader:
    emulator, url = server
    key = write_key(emulator, url, tmp_path / "key.json", scopes)
    credentials = google_credentials(json.loads(key.read_text()), subject, DIRECTORY_SCOPES)
    return GoogleDirectoryReader(
        credentials, api_endpoint=url, retry_attempts=3, retry_max_wait=0.2
    )


def test_pages_through_600_users_and_a_group_of_250(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path
) -> None:
    google, _ = google_server
    google.add_group("big@example.com")
    for index in range(600):
        google.add_user(f"u{index:03}@example.com", "U", str(index))
        if index < 250:
            google.add_member("big@example.com", f"u{index:03}@example.com")
    directory = reader(google_server, tmp_path)

    snapshot = directory.read([GroupSelector(email="big@example.com")])

    assert len(snapshot.users) == 601
    assert len(snapshot.groups[0].member_ids) == 250
    assert directory.calls == {"users.list": 2, "groups.list": 1, "members.list": 2}


def test_nested_customer_and_outside_members(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path
) -> None:
    google, _ = google_server
    for group in ("eng", "backend", "everyone", "aws-a", "aws-b", "other"):
        google.add_group(f"{group}@example.com")
    alice = google.add_user("alice@example.com", "Alice", "A")
    bob = google.add_user("bob@example.com", "Bob", "B")
    google.add_member("backend@example.com", "alice@example.com")
    google.add_member("eng@example.com", "backend@example.com")
    google.add_member("eng@example.com", "bob@example.com", role="OWNER")
    google.add_member("eng@example.com", "contractor@elsewhere.example")
    google.add_external_member("eng@example.com", "guest@partner.example")
    google.add_customer_member("everyone@example.com")
    google.add_member("aws-a@example.com", "alice@example.com")
    google.add_member("aws-b@example.com", "bob@example.com")

    snapshot = reader(google_server, tmp_path).read(
        [
            GroupSelector(email="eng@example.com", name="Engineering"),
            GroupSelector(email="everyone@example.com"),
            GroupSelector(query="email:aws-*"),
        ]
    )

    groups = {group.display_name: group for group in snapshot.groups}
    assert groups["Engineering"].member_ids == {alice.id, bob.id}
    assert groups["everyone@example.com"].member_ids == set(snapshot.users)
    assert groups["aws-a@example.com"].member_ids == {alice.id}
    assert groups["aws-b@example.com"].member_ids == {bob.id}
    assert set(groups) == {
        "Engineering",
        "everyone@example.com",
        "aws-a@example.com",
        "aws-b@example.com",
    }
    skipped = " ".join(snapshot.warnings)
    assert "contractor@elsewhere.example" in skipped and "guest@partner.example" in skipped


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (503, "backendError"),
        (429, "rateLimitExceeded"),
        (403, "userRateLimitExceeded"),
        (403, "quotaExceeded"),
    ],
)
def test_transient_errors_are_retried(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path, status: int, reason: str
) -> None:
    google, _ = google_server
    google.faults.append(Fault("/users", status, reason, times=2))

    snapshot = reader(google_server, tmp_path).read([])

    assert len(snapshot.users) == 1


def test_persistent_fault_is_a_read_error(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path
) -> None:
    google, _ = google_server
    google.faults.append(Fault("/users", 503, "backendError", times=None))

    with pytest.raises(ReadError, match="503 backendError"):
        reader(google_server, tmp_path).read([])


def test_scopes_not_granted_are_refused_clearly(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path
) -> None:
    directory = reader(google_server, tmp_path, scopes=[SCOPE + "admin.directory.user.readonly"])

    with pytest.raises(ConfigError, match="unauthorized_client"):
        directory.read([])


def test_subject_without_admin_rights_is_forbidden(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path
) -> None:
    google, _ = google_server
    google.add_user("intern@example.com", "In", "Tern")

    with pytest.raises(ConfigError, match="403 forbidden"):
        reader(google_server, tmp_path, subject="intern@example.com").read([])


def test_a_group_named_in_the_rules_but_missing_in_google_is_a_config_error(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="no such group"):
        reader(google_server, tmp_path).read([GroupSelector(email="typo@example.com")])


def test_signature_by_an_unknown_key_is_rejected(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path
) -> None:
    google, url = google_server
    other = GoogleDirectoryEmulator()
    forged = other.issue_service_account_key(f"{url}/token")
    genuine = google.issue_service_account_key(f"{url}/token")
    forged["client_email"] = genuine["client_email"]

    directory = GoogleDirectoryReader(
        google_credentials(forged, ADMIN_EMAIL, DIRECTORY_SCOPES),
        api_endpoint=url,
        retry_attempts=1,
    )
    with pytest.raises(ConfigError, match="Invalid JWT Signature"):
        directory.read([])


def test_a_new_group_matching_a_query_is_synced_though_googles_search_lags(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path
) -> None:
    google, _ = google_server
    google.search_lag_seconds = 36 * 3600  # Google: up to 36 hours for new or renamed groups
    google.add_user("ann@example.com", "Ann", "Example")
    for email in ("team-a@example.com", "team-b@example.com", "teams@example.com"):
        google.add_group(email)
        google.add_member(email, "ann@example.com")
    for index in range(450):  # three pages of groups
        google.add_group(f"other-{index:03}@example.com")
    google.rename_group("teams@example.com", "team-all@example.com")
    directory = reader(google_server, tmp_path)

    snapshot = directory.read(
        [GroupSelector(query="email:team-*"), GroupSelector(email="teams@example.com")]
    )

    assert sorted(g.email for g in snapshot.groups) == [
        "team-a@example.com",
        "team-all@example.com",
        "team-b@example.com",
    ], "a new group, a renamed one, and one named by its old address (an alias)"
    assert directory.calls["groups.list"] == 3
    assert "groups.get" not in directory.calls


def test_a_group_google_does_not_have_is_named_with_its_place_in_the_rules(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path
) -> None:
    google, _ = google_server
    google.add_group("eng@example.com")
    directory = reader(google_server, tmp_path)

    with pytest.raises(ConfigError, match=r"sync\.groups item 2: .* syncs gone@example\.com"):
        directory.read(
            [GroupSelector(email="eng@example.com"), GroupSelector(email="gone@example.com")]
        )


def test_an_outside_member_of_nested_groups_is_one_warning_naming_each_group(
    google_server: tuple[GoogleDirectoryEmulator, str], tmp_path: Path
) -> None:
    google, _ = google_server
    seed_small_company(google)
    google.add_member("backend@example.com", "dev@contractor.example.net")

    snapshot = reader(google_server, tmp_path).read(
        [GroupSelector(email="engineering@example.com"), GroupSelector(email="backend@example.com")]
    )

    assert snapshot.warnings == (
        "member dev@contractor.example.net of backend@example.com, engineering@example.com is "
        "not a user of this directory; skipped",
    )
