"""Delta runs: Google's change feed (Reports API emulator) → only what changed, over HTTP."""

import json
import time
from pathlib import Path

import pytest

from sync.apply.run_lock import Lease, LocalFileLock
from sync.delta.run import run_delta
from sync.errors import ConfigError, ExitCode
from sync.local.aws import ExtendedMotoApp, Refusal
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.rules.model import Rules, Safeguards
from sync.run import RunOptions, run_sync
from sync.settings import Settings
from tests.helpers import IdentityCenterView, add_people, seed_small_company, write_key, writes

APPLY = RunOptions(apply=True, trigger="test")
DIRECTORY_ONLY = [
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.readonly",
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly",
]


@pytest.fixture
def synced(settings: Settings, rules: Rules, google: GoogleDirectoryEmulator) -> Settings:
    """The small company after a full sync, with the change feed started by a first delta run."""
    seed_small_company(google)
    assert run_sync(settings, APPLY, rules).exit_code is ExitCode.OK
    assert run_delta(settings, APPLY, rules).plan.operations == ()
    return settings


def test_an_idle_delta_run_reads_the_feed_once_per_application_and_calls_no_aws(
    synced: Settings, rules: Rules, moto_app: ExtendedMotoApp
) -> None:
    moto_app.reset_counters()

    report = run_delta(synced, APPLY, rules)

    assert report.summary()["outcome"] == "succeeded"
    assert dict(report.google_calls) == {
        "activities.list(admin)": 1,
        "activities.list(groups_enterprise)": 1,
    }
    assert dict(moto_app.calls) == {}
    assert report.aws_calls == {}


def test_a_new_hire_added_to_a_nested_group_gets_access_in_one_delta_run(
    synced: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    idc: IdentityCenterView,
    moto_app: ExtendedMotoApp,
) -> None:
    google.add_user("frank@example.com", "Frank", "Example")
    google.add_member("backend@example.com", "frank@example.com")  # nested in engineering@
    moto_app.reset_counters()

    report = run_delta(synced, APPLY, rules)

    assert report.exit_code is ExitCode.OK
    assert writes(moto_app) == {"CreateUser": 1, "CreateGroupMembership": 1}
    assert "ListUsers" not in moto_app.calls  # only the slice is read
    assert "frank@example.com" in idc.members("Engineering")
    assert "frank@example.com" not in idc.members("data@example.com")
    assert report.feed is not None and "backend@example.com" in report.feed["groups"]


