"""What a newcomer's first mistakes print: every problem at once, where it is (file, line,
column; items counted from 1), and what was probably meant."""

from pathlib import Path

import pytest

from sync.cli import main
from sync.planning.plan import Plan


def test_every_missing_google_setting_is_named_in_one_message(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ADMIN_EMAIL", "CREDENTIALS_FILE", "CREDENTIALS_SECRET"):
        monkeypatch.delenv(f"SSO_SYNC_GOOGLE_{name}", raising=False)

    assert main(["plan"]) == 2

    error = capsys.readouterr().err.replace("\n", " ")
    assert "Google Workspace is not configured" in error
    assert "SSO_SYNC_GOOGLE_ADMIN_EMAIL (--google-admin-email)" in error
    assert "SSO_SYNC_GOOGLE_CREDENTIALS_FILE (--google-credentials-file) or" in error


def test_every_invalid_setting_is_named_by_its_variable_and_flag(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSO_SYNC_RATE_LIMIT", "-1")

    assert main(["plan", "--concurrency", "500"]) == 2

    error = capsys.readouterr().err
    assert (
        "SSO_SYNC_RATE_LIMIT (--rate-limit): Input should be greater than 0 (given '-1')" in error
    )
    assert "SSO_SYNC_CONCURRENCY (--concurrency): Input should be less than or equal to 64" in error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nsync:\n\tgroups: []\n",
            ":3:1: not valid YAML: a tab: indent with spaces",
        ),
        (
            "version: 1\nsync:\n  groups: []\n   extra: 1\n",
            ":4:4: not valid YAML: indented deeper than the keys beside it",
        ),
        (
            "version: 1\nsync:\n  groups: [{email: a@example.com}]\nprotcet: {users: []}\n",
            ":4: protcet: unknown key (did you mean protect?)",
        ),
        (
            "version: 1\nsync:\n  groups:\n    - {email: a@example.com}\n    - {emial: b@x.com}\n",
            ":5: sync.groups item 2.emial: unknown key (did you mean email?)",
        ),
    ],
)
def test_a_rules_mistake_says_where_and_what_was_meant(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str, expected: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(text)

    assert main(["validate", str(rules)]) == 2

    assert f"{rules}{expected}" in capsys.readouterr().err.replace("\n", "")


def test_a_plan_gives_each_warning_once_in_the_same_order() -> None:
    plan = Plan((), ("b@example.com: skipped", "a@example.com: skipped", "b@example.com: skipped"))

    assert plan.warnings == ("a@example.com: skipped", "b@example.com: skipped")
