"""What is reviewed is what runs, tried as an attacker who can edit a pull request, a Google
profile or a Lambda payload would: a saved plan pins every value it writes, the rules read
nothing outside their folder, the report survives any name, a typo fails closed, and the
deployment's mode bounds every invoker."""

import json
from pathlib import Path

import pytest

from sync.cli import main
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.settings import Settings
from tests.helpers import seed_small_company, writes
from tests.test_access_sync import AccessView
from tests.test_cli import settings_arguments

REVIEWED = """
version: 1
sync:
  groups:
    - {email: engineering@example.com, name: Engineering}
permission_sets:
  Ops:
    managed_policies: [ReadOnlyAccess]
assignments:
  - groups: [Engineering]
    permission_sets: [Ops]
    accounts: ["ou:/Workloads/Production"]
"""
WIDENED = REVIEWED.replace(
    "    managed_policies: [ReadOnlyAccess]\n",
    "    managed_policies: [AdministratorAccess]\n"
    "    session_duration: PT12H\n"
    "    inline_policy: {Version: '2012-10-17', Statement: [{Effect: Allow, Action: '*', "
    "Resource: '*'}]}\n",
)


@pytest.fixture
def reviewed(
    settings: Settings, google: GoogleDirectoryEmulator, org: dict[str, str]
) -> tuple[Settings, Path]:
    """The small company, the REVIEWED rules, and a plan of them saved with plan --out."""
    seed_small_company(google)
    Path(settings.rules).write_text(REVIEWED)
    saved = Path(settings.rules).parent / "plan.json"
    assert main(["plan", "--out", str(saved), *settings_arguments(settings)]) == 0
    return settings, saved


def test_a_saved_plan_carries_every_value_it_writes(reviewed: tuple[Settings, Path]) -> None:
    _, saved = reviewed
    plan = json.loads(saved.read_text())

    (create,) = [op for op in plan["operations"] if op["resource"] == "permission_set"]
    desired = create["values"]["desired"]
    assert desired["managed_policy_arns"] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    assert desired["session_duration"] == "PT1H" and desired["inline_policy"] is None
    assert ["managed-by", "sso-sync"] in desired["tags"]
    assert set(plan["inputs"]) == {"rules", "google", "identity_center"}
    assert plan["format"] == "sso-sync plan 2"


def test_rules_widened_after_the_review_are_not_applied(
    reviewed: tuple[Settings, Path],
    moto_app: ExtendedMotoApp,
    capsys: pytest.CaptureFixture,
) -> None:
    settings, saved = reviewed
    Path(settings.rules).write_text(WIDENED)
    capsys.readouterr()

    assert main(["apply", str(saved), *settings_arguments(settings)]) == 3

    assert writes(moto_app) == {}
    assert "the rules changed since it was made" in " ".join(capsys.readouterr().out.split())


def test_a_saved_plan_edited_by_hand_is_not_applied(
    reviewed: tuple[Settings, Path],
    moto_app: ExtendedMotoApp,
    capsys: pytest.CaptureFixture,
) -> None:
    settings, saved = reviewed
    plan = json.loads(saved.read_text())
    for operation in plan["operations"]:
        if operation["resource"] == "permission_set":
            operation["values"]["desired"]["session_duration"] = "PT12H"
    saved.write_text(json.dumps(plan))
    capsys.readouterr()

    assert main(["apply", str(saved), *settings_arguments(settings)]) == 3

    assert writes(moto_app) == {}
    assert "~ permission_set create Ops" in capsys.readouterr().out


def test_a_target_changed_in_aws_since_the_plan_makes_it_stale_and_says_which(
    settings: Settings,
    reviewed: tuple[Settings, Path],
    moto_app: ExtendedMotoApp,
    capsys: pytest.CaptureFixture,
) -> None:
    _, saved = reviewed
    assert main(["apply", "--auto-approve", *settings_arguments(settings)]) == 0
    Path(settings.rules).write_text(REVIEWED.replace("[ReadOnlyAccess]", "[SecurityAudit]"))
    assert main(["plan", "--out", str(saved), *settings_arguments(settings)]) == 0
    view = AccessView(moto_app)
    view.client.put_inline_policy_to_permission_set(
        InstanceArn=view.instance,
        PermissionSetArn=view.permission_sets()["Ops"],
        InlinePolicy='{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*",'
        '"Resource":"*"}]}',
    )
    moto_app.reset_counters()
    capsys.readouterr()

    assert main(["apply", str(saved), *settings_arguments(settings)]) == 3

    assert writes(moto_app) == {}
    assert "~ permission_set update Ops" in capsys.readouterr().out


def test_a_plan_of_another_format_version_is_refused_with_what_to_do(
    reviewed: tuple[Settings, Path],
    moto_app: ExtendedMotoApp,
    capsys: pytest.CaptureFixture,
) -> None:
    settings, saved = reviewed
    plan = json.loads(saved.read_text()) | {"format": "sso-sync plan 1"}
    saved.write_text(json.dumps(plan))
    capsys.readouterr()

    assert main(["apply", str(saved), *settings_arguments(settings)]) == 2

    assert writes(moto_app) == {}
    assert "run plan --out again with this version" in " ".join(capsys.readouterr().err.split())


def test_the_reviewed_plan_applies(
    reviewed: tuple[Settings, Path], moto_app: ExtendedMotoApp
) -> None:
    settings, saved = reviewed

    assert main(["apply", str(saved), *settings_arguments(settings)]) == 0

    assert AccessView(moto_app).described("Ops")["SessionDuration"] == "PT1H"
