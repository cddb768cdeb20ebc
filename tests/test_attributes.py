"""Google's HR fields on every Identity Center user, as the rules' `attributes:` section maps
them: set on the first sync, updated one change at a time, removed when cleared in Google, and
read in the same listing (no DescribeUser per person)."""

from pathlib import Path

import boto3
import pytest

from sync.cli import main
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.model import ENTERPRISE_EXTENSION
from sync.run import RunOptions, run_sync
from sync.settings import Settings
from tests.helpers import IdentityCenterView, seed_small_company, writes
from tests.test_access_sync import AccessView
from tests.test_cli import settings_arguments

MAPPING = """
attributes:
  user:
    title: organizations.primary.title
    enterprise.department: organizations.primary.department
    enterprise.costCenter: organizations.primary.costCenter
    enterprise.employeeNumber: externalIds.organization
    enterprise.manager: relations.manager
    enterprise.division: customSchemas.HR.division
"""
SESSION_TAGS = """\
  access_control:
    CostCenter: enterprise.costCenter
"""


@pytest.fixture
def mapped(settings: Settings, google: GoogleDirectoryEmulator) -> Settings:
    Path(settings.rules).write_text(Path(settings.rules).read_text() + MAPPING)
    seed_small_company(google)
    for name, cost_center in (("alice", "CC-1"), ("bob", "CC-2"), ("carol", "CC-1")):
        google.set_profile(
            f"{name}@example.com",
            organizations=[
                {"name": "Example", "primary": False, "title": "Intern"},
                {
                    "primary": True,
                    "title": "Engineer",
                    "department": "R&D",
                    "costCenter": cost_center,
                },
            ],
            externalIds=[{"type": "organization", "value": f"E-{name}"}],
            relations=[{"type": "manager", "value": "carol@example.com"}],
        )
        google.set_custom_field(f"{name}@example.com", "HR", "division", "Platform")
        google.set_custom_field(f"{name}@example.com", "Payroll", "salary", "secret")
    return settings


def attributes_of(idc: IdentityCenterView, email: str) -> dict[str, object]:
    user = idc.client.describe_user(
        IdentityStoreId=idc.store_id,
        UserId=idc.users()[email],
        Extensions=[ENTERPRISE_EXTENSION],
    )
    found: dict[str, object] = {"title": user.get("Title")}
    found |= user.get("Extensions", {}).get(ENTERPRISE_EXTENSION, {})
    return found


def sync(settings: Settings) -> dict:
    return run_sync(settings, RunOptions(apply=True)).summary()


def test_the_first_sync_sets_every_mapped_attribute_and_managers_it_creates(
    mapped: Settings, idc: IdentityCenterView
) -> None:
    first = sync(mapped)
    second = sync(mapped)

    assert not any("enterprise.manager" in w for w in first["warnings"])
    assert first["applied"]["user.update"] == 3  # carol, once created, is their manager
    assert second["planned"] == {}  # one run converges
    alice = attributes_of(idc, "alice@example.com")
    assert alice == {
        "title": "Engineer",
        "department": "R&D",
        "costCenter": "CC-1",
        "employeeNumber": "E-alice",
        "division": "Platform",
        "manager": {"value": idc.users()["carol@example.com"]},
    }
    assert attributes_of(idc, "dan@example.com") == {"title": None}  # nothing in Google


def test_one_change_in_google_is_one_update_of_just_that_attribute(
    mapped: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
) -> None:
    sync(mapped)
    google.set_custom_field("bob@example.com", "HR", "division", "Data")
    moto_app.reset_counters()

    changed = run_sync(mapped, RunOptions(apply=True))

    (update,) = changed.plan.operations
    assert update.changes == (("enterprise.division", "Data"),)
    assert update.before == (("enterprise.division", "Platform"),)
    assert writes(moto_app) == {"UpdateUser": 1}
    assert attributes_of(idc, "bob@example.com")["division"] == "Data"


