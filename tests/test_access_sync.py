"""Permission sets and assignments end to end: rules, Google, the Organization and SSO Admin
(moto with asynchronous assignments) over HTTP."""

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from sync.apply.executor import spread_across_accounts
from sync.cli import main
from sync.delta.run import run_delta
from sync.errors import ConfigError, ExitCode
from sync.local.aws import ExtendedMotoApp, Refusal
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.planning.plan import Action, AssignmentOperation
from sync.rules.loader import parse_rules
from sync.rules.model import Rules
from sync.run import RunOptions, run_sync
from sync.settings import Settings
from tests.helpers import (
    IdentityCenterView,
    add_people,
    create_account,
    move_account,
    seed_small_company,
    writes,
)
from tests.test_cli import settings_arguments

pytestmark = pytest.mark.heavy

RULES = """
version: 1
sync:
  groups:
    - {email: engineering@example.com, name: Engineering}
    - {email: data@example.com, name: Data}
permission_sets:
  PowerUser:
    description: Build and run workloads
    session_duration: PT8H
    managed_policies: [PowerUserAccess]
    tags: {team: platform}
  ReadOnly:
    managed_policies: [ReadOnlyAccess]
    inline_policy:
      Version: "2012-10-17"
      Statement: [{Effect: Deny, Action: "s3:GetObject", Resource: "*"}]
    permissions_boundary: {managed_policy_arn: "arn:aws:iam::aws:policy/PowerUserAccess"}
  SandboxAdmin:
    session_duration: PT4H
    managed_policies: [AdministratorAccess]
assignments:
  - groups: [Engineering]
    permission_sets: [PowerUser]
    accounts: ["ou:/Workloads/Development", "ou:/Workloads/Staging"]
  - groups: [Engineering, data@example.com]
    permission_sets: [ReadOnly]
    accounts: ["ou:/Workloads/Production"]
  - user_from_tag: owner
    permission_sets: [SandboxAdmin]
    accounts: ["ou:/Sandbox"]
"""
APPLY = RunOptions(apply=True, trigger="test")


@pytest.fixture
def access_rules() -> Rules:
    return parse_rules(RULES)


class AccessView:
    """What SSO Admin holds, named: {(permission set, account id, principal type, id)}."""

    def __init__(self, moto_app: ExtendedMotoApp) -> None:
        self.client = boto3.client("sso-admin")
        self.instance, _ = moto_app.identity_center("us-east-1")

    def permission_sets(self) -> dict[str, str]:
        arns = self.client.list_permission_sets(InstanceArn=self.instance)["PermissionSets"]
        return {
            self.client.describe_permission_set(InstanceArn=self.instance, PermissionSetArn=arn)[
                "PermissionSet"
            ]["Name"]: arn
            for arn in arns
        }

    def described(self, name: str) -> dict:
        """DescribePermissionSet of the permission set with this name."""
        arn = self.permission_sets()[name]
        return self.client.describe_permission_set(InstanceArn=self.instance, PermissionSetArn=arn)[
            "PermissionSet"
        ]

    def assignments(self, account_ids: list[str]) -> set[tuple[str, str, str, str]]:
        names = {arn: name for name, arn in self.permission_sets().items()}
        return {
            (names[a["PermissionSetArn"]], a["AccountId"], a["PrincipalType"], a["PrincipalId"])
            for arn in names
            for account in account_ids
            for a in self.client.list_account_assignments(
                InstanceArn=self.instance, AccountId=account, PermissionSetArn=arn
            )["AccountAssignments"]
        }


