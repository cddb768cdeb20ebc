"""The rules file: valid files load, every error names the key path and the line."""

import json
from pathlib import Path

import pytest

from sync.errors import ConfigError
from sync.rules import load_rules, parse_rules, rules_json_schema


def test_the_shipped_rules_file_is_valid() -> None:
    rules = load_rules(Path("mappings/rules.yaml"))

    assert rules.sync.groups[0].email == "aws-admins@example.com"
    assert rules.is_protected_user("breakglass@example.com")
    assert rules.is_protected_group("AWSControlTowerAdmins")
    assert not rules.is_protected_group("Engineering")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nsync:\n  groups:\n    - email: a@example.com\n      nmae: X\n",
            ":5: sync.groups.0.nmae: unknown key",
        ),
        (
            "version: 1\nsync:\n  groups:\n    - email: not-an-email\n",
            ":4: sync.groups.0.email: String should match pattern",
        ),
        (
            "version: 1\nsync:\n  groups:\n    - query: 'email:aws-*'\n      name: X\n",
            ":4: sync.groups.0: 'name' can only rename a group given by 'email'",
        ),
        (
            "version: 1\nsync:\n  groups:\n    - {email: a@example.com, query: 'email:a*'}\n",
            ":4: sync.groups.0: give exactly one of 'email' or 'query'",
        ),
        (
            "version: 1\nsync:\n  groups: [{email: a@example.com}]\n"
            "safeguards:\n  max_deletes: lots\n",
            ":5: safeguards.max_deletes:",
        ),
        (
            "version: 2\nsync:\n  groups: [{email: a@example.com}]\n",
            ":1: version: Input should be 1",
        ),
        ("version: 1\n", ":1: sync: Field required"),
        ("version: 1\nsync: [\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        (
            "version: 1\nsync:\n  groups:\n    - {email: a@example.com, name: Same}\n"
            "    - {email: b@example.com, name: same}\n",
            "two groups map to the Identity Center name",
        ),
        (
            "version: 1\nsync:\n  groups: [{email: a@example.com, name: AWSAdministrators}]\n",
            "reserved name",
        ),
    ],
)
def test_invalid_rules_name_where_and_what(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_rules(text, source="rules.yaml")

    assert expected in str(raised.value)
    assert "rules.yaml" in str(raised.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the rules file"):
        load_rules(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("setting", "managed", "limit"),
    [(None, 10, 5), (None, 200, 20), (3, 200, 3), ("50%", 10, 5), ("0%", 10, 0)],
)
def test_deletion_limit(setting: object, managed: int, limit: int) -> None:
    value = "" if setting is None else f"\nsafeguards: {{max_deletes: {setting!r}}}"
    rules = parse_rules(f"version: 1\nsync: {{groups: [{{email: a@example.com}}]}}{value}")

    assert rules.deletion_limit(managed) == limit


def test_the_committed_json_schema_matches_the_model() -> None:
    committed = json.loads(Path("mappings/rules.schema.json").read_text())

    assert committed == rules_json_schema(), "regenerate it with `make schema`"