def test_a_field_cleared_in_google_removes_the_attribute(
    mapped: Settings, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    sync(mapped)
    google.set_profile("alice@example.com", externalIds=None)

    summary = sync(mapped)

    assert summary["applied"] == {"user.update": 1}
    assert "employeeNumber" not in attributes_of(idc, "alice@example.com")


def test_a_rerun_with_no_change_writes_nothing_and_describes_no_one(
    mapped: Settings, moto_app: ExtendedMotoApp
) -> None:
    sync(mapped)
    moto_app.reset_counters()

    summary = sync(mapped)

    assert summary["planned"] == {} and writes(moto_app) == {}
    assert "DescribeUser" not in moto_app.calls
    assert moto_app.calls["ListUsers"] == 1


def test_without_the_section_attributes_set_by_hand_are_left_alone(
    settings: Settings, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    sync(settings)
    alice = idc.users()["alice@example.com"]
    idc.client.update_user(
        IdentityStoreId=idc.store_id,
        UserId=alice,
        Operations=[{"AttributePath": "title", "AttributeValue": "Set by hand"}],
    )

    assert sync(settings)["planned"] == {}
    assert attributes_of(idc, "alice@example.com")["title"] == "Set by hand"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("    titel: organizations.primary.title", "did you mean title"),
        ("    title: organizations.primary.tite", "not a Google Directory field"),
        ("    enterprise.manager: externalIds.manager", "only relations.manager"),
        ("    title: customSchemas.HR", "not a Google Directory field"),
    ],
)
def test_a_bad_mapping_is_exit_2_naming_its_line(
    settings: Settings, entry: str, says: str, capsys: pytest.CaptureFixture
) -> None:
    rules = Path(settings.rules)
    text = rules.read_text() + "attributes:\n  user:\n" + entry + "\n"
    rules.write_text(text)
    line = len(text.splitlines())

    assert main(["validate", str(rules)]) == 2

    error = capsys.readouterr().err
    assert f"{rules}:{line}:" in error and says in error


def test_a_session_tag_of_an_unmapped_attribute_is_refused(
    settings: Settings, capsys: pytest.CaptureFixture
) -> None:
    rules = Path(settings.rules)
    rules.write_text(
        rules.read_text()
        + "attributes:\n  access_control:\n    CostCenter: enterprise.costCenter\n"
    )

    assert main(["validate", str(rules)]) == 2
    assert "access_control.CostCenter" in capsys.readouterr().err


def test_the_read_asks_google_for_the_mapped_custom_schema_only(
    mapped: Settings, google: GoogleDirectoryEmulator
) -> None:
    sync(mapped)

    assert google.user_by_email("alice@example.com").custom_schemas["Payroll"]
    listings = [args for path, args in google.arguments if path.endswith("/users")]
    assert listings and all(
        args.get("projection") == "custom" and args.get("customFieldMask") == "HR"
        for args in listings
    )


def access_control(moto_app: ExtendedMotoApp) -> list[dict] | None:
    instance, _ = moto_app.identity_center("us-east-1")
    try:
        described = boto3.client(
            "sso-admin"
        ).describe_instance_access_control_attribute_configuration(InstanceArn=instance)
    except boto3.client("sso-admin").exceptions.ResourceNotFoundException:
        return None
    return described["InstanceAccessControlAttributeConfiguration"]["AccessControlAttributes"]


def test_the_instance_access_control_attributes_are_the_rules(
    mapped: Settings, moto_app: ExtendedMotoApp, org: dict[str, str]
) -> None:
    rules = Path(mapped.rules)
    rules.write_text(rules.read_text() + SESSION_TAGS)
    first = sync(mapped)
    again = sync(mapped)
    rules.write_text(rules.read_text() + "    Email: email\n    Manager: enterprise.manager\n")
    widened = sync(mapped)

    assert first["applied"]["access_control.create"] == 1
    assert "access_control.update" not in again["planned"]
    assert widened["applied"]["access_control.update"] == 1
    assert access_control(moto_app) == [
        {"Key": "CostCenter", "Value": {"Source": ["${path:enterprise.costCenter}"]}},
        {"Key": "Email", "Value": {"Source": ["${path:emails[primary eq true].value}"]}},
        {"Key": "Manager", "Value": {"Source": ["${path:enterprise.manager.value}"]}},
    ]


