"""The `sso-sync` command: output, exit codes, and a run killed in the middle of apply."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sync.cli import build_parser, main
from sync.local.aws import ExtendedMotoApp, Hold
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.rules.model import Rules
from sync.run import RunOptions, run_sync
from sync.settings import Settings
from tests.helpers import IdentityCenterView, add_people, seed_small_company, writes


def settings_arguments(settings: Settings) -> list[str]:
    return [
        f"--{name.replace('_', '-')}={value}"
        for name, value in settings.model_dump().items()
        if value is not None
    ]


def test_validate_reports_key_path_and_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: 1\nsync:\n  groups:\n    - emial: a@example.com\n")

    assert main(["validate", str(bad)]) == 2
    assert (
        f"{bad}:4: sync.groups item 1.emial: unknown key (did you mean email?)"
        in capsys.readouterr().err
    )


def test_validate_accepts_the_shipped_file(capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", "mappings/rules.yaml"]) == 0
    out = capsys.readouterr().out
    assert "valid" in out
    assert "Note: assignments rule(s) 1, 7 may assign in the management account" in " ".join(
        out.split()
    )


def test_malformed_rules_file_exits_2_before_any_api_call(
    settings: Settings,
    moto_app: ExtendedMotoApp,
    google: GoogleDirectoryEmulator,
    capsys: pytest.CaptureFixture,
) -> None:
    Path(settings.rules).write_text(
        "version: 1\nsync:\n  groups: [{email: a@example.com, bad: 1}]\n"
    )

    assert main(["apply", "--auto-approve", *settings_arguments(settings)]) == 2
    assert "sync.groups item 1.bad: unknown key" in capsys.readouterr().err
    assert sum(moto_app.calls.values()) == 0
    assert google.requests == []


def test_missing_google_configuration_exits_2(
    settings: Settings, capsys: pytest.CaptureFixture
) -> None:
    arguments = [a for a in settings_arguments(settings) if "google-admin-email" not in a]

    assert main(["plan", *arguments]) == 2
    assert "SSO_SYNC_GOOGLE_ADMIN_EMAIL" in capsys.readouterr().err


def test_plan_prints_a_diff_and_json_and_writes_nothing(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)

    assert main(["plan", *settings_arguments(settings)]) == 0
    text = capsys.readouterr().out
    assert "+ create Engineering" in text
    assert "+ create alice@example.com" in text
    assert "Plan: 11 to create (11 API writes)." in text

    assert main(["plan", "--json", *settings_arguments(settings)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["summary"] == {"group.create": 2, "membership.create": 5, "user.create": 4}
    assert body["run"]["outcome"] == "planned"
    assert writes(moto_app) == {}
    assert not Path(settings.state).exists()
    assert not Path(settings.audit).exists()


def test_plan_shows_the_values_an_update_changes(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)
    run_sync(settings, RunOptions(apply=True), rules)
    google.rename_user("alice@example.com", "alice.berg@example.com")
    google.user_by_email("alice.berg@example.com").family_name = "Berg [/red]"
    capsys.readouterr()

    assert main(["plan", *settings_arguments(settings)]) == 0
    text = capsys.readouterr().out
    assert main(["plan", "--json", *settings_arguments(settings)]) == 0
    (update,) = [o for o in json.loads(capsys.readouterr().out)["operations"] if o.get("diff")]

    assert "~ update alice@example.com" in text
    assert 'userName: "alice@example.com" → "alice.berg@example.com"' in text
    assert 'name.familyName: "Example" → "Berg [/red]"' in text, "data is printed, not markup"
    assert {"field": "displayName", "before": "Alice Example", "after": "Alice Berg [/red]"} in (
        update["diff"]
    )


def test_delta_prints_what_the_feed_named_and_the_plan(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    idc: IdentityCenterView,
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)
    run_sync(settings, RunOptions(apply=True), rules)
    assert main(["delta", *settings_arguments(settings)]) == 0  # starts the feed
    google.suspend_user("carol@example.com")
    capsys.readouterr()

    assert main(["delta", "--dry-run", *settings_arguments(settings)]) == 0
    planned = capsys.readouterr().out
    assert main(["delta", "--json", *settings_arguments(settings)]) == 0
    summary = json.loads(capsys.readouterr().out)["run"]

    assert "re-reading carol@example.com" in planned
    assert "- delete carol@example.com  # suspended in Google Workspace" in planned
    assert summary["mode"] == "delta" and summary["applied"] == {"user.delete": 1}
    assert "carol@example.com" not in idc.users()
    assert main(["delta", *settings_arguments(settings)]) == 0  # nothing new since
    idle = " ".join(capsys.readouterr().out.split())
    assert (
        "Plan: no changes for anyone: nothing new in the change feed, so nothing was read" in idle
    )
    assert "matches Google Workspace" not in idle  # it read nothing: it cannot say so


def test_apply_exits_3_when_a_safeguard_refuses(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)
    people = add_people(google, 10, "data@example.com")
    run_sync(settings, RunOptions(apply=True), rules)
    for email in people:
        google.remove_member("data@example.com", email)

    assert main(["apply", "--auto-approve", *settings_arguments(settings)]) == 3
    assert "Refused" in capsys.readouterr().out


def apply_in_a_child(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    aws_url: str,
    concurrency: int,
) -> tuple[subprocess.Popen, Hold]:
    """`sso-sync apply` of 34 people in another process, returned once it has created 10 users
    and its next CreateUser calls are held in the emulator (release them with the hold)."""
    seed_small_company(google)
    add_people(google, 30, "data@example.com")
    hold = moto_app.hold("CreateUser", after=10)
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync.cli",
            "apply",
            "--auto-approve",
            *settings_arguments(settings),
            f"--concurrency={concurrency}",
        ],
        env={**os.environ, "AWS_ENDPOINT_URL": aws_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # A shell's background job starts with Ctrl-C ignored, and Python then keeps it so:
        # the child must take Ctrl-C as a person at a terminal would send it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    if not hold.reached.wait(timeout=300):
        child.kill()
        raise AssertionError(f"the child never made 10 users: {child.communicate()[1]!r}")
    return child, hold


class StderrLines:
    """A child's standard error, line by line, as it comes. Each wait is bounded (300 s) so a
    broken child fails the test instead of hanging the suite; the bound is not a guess at how
    long a healthy child takes."""

    def __init__(self, child: subprocess.Popen) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._said = ""
        stream = child.stderr
        assert stream is not None

        def read() -> None:
            for line in iter(stream.readline, b""):
                self._lines.put(line.decode())
            self._lines.put(None)

        threading.Thread(target=read, daemon=True).start()

    def until(self, needle: str) -> str:
        while needle not in self._said:
            line = self._lines.get(timeout=300)
            assert line is not None, f"the child ended without saying {needle!r}: {self._said}"
            self._said += line
        return self._said

    def until_the_end(self) -> str:
        while (line := self._lines.get(timeout=300)) is not None:
            self._said += line
        return self._said


def test_run_killed_in_the_middle_of_apply_is_repaired_by_the_next(
    settings: Settings,
    rules: Rules,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    aws: tuple[ExtendedMotoApp, str],
) -> None:
    child, hold = apply_in_a_child(settings, google, moto_app, aws[1], concurrency=1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    hold.release()  # what reached AWS before the kill is written
    assert 10 <= len(idc.users()) < 34, "killed in the middle of apply"

    report = run_sync(settings, RunOptions(apply=True), rules)

    assert report.exit_code == 0
    assert len(idc.users()) == 34
    assert len(idc.members("data@example.com")) == 32
    assert run_sync(settings, RunOptions(apply=True), rules).plan.operations == ()


def test_names_and_messages_are_printed_as_data_not_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = tmp_path / "rules[v2].yaml"
    bad.write_text('version: 1\nsync:\n  groups:\n    - {email: a@example.com, "[/red]": 1}\n')

    assert main(["validate", str(bad)]) == 2

    err = " ".join(capsys.readouterr().err.split())
    assert "rules[v2].yaml:4" in err and "[/red]: unknown key" in err


def test_an_account_and_a_group_named_with_brackets_plan_and_apply(
    settings: Settings, google: GoogleDirectoryEmulator, capsys: pytest.CaptureFixture
) -> None:
    google.add_group("legacy@example.com", "Legacy")
    google.add_user("ann@example.com", "Ann", "[bold]Example")
    google.add_member("legacy@example.com", "ann@example.com")
    Path(settings.rules).write_text(
        'version: 1\nsync:\n  groups:\n    - {email: legacy@example.com, name: "Legacy [/EU]"}\n'
    )

    assert main(["plan", *settings_arguments(settings)]) == 0
    assert main(["apply", "--auto-approve", *settings_arguments(settings)]) == 0

    out = capsys.readouterr().out
    assert "+ create Legacy [/EU]" in out
    assert "Legacy [/EU] ∋ ann@example.com" in out


def every_command() -> list[list[str]]:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    found = [[]]
    for name, sub in commands.items():
        found.append([name])
        for action in sub._actions:
            if getattr(action, "choices", None) and action.dest == "bootstrap_command":
                found += [[name, step] for step in action.choices]
    return found


@pytest.mark.parametrize("command", every_command(), ids=lambda c: " ".join(c) or "sso-sync")
def test_every_command_has_working_help(command: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])

    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sso-sync")
    if command in (["plan"], ["apply"], ["delta"]):
        assert "--rules" not in out and "--help-settings" in out  # its own options only
        with pytest.raises(SystemExit) as listed:
            main([*command, "--help-settings"])
        assert listed.value.code == 0
        settings = capsys.readouterr().out
        assert "--rules VALUE" in settings and "[env SSO_SYNC_MAX_DELETES]" in settings


def test_version_verbose_after_the_command_and_misspelt_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("sso-sync ")
    monkeypatch.setenv("SSO_SYNC_MAX_DELETE", "3")  # MAX_DELETES misspelt

    assert main(["validate", "-v", "mappings/rules.yaml"]) == 0

    assert (
        "SSO_SYNC_MAX_DELETE is not a setting; ignored (did you mean SSO_SYNC_MAX_DELETES?)"
        in capsys.readouterr().err
    )


def test_missing_aws_credentials_is_a_configuration_error_that_says_what_to_do(
    settings: Settings, google: GoogleDirectoryEmulator, aws: tuple[ExtendedMotoApp, str]
) -> None:
    seed_small_company(google)
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET"))
    }
    environment |= {
        "AWS_SESSION_TOKEN": "",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance metadata endpoint
        "AWS_ENDPOINT_URL": aws[1],
    }
    environment.pop("AWS_SESSION_TOKEN")

    result = plan_in_a_child(settings, environment)

    assert result.returncode == 2, result.stderr
    assert "AWS is not configured" in result.stderr and "give AWS credentials" in result.stderr


def plan_in_a_child(
    settings: Settings, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`sso-sync plan` in a process of its own, with exactly this environment."""
    return subprocess.run(
        [sys.executable, "-m", "sync.cli", "plan", *settings_arguments(settings)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_region_the_error_names_the_variable_boto3_reads(
    settings: Settings, google: GoogleDirectoryEmulator, aws: tuple[ExtendedMotoApp, str]
) -> None:
    seed_small_company(google)
    environment = {k: v for k, v in os.environ.items() if k != "AWS_DEFAULT_REGION"}
    environment |= {
        "AWS_REGION": "us-east-1",  # what people set; boto3 does not read it
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_ENDPOINT_URL": aws[1],
    }

    result = plan_in_a_child(settings, environment)

    assert result.returncode == 2, result.stderr
    assert "set AWS_DEFAULT_REGION" in result.stderr
    assert "boto3 does not read AWS_REGION" in result.stderr


def test_ctrl_c_stops_starting_operations_and_the_summary_says_what_was_applied(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    aws: tuple[ExtendedMotoApp, str],
) -> None:
    child, hold = apply_in_a_child(settings, google, moto_app, aws[1], concurrency=2)
    said = StderrLines(child)
    child.send_signal(signal.SIGINT)
    said.until("interrupted")  # the child says so once it starts no more operations
    hold.release()
    child.wait(timeout=300)
    err = said.until_the_end()

    assert child.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    summary = json.loads(Path(settings.audit).read_text().splitlines()[-1])
    created = len(idc.users())
    assert summary["operation"] == "run.summary" and summary["outcome"] == "crashed"
    assert summary["applied"].get("user.create", 0) == created
    assert created == moto_app.calls["CreateUser"]
    assert 11 <= created <= 12, "the held user and at most one other in flight; none after"


def test_apply_without_a_terminal_needs_approval(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    capsys: pytest.CaptureFixture,
) -> None:
    seed_small_company(google)

    assert main(["apply", *settings_arguments(settings)]) == 2

    assert "--auto-approve" in " ".join(capsys.readouterr().err.split())
    assert writes(moto_app) == {}


def test_a_saved_plan_is_applied_exactly_or_refused_when_stale(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    tmp_path: Path,
) -> None:
    seed_small_company(google)
    saved = tmp_path / "plan.json"
    assert main(["plan", "--out", str(saved), *settings_arguments(settings)]) == 0
    google.add_user("zed@example.com", "Zed", "Example")
    google.add_member("data@example.com", "zed@example.com")

    stale = main(["apply", str(saved), *settings_arguments(settings)])

    assert stale == 3 and writes(moto_app) == {}
    assert main(["plan", "--out", str(saved), *settings_arguments(settings)]) == 0
    assert main(["apply", str(saved), *settings_arguments(settings)]) == 0
    assert "zed@example.com" in idc.users()
    assert main(["plan", "--detailed-exitcode", *settings_arguments(settings)]) == 0
    google.add_user("yan@example.com", "Yan", "Example")
    google.add_member("data@example.com", "yan@example.com")
    assert main(["plan", "--detailed-exitcode", *settings_arguments(settings)]) == 2


def terminal_apply(arguments: list[str], answer: str, aws_url: str) -> tuple[int, str]:
    """`sso-sync apply` with a pseudo-terminal for its standard input and output."""
    import pty

    controller, terminal = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "sync.cli", "apply", *arguments],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "AWS_ENDPOINT_URL": aws_url, "COLUMNS": "200"},
    )
    os.close(terminal)
    output = b""
    answered = False
    while True:  # each read waits for the child's next output; EIO once it has closed
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"Only 'yes' is accepted" in output:
            os.write(controller, answer.encode() + b"\n")
            answered = True
    child.wait(timeout=30)
    os.close(controller)
    return child.returncode, output.decode(errors="replace")