def test_nested_changes_reach_parents_though_google_lists_no_parents_of_a_group(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    # groups.list(userKey=) is documented for users: for a group the emulator answers an
    # empty list, and the nesting recorded by the full sync is what finds engineering@.
    assert not google.groups_of_groups
    google.add_member("backend@example.com", "carol@example.com")
    google.add_member("backend@example.com", "dan@example.com")

    report = run_delta(synced, APPLY, rules)

    assert report.exit_code is ExitCode.OK
    assert "dan@example.com" in idc.members("Engineering")
    state = json.loads(Path(synced.state).read_text())
    backend = google.group_by_email("backend@example.com").id
    engineering = google.group_by_email("engineering@example.com").id
    assert state["nesting"] == {backend: [engineering]}


def test_a_nested_change_google_shows_late_in_the_parent_is_read_again_later(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    google.derived_delay_seconds = 300.0  # Google: up to 10 minutes
    google.add_user("frank@example.com", "Frank", "Example")
    google.add_member("backend@example.com", "frank@example.com")

    first = run_delta(synced, APPLY, rules)
    assert "frank@example.com" not in idc.users(), "not in engineering@'s members yet"
    google.wait(301)
    second = run_delta(synced, APPLY, rules)

    assert first.exit_code is ExitCode.OK and second.exit_code is ExitCode.OK
    assert second.feed is not None and second.feed["new_events"] == 0
    assert "frank@example.com" in idc.members("Engineering")
    cursor = json.loads(Path(synced.state).with_suffix(".delta.json").read_text())
    assert list(cursor["rechecks"]) == [google.group_by_email("backend@example.com").id]


def test_a_suspension_removes_the_user_and_their_memberships_in_one_delta_run(
    synced: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    idc: IdentityCenterView,
    moto_app: ExtendedMotoApp,
) -> None:
    moto_app.reset_counters()
    google.suspend_user("bob@example.com")

    report = run_delta(synced, APPLY, rules)

    assert report.exit_code is ExitCode.OK
    assert "bob@example.com" not in idc.users()
    assert "bob@example.com" not in idc.members("Engineering")
    assert "bob@example.com" not in idc.members("data@example.com")
    reasons = {op.label: op.reason for op in report.plan.operations}
    assert reasons == {"bob@example.com": "suspended in Google Workspace"}
    assert writes(moto_app) == {"DeleteUser": 1}
    audited = json.loads(Path(synced.audit).read_text().splitlines()[-1])
    assert audited["mode"] == "delta" and audited["feed"]["users"] == ["bob@example.com"]


def test_a_deleted_user_is_found_by_name_and_removed(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    google.delete_user("dan@example.com")

    report = run_delta(synced, APPLY, rules)

    assert report.exit_code is ExitCode.OK
    assert "dan@example.com" not in idc.users()
    assert idc.members("data@example.com") == {"bob@example.com"}


def test_a_rename_updates_the_same_identity_center_user(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    carol_id = idc.users()["carol@example.com"]
    google.rename_user("carol@example.com", "carol.new@example.com")

    run_delta(synced, APPLY, rules)

    assert idc.users()["carol.new@example.com"] == carol_id
    assert "carol.new@example.com" in idc.members("Engineering")


def test_a_removal_in_google_groups_removes_only_that_membership(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    google.remove_member("data@example.com", "bob@example.com", in_groups_ui=True)

    report = run_delta(synced, APPLY, rules)

    assert report.exit_code is ExitCode.OK
    assert idc.members("data@example.com") == {"dan@example.com"}
    assert "bob@example.com" in idc.members("Engineering")  # still in backend@


def test_leaving_the_last_synced_group_removes_the_user(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    google.remove_member("data@example.com", "dan@example.com")

    report = run_delta(synced, APPLY, rules)

    reasons = {op.label: op.reason for op in report.plan.operations}
    assert reasons == {"dan@example.com": "no longer a member of any synced Google group"}
    assert "dan@example.com" not in idc.users()
    assert idc.members("data@example.com") == {"bob@example.com"}


def test_an_event_shown_late_is_caught_by_the_overlap_and_handled_once(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    google.report_delay_seconds = 300.0  # within the runs' 10-minute overlap
    google.add_member("data@example.com", "carol@example.com")

    early = run_delta(synced, APPLY, rules)  # the event is not visible yet
    google.wait(301)
    caught = run_delta(synced, APPLY, rules)
    again = run_delta(synced, APPLY, rules)

    assert early.plan.operations == ()
    assert [op.label for op in caught.plan.operations] == ["data@example.com ∋ carol@example.com"]
    assert "carol@example.com" in idc.members("data@example.com")
    assert again.feed is not None and again.feed["new_events"] == 0
    assert again.plan.operations == ()


def test_the_full_sync_catches_a_change_the_feed_never_reported(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    google.reporting = False
    google.add_member("data@example.com", "carol@example.com")

    assert run_delta(synced, APPLY, rules).plan.operations == ()
    assert "carol@example.com" not in idc.members("data@example.com")
    run_sync(synced, APPLY, rules)
    assert "carol@example.com" in idc.members("data@example.com")


def test_changes_outside_the_synced_groups_cost_no_write(
    synced: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    idc: IdentityCenterView,
    moto_app: ExtendedMotoApp,
) -> None:
    moto_app.reset_counters()
    google.add_user("gina@example.com", "Gina", "Example")
    google.add_member("marketing@example.com", "gina@example.com")
    google.add_member("engineering@example.com", "breakglass@example.com")  # protected name
    google.add_user("breakglass@example.com", "Break", "Glass")

    report = run_delta(synced, APPLY, rules)

    assert report.exit_code is ExitCode.OK
    assert writes(moto_app) == {}
    assert "gina@example.com" not in idc.users()


def test_a_delta_run_waits_for_a_running_sync_and_keeps_its_place(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    lock = LocalFileLock(Path(synced.lock))
    lease = Lease("other-run", "schedule", time.time() + 3600)
    lock.acquire(lease)
    google.suspend_user("dan@example.com")

    busy = run_delta(synced, APPLY, rules)
    lock.release(lease)
    later = run_delta(synced, APPLY, rules)

    assert busy.summary()["outcome"] == "busy" and busy.exit_code is ExitCode.OK
    assert "dan@example.com" not in idc.users()
    assert later.feed is not None and later.feed["users"] == ["dan@example.com"]


def test_a_dry_run_plans_and_leaves_the_feed_to_the_next_run(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    google.suspend_user("dan@example.com")

    planned = run_delta(synced, RunOptions(apply=False), rules)
    applied = run_delta(synced, APPLY, rules)

    assert [op.label for op in planned.plan.operations] == ["dan@example.com"]
    assert "dan@example.com" not in idc.users()
    assert [op.label for op in applied.plan.operations] == ["dan@example.com"]


def test_a_failed_delta_run_keeps_its_events_and_the_next_run_repairs(
    synced: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    idc: IdentityCenterView,
    moto_app: ExtendedMotoApp,
) -> None:
    google.add_user("frank@example.com", "Frank", "Example")
    google.add_member("data@example.com", "frank@example.com")
    moto_app.refusals.append(Refusal("CreateUser", "ValidationException", "frank@example.com"))

    failed = run_delta(synced, APPLY, rules)
    assert failed.exit_code is ExitCode.RUN_FAILED
    assert "frank@example.com" not in idc.users()
    moto_app.refusals.clear()
    repaired = run_delta(synced, APPLY, rules)

    assert repaired.exit_code is ExitCode.OK
    assert repaired.feed is not None and repaired.feed["new_events"] == failed.feed["new_events"]
    assert "frank@example.com" in idc.members("data@example.com")


def test_without_the_reports_scope_only_delta_runs_fail_and_say_which_scope(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, tmp_path: Path
) -> None:
    url = synced.google_api_endpoint
    key = write_key(google, url, tmp_path / "narrow.json", DIRECTORY_ONLY)
    narrow = synced.model_copy(update={"google_credentials_file": key})

    assert run_sync(narrow, APPLY, rules).exit_code is ExitCode.OK
    with pytest.raises(ConfigError, match=r"admin\.reports\.audit\.readonly"):
        run_delta(narrow, APPLY, rules)


def test_a_corrupt_cursor_is_a_clear_error(synced: Settings, rules: Rules) -> None:
    cursor = Path(synced.state).with_name("state.delta.json")
    assert json.loads(cursor.read_text())["version"] == 1
    cursor.write_text("{not json")

    with pytest.raises(ConfigError, match=r"state\.delta\.json: the delta cursor is not valid"):
        run_delta(synced, APPLY, rules)


def test_a_percentage_limit_is_a_share_of_every_managed_membership_not_of_the_slice(
    settings: Settings, rules: Rules, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    add_people(google, 40, "engineering@example.com")
    strict = rules.model_copy(update={"safeguards": Safeguards(max_deletes="10%")})
    assert run_sync(settings, APPLY, strict).exit_code is ExitCode.OK  # 45 memberships
    run_delta(settings, APPLY, strict)  # starts the feed
    google.remove_member("data@example.com", "bob@example.com")  # 1 of data@'s 2 members

    report = run_delta(settings, APPLY, strict)

    assert report.exit_code is ExitCode.OK, report.refused
    assert idc.members("data@example.com") == {"dan@example.com"}
    assert report.plan.managed["membership"] == 45


@pytest.mark.parametrize("form", ["id", "email", "resource"])
def test_joining_and_being_banned_in_google_groups_carry_over_whatever_names_the_group(
    synced: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    idc: IdentityCenterView,
    form: str,
) -> None:
    google.groups_ui_group_id = form
    google.remove_member(
        "data@example.com",
        "bob@example.com",
        in_groups_ui=True,
        groups_event="ban_member_with_moderation",
    )
    google.add_member(
        "data@example.com", "carol@example.com", in_groups_ui=True, groups_event="accept_invitation"
    )

    report = run_delta(synced, APPLY, rules)

    assert report.exit_code is ExitCode.OK
    assert idc.members("data@example.com") == {"dan@example.com", "carol@example.com"}


def test_a_management_scope_deployment_makes_no_delta_runs(
    synced: Settings, rules: Rules, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp
) -> None:
    google.requests.clear()
    moto_app.reset_counters()

    with pytest.raises(ConfigError, match="--scope management makes no delta runs"):
        run_delta(synced.model_copy(update={"scope": "management"}), APPLY, rules)

    assert google.requests == [] and sum(moto_app.calls.values()) == 0
