"""The org bootstrap against moto with the Organizations fixes: from nothing, idempotent,
drift restored, unknown accounts left alone, and every validation error."""

import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from sync.bootstrap.planner import Step
from sync.bootstrap.run import add_sandbox, run_bootstrap
from sync.cli import main
from sync.errors import ConfigError, ExitCode
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.seed import seed_demo_directory
from sync.settings import Settings
from tests.helpers import PlannedAccount, build_organization
from tests.test_cli import settings_arguments

pytestmark = pytest.mark.heavy


def organization() -> dict:
    client = boto3.client("organizations")
    root = client.list_roots()["Roots"][0]["Id"]
    paths = {root: "/"}
    pending = [root]
    while pending:
        parent = pending.pop()
        for unit in client.list_organizational_units_for_parent(ParentId=parent)[
            "OrganizationalUnits"
        ]:
            paths[unit["Id"]] = f"{paths[parent].rstrip('/')}/{unit['Name']}"
            pending.append(unit["Id"])
    accounts = {
        account["Name"]: (paths[parent], account["Id"])
        for parent in paths
        for account in client.list_accounts_for_parent(ParentId=parent)["Accounts"]
    }
    policies = {
        p["Name"]: sorted(
            paths[t["TargetId"]]
            for t in client.list_targets_for_policy(PolicyId=p["Id"])["Targets"]
            if t["TargetId"] in paths
        )
        for p in client.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
    }
    return {"accounts": accounts, "policies": policies, "client": client, "paths": paths}


def test_fresh_organization_from_nothing_then_a_second_apply_changes_nothing(
    bootstrap_settings: Settings,
) -> None:
    report = run_bootstrap(bootstrap_settings, apply=True)

    assert report.exit_code is ExitCode.OK, [f.error for f in report.result.failures]
    org = organization()
    assert org["accounts"]["Production"][0] == "/Workloads/Production"
    assert org["accounts"]["Access Management"][0] == "/Shared/Access Management"
    assert org["accounts"]["sandbox-lena.novak"][0] == "/Sandbox"
    assert len([n for n in org["accounts"] if n.startswith("sandbox-")]) == 9
    assert org["policies"]["region-allowlist"] == ["/Sandbox", "/Workloads"]
    assert org["policies"]["deny-root-user"] == ["/"]
    assert org["policies"]["sandbox-guardrails"] == ["/Sandbox"]
    tags = org["client"].list_tags_for_resource(
        ResourceId=org["accounts"]["sandbox-lena.novak"][1]
    )["Tags"]
    assert {"Key": "owner", "Value": "lena.novak@example.com"} in tags
    budgets = boto3.client("budgets").describe_budgets(AccountId="123456789012")["Budgets"]
    lena = next(b for b in budgets if b["BudgetName"] == "sandbox-lena.novak-monthly")
    assert lena["BudgetLimit"]["Amount"] in ("100", "100.0")
    assert lena["FilterExpression"] == {
        "Dimensions": {
            "Key": "LINKED_ACCOUNT",
            "Values": [org["accounts"]["sandbox-lena.novak"][1]],
        }
    }
    assert "CostFilters" not in lena
    admins = org["client"].list_delegated_administrators(ServicePrincipal="sso.amazonaws.com")
    assert [a["Name"] for a in admins["DelegatedAdministrators"]] == ["Access Management"]

    again = run_bootstrap(bootstrap_settings, apply=True)

    assert again.plan.operations == ()


def test_a_new_sandbox_is_one_line_and_one_apply(bootstrap_settings: Settings) -> None:
    run_bootstrap(bootstrap_settings, apply=True)

    add_sandbox(bootstrap_settings.org_definition, "nora.quinn@example.com", monthly_budget=50)
    report = run_bootstrap(bootstrap_settings, apply=True)

    assert [(op.step.value, op.target) for op in report.plan.operations] == [
        ("create account", "sandbox-nora.quinn"),
        ("create budget", "sandbox-nora.quinn-monthly"),
    ]
    assert (
        "{owner: nora.quinn@example.com, monthly_budget: 50}"
        in bootstrap_settings.org_definition.read_text()
    )
    assert "# One account per engineer" in bootstrap_settings.org_definition.read_text()
    with pytest.raises(ConfigError, match="already has a sandbox"):
        add_sandbox(bootstrap_settings.org_definition, "nora.quinn@example.com")


