"""The access report's data for the demo company, against expectations checked by hand from
mappings/rules.yaml and the seeded directory (sync/local/seed.py), read over real HTTP."""

import json
from typing import Any

import boto3
import pytest

from sync.cli import main
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.seed import DOMAIN
from sync.reporting.access_matrix import cells_of, changes_since, why_text
from sync.run import RunOptions, access_report, run_sync
from sync.settings import Settings

pytestmark = pytest.mark.heavy

BACKEND = ["lena.novak", "ravi.iyer", "sofia.rossi", "tom.becker", "aisha.bello", "jonas.berg"]
BACKEND += ["mei.tanaka", "diego.ruiz"]  # eric.larsen, also in backend@, is suspended
FRONTEND = ["nina.petrov", "sam.oconnor", "yara.saleh", "liam.walsh", "zoe.martin"]


def email(local: str) -> str:
    return f"{local}@{DOMAIN}"


def cell(report: dict[str, Any], person: str, account_name: str) -> dict[str, str]:
    """Permission set -> why, for a person in an account."""
    index = next(i for i, a in enumerate(report["accounts"]) if a["name"] == account_name)
    row = next(p for p in report["people"] if p["email"] == person)
    entries = cells_of(report, row).get(index, [])
    return {
        report["permission_sets"][ps]["name"]: why_text(report, row, why) for ps, why in entries
    }


