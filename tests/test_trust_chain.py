"""What is reviewed is what runs, tried as an attacker who can edit a pull request, a Google
profile or a Lambda payload would: a saved plan pins every value it writes, the rules read
nothing outside their folder, the report survives any name, a typo fails closed, and the
deployment's mode bounds every invoker."""

import json
from pathlib import Path

import boto3
import pytest

from sync.bootstrap.run import run_bootstrap
from sync.cli import main
from sync.errors import ConfigError
from sync.handler import lambda_handler
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.stack import environment
from sync.settings import Settings
from tests.helpers import Context, seed_small_company, settings_environment, writes
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
    settings, saved = reviewed
    plan = json.loads(saved.read_text())

    (create,) = [op for op in plan["operations"] if op["resource"] == "permission_set"]
    desired = create["values"]["desired"]
    assert desired["managed_policy_arns"] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    assert desired["session_duration"] == "PT1H" and desired["inline_policy"] is None
    assert ["managed-by", "sso-sync"] in desired["tags"]
    assert set(plan["inputs"]) == {"rules", "rules_location", "google", "identity_center"}
    assert plan["inputs"]["rules_location"] == settings.rules
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
    said = " ".join(capsys.readouterr().out.split())
    assert f"it was made from other rules ({settings.rules} as it was then)" in said
    assert "with the rules now, the plan differs in ~ permission_set create Ops" in said


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


POLICY_RULES = REVIEWED.replace("managed_policies: [ReadOnlyAccess]", "inline_policy: NAME")


def key_bytes(settings: Settings) -> list[str]:
    """Distinctive pieces of the Google service-account key: none may appear anywhere."""
    key = json.loads(Path(settings.google_credentials_file or "").read_text())
    return [key["private_key"][40:80], key["private_key_id"], key["client_email"]]


def rules_naming(settings: Settings, name: str) -> Path:
    """Rules in a folder of their own, their inline policy named `name`."""
    folder = Path(settings.rules).parent / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "policies").mkdir(exist_ok=True)
    rules = folder / "rules.yaml"
    rules.write_text(POLICY_RULES.replace("NAME", json.dumps(name)))
    return rules


def outside_names(settings: Settings) -> list[str]:
    key = Path(settings.google_credentials_file or "").resolve()
    link = Path(settings.rules).parent / "rules" / "policies" / "link.json"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(key)
    return [str(key), "../key.json", "policies/../../key.json", "policies/link.json"]


def test_an_inline_policy_path_outside_the_rules_folder_is_refused_without_reading_it(
    settings: Settings, capsys: pytest.CaptureFixture
) -> None:
    for name in outside_names(settings):
        rules = rules_naming(settings, name)

        assert main(["validate", str(rules)]) == 2, name
        message = capsys.readouterr().err
        assert f"{rules}:8: permission_sets.Ops.inline_policy" in message, message
        assert "not inside" in message
        assert not any(piece in message for piece in key_bytes(settings))


def test_a_path_outside_says_the_same_whether_or_not_something_is_there(
    settings: Settings, capsys: pytest.CaptureFixture
) -> None:
    messages = []
    for name in ("/etc/hostname", "/no/such/file.json"):
        rules = rules_naming(settings, name)
        assert main(["validate", str(rules)]) == 2
        messages.append(capsys.readouterr().err.replace(name, "NAME"))

    assert messages[0] == messages[1]


def test_a_file_inside_that_is_not_a_policy_document_is_refused_without_quoting_it(
    settings: Settings, capsys: pytest.CaptureFixture
) -> None:
    rules = rules_naming(settings, "policies/copied-key.json")
    key = Path(settings.google_credentials_file or "")
    (rules.parent / "policies" / "copied-key.json").write_text(key.read_text())

    assert main(["validate", str(rules)]) == 2

    message = capsys.readouterr().err
    assert "is not an IAM policy document" in message
    assert not any(piece in message for piece in key_bytes(settings))


def test_a_plan_never_holds_a_byte_of_the_key(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    org: dict[str, str],
    moto_app: ExtendedMotoApp,
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)
    folder = Path(settings.rules).parent
    for name in [*outside_names(settings), "policies/copied-key.json"]:
        rules = rules_naming(settings, name)
        key = Path(settings.google_credentials_file or "")
        (rules.parent / "policies" / "copied-key.json").write_text(key.read_text())
        pointed = settings.model_copy(update={"rules": str(rules)})
        saved = folder / "plan.json"

        assert main(["plan", "--out", str(saved), *settings_arguments(pointed)]) == 2
        assert main(["apply", "--auto-approve", *settings_arguments(pointed)]) == 2

        printed = capsys.readouterr()
        written = [
            p.read_text(errors="replace")
            for p in folder.rglob("*")
            if (p.is_file() and p.suffix != ".json") or p.name in ("plan.json", "state.json")
        ]
        for text in [printed.out, printed.err, *written]:
            assert not any(piece in text for piece in key_bytes(settings)), name
    assert writes(moto_app) == {}


@pytest.mark.parametrize("key", ["../../team-b/policy.json", "/team-a/policy.json", "a/../../x"])
def test_rules_in_s3_read_no_key_outside_their_prefix(
    settings: Settings, capsys: pytest.CaptureFixture, key: str
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="rules-bucket")
    policy = '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*"}}'
    s3.put_object(Bucket="rules-bucket", Key="team-b/policy.json", Body=policy.encode())
    s3.put_object(Bucket="rules-bucket", Key="x", Body=policy.encode())
    rules = POLICY_RULES.replace("NAME", json.dumps(key))
    s3.put_object(Bucket="rules-bucket", Key="team-a/sso/rules.yaml", Body=rules.encode())

    assert main(["validate", "s3://rules-bucket/team-a/sso/rules.yaml"]) == 2

    message = " ".join(capsys.readouterr().err.split())
    assert "s3://rules-bucket/team-a/sso/rules.yaml:8: permission_sets.Ops.inline_policy" in message
    assert "not under the s3 prefix team-a/sso/" in message