def test_drift_is_restored_and_unknown_accounts_left_alone(bootstrap_settings: Settings) -> None:
    run_bootstrap(bootstrap_settings, apply=True)
    org = organization()
    client = org["client"]
    units = {path: unit for unit, path in org["paths"].items()}
    client.move_account(
        AccountId=org["accounts"]["Staging"][1],
        SourceParentId=units["/Workloads/Staging"],
        DestinationParentId=units["/Sandbox"],
    )
    guardrails = next(
        p
        for p in client.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
        if p["Name"] == "sandbox-guardrails"
    )
    client.update_policy(
        PolicyId=guardrails["Id"], Content=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    created = client.create_account(Email="hand@example.com", AccountName="Hand-made")
    hand_made = created["CreateAccountStatus"]["Id"]

    report = run_bootstrap(bootstrap_settings, apply=True)

    steps = [(op.step.value, op.target) for op in report.plan.operations]
    assert steps == [
        ("move account", "Staging"),
        ("update SCP", "sandbox-guardrails"),
    ]
    assert any("Hand-made" in notice and "left alone" in notice for notice in report.plan.notices)
    after = organization()
    assert after["accounts"]["Staging"][0] == "/Workloads/Staging"
    assert "Hand-made" in after["accounts"]
    assert hand_made


def test_an_scp_changed_in_the_file_is_updated(bootstrap_settings: Settings) -> None:
    run_bootstrap(bootstrap_settings, apply=True)
    scp = bootstrap_settings.org_definition.parent / "scps" / "deny-leave-organization.json"
    document = json.loads(scp.read_text())
    document["Statement"][0]["Sid"] = "StayInTheOrganization"
    scp.write_text(json.dumps(document))

    report = run_bootstrap(bootstrap_settings, apply=True)

    assert [(op.step.value, op.target) for op in report.plan.operations] == [
        ("update SCP", "deny-leave-organization")
    ]
    assert report.exit_code is ExitCode.OK


def test_an_email_in_use_elsewhere_fails_clearly_and_the_rest_applies(
    bootstrap_settings: Settings, moto_app: ExtendedMotoApp
) -> None:
    moto_app.organizations.emails_in_use_elsewhere.add("aws-infra@example.com")

    report = run_bootstrap(bootstrap_settings, apply=True)

    assert report.exit_code is ExitCode.RUN_FAILED
    assert report.result is not None
    failure, *registry = report.result.failures
    assert failure.operation.target == "Infra"
    assert "CreateAccount FAILED: EMAIL_ALREADY_EXISTS" in (failure.error or "")
    assert "Production" in organization()["accounts"]
    # The shared registry lives in Infra: its stack sets fail, saying why, and nothing else.
    assert [f.operation.target for f in registry] == [
        "sso-sync-registry-source in /Shared/Infra",
        "sso-sync-registry-destination in /Workloads",
    ]
    assert all("account Infra does not exist" in (f.error or "") for f in registry)


def test_an_account_renamed_in_aws_is_matched_by_email(bootstrap_settings: Settings) -> None:
    run_bootstrap(bootstrap_settings, apply=True)
    text = bootstrap_settings.org_definition.read_text()
    renamed = text.replace("name: Infra,", "name: Platform,").replace(
        "account: Infra", "account: Platform"
    )
    bootstrap_settings.org_definition.write_text(renamed)

    report = run_bootstrap(bootstrap_settings, apply=False)

    assert report.plan.operations == ()
    assert any("named 'Infra' in AWS, 'Platform' here" in n for n in report.plan.notices)


def test_plan_writes_nothing(bootstrap_settings: Settings) -> None:
    report = run_bootstrap(bootstrap_settings, apply=False)

    assert report.plan.operations[0].step.value == "create organization"
    with pytest.raises(Exception, match="AWSOrganizationsNotInUseException"):
        boto3.client("organizations").describe_organization()


FIVE = (
    "region-allowlist",
    "sandbox-guardrails",
    "deny-root-user",
    "protect-security-services",
    "deny-leave-organization",
)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("ou: /Workloads/Production, tags: {env: prod}", "ou: /Nowhere"),
            "accounts item 1.ou: OU /Nowhere is not in organizational_units",
        ),
        (("name: Staging,", "name: Production,"), "a second account named Production"),
        (
            ("aws-staging@example.com", "aws-production@example.com"),
            "a second account with the email",
        ),
        (("  monthly_budget: 100\n", ""), "sandboxes.monthly_budget: Field required"),
        (("    - yara.saleh@example.com\n", "    - {owner: yara}\n"), "sandboxes.owners item 9"),
        (
            (
                "/Sandbox: {scps: [region-allowlist, sandbox-guardrails]}",
                "/Sandbox: {scps: [" + ", ".join(FIVE) + "]}",
            ),
            "5 SCPs and FullAWSAccess: AWS allows 5 per target",
        ),
        (
            (
                "/Sandbox: {scps: [region-allowlist, sandbox-guardrails]}",
                "/Sandbox: {scps: [missing-scp]}",
            ),
            "cannot read SCP",
        ),
        (
            ("delegated_administrator: Access Management", "delegated_administrator: Nope"),
            "no account named Nope",
        ),
        (
            (
                "    /Workloads/Staging:\n",
                "    /Workloads:\n      repositories: [x]\n"
                "      managed_policies: [ReadOnlyAccess]\n    /Workloads/Staging:\n",
            ),
            "is inside /Workloads, which has a deploy role too",
        ),
        (
            ("      branches: [main]\n", "      branches: [main]\n      environments: [qa]\n"),
            "give environments or branches, not both",
        ),
        (("  account: Infra\n", "  account: Registry\n"), "no account named Registry"),
        (
            ("  destinations: [/Workloads]", "  destinations: [/Shared]"),
            "Infra itself is in /Shared",
        ),
        (("[PowerUserAccess]", "[PowerUserAcess!]"), "is not an AWS managed policy ARN"),
    ],
)
def test_validation_errors_before_any_call(
    bootstrap_settings: Settings, moto_app: ExtendedMotoApp, edit: tuple[str, str], expected: str
) -> None:
    text = bootstrap_settings.org_definition.read_text()
    assert edit[0] in text
    bootstrap_settings.org_definition.write_text(text.replace(edit[0], edit[1]))

    with pytest.raises(ConfigError) as raised:
        run_bootstrap(bootstrap_settings, apply=True)

    assert expected in str(raised.value)
    assert "org.yaml:" in str(raised.value)