def test_apply_on_a_terminal_shows_the_plan_and_applies_only_after_yes(
    settings: Settings,
    google: GoogleDirectoryEmulator,
    moto_app: ExtendedMotoApp,
    idc: IdentityCenterView,
    aws: tuple[ExtendedMotoApp, str],
) -> None:
    seed_small_company(google)

    declined, shown = terminal_apply(settings_arguments(settings), "no", aws[1])

    assert declined == 3 and "+ create alice@example.com" in shown
    assert "Reading Google Workspace, Identity Center" in shown, "a status while reading"
    assert "apply cancelled" in shown and writes(moto_app) == {}
    accepted, applying = terminal_apply(settings_arguments(settings), "yes", aws[1])
    assert accepted == 0 and "alice@example.com" in idc.users()
    assert "Applying" in applying and "11/11" in applying, "a progress bar on a terminal"


def test_without_a_terminal_apply_progress_is_a_plain_line(
    settings: Settings, google: GoogleDirectoryEmulator, capsys: pytest.CaptureFixture
) -> None:
    seed_small_company(google)

    assert main(["apply", "--auto-approve", *settings_arguments(settings)]) == 0

    assert "Applied 11/11 operations, 0 failed" in capsys.readouterr().err


def test_apply_json_has_a_result_per_operation_with_names(
    settings: Settings, google: GoogleDirectoryEmulator, capsys: pytest.CaptureFixture
) -> None:
    seed_small_company(google)

    assert main(["apply", "--auto-approve", "--json", *settings_arguments(settings)]) == 0

    body = json.loads(capsys.readouterr().out)
    assert len(body["results"]) == 11 and {r["result"] for r in body["results"]} == {"success"}
    membership = next(r for r in body["results"] if r["resource"] == "membership")
    assert membership["group"] and membership["user"].endswith("@example.com")
    assert body["run"]["applied"]["user.create"] == 4


def test_each_command_shows_the_settings_it_uses(capsys: pytest.CaptureFixture) -> None:
    helps = {}
    for command in (["plan"], ["access"], ["bootstrap", "plan"]):
        with pytest.raises(SystemExit):
            main([*command, "--help-settings"])
        helps[" ".join(command)] = capsys.readouterr().out

    assert "--state" in helps["plan"] and "--org-definition" not in helps["plan"]
    assert "--rules" in helps["access"] and "--lock" not in helps["access"]
    assert (
        "--org-definition" in helps["bootstrap plan"]
        and "--delta-overlap" not in (helps["bootstrap plan"])
    )