def grants(report: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    """Person -> (account id, permission set) pairs."""
    accounts, sets = report["accounts"], report["permission_sets"]
    return {
        person["email"]: {
            (accounts[account]["id"], sets[ps]["name"])
            for account, entries in cells_of(report, person).items()
            for ps, _ in entries
        }
        for person in report["people"]
    }


def reaching(report: dict[str, Any], account_name: str) -> dict[str, set[str]]:
    found = {}
    for person in report["people"]:
        sets = set(cell(report, person["email"], account_name))
        if sets:
            found[person["email"]] = sets
    return found


def test_who_reaches_production_and_why(company: tuple[Settings, dict[str, str]]) -> None:
    settings, _ = company

    report = access_report(settings)

    assert report["view"] == "planned"
    admins = {email("maya.chen"), email("omar.haddad")}
    engineers = {email(p) for p in [*BACKEND, *FRONTEND, "kenji.sato", "maya.chen"]}
    assert reaching(report, "Production") == {
        person: ({"AdministratorAccess"} if person in admins else set())
        | ({"ReadOnly"} if person in engineers else set())
        for person in admins | engineers
    }
    assert cell(report, email("lena.novak"), "Production") == {
        "ReadOnly": "member of group Engineering (engineering@example.com) through "
        "backend@example.com; assignments rule 3; account chosen by ou:/Workloads/Production"
    }
    assert cell(report, email("kenji.sato"), "Production") == {
        "ReadOnly": "member of group Engineering (engineering@example.com); assignments rule 3; "
        "account chosen by ou:/Workloads/Production"
    }
    assert cell(report, email("omar.haddad"), "Production")["AdministratorAccess"] == (
        "member of group AWS-Admins (aws-admins@example.com); assignments rule 1; "
        "account chosen by all"
    )


def test_what_lena_reaches(company: tuple[Settings, dict[str, str]]) -> None:
    settings, accounts = company

    report = access_report(settings)

    lena = grants(report)[email("lena.novak")]
    assert lena == {
        (accounts["Development"], "PowerUser"),
        (accounts["Staging"], "PowerUser"),
        (accounts["Production"], "ReadOnly"),
        (accounts["sandbox-lena.novak"], "SandboxAdmin"),
    }
    assert cell(report, email("lena.novak"), "sandbox-lena.novak") == {
        "SandboxAdmin": "assignments rule 6, owner tag of the account; account chosen by "
        "ou:/Sandbox"
    }
    row = next(p for p in report["people"] if p["email"] == email("lena.novak"))
    assert {report["groups"][g]["name"] for g in row["groups"]} == {
        "Backend",
        "Engineering",
        f"sandbox-users@{DOMAIN}",
    }
    suspended = next(p for p in report["people"] if p["email"] == email("eric.larsen"))
    assert (suspended["status"], suspended["access"]) == ("suspended", [])
    assert email("paul.jensen") not in grants(report)  # marketing@ is not synced


def test_organization_tree_and_risks(company: tuple[Settings, dict[str, str]]) -> None:
    settings, _ = company

    report = access_report(settings)

    by_name = {a["name"]: a for a in report["accounts"]}
    assert by_name["master"]["management"] and report["accounts"][0]["name"] == "master"
    assert by_name["sandbox-lena.novak"]["owner"] == email("lena.novak")
    assert by_name["Sensitive Data"]["sensitive"] and by_name["Sensitive Data"]["tags"] == {
        "data": "sensitive"
    }
    assert by_name["Production"]["ou"] == "/Workloads/Production"
    units = {u["path"]: u["scps"] for u in report["units"]}
    assert "region-allowlist" in units["/Workloads"]
    assert {"region-allowlist", "sandbox-guardrails"} <= set(units["/Sandbox"])
    assert "deny-root-user" in units["/"]

    risk = report["risk"]
    assert {s["name"] for s in risk["administrator_sets"]} == {
        "AdministratorAccess",
        "SandboxAdmin",
    }
    assert {m["person"]: set(m["permission_sets"]) for m in risk["management"]} == {
        email("maya.chen"): {"AdministratorAccess", "Billing"},
        email("omar.haddad"): {"AdministratorAccess", "Billing"},
    }
    (sensitive,) = risk["sensitive"]
    assert sensitive["account"] == "Sensitive Data"
    assert {p["person"] for p in sensitive["people"]} == {
        email(p) for p in ("maya.chen", "omar.haddad", "priya.nair", "lucas.silva", "ines.moreau")
    }
    lena_admin = next(a for a in risk["administrators"] if a["person"] == email("lena.novak"))
    assert lena_admin["where"] == [
        {"account": "sandbox-lena.novak", "permission_sets": ["SandboxAdmin"]}
    ]
    assert risk["outside_rules"] is None  # the planned view does not read Identity Center


def test_the_live_view_explains_what_identity_center_holds(
    company: tuple[Settings, dict[str, str]], moto_app: ExtendedMotoApp
) -> None:
    settings, accounts = company
    assert run_sync(settings, RunOptions(apply=True)).exit_code == 0
    client = boto3.client("sso-admin")
    instance, _ = moto_app.identity_center("us-east-1")
    by_hand = client.create_permission_set(InstanceArn=instance, Name="Auditor")
    breakglass = boto3.client("identitystore").create_user(
        IdentityStoreId=settings.identity_store_id,
        UserName="breakglass@example.com",
        DisplayName="Break glass",
        Name={"GivenName": "Break", "FamilyName": "Glass"},
    )["UserId"]
    client.create_account_assignment(
        InstanceArn=instance,
        TargetId=accounts["Production"],
        TargetType="AWS_ACCOUNT",
        PermissionSetArn=by_hand["PermissionSet"]["PermissionSetArn"],
        PrincipalType="USER",
        PrincipalId=breakglass,
    )

    live = access_report(settings, live=True)

    assert live["view"] == "live"
    assert live["risk"]["outside_rules"] == [
        {
            "principal": "user breakglass@example.com",
            "account": f"Production ({accounts['Production']})",
            "permission_set": "Auditor",
            "people": 1,
        }
    ]
    assert cell(live, "breakglass@example.com", "Production") == {
        "Auditor": "assigned to the user directly; not from the rules (made outside sso-sync)"
    }
    assert cell(live, email("lena.novak"), "Production") == {
        "ReadOnly": "member of group Engineering (engineering@example.com) through "
        "backend@example.com; assignments rule 3; account chosen by ou:/Workloads/Production"
    }
    planned = access_report(settings)
    without_breakglass = {k: v for k, v in grants(live).items() if v and "breakglass" not in k}
    assert without_breakglass == {k: v for k, v in grants(planned).items() if v}


def test_what_changed_since_the_previous_report(
    company: tuple[Settings, dict[str, str]], google: GoogleDirectoryEmulator
) -> None:
    settings, _ = company
    before = access_report(settings)
    google.remove_member(f"backend@{DOMAIN}", email("tom.becker"))
    google.add_member(f"sensitive-data@{DOMAIN}", email("hana.kim"))
    google.rename_user(email("lena.novak"), email("lena.berg"))
    google.suspend_user(email("ravi.iyer"))

    after = access_report(settings, previous=before)

    assert after["changes"]["since"] == before["generated"]
    rows = {row["person"]: row for row in after["changes"]["people"]}
    assert set(rows) == {email(p) for p in ("hana.kim", "tom.becker", "lena.berg", "ravi.iyer")}
    assert rows[email("hana.kim")]["granted"] == [
        {
            "access": "Sensitive Data: SensitiveDataReader",
            "why": "member of group Sensitive-Data (sensitive-data@example.com); assignments "
            "rule 5; account chosen by name:Sensitive Data",
        }
    ]
    tom = rows[email("tom.becker")]
    assert [r["access"] for r in tom["removed"]] == [
        "Development: PowerUser",
        "Production: ReadOnly",
        "Staging: PowerUser",
    ]
    assert tom["removed"][1]["why"].startswith(
        "no longer in a synced group, or gone from Google Workspace; it came from: member of "
        "group Engineering (engineering@example.com) through backend@example.com; assignments "
        "rule 3"
    )
    lena = rows[email("lena.berg")]  # one row: the same Google user, renamed
    assert lena["renamed_from"] == email("lena.novak") and lena["status"] == "active"
    assert lena["granted"] == lena["removed"] == []  # her access moves with her
    ravi = rows[email("ravi.iyer")]
    assert ravi["removed"] and all(
        r["why"].startswith("suspended in Google Workspace; it came from: ")
        for r in ravi["removed"]
    )
    assert changes_since(after, after)["people"] == []


CONNECTION_SETTINGS = (
    "google_credentials_file",
    "google_admin_email",
    "google_api_endpoint",
    "rules",
    "identity_store_id",
)


def arguments_of(settings: Settings) -> list[str]:
    values = settings.model_dump()
    return [f"--{k.replace('_', '-')}={values[k]}" for k in CONNECTION_SETTINGS if values[k]]


def test_report_command_writes_the_page_and_its_data(
    company: tuple[Settings, dict[str, str]], tmp_path: Any, capsys: pytest.CaptureFixture
) -> None:
    settings, _ = company
    page, data = tmp_path / "out" / "report.html", tmp_path / "report.json"

    code = main(["report", "--html", str(page), "--json", str(data), *arguments_of(settings)])

    assert code == 0
    assert f"written to {page}" in capsys.readouterr().out.replace("\n", "")
    body = json.loads(data.read_text())
    html = page.read_text()
    assert '<script id="report-data" type="application/json">' in html
    assert "http://" not in html and "https://" not in html  # nothing fetched when opened
    assert body["people"] and body["view"] == "planned"

    assert main(["report", "--since", str(page), *arguments_of(settings)]) == 2
    error = capsys.readouterr().err.replace("\n", "")
    assert f"--since {page}: not JSON (Expecting value at line 1, column 1)" in error
    data.write_text('{"people": "nobody"}')
    assert main(["report", "--since", str(data), *arguments_of(settings)]) == 2
    assert "not the JSON of an sso-sync access report" in capsys.readouterr().err


def test_access_matrix_in_the_terminal(
    company: tuple[Settings, dict[str, str]], capsys: pytest.CaptureFixture
) -> None:
    settings, _ = company

    assert main(["access", "--matrix", "--account", "Production", *arguments_of(settings)]) == 0

    out = capsys.readouterr().out
    rows = {line.split()[1]: line for line in out.splitlines() if f"@{DOMAIN}" in line}
    assert set(rows) == {email(p) for p in [*BACKEND, *FRONTEND, "kenji.sato", "maya.chen"]} | {
        email("omar.haddad")
    }
    assert "AA RO" in rows[email("maya.chen")] and "RO" in rows[email("lena.novak")]
    assert "16 people x 1 accounts" in out
    assert "AA AdministratorAccess" in out and "RO ReadOnly" in out


def test_a_full_sync_writes_the_report_once_its_plan_is_done(
    company: tuple[Settings, dict[str, str]], tmp_path: Any
) -> None:
    settings, _ = company
    settings = settings.model_copy(update={"reports": str(tmp_path / "reports")})

    cut_short = run_sync(settings, RunOptions(apply=True, time_budget=0.001))
    finished = run_sync(settings, RunOptions(apply=True))

    assert cut_short.summary()["outcome"] == "incomplete"
    assert "report_location" not in cut_short.summary()  # the continuation writes it
    location = finished.summary()["report_location"]
    assert location.startswith(str(tmp_path / "reports")) and location.endswith(".html")
    latest = json.loads((tmp_path / "reports" / "latest.json").read_text())
    assert latest["view"] == "planned" and latest["changes"] is None
    assert (tmp_path / "reports" / "latest.html").read_text().startswith("<!DOCTYPE html>")


def test_the_whole_matrix_fits_80_columns_in_the_organizations_order(
    company: tuple[Settings, dict[str, str]],
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, accounts = company
    monkeypatch.setenv("COLUMNS", "80")

    assert main(["access", "--matrix", *arguments_of(settings)]) == 0  # no email: everyone

    out = capsys.readouterr().out
    tables = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    assert tables and max(len(line) for line in tables) <= 80
    assert "…" not in out  # a column that does not fit goes to the next table, never cut
    headers = [
        name.strip() for line in tables if line.startswith("┃") for name in line.split("┃")[2:-1]
    ]
    reached = set(accounts) - {"Management"}
    assert set(headers) == reached | {"master"}  # every account someone reaches, once
    position = {name: headers.index(name) for name in headers}
    sandboxes = [position[name] for name in headers if name.startswith("sandbox-")]
    # as deploy/org.yaml lists the OUs: Workloads, then Shared, then Sandbox
    assert position["master"] < position["Production"] < position["Development"]
    assert position["Development"] < position["Access Management"] < min(sandboxes)
    assert "maya.chen@example.com" in out and "accounts" in out