def test_first_apply_grants_exactly_the_rules_and_a_second_writes_nothing(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    view = AccessView(moto_app)

    report = run_sync(settings, APPLY, access_rules)

    assert report.exit_code is ExitCode.OK, report.summary()["errors"]
    groups, users = idc.groups(), idc.users()
    assert view.assignments(list(org.values())) == {
        ("PowerUser", org["Development"], "GROUP", groups["Engineering"]),
        ("PowerUser", org["Staging"], "GROUP", groups["Engineering"]),
        ("ReadOnly", org["Production"], "GROUP", groups["Engineering"]),
        ("ReadOnly", org["Production"], "GROUP", groups["Data"]),
        ("SandboxAdmin", org["sandbox-alice"], "USER", users["alice@example.com"]),
    }
    arn = view.permission_sets()["ReadOnly"]
    ids = {"InstanceArn": view.instance, "PermissionSetArn": arn}
    assert "s3:GetObject" in view.client.get_inline_policy_for_permission_set(**ids)["InlinePolicy"]
    tags = view.client.list_tags_for_resource(InstanceArn=view.instance, ResourceArn=arn)["Tags"]
    assert {"Key": "managed-by", "Value": "sso-sync"} in tags
    boundary = view.client.get_permissions_boundary_for_permission_set(**ids)
    assert boundary["PermissionsBoundary"]["ManagedPolicyArn"].endswith("/PowerUserAccess")

    moto_app.reset_counters()
    again = run_sync(settings, APPLY, access_rules)

    assert again.plan.operations == ()
    assert writes(moto_app) == {}


def test_a_sandbox_owner_offboarded_by_a_delta_run_loses_the_assignment_at_the_full_sync(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    view = AccessView(moto_app)
    run_sync(settings, APPLY, access_rules)
    run_delta(settings, APPLY, access_rules)
    alice = idc.users()["alice@example.com"]
    google.suspend_user("alice@example.com")

    run_delta(settings, APPLY, access_rules)
    assert "alice@example.com" not in idc.users()  # no sign-in: the assignment grants nothing
    full = run_sync(settings, APPLY, access_rules)

    assert [op.reason for op in full.plan.operations] == [
        "its principal no longer exists in Identity Center"
    ]
    assert ("SandboxAdmin", org["sandbox-alice"], "USER", alice) not in view.assignments(
        list(org.values())
    )


def test_plan_writes_nothing(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
) -> None:
    seed_small_company(google)

    report = run_sync(settings, RunOptions(apply=False), access_rules)

    assert report.plan.counts()[("assignment", "create")] == 5
    assert report.plan.counts()[("permission_set", "create")] == 3
    assert writes(moto_app) == {}


def test_moved_and_new_accounts_converge(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, access_rules)
    organizations = boto3.client("organizations")
    move_account(organizations, org["Staging"], "/Suspended")
    qa = create_account(moto_app, "qa@example.com", "QA")
    move_account(organizations, qa, "/Workloads/Development")

    report = run_sync(settings, APPLY, access_rules)

    assert report.exit_code is ExitCode.OK
    engineering = idc.groups()["Engineering"]
    held = AccessView(moto_app).assignments([*org.values(), qa])
    assert ("PowerUser", qa, "GROUP", engineering) in held
    assert ("PowerUser", org["Staging"], "GROUP", engineering) not in held


def test_hand_made_assignments_and_permission_sets_are_untouched(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, access_rules)
    view = AccessView(moto_app)
    breakglass = idc.create_user("breakglass@example.com")
    control_tower = view.client.create_permission_set(
        InstanceArn=view.instance, Name="AWSAdministratorAccess"
    )["PermissionSet"]["PermissionSetArn"]
    hand_made = [
        (control_tower, "GROUP", idc.groups()["Engineering"]),
        (view.permission_sets()["PowerUser"], "USER", breakglass),
    ]
    for arn, kind, principal in hand_made:
        view.client.create_account_assignment(
            InstanceArn=view.instance,
            TargetId=org["Production"],
            TargetType="AWS_ACCOUNT",
            PermissionSetArn=arn,
            PrincipalType=kind,
            PrincipalId=principal,
        )

    report = run_sync(settings, APPLY, access_rules)

    assert report.plan.operations == ()
    held = view.assignments(list(org.values()))
    assert (
        "AWSAdministratorAccess",
        org["Production"],
        "GROUP",
        idc.groups()["Engineering"],
    ) in held
    assert ("PowerUser", org["Production"], "USER", breakglass) in held


def test_an_edited_permission_set_is_updated_and_reprovisioned(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, parse_rules(RULES))
    moto_app.reset_counters()

    edited = parse_rules(RULES.replace("PT8H", "PT2H").replace("{team: platform}", "{team: infra}"))
    report = run_sync(settings, APPLY, edited)

    assert report.exit_code is ExitCode.OK
    assert [(op.action.value, op.label) for op in report.plan.operations] == [
        ("update", "PowerUser"),
        ("provision", "PowerUser"),
    ]
    assert moto_app.calls["UpdatePermissionSet"] == 1
    assert moto_app.calls["ProvisionPermissionSet"] == 1
    assert moto_app.calls["TagResource"] == 1
    described = AccessView(moto_app).described("PowerUser")
    assert described["SessionDuration"] == "PT2H"


def test_a_failed_assignment_is_reported_and_the_rest_applied(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    moto_app.sso_admin.failing_accounts[org["Production"]] = (
        "Received a 404 status error: Not supported policy arn:aws:iam::aws:policy/ReadOnlyAccess."
    )

    report = run_sync(settings, APPLY, access_rules)

    assert report.exit_code is ExitCode.RUN_FAILED
    errors = report.summary()["errors"]
    assert len(errors) == 2
    assert all("FAILED: Received a 404" in error and "Production" in error for error in errors)
    assert report.applied is not None
    assert sum(o.ok for o in report.applied.outcomes if o.operation.resource == "assignment") == 3


def test_sixty_assignments_never_exceed_ten_outstanding_and_spread_across_accounts(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    owners = add_people(google, 60, "data@example.com")
    sandboxes = build_organization_accounts(moto_app, owners)
    moto_app.sso_admin.seconds_in_progress = 0.3
    busy = settings.model_copy(update={"concurrency": 32})

    report = run_sync(busy, APPLY, parse_rules(RULES))

    assert report.exit_code is ExitCode.OK, report.summary()["errors"]
    assert report.plan.counts()[("assignment", "create")] == 60 + 5
    assert len(sandboxes) == 60
    assert 8 <= moto_app.sso_admin.most_outstanding_assignment_requests <= 10
    assert moto_app.sso_admin.refused_for_limits == 0
    # Sixty owners leave: the deletions count against the same ten.
    for owner in owners:
        google.suspend_user(owner)
    moto_app.sso_admin.most_outstanding_assignment_requests = 0
    offboarding = run_sync(busy, RunOptions(apply=True, allow_mass_delete=True), parse_rules(RULES))
    assert offboarding.plan.counts()[("assignment", "delete")] == 60
    assert 8 <= moto_app.sso_admin.most_outstanding_assignment_requests <= 10
    assert moto_app.sso_admin.refused_for_limits == 0


def test_assignment_writes_take_accounts_in_turn() -> None:
    def assign(account: str, group: str) -> AssignmentOperation:
        return AssignmentOperation(Action.CREATE, account, account, "P", "GROUP", group, group, "")

    plan = [assign(a, g) for a in ("111", "222", "333") for g in ("x", "y")]

    order = [op.account_id for op in spread_across_accounts(plan)]

    assert order == ["111", "222", "333", "111", "222", "333"]


def build_organization_accounts(moto_app: ExtendedMotoApp, owners: list[str]) -> list[str]:
    organizations = boto3.client("organizations")
    ids = []
    for index, owner in enumerate(owners):
        account = create_account(moto_app, f"sandbox{index}@example.com", f"sandbox-{index}")
        move_account(organizations, account, "/Sandbox")
        organizations.tag_resource(ResourceId=account, Tags=[{"Key": "owner", "Value": owner}])
        ids.append(account)
    return ids


def delegated_administrator(monkeypatch: pytest.MonkeyPatch, access_key: str) -> None:
    """Calls from now on with this access key (boto3's default session caches credentials)."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # the test's own is restored after
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    boto3.setup_default_session()


MANAGEMENT_RULE = """
  - groups: [Engineering]
    permission_sets: [ReadOnly]
    accounts: [management]
"""


def test_the_delegated_administrator_leaves_the_management_account_to_the_management_account(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed_small_company(google)
    management = boto3.client("organizations").describe_organization()["Organization"][
        "MasterAccountId"
    ]
    run_sync(settings, APPLY, parse_rules(RULES + MANAGEMENT_RULE))  # from the management account
    view = AccessView(moto_app)
    readonly_in_management = view.assignments([management])
    assert readonly_in_management, "the management account's own run assigns there"
    # From now on the run comes from a member account, Identity Center's delegated administrator.
    moto_app.caller_accounts["delegated-admin-key"] = org["Production"]
    delegated_administrator(monkeypatch, "delegated-admin-key")
    edited = RULES.replace("PT8H", "PT2H").replace(
        "ReadOnlyAccess]", "ReadOnlyAccess, SecurityAudit]"
    )
    edited += MANAGEMENT_RULE.replace("ReadOnly]", "PowerUser]")  # new in the management account

    report = run_sync(settings, APPLY, parse_rules(edited))

    assert report.exit_code is ExitCode.OK, report.summary()["errors"]
    planned = [(op.action.value, op.label) for op in report.plan.operations]
    assert ("update", "PowerUser") in planned, "what the delegated administrator may do it does"
    assert not any(label == "ReadOnly" for _, label in planned), planned
    assert not any(management in str(op) for op in report.plan.operations)
    warnings = "\n".join(report.plan.warnings)
    assert "permission set ReadOnly is provisioned in the management account" in warnings
    assert "assignments rule 4: 1 assignment(s) in the management account" in warnings
    assert "1 assignment(s) in the management account that no rule grants" in warnings
    assert view.assignments([management]) == readonly_in_management


def test_a_hand_edited_policy_is_shown_as_a_json_diff(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, access_rules)
    view = AccessView(moto_app)
    view.client.put_inline_policy_to_permission_set(
        InstanceArn=view.instance,
        PermissionSetArn=view.permission_sets()["ReadOnly"],
        InlinePolicy='{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
    )
    Path(settings.rules).write_text(RULES)
    capsys.readouterr()

    assert main(["plan", *settings_arguments(settings)]) == 0
    text = capsys.readouterr().out

    assert "~ update ReadOnly" in text
    assert "inline_policy:" in text
    assert '-      "Action": "*",' in text
    assert '+      "Action": "s3:GetObject",' in text
    assert '-      "Effect": "Allow",' in text and '+      "Effect": "Deny",' in text


def test_a_description_dropped_from_the_rules_is_kept_not_updated_forever(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, access_rules)
    dropped = parse_rules(RULES.replace("    description: Build and run workloads\n", ""))

    first = run_sync(settings, APPLY, dropped)
    moto_app.reset_counters()
    second = run_sync(settings, APPLY, dropped)

    assert first.plan.operations == () and second.plan.operations == ()
    assert moto_app.calls["UpdatePermissionSet"] == 0
    assert any(
        "PowerUser: its description cannot be cleared" in w and "Build and run workloads" in w
        for w in first.plan.warnings
    )
    described = AccessView(moto_app).described("PowerUser")
    assert described["Description"] == "Build and run workloads"


def test_an_assignment_failing_on_the_roles_policy_quota_says_which_quota(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    eleven = (
        "[ReadOnlyAccess, SecurityAudit, AmazonS3ReadOnlyAccess, AmazonEC2ReadOnlyAccess, "
        "AWSLambda_ReadOnlyAccess, CloudWatchReadOnlyAccess, AmazonRDSReadOnlyAccess, "
        "AmazonDynamoDBReadOnlyAccess, AmazonSQSReadOnlyAccess, AmazonSNSReadOnlyAccess, "
        "AWSCloudFormationReadOnlyAccess]"
    )
    rules = parse_rules(
        RULES.replace("managed_policies: [PowerUserAccess]", f"managed_policies: {eleven}")
    )

    report = run_sync(settings, APPLY, rules)

    assert report.exit_code is ExitCode.RUN_FAILED
    errors = [e for e in report.summary()["errors"] if "PowerUser" in e]
    assert len(errors) == 2  # Development and Staging
    assert all("PoliciesPerRole" in e and "'Managed policies per role' quota" in e for e in errors)


def test_a_conflict_on_create_permission_set_that_is_not_the_name_is_retried(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    # SSO Admin's ConflictException also means "a previous write has not propagated yet".
    moto_app.refusals.append(
        Refusal("CreatePermissionSet", "ConflictException", "PowerUser", "Try again", times=2)
    )

    report = run_sync(settings, APPLY, access_rules)

    assert report.exit_code is ExitCode.OK, report.summary()["errors"]
    assert moto_app.calls["CreatePermissionSet"] == 3 + 2
    assert "PowerUser" in AccessView(moto_app).permission_sets()


def test_permission_sets_sharing_an_account_are_provisioned_one_at_a_time(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    both_in_production = RULES.replace(
        '["ou:/Workloads/Development", "ou:/Workloads/Staging"]',
        '["ou:/Workloads/Development", "ou:/Workloads/Production"]',
    )
    run_sync(settings, APPLY, parse_rules(both_in_production))
    moto_app.sso_admin.seconds_in_progress = 0.3
    edited = both_in_production.replace("PT8H", "PT2H").replace(
        "managed_policies: [ReadOnlyAccess]",
        "session_duration: PT3H\n    managed_policies: [ReadOnlyAccess]",
    )

    report = run_sync(settings, APPLY, parse_rules(edited))

    assert report.exit_code is ExitCode.OK, report.summary()["errors"]
    assert report.plan.counts()[("permission_set", "provision")] == 2
    assert moto_app.sso_admin.refused_for_limits == 0, "no provisioning waited on another"


def test_a_misspelt_aws_managed_policy_is_found_at_plan_time_before_any_write(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    Path(settings.rules).write_text(RULES.replace("[PowerUserAccess]", "[PowerUserAcess]"))

    assert main(["apply", "--auto-approve", *settings_arguments(settings)]) == 2

    assert writes(moto_app) == {}
    assert moto_app.calls["CreatePermissionSet"] == 0
    Path(settings.rules).write_text(RULES)
    assert main(["plan", *settings_arguments(settings)]) == 0


def test_the_misspelling_is_named_with_its_permission_set(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    org: dict[str, str],
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)
    Path(settings.rules).write_text(RULES.replace("[PowerUserAccess]", "[PowerUserAcess]"))

    assert main(["plan", *settings_arguments(settings)]) == 2

    assert (
        "permission_sets.PowerUser: arn:aws:iam::aws:policy/PowerUserAcess is not an AWS "
        "managed policy" in " ".join(capsys.readouterr().err.split())
    )


def test_a_principal_made_and_assigned_by_hand_while_the_run_reads_is_left_alone(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    org: dict[str, str],
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, access_rules)
    view = AccessView(moto_app)
    made: list[str] = []

    def a_person_at_the_console() -> None:
        # After the run listed the users, before it lists the assignments.
        made.append(idc.create_user("contractor@example.com"))
        view.client.create_account_assignment(
            InstanceArn=view.instance,
            TargetId=org["Staging"],
            TargetType="AWS_ACCOUNT",
            PermissionSetArn=view.permission_sets()["PowerUser"],
            PrincipalType="USER",
            PrincipalId=made[0],
        )

    moto_app.before_first["ListAccountAssignments"] = a_person_at_the_console

    report = run_sync(settings, APPLY, access_rules)

    assert report.exit_code is ExitCode.OK
    assert ("PowerUser", org["Staging"], "USER", made[0]) in view.assignments([org["Staging"]])
    assert report.summary()["applied"] == {"assignment.delete.skipped": 1}
    assert moto_app.calls["DeleteAccountAssignment"] == 0


def test_a_selector_typo_that_would_remove_a_rules_assignments_is_refused(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)
    run_sync(settings, APPLY, access_rules)
    typo = RULES.replace('["ou:/Workloads/Production"]', '["ou:/Workloads/Prod"]')
    Path(settings.rules).write_text(typo)
    moto_app.reset_counters()

    assert main(["plan", *settings_arguments(settings)]) == 2

    err = " ".join(capsys.readouterr().err.split())
    assert "assignments rule 2: its accounts (ou:/Workloads/Prod) match no account" in err
    assert "allow_empty: true" in err
    intended = typo.replace(
        '    accounts: ["ou:/Workloads/Prod"]',
        '    accounts: ["ou:/Workloads/Prod"]\n    allow_empty: true',
    )
    Path(settings.rules).write_text(intended)
    assert main(["apply", "--auto-approve", *settings_arguments(settings)]) == 0
    assert moto_app.calls["DeleteAccountAssignment"] == 2


def test_plan_no_delete_says_what_it_holds_back(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    org: dict[str, str],
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)
    Path(settings.rules).write_text(RULES)
    run_sync(settings, APPLY, access_rules)
    google.suspend_user("dan@example.com")
    capsys.readouterr()

    assert main(["plan", "--no-delete", *settings_arguments(settings)]) == 0

    out = capsys.readouterr().out
    assert "Plan: no changes but deletions." in out and "held back by --no-delete" in out


def test_outside_an_organization_the_error_says_so_and_what_to_do(
    settings: Settings,
    access_rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)
    Path(settings.rules).write_text(RULES)

    assert main(["plan", *settings_arguments(settings)]) == 2

    err = " ".join(capsys.readouterr().err.split())
    assert "not in an AWS Organization" in err and "sso-sync bootstrap" in err
    assert "reached max retries" not in err


def test_an_unreachable_aws_endpoint_is_a_configuration_error(
    settings: Settings, google: GoogleDirectoryEmulator
) -> None:
    seed_small_company(google)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sync.cli",
            "plan",
            "--retry-attempts=1",
            *settings_arguments(settings),
        ],
        env={**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},  # nothing listens
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stderr
    assert "cannot reach AWS" in result.stderr and "AWS_ENDPOINT_URL" in result.stderr


def management_account_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls from now on with the test's own keys: the management account's."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    boto3.setup_default_session()


def test_a_management_scope_run_does_exactly_what_the_delegated_administrator_may_not(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    org: dict[str, str],
    idc: IdentityCenterView,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    seed_small_company(google)
    management = boto3.client("organizations").describe_organization()["Organization"][
        "MasterAccountId"
    ]
    rules = parse_rules(RULES + MANAGEMENT_RULE)
    main_deployment = settings
    management_deployment = settings.model_copy(
        update={"scope": "management", "state": str(tmp_path / "management-state.json")}
    )
    moto_app.caller_accounts["delegated-admin-key"] = org["Production"]
    delegated_administrator(monkeypatch, "delegated-admin-key")
    assert run_sync(main_deployment, APPLY, rules).exit_code is ExitCode.OK
    view = AccessView(moto_app)
    assert view.assignments([management]) == set()
    with pytest.raises(ConfigError, match="--scope management runs in the management account"):
        run_sync(management_deployment, APPLY, rules)
    management_account_session(monkeypatch)
    moto_app.reset_counters()

    report = run_sync(management_deployment, APPLY, rules)

    assert report.exit_code is ExitCode.OK, report.summary()["errors"]
    assert [(op.resource, op.action.value, op.label) for op in report.plan.operations] == [
        (
            "assignment",
            "create",
            f"ReadOnly → group Engineering in {report.plan.operations[0].account_name} "
            f"({management})",
        )
    ]
    assert writes(moto_app) == {"CreateAccountAssignment": 1}
    engineering = idc.groups()["Engineering"]
    assert view.assignments([management]) == {("ReadOnly", management, "GROUP", engineering)}
    assert run_sync(management_deployment, APPLY, rules).plan.operations == ()
    delegated_administrator(monkeypatch, "delegated-admin-key")
    again = run_sync(main_deployment, APPLY, rules)
    assert again.plan.operations == ()
    assert "managed from the management account" in "\n".join(again.plan.warnings)