def test_scp_documents_must_be_json_and_small(bootstrap_settings: Settings) -> None:
    scps = bootstrap_settings.org_definition.parent / "scps"
    (scps / "deny-root-user.json").write_text("{not json")
    (scps / "sandbox-guardrails.json").write_text(
        json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "x" * 6000}]})
    )

    with pytest.raises(ConfigError) as raised:
        run_bootstrap(bootstrap_settings, apply=False)

    assert "deny-root-user.json is not valid JSON" in str(raised.value)
    assert "AWS allows 5120" in str(raised.value)


def test_only_the_files_scps_are_attached_and_detached(bootstrap_settings: Settings) -> None:
    run_bootstrap(bootstrap_settings, apply=True)
    org = organization()
    client = org["client"]
    units = {path: unit for unit, path in org["paths"].items()}
    policies = {
        p["Name"]: p["Id"]
        for p in client.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
    }
    hand_made = client.create_policy(
        Name="hand-made",
        Description="",
        Type="SERVICE_CONTROL_POLICY",
        Content=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Policy"]["PolicySummary"]["Id"]
    client.attach_policy(PolicyId=hand_made, TargetId=units["/Workloads"])
    client.attach_policy(PolicyId=policies["sandbox-guardrails"], TargetId=units["/Shared"])

    report = run_bootstrap(bootstrap_settings, apply=True)

    assert [(op.step.value, op.target) for op in report.plan.operations] == [
        ("detach SCP", "sandbox-guardrails from /Shared")
    ]
    after = organization()["policies"]
    assert after["hand-made"] == ["/Workloads"]
    assert after["sandbox-guardrails"] == ["/Sandbox"]
    assert "/" in after["FullAWSAccess"]


def test_a_plan_beyond_the_account_quota_is_refused_before_any_account_is_created(
    bootstrap_settings: Settings, moto_app: ExtendedMotoApp, capsys: pytest.CaptureFixture
) -> None:
    moto_app.service_quotas.account_quota = 10  # AWS Organizations' default
    moto_app.service_quotas.account_quota_code = "L-12345678"  # codes may change: as answered

    report = run_bootstrap(bootstrap_settings, apply=True)

    assert report.exit_code is ExitCode.REFUSED and report.result is None
    (blocker,) = report.plan.blockers
    assert "would hold 16 accounts and its quota is 10" in blocker
    assert "request-service-quota-increase" in blocker and "--desired-value 16" in blocker
    assert "--quota-code L-12345678 " in blocker
    assert boto3.client("organizations").list_accounts()["Accounts"] == []
    assert main(["bootstrap", "plan", *settings_arguments(bootstrap_settings)]) == 3
    assert "Refused:" in capsys.readouterr().out


def test_scps_enabled_asynchronously_are_waited_for_and_not_enabled_twice(
    bootstrap_settings: Settings, moto_app: ExtendedMotoApp
) -> None:
    moto_app.organizations.seconds_policy_type_pending = 0.5

    report = run_bootstrap(bootstrap_settings, apply=True)

    assert report.exit_code is ExitCode.OK, [f.error for f in report.result.failures]
    assert organization()["policies"]["deny-root-user"] == ["/"]
    client = boto3.client("organizations")
    root = client.list_roots()["Roots"][0]["Id"]
    client.disable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    client.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")  # pending
    pending = run_bootstrap(bootstrap_settings, apply=False)
    assert "enable SCPs" not in [op.step.value for op in pending.plan.operations]
    assert any("PENDING_ENABLE" in notice for notice in pending.plan.notices)


def test_a_budget_of_a_million_is_written_as_digits(
    bootstrap_settings: Settings, definition: Path
) -> None:
    text = definition.read_text()
    definition.write_text(text.replace("monthly_budget: 100", "monthly_budget: 1000000", 1))
    assert "monthly_budget: 1000000" in definition.read_text()

    first = run_bootstrap(bootstrap_settings, apply=True)
    second = run_bootstrap(bootstrap_settings, apply=True)

    assert first.exit_code is ExitCode.OK, [f.error for f in first.result.failures]
    assert not [op for op in second.plan.operations if "budget" in op.step.value]
    budgets = boto3.client("budgets").describe_budgets(AccountId="123456789012")["Budgets"]
    assert {b["BudgetLimit"]["Amount"] for b in budgets} == {"1000000"}


def test_bootstrap_apply_asks_first_or_takes_auto_approve(bootstrap_settings: Settings) -> None:
    arguments = settings_arguments(bootstrap_settings)

    assert main(["bootstrap", "apply", *arguments]) == 2
    with pytest.raises(Exception, match="AWSOrganizationsNotInUse"):  # nothing created
        boto3.client("organizations").describe_organization()
    assert main(["bootstrap", "apply", "--auto-approve", *arguments]) == 0
    assert "Production" in organization()["accounts"]


def subscribers(budget: str) -> set[str]:
    client = boto3.client("budgets")
    ids = {"AccountId": "123456789012", "BudgetName": budget}
    return {
        subscriber["Address"]
        for notification in client.describe_notifications_for_budget(**ids)["Notifications"]
        for subscriber in client.describe_subscribers_for_notification(
            **ids, Notification=notification
        )["Subscribers"]
    }


def test_a_sandbox_whose_owner_left_mails_only_the_platform_and_can_be_removed(
    bootstrap_settings: Settings,
    google: GoogleDirectoryEmulator,
    definition: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    seed_demo_directory(google)
    arguments = settings_arguments(bootstrap_settings)
    assert main(["bootstrap", "apply", "--auto-approve", *arguments]) == 0
    assert "lena.novak@example.com" in subscribers("sandbox-lena.novak-monthly")
    google.suspend_user("lena.novak@example.com")
    capsys.readouterr()

    assert main(["bootstrap", "apply", "--auto-approve", *arguments]) == 0

    out = " ".join(capsys.readouterr().out.split())
    assert "stop budget mail to lena.novak@example.com" in out
    assert "sandbox-lena.novak: its owner lena.novak@example.com is not an active" in out
    assert "lena.novak@example.com" not in subscribers("sandbox-lena.novak-monthly")
    assert subscribers("sandbox-lena.novak-monthly") == {"platform@example.com"}

    assert main(["bootstrap", "remove-sandbox", "lena.novak@example.com", *arguments]) == 0
    assert "lena.novak" not in definition.read_text()
    assert main(["bootstrap", "plan", *arguments]) == 0
    assert "sandbox-lena.novak" in organization()["accounts"], "the account is never closed"


def test_add_sandbox_checks_the_owner_in_google(
    bootstrap_settings: Settings,
    google: GoogleDirectoryEmulator,
    definition: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    seed_demo_directory(google)
    arguments = settings_arguments(bootstrap_settings)

    assert main(["bootstrap", "add-sandbox", "nobody@example.com", *arguments]) == 2
    assert "nobody@example.com is not an active user" in capsys.readouterr().err
    assert "nobody" not in definition.read_text()
    assert main(["bootstrap", "add-sandbox", "priya.nair@example.com", *arguments]) == 0
    assert "priya.nair@example.com" in definition.read_text()


def test_moving_the_delegated_administrator_deregisters_the_old_one_first(
    bootstrap_settings: Settings,
) -> None:
    assert run_bootstrap(bootstrap_settings, apply=True).exit_code is ExitCode.OK
    definition = bootstrap_settings.org_definition
    definition.write_text(
        definition.read_text().replace(
            "delegated_administrator: Access Management", "delegated_administrator: Infra"
        )
    )

    report = run_bootstrap(bootstrap_settings, apply=True)

    assert report.exit_code is ExitCode.OK, [f.error for f in report.result.failures]
    steps = [(o.step, o.target) for o in report.plan.operations]
    old = organization()["accounts"]["Access Management"][1]
    assert steps == [
        (Step.DEREGISTER_ADMINISTRATOR, f"Access Management ({old})"),
        (Step.REGISTER_ADMINISTRATOR, "Infra"),
    ]
    admins = organization()["client"].list_delegated_administrators(
        ServicePrincipal="sso.amazonaws.com"
    )["DelegatedAdministrators"]
    assert [a["Name"] for a in admins] == ["Infra"]
    assert run_bootstrap(bootstrap_settings, apply=True).plan.operations == ()


def test_identity_center_takes_one_delegated_administrator(moto_app: ExtendedMotoApp) -> None:
    client = boto3.client("organizations")
    ids = build_organization(
        moto_app,
        [
            PlannedAccount("A", "a@example.com", "/Shared"),
            PlannedAccount("B", "b@example.com", "/Shared"),
        ],
    )
    client.enable_aws_service_access(ServicePrincipal="sso.amazonaws.com")
    client.register_delegated_administrator(
        AccountId=ids["A"], ServicePrincipal="sso.amazonaws.com"
    )

    with pytest.raises(ClientError) as refused:
        client.register_delegated_administrator(
            AccountId=ids["B"], ServicePrincipal="sso.amazonaws.com"
        )

    assert refused.value.response["Error"]["Code"] == "ConstraintViolationException"
    assert refused.value.response["Reason"] == "DELEGATED_ADMINISTRATOR_EXISTS_FOR_THIS_SERVICE"


def test_a_budget_made_with_the_deprecated_cost_filters_is_read_back_without_a_change(
    bootstrap_settings: Settings,
) -> None:
    assert run_bootstrap(bootstrap_settings, apply=True).exit_code is ExitCode.OK
    budgets = boto3.client("budgets")
    account = organization()["accounts"]["sandbox-lena.novak"][1]
    old = budgets.describe_budget(AccountId="123456789012", BudgetName="sandbox-lena.novak-monthly")
    made_by_an_older_version = {
        key: value
        for key, value in old["Budget"].items()
        if key in ("BudgetName", "BudgetLimit", "TimeUnit", "BudgetType")
    } | {"CostFilters": {"LinkedAccount": [account]}}
    budgets.update_budget(AccountId="123456789012", NewBudget=made_by_an_older_version)

    assert run_bootstrap(bootstrap_settings, apply=False).plan.operations == ()