def test_validate_reads_rules_from_s3(settings: Settings, capsys: pytest.CaptureFixture) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="rules-bucket")
    s3.put_object(Bucket="rules-bucket", Key="sso/rules.yaml", Body=REVIEWED.encode())

    assert main(["validate", "s3://rules-bucket/sso/rules.yaml"]) == 0

    assert "s3://rules-bucket/sso/rules.yaml: valid" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["../../outside", "/etc/passwd"])
def test_an_org_definition_reads_no_scp_outside_its_folder(
    bootstrap_settings: Settings, name: str
) -> None:
    definition = bootstrap_settings.org_definition
    text = definition.read_text()
    definition.write_text(text.replace("[deny-leave-organization,", f"[{name},", 1))
    (definition.parent.parent / "outside.json").write_text(
        '{"Version": "2012-10-17", "Statement": []}'
    )

    with pytest.raises(ConfigError, match="not inside"):
        run_bootstrap(bootstrap_settings, apply=False)


EXCLUDING = REVIEWED.replace(
    'accounts: ["ou:/Workloads/Production"]',
    'accounts: ["ou:/Workloads/**"]\n    exclude: [EXCLUDE]',
)


@pytest.mark.parametrize(
    ("exclude", "meant"),
    [
        ("name:Prodction", "name:Production"),
        ("ou:/Workload/Production", "ou:/Workloads/Production"),
        ("{ou: /Workloads/**, name: Prodution}", "name:Production"),
    ],
)
def test_an_exclude_that_matches_nothing_is_refused_with_what_was_meant(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    org: dict[str, str],
    moto_app: ExtendedMotoApp,
    capsys: pytest.CaptureFixture,
    exclude: str,
    meant: str,
) -> None:
    seed_small_company(google)
    Path(settings.rules).write_text(EXCLUDING.replace("EXCLUDE", exclude))

    for command in (["apply", "--auto-approve"], ["access", "carol@example.com"], ["report"]):
        assert main([*command, *settings_arguments(settings)]) == 2, command
        message = " ".join(capsys.readouterr().err.split())
        assert "matches no account" in message and f"did you mean {meant!r}" in message
    assert writes(moto_app) == {}


def test_an_exclude_that_matches_keeps_the_account_out(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    org: dict[str, str],
    moto_app: ExtendedMotoApp,
) -> None:
    seed_small_company(google)
    Path(settings.rules).write_text(EXCLUDING.replace("EXCLUDE", "name:Production"))

    assert main(["apply", "--auto-approve", *settings_arguments(settings)]) == 0

    reached = {account for _, account, _, _ in AccessView(moto_app).assignments(list(org.values()))}
    assert reached == {org["Staging"], org["Development"]}


@pytest.mark.parametrize(
    ("payload", "refused"),
    [
        ({}, False),
        ({"source": "aws.events", "detail-type": "Scheduled Event"}, False),
        ({"dry_run": False}, True),
        ({"mode": "delta"}, True),
        ({"step": {"execution": "run-1", "input": {}}}, False),
        ({"step": {"execution": "run-1", "input": {"dry_run": False}}}, True),
        ({"step": {"execution": "run-1", "input": {"mode": "delta"}}}, True),
        ({"allow_mass_delete": True}, True),
    ],
)
def test_in_plan_mode_no_payload_writes(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
    payload: dict,
    refused: bool,
) -> None:
    seed_small_company(google)
    Path(settings.rules).write_text(REVIEWED)
    plan_mode = settings_environment(settings) | {"SSO_SYNC_SCHEDULED_RUNS": "plan"}

    with environment(plan_mode):
        if refused:
            with pytest.raises(ConfigError, match="refused payload"):
                lambda_handler(payload, Context())
        else:
            assert lambda_handler(payload, Context())["outcome"] == "planned"

    assert writes(moto_app) == {}


@pytest.mark.parametrize(
    ("step", "refused"),
    [
        ({"execution": "run-1", "input": {}, "carried": "s3://else/p.json"}, "refused step"),
        ({"execution": "run-1", "input": {}, "carried": "/tmp/plan.json"}, "refused step"),
        ({"execution": "../state", "input": {}}, "execution name"),
        ({"execution": "run-1", "input": {}, "resume": True}, "unknown key"),
        ({"execution": "run-1", "input": {"mode": "delta"}}, "delta runs are short"),
    ],
)
def test_a_step_payload_cannot_point_a_run_at_another_plan_or_place(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    step: dict,
    refused: str,
) -> None:
    seed_small_company(google)

    with environment(settings_environment(settings)), pytest.raises(ConfigError, match=refused):
        lambda_handler({"step": step}, Context())

    assert writes(moto_app) == {}


def test_allow_mass_delete_from_a_payload_is_refused_unless_the_deployment_allows_it(
    settings: Settings, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp
) -> None:
    seed_small_company(google)

    with (
        environment(settings_environment(settings)),
        pytest.raises(ConfigError, match="InvokersMayAllowMassDelete"),
    ):
        lambda_handler({"allow_mass_delete": True}, Context())

    assert sum(moto_app.calls.values()) == 0
