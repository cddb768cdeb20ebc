"""The demo company with the shipped rules: every person gets exactly the access the rules
file's comments promise, checked against SSO Admin and through `sso-sync access`."""

import json

import boto3
import pytest

from sync.cli import main
from sync.local.aws import ExtendedMotoApp
from sync.local.seed import DOMAIN
from sync.run import RunOptions, run_sync
from sync.settings import Settings
from tests.helpers import IdentityCenterView

SANDBOX_OWNERS = [
    "aisha.bello",
    "felix.wagner",
    "kenji.sato",
    "lena.novak",
    "mei.tanaka",
    "nina.petrov",
    "ravi.iyer",
    "sofia.rossi",
    "yara.saleh",
]


def expected_assignments(
    accounts: dict[str, str], groups: dict[str, str], users: dict[str, str]
) -> set[tuple[str, str, str]]:
    """The promise of mappings/rules.yaml, written out by hand: (permission set, account
    name, principal id)."""
    expected = {("AdministratorAccess", name, groups["AWS-Admins"]) for name in accounts}
    expected |= {
        ("PowerUser", "Development", groups["Engineering"]),
        ("PowerUser", "Staging", groups["Engineering"]),
        ("ReadOnly", "Production", groups["Engineering"]),
        ("DataScientist", "Development", groups["Data-Science"]),
        ("SensitiveDataReader", "Sensitive Data", groups["Sensitive-Data"]),
        ("Billing", "Management", groups["Founders"]),
    }
    expected |= {
        ("SandboxAdmin", f"sandbox-{owner}", users[f"{owner}@{DOMAIN}"]) for owner in SANDBOX_OWNERS
    }
    return expected


def test_the_shipped_rules_give_exactly_the_promised_access(
    company: tuple[Settings, dict[str, str]], moto_app: ExtendedMotoApp, idc: IdentityCenterView
) -> None:
    settings, accounts = company

    report = run_sync(settings, RunOptions(apply=True))

    assert report.exit_code == 0, report.summary()["errors"]
    client = boto3.client("sso-admin")
    instance, _ = moto_app.identity_center("us-east-1")
    names = {
        arn: client.describe_permission_set(InstanceArn=instance, PermissionSetArn=arn)[
            "PermissionSet"
        ]["Name"]
        for arn in client.list_permission_sets(InstanceArn=instance)["PermissionSets"]
    }
    account_names = {account_id: name for name, account_id in accounts.items()}
    held = {
        (names[arn], account_names[account_id], assignment["PrincipalId"])
        for arn in names
        for account_id in accounts.values()
        for assignment in client.list_account_assignments(
            InstanceArn=instance, AccountId=account_id, PermissionSetArn=arn
        )["AccountAssignments"]
    }
    assert held == expected_assignments(accounts, idc.groups(), idc.users())
    assert run_sync(settings, RunOptions(apply=True)).plan.operations == ()


def access_of(
    settings: Settings, *target: str, capsys: pytest.CaptureFixture
) -> set[tuple[str, str]]:
    arguments = [
        f"--{k.replace('_', '-')}={v}" for k, v in settings.model_dump().items() if v is not None
    ]
    assert main(["access", *target, "--json", *arguments]) == 0
    body = json.loads(capsys.readouterr().out)
    lines = body["access"] if isinstance(body, dict) else body
    return {(line["account"], line["permission_set"]) for line in lines}


def test_access_answers_for_people_and_accounts(
    company: tuple[Settings, dict[str, str]], capsys: pytest.CaptureFixture
) -> None:
    settings, accounts = company

    assert access_of(settings, f"lena.novak@{DOMAIN}", capsys=capsys) == {
        ("Development", "PowerUser"),
        ("Staging", "PowerUser"),
        ("Production", "ReadOnly"),
        ("sandbox-lena.novak", "SandboxAdmin"),
    }
    assert access_of(settings, f"priya.nair@{DOMAIN}", capsys=capsys) == {
        ("Development", "DataScientist"),
        ("Sensitive Data", "SensitiveDataReader"),
    }
    omar = access_of(settings, f"omar.haddad@{DOMAIN}", capsys=capsys)
    assert ("master", "Billing") in omar
    assert {a for a, p in omar if p == "AdministratorAccess"} == {
        "master" if name == "Management" else name for name in accounts
    }
    assert access_of(settings, f"paul.jensen@{DOMAIN}", capsys=capsys) == set()
    assert access_of(settings, f"eric.larsen@{DOMAIN}", capsys=capsys) == set()  # suspended
    assert access_of(settings, "--account", "Sensitive Data", capsys=capsys) == {
        ("Sensitive Data", "AdministratorAccess"),
        ("Sensitive Data", "SensitiveDataReader"),
    }


def test_access_of_an_unknown_person_is_a_clear_error(
    company: tuple[Settings, dict[str, str]], capsys: pytest.CaptureFixture
) -> None:
    settings, _ = company
    arguments = [
        f"--{k.replace('_', '-')}={v}" for k, v in settings.model_dump().items() if v is not None
    ]

    assert main(["access", "nobody@example.com", *arguments]) == 2
    assert "nobody@example.com is not a user" in capsys.readouterr().err


def test_access_with_selectors_a_person_in_accounts_csv_and_why_not(
    company: tuple[Settings, dict[str, str]], capsys: pytest.CaptureFixture
) -> None:
    settings, _ = company
    arguments = [
        f"--{k.replace('_', '-')}={v}" for k, v in settings.model_dump().items() if v is not None
    ]
    lena = f"lena.novak@{DOMAIN}"

    assert access_of(settings, lena, "--account", "ou:/Workloads/**", capsys=capsys) == {
        ("Development", "PowerUser"),
        ("Staging", "PowerUser"),
        ("Production", "ReadOnly"),
    }
    assert main(["access", "--account", "ou:/Workloads/**", "--csv", *arguments]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "account,account_id,permission_set,person,through,why"
    assert any(
        row.startswith("Production,") and f",ReadOnly,{lena},group Engineering," in row
        for row in rows
    )
    assert main(["access", lena, "--account", "Production", "--csv", *arguments]) == 0
    (_, only) = capsys.readouterr().out.splitlines()  # her row, not her group's
    assert only.startswith("Production,") and f",ReadOnly,{lena},group Engineering," in only
    assert main(["access", "--account", "Production", *arguments]) == 0
    people = capsys.readouterr().out
    line = next(line for line in people.splitlines() if lena in line)
    assert "ReadOnly" in line and "# member of group Engineering; assignments rule 3" in line
    assert main(["access", f"eric.larsen@{DOMAIN}", *arguments]) == 0
    assert "no access to any account (suspended in Google Workspace)" in capsys.readouterr().out
    assert main(["access", f"paul.jensen@{DOMAIN}", *arguments]) == 0
    assert "(not a member of any group the rules sync)" in capsys.readouterr().out
    assert main(["access", "--account", "ou:/Nowhere", *arguments]) == 2
    assert main(["access", *arguments]) == 2
