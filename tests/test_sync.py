"""The whole sync against the emulators: Google over HTTP, Identity Center through moto."""

import json
from pathlib import Path

import pytest
from google.auth.exceptions import TransportError

from sync.errors import ConfigError, ExitCode, ReadError, SafeguardRefusal
from sync.google.api import describe
from sync.local.aws import ExtendedMotoApp, Refusal
from sync.local.google_directory import Fault, GoogleDirectoryEmulator
from sync.records.state import state_store_for
from sync.rules.loader import parse_rules
from sync.rules.model import Rules
from sync.run import RunOptions, run_sync
from sync.settings import Settings
from tests.helpers import IdentityCenterView, add_people, seed_small_company, writes

APPLY = RunOptions(apply=True, trigger="test")


def test_first_sync_creates_users_groups_and_flattened_memberships(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)

    report = run_sync(settings, APPLY, rules)

    assert report.exit_code is ExitCode.OK
    assert set(idc.users()) == {f"{n}@example.com" for n in ("alice", "bob", "carol", "dan")}
    assert set(idc.groups()) == {"Engineering", "data@example.com"}
    assert idc.members("Engineering") == {
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    }
    assert idc.members("data@example.com") == {"bob@example.com", "dan@example.com"}
    alice = idc.user(idc.users()["alice@example.com"])
    assert alice["DisplayName"] == "Alice Example"
    assert alice["Name"]["GivenName"] == "Alice"
    assert alice["Emails"] == [{"Value": "alice@example.com", "Type": "work", "Primary": True}]


def test_second_run_makes_zero_writes(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, rules)
    moto_app.reset_counters()

    report = run_sync(settings, APPLY, rules)

    assert report.plan.operations == ()
    assert writes(moto_app) == {}
    assert set(moto_app.calls) == {"ListUsers", "ListGroups", "ListGroupMemberships"}


def test_google_and_identity_center_are_read_side_by_side(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp
) -> None:
    seed_small_company(google)
    google.latency_seconds = 0.3  # Google's read takes several of these; AWS's is immediate
    google_requests_when_aws_is_listed: list[int] = []
    moto_app.before_first["ListUsers"] = lambda: google_requests_when_aws_is_listed.append(
        len(google.requests)
    )

    report = run_sync(settings, APPLY, rules)

    assert report.exit_code is ExitCode.OK
    (seen,) = google_requests_when_aws_is_listed
    assert seen < len(google.requests) / 2, "Identity Center was read only after Google"


def test_a_failed_google_read_while_aws_is_read_applies_nothing(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp
) -> None:
    seed_small_company(google)
    google.faults.append(Fault("/members", 403, "forbidden", times=None))

    with pytest.raises(ConfigError, match="Google refused access"):
        run_sync(settings, APPLY, rules)

    assert writes(moto_app) == {}
    assert "ListUsers" in moto_app.calls  # read meanwhile, and nothing written after


def test_primary_email_change_updates_the_same_user(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, rules)
    user_id = idc.users()["alice@example.com"]

    google.user_by_email("alice@example.com").primary_email = "alice.new@example.com"
    run_sync(settings, APPLY, rules)

    assert idc.users()["alice.new@example.com"] == user_id
    assert "alice@example.com" not in idc.users()
    assert idc.user(user_id)["Emails"][0]["Value"] == "alice.new@example.com"
    assert "alice.new@example.com" in idc.members("Engineering")


def test_group_rename_updates_the_same_group(
    settings: Settings, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, parse_rules(RULES_WITH_NAME.format(name="Eng")))
    group_id = idc.groups()["Eng"]

    run_sync(settings, APPLY, parse_rules(RULES_WITH_NAME.format(name="Engineering-Team")))

    assert idc.groups()["Engineering-Team"] == group_id
    assert "Eng" not in idc.groups()
    assert len(idc.members("Engineering-Team")) == 3


RULES_WITH_NAME = """
version: 1
sync:
  groups:
    - email: engineering@example.com
      name: {name}
"""