def test_without_session_tags_in_the_rules_the_instance_configuration_is_left_alone(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    instance, _ = moto_app.identity_center("us-east-1")
    by_hand = [{"Key": "Team", "Value": {"Source": ["${path:userType}"]}}]
    boto3.client("sso-admin").create_instance_access_control_attribute_configuration(
        InstanceArn=instance,
        InstanceAccessControlAttributeConfiguration={"AccessControlAttributes": by_hand},
    )

    moto_app.reset_counters()

    sync(settings)

    assert "DescribeInstanceAccessControlAttributeConfiguration" not in moto_app.calls
    assert access_control(moto_app) == by_hand


def test_a_manager_who_is_not_synced_is_left_unset_with_one_warning(
    mapped: Settings, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    for name in ("dan", "alice"):  # erin is in no synced group
        google.set_profile(
            f"{name}@example.com", relations=[{"type": "manager", "value": "erin@example.com"}]
        )

    warnings = sync(mapped)["warnings"]

    (warning,) = [w for w in warnings if "enterprise.manager" in w]
    assert "alice@example.com, dan@example.com" in warning
    assert "manager" not in attributes_of(idc, "dan@example.com")


SANDBOXES = """
permission_sets:
  SandboxAdmin:
    managed_policies: [AdministratorAccess]
assignments:
  - user_from_tag: owner
    permission_sets: [SandboxAdmin]
    accounts: ["ou:/Sandbox"]
attributes:
  user_name: customSchemas.AWS.userName
"""


def test_a_user_name_from_a_custom_attribute_renames_the_same_user_keeping_their_access(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    org: dict[str, str],
) -> None:
    rules = Path(settings.rules)
    rules.write_text(rules.read_text() + SANDBOXES)
    seed_small_company(google)
    for name in ("alice", "bob", "carol"):  # dan has none
        google.set_custom_field(f"{name}@example.com", "AWS", "userName", f"{name}-aws")
    first = sync(settings)
    alice = idc.users()["alice-aws"]
    assignments = AccessView(moto_app).assignments([org["sandbox-alice"]])
    google.set_custom_field("alice@example.com", "AWS", "userName", "alice-renamed")

    renamed = run_sync(settings, RunOptions(apply=True))

    assert sorted(idc.users()) == ["alice-renamed", "bob-aws", "carol-aws"]
    assert any("dan@example.com: no customSchemas.AWS.userName" in w for w in first["warnings"])
    (rename,) = renamed.plan.operations
    assert rename.changes == (("userName", "alice-renamed"),)
    assert rename.reason == "user name (customSchemas.AWS.userName) changed in Google"
    assert idc.users()["alice-renamed"] == alice  # the same user
    assert "alice-renamed" in idc.members("Engineering")
    assert AccessView(moto_app).assignments([org["sandbox-alice"]]) == assignments
    assert {principal for *_, principal in assignments} == {alice}


def test_a_user_name_from_a_field_sso_sync_cannot_read_is_exit_2(
    settings: Settings, capsys: pytest.CaptureFixture
) -> None:
    rules = Path(settings.rules)
    rules.write_text(rules.read_text() + "attributes:\n  user_name: relations.manager\n")

    assert main(["validate", str(rules)]) == 2
    assert "attributes.user_name" in capsys.readouterr().err


def test_a_sensitive_attribute_shows_as_changed_without_its_value(
    mapped: Settings,
    google: GoogleDirectoryEmulator,
    idc: IdentityCenterView,
    capsys: pytest.CaptureFixture,
    tmp_path: Path,
) -> None:
    rules = Path(mapped.rules)
    rules.write_text(rules.read_text() + "  sensitive: [enterprise.employeeNumber]\n")
    sync(mapped)
    google.set_profile("bob@example.com", externalIds=[{"type": "organization", "value": "E-9"}])
    saved = tmp_path / "plan.json"

    assert main(["plan", "--out", str(saved), *settings_arguments(mapped)]) == 0
    shown = capsys.readouterr().out
    applied = sync(mapped)

    assert 'enterprise.employeeNumber: "(sensitive, sha256' in shown
    assert "E-9" not in shown and "E-bob" not in shown
    assert "E-9" not in saved.read_text() and "E-bob" not in saved.read_text()
    assert "E-9" not in Path(mapped.audit).read_text()
    assert applied["applied"] == {"user.update": 1}
    assert attributes_of(idc, "bob@example.com")["employeeNumber"] == "E-9"  # written as it is
