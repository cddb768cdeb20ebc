"""What the commands print is the data: names, accounts, paths and errors holding rich's emoji
codes (`:100:`, `:skull:`) or markup (`[bold]`, `[/]`) come out verbatim."""

import csv
from pathlib import Path

import pytest

from sync.cli import main
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.planning.access_report import AccessAnswer, AccessLine
from sync.render import show_access, terminal
from sync.settings import Settings
from tests.helpers import PlannedAccount, build_organization
from tests.test_cli import settings_arguments

GROUP = ":skull: [bold]Ops[/] :100:"
GIVEN = "[red]Eve[/red] :fire:"
PRODUCTION = ":100: [bold]Production[/]"
SANDBOX = "sandbox [/] :skull:"
STRANGER = "stranger:100:@example.com"
RULES = f"""
version: 1
sync:
  groups:
    - {{email: ops@example.com, name: "{GROUP}"}}
permission_sets:
  ReadOnly: {{managed_policies: [ReadOnlyAccess]}}
assignments:
  - groups: ["{GROUP}"]
    permission_sets: [ReadOnly]
    accounts: ["ou:/Workloads/Production"]
  - user_from_tag: owner
    permission_sets: [ReadOnly]
    accounts: ["ou:/Sandbox"]
"""


@pytest.fixture
def odd_names(
    settings: Settings, google: GoogleDirectoryEmulator, moto_app: ExtendedMotoApp, tmp_path: Path
) -> Settings:
    google.add_group("ops@example.com", "Ops")
    google.add_user("eve@example.com", "Eve", "Example")
    google.add_member("ops@example.com", "eve@example.com")
    build_organization(
        moto_app,
        [
            PlannedAccount(PRODUCTION, "prod@example.com", "/Workloads/Production"),
            PlannedAccount(SANDBOX, "sb@example.com", "/Sandbox", {"owner": STRANGER}),
        ],
    )
    folder = tmp_path / ":skull: [bold]rules :100:"
    folder.mkdir()
    (folder / "rules.yaml").write_text(RULES)
    return settings.model_copy(update={"rules": str(folder / "rules.yaml")})


def printed(capsys: pytest.CaptureFixture) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_a_plan_its_changes_and_its_warnings_print_names_verbatim(
    odd_names: Settings, google: GoogleDirectoryEmulator, capsys: pytest.CaptureFixture
) -> None:
    assert main(["apply", "--auto-approve", *settings_arguments(odd_names)]) == 0
    applied = printed(capsys)
    google.user_by_email("eve@example.com").given_name = GIVEN
    assert main(["plan", *settings_arguments(odd_names)]) == 0
    planned = printed(capsys)

    for value in (GROUP, PRODUCTION, SANDBOX, STRANGER):
        assert value in applied, value
    for value in (GIVEN, SANDBOX, STRANGER):
        assert value in planned, value


def test_access_prints_names_verbatim(odd_names: Settings, capsys: pytest.CaptureFixture) -> None:
    assert main(["access", "eve@example.com", *settings_arguments(odd_names)]) == 0
    output = printed(capsys)

    for value in (GROUP, PRODUCTION):
        assert value in output, value


def test_a_validate_error_on_line_100_keeps_its_line_number(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "[bold]:skull:"
    folder.mkdir()
    rules = folder / "rules.yaml"
    rules.write_bytes(b"version: 1\n" + b"# filler\n" * 98 + b"oops: \x00\n")

    assert main(["validate", str(rules)]) == 2
    assert f"{rules}:100: not valid YAML" in printed(capsys)


def test_a_csv_answer_never_hands_a_spreadsheet_a_formula(capsys: pytest.CaptureFixture) -> None:
    hostile = '=HYPERLINK("http://evil.example","Production")'
    answer = AccessAnswer(
        [AccessLine(hostile, "111111111111", "@ReadOnly", "group +Ops", ("-eve@example.com",), "w")]
    )

    show_access(answer, terminal(), "x", "csv")

    (_, row) = capsys.readouterr().out.splitlines()
    cells = next(csv.reader([row]))
    assert cells[0] == "'" + hostile and cells[1] == "111111111111"
    assert cells[2:5] == ["'@ReadOnly", "'-eve@example.com", "group +Ops"]