def test_suspended_archived_and_departed_users_lose_access(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, rules)

    google.user_by_email("alice@example.com").suspended = True
    google.user_by_email("bob@example.com").archived = True
    google.remove_member("data@example.com", "dan@example.com")
    report = run_sync(settings, APPLY, rules)

    assert set(idc.users()) == {"carol@example.com"}
    reasons = {op.label: op.reason for op in report.plan.operations}
    assert reasons["alice@example.com"] == "suspended in Google Workspace"
    assert reasons["bob@example.com"] == "archived in Google Workspace"
    assert reasons["dan@example.com"] == "no longer a member of any synced Google group"


def test_unmanaged_and_protected_objects_survive(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    idc.create_user("breakglass@example.com")
    idc.create_user("someone@elsewhere.example")
    idc.create_group("AWSControlTowerAdmins")
    idc.add_member("AWSControlTowerAdmins", "breakglass@example.com")
    run_sync(settings, APPLY, rules)
    # A hand-made membership of an unmanaged user in a managed group.
    idc.add_member("Engineering", "breakglass@example.com")
    # Google gains a user with the protected name: it must not be adopted.
    google.add_user("breakglass@example.com", "Break", "Glass")
    google.add_member("engineering@example.com", "breakglass@example.com")

    report = run_sync(settings, APPLY, rules)

    users = idc.users()
    assert {"breakglass@example.com", "someone@elsewhere.example"} <= set(users)
    assert idc.user(users["breakglass@example.com"])["DisplayName"] == "breakglass@example.com"
    assert idc.members("AWSControlTowerAdmins") == {"breakglass@example.com"}
    assert "breakglass@example.com" in idc.members("Engineering")
    assert any("protected" in warning for warning in report.plan.warnings)
    assert all(op.label != "breakglass@example.com" for op in report.plan.operations)


def test_existing_users_and_groups_are_adopted_not_duplicated(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    alice_id = idc.create_user("alice@example.com")
    group_id = idc.create_group("Engineering")

    run_sync(settings, APPLY, rules)

    assert idc.users()["alice@example.com"] == alice_id
    assert idc.groups()["Engineering"] == group_id
    assert idc.user(alice_id)["DisplayName"] == "Alice Example"
    assert "alice@example.com" in idc.members("Engineering")


def test_lost_state_is_rebuilt_by_adoption_and_deletes_nothing(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, rules)
    before = idc.users()
    Path(settings.state).unlink()
    google.user_by_email("dan@example.com").suspended = True

    report = run_sync(settings, APPLY, rules)

    assert idc.users() == before  # dan can no longer be proven ours: kept
    assert {op.action.value for op in report.plan.operations} == {"adopt"}
    assert set(state_store_for(settings.state).load().users.values()) == {
        before[n] for n in ("alice@example.com", "bob@example.com", "carol@example.com")
    }


def test_google_fault_in_the_middle_of_paging_aborts_with_zero_writes(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp
) -> None:
    seed_small_company(google)
    add_people(google, 600)
    google.faults.append(Fault("/users", 503, "backendError", after=1, times=None))

    with pytest.raises(ReadError, match="503"):
        run_sync(settings, APPLY, rules)

    assert writes(moto_app) == {}


def test_throttling_storm_converges(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
) -> None:
    seed_small_company(google)
    add_people(google, 40, "data@example.com")
    moto_app.throttle_fraction = 0.3

    report = run_sync(settings, APPLY, rules)

    moto_app.throttle_fraction = 0.0
    assert report.exit_code is ExitCode.OK, report.summary()["errors"]
    assert sum(moto_app.throttled.values()) > 0
    assert len(idc.users()) == 44
    assert len(idc.members("data@example.com")) == 42
    assert run_sync(settings, APPLY, rules).plan.operations == ()


def test_mass_delete_is_refused_and_nothing_applied(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
) -> None:
    seed_small_company(google)
    people = add_people(google, 20, "data@example.com")
    run_sync(settings, APPLY, rules)
    for email in people:
        google.remove_member("data@example.com", email)
    moto_app.reset_counters()

    report = run_sync(settings, APPLY, rules)

    assert report.exit_code is ExitCode.REFUSED
    assert "20 user deletions" in (report.refused or "")
    assert writes(moto_app) == {}
    assert len(idc.users()) == 24
    allowed = run_sync(settings, RunOptions(apply=True, allow_mass_delete=True), rules)
    assert allowed.exit_code is ExitCode.OK
    assert len(idc.users()) == 4


def test_no_delete_mode_creates_and_updates_only(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, rules)
    google.user_by_email("alice@example.com").suspended = True
    google.add_user("frank@example.com", "Frank", "Example")
    google.add_member("data@example.com", "frank@example.com")

    run_sync(settings, RunOptions(apply=True, no_delete=True), rules)

    assert {"alice@example.com", "frank@example.com"} <= set(idc.users())


def test_empty_google_group_answer_is_refused(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp
) -> None:
    google.add_group("engineering@example.com")
    google.add_group("data@example.com")

    with pytest.raises(SafeguardRefusal, match="no members"):
        run_sync(settings, APPLY, rules)
    assert writes(moto_app) == {}


def test_audit_lines_match_applied_operations_one_to_one(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator
) -> None:
    seed_small_company(google)

    report = run_sync(settings, APPLY, rules)

    lines = [json.loads(line) for line in Path(settings.audit).read_text().splitlines()]
    operations = [line for line in lines if line["operation"] != "run.summary"]
    assert report.applied is not None
    assert len(operations) == len(report.applied.outcomes) == len(report.plan.operations)
    assert sorted(line["operation"] for line in operations) == sorted(
        f"{op.resource}.{op.action.value}" for op in report.plan.operations
    )
    assert all(
        line["result"] == "success" and line["run_id"] == report.run_id for line in operations
    )
    assert lines[-1]["operation"] == "run.summary" and lines[-1]["outcome"] == "succeeded"
    assert "private_key" not in Path(settings.audit).read_text()


def test_a_failed_operation_fails_the_run_but_not_the_others_and_the_next_run_repairs(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
) -> None:
    seed_small_company(google)
    moto_app.refusals.append(Refusal("CreateUser", "ValidationException", "carol@example.com"))

    report = run_sync(settings, APPLY, rules)

    assert report.exit_code is ExitCode.RUN_FAILED
    assert set(idc.users()) == {"alice@example.com", "bob@example.com", "dan@example.com"}
    failed = {o.operation.label: o.error for o in report.applied.failures}  # type: ignore[union-attr]
    assert "ValidationException" in failed["carol@example.com"]
    assert failed["Engineering ∋ carol@example.com"] == "user carol@example.com does not exist"
    lines = [json.loads(line) for line in Path(settings.audit).read_text().splitlines()]
    assert sum(line.get("result") == "failed" for line in lines) == 2
    assert lines[-1]["outcome"] == "failed" and len(lines[-1]["errors"]) == 2

    moto_app.refusals.clear()
    repaired = run_sync(settings, APPLY, rules)

    assert repaired.exit_code is ExitCode.OK
    assert [op.label for op in repaired.plan.operations] == [
        "carol@example.com",
        "Engineering ∋ carol@example.com",
    ]


def test_a_create_user_conflict_on_another_attribute_says_so(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp
) -> None:
    seed_small_company(google)
    moto_app.refusals.append(
        Refusal("CreateUser", "ConflictException", "carol@example.com", "Duplicate value")
    )

    report = run_sync(settings, RunOptions(apply=True), rules)

    errors = report.summary()["errors"]
    (error,) = [e for e in errors if e.startswith("user create")]
    assert error.startswith("user create carol@example.com: FAILED: Identity Center refused")
    assert "another user, not sso-sync's" in error and "carol@example.com" in error
    assert moto_app.calls["CreateUser"] == 4, "one attempt for carol, none repeated"


def test_a_refused_rename_is_reported_once_and_the_other_changes_land(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
) -> None:
    seed_small_company(google)
    run_sync(settings, RunOptions(apply=True), rules)
    google.rename_user("carol@example.com", "carol.new@example.com")
    google.user_by_email("carol.new@example.com").family_name = "Newname"
    # A uniqueness conflict as an answer without Identity Store's Reason field.
    moto_app.refusals.append(
        Refusal("UpdateUser", "ConflictException", '"userName"', "Duplicate UserName")
    )
    moto_app.reset_counters()

    report = run_sync(settings, RunOptions(apply=True), rules)

    (error,) = report.summary()["errors"]
    assert "refused the new user name carol.new@example.com" in error
    assert "cannot sign in with the new address" in error
    assert moto_app.calls["UpdateUser"] == 2, "the rest once, the rename once: not retried"
    carol = idc.user(idc.users()["carol@example.com"])
    assert carol["Name"]["FamilyName"] == "Newname"


@pytest.mark.parametrize(
    ("body", "content_type", "declared_length"),
    [
        ('{"kind": "admin#directory#users", "users": [{"id": "1", "prim', "application/json", None),
        ("<html><body>Service Unavailable</body></html>", "text/html", None),
        ('{"kind": "admin#directory#users", "users": []}', "application/json", 4000),
        ("[]", "application/json", None),
    ],
    ids=["truncated-json", "html-with-200", "body-cut-short", "not-an-object"],
)
def test_a_corrupt_google_answer_is_retried_and_if_it_persists_named(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    body: str,
    content_type: str,
    declared_length: int | None,
) -> None:
    seed_small_company(google)
    corrupt = {"body": body, "content_type": content_type, "declared_length": declared_length}
    google.faults.append(Fault("/users", 200, "corrupt", times=2, **corrupt))

    once = run_sync(settings, APPLY, rules)  # two corrupt answers, then a whole one

    assert once.exit_code is ExitCode.OK and "alice@example.com" in idc.users()
    google.faults.append(Fault("/users", 200, "corrupt", times=None, **corrupt))
    with pytest.raises(ReadError, match=r"users\.list: Google"):
        run_sync(settings, APPLY, rules)


def test_names_identity_center_refuses_are_made_acceptable_with_a_warning(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    google.user_by_email("alice@example.com").given_name = "Al\u200dice\u202e"  # ZWJ, RLO
    google.user_by_email("bob@example.com").family_name = "Ex\x07ample\x00"
    google.user_by_email("carol@example.com").given_name = "C" * 1500

    report = run_sync(settings, APPLY, rules)
    again = run_sync(settings, APPLY, rules)

    assert report.exit_code is ExitCode.OK, report.summary()["errors"]
    assert again.plan.operations == ()
    alice = idc.user(idc.users()["alice@example.com"])
    assert alice["Name"]["GivenName"] == "Alice"
    assert idc.user(idc.users()["bob@example.com"])["Name"]["FamilyName"] == "Example"
    assert len(idc.user(idc.users()["carol@example.com"])["Name"]["GivenName"]) == 1024
    named = [w for w in report.plan.warnings if "name changed to what Identity Center accepts" in w]
    assert sorted(w.split(":")[0] for w in named) == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]


def test_a_group_google_lacks_is_named_with_the_rules_file_and_line(
    settings: Settings, google: GoogleDirectoryEmulator
) -> None:
    seed_small_company(google)
    Path(settings.rules).write_text(
        "version: 1\nsync:\n  groups:\n    - email: data@example.com\n"
        "    - email: gone@example.com\n"
    )

    with pytest.raises(ConfigError, match=r"rules\.yaml:5: sync\.groups item 2: .*gone@example"):
        run_sync(settings, RunOptions())


def test_a_google_transport_error_reads_as_words_not_a_tuple() -> None:
    error = TransportError("Connection aborted.", ConnectionResetError("reset by peer"))

    assert describe(error) == "TransportError: Connection aborted.; reset by peer"


def test_a_membership_write_that_met_a_concurrent_modification_is_made_again(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
) -> None:
    """Identity Store's ConflictException with Reason CONCURRENT_MODIFICATION (botocore's
    identitystore model, ConflictExceptionReason) means the membership was not made."""
    seed_small_company(google)
    moto_app.refusals.append(
        Refusal(
            "CreateGroupMembership",
            "ConflictException",
            message="The resource is being modified by another request",
            times=2,
            reason="CONCURRENT_MODIFICATION",
        )
    )

    report = run_sync(settings, RunOptions(apply=True), rules)

    assert report.exit_code == 0, report.summary()["errors"]
    assert idc.members("Engineering") == {
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    }
    assert idc.members("data@example.com") == {"bob@example.com", "dan@example.com"}
    assert moto_app.calls["CreateGroupMembership"] == 5 + 2
