"""The rules file: valid files load, every error names the key path and the line."""

import json
from pathlib import Path

import pytest

from sync.errors import ConfigError
from sync.rules.loader import load_rules, parse_rules
from sync.rules.model import rules_json_schema


def test_the_shipped_rules_file_is_valid() -> None:
    rules = load_rules(Path("mappings/rules.yaml"))

    assert rules.sync.groups[0].email == "founders@example.com"
    assert rules.permission_sets["DataScientist"].inline_policy is not None  # read from its file
    assert rules.is_protected_user("breakglass@example.com")
    assert rules.is_protected_group("AWSControlTowerAdmins")
    assert not rules.is_protected_group("Engineering")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nsync:\n  groups:\n    - email: a@example.com\n      nmae: X\n",
            ":5: sync.groups item 1.nmae: unknown key (did you mean name?)",
        ),
        (
            "version: 1\nsync:\n  groups:\n    - email: not-an-email\n",
            ":4: sync.groups item 1.email: String should match pattern",
        ),
        (
            "version: 1\nsync:\n  groups:\n    - query: 'email:aws-*'\n      name: X\n",
            ":4: sync.groups item 1: 'name' can only rename a group given by 'email'",
        ),
        (
            "version: 1\nsync:\n  groups:\n    - {email: a@example.com, query: 'email:a*'}\n",
            ":4: sync.groups item 1: give exactly one of 'email' or 'query'",
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


ACCESS_BASE = """version: 1
sync:
  groups:
    - {email: eng@example.com, name: Engineering}
    - query: "email:sandbox-*"
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "permission_sets:\n  PowerUser:\n    session_duration: PT13H\n",
            ":8: permission_sets.PowerUser.session_duration: 'PT13H' is not an ISO 8601",
        ),
        (
            "permission_sets:\n  PowerUser:\n    session_duration: 1 hour\n",
            "is not an ISO 8601 duration from PT1H to PT12H",
        ),
        (
            "permission_sets:\n  ThisNameIsFarTooLongForAPermissionSet: {}\n",
            "permission_sets.ThisNameIsFarTooLongForAPermissionSet",
        ),
        (
            "permission_sets:\n  P:\n    inline_policy: '{not json'\n",
            ":8: permission_sets.P.inline_policy: inline policy is not JSON",
        ),
        (
            "permission_sets:\n  P:\n    inline_policy: policies/missing.json\n",
            "cannot read inline policy file 'policies/missing.json'",
        ),
        (
            "permission_sets:\n  P:\n    managed_policies: ["
            + ", ".join(f"Policy{i}" for i in range(21))
            + "]\n",
            ":7: permission_sets.P: 21 managed and customer-managed policies; AWS allows 20",
        ),
        (
            "permission_sets:\n  P:\n    tags: {managed-by: me}\n",
            "the tag 'managed-by' is reserved",
        ),
        (
            "permission_sets:\n  P:\n    permissions_boundary: {}\n",
            "give exactly one of 'managed_policy_arn' or 'customer_managed'",
        ),
        (
            "permission_sets: {P: {}}\nassignments:\n"
            "  - {groups: [Engineering], permission_sets: [Q], accounts: [all]}\n",
            ":8: assignments rule 1.permission_sets item 1: permission set 'Q' is not defined",
        ),
        (
            "permission_sets: {P: {}}\nassignments:\n"
            "  - {groups: [Marketing], permission_sets: [P], accounts: [all]}\n",
            ":8: assignments rule 1.groups item 1: group 'Marketing' is not synced",
        ),
        (
            "permission_sets: {P: {}}\nassignments:\n"
            "  - {groups: [Engineering], permission_sets: [P], accounts: ['ou:Workloads']}\n",
            ":8: assignments rule 1.accounts item 1: 'ou:Workloads': an OU path looks like",
        ),
        (
            "permission_sets: {P: {}}\nassignments:\n"
            "  - {groups: [Engineering], user_from_tag: owner, permission_sets: [P], "
            "accounts: [all]}\n",
            "give either 'groups' or 'user_from_tag'",
        ),
    ],
)
def test_invalid_access_rules_name_where_and_what(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_rules(ACCESS_BASE + text, source="rules.yaml")

    assert expected in str(raised.value)


def test_group_references_by_email_name_or_query(tmp_path: Path) -> None:
    policy = tmp_path / "policies" / "p.json"
    policy.parent.mkdir()
    policy.write_text('{"Version": "2012-10-17", "Statement": []}')
    text = ACCESS_BASE + (
        "permission_sets:\n  P:\n    inline_policy: policies/p.json\n"
        "    managed_policies: [PowerUserAccess, job-function/Billing]\n"
        "assignments:\n"
        "  - groups: [Engineering, eng@example.com, sandbox-x@example.com]\n"
        "    permission_sets: [P]\n    accounts: [all]\n"
    )

    rules = parse_rules(text, base_dir=tmp_path)

    spec = rules.permission_sets["P"]
    assert spec.inline_policy == '{"Statement":[],"Version":"2012-10-17"}'
    assert spec.managed_policies == [
        "arn:aws:iam::aws:policy/PowerUserAccess",
        "arn:aws:iam::aws:policy/job-function/Billing",
    ]


def test_a_key_defined_twice_is_an_error_not_silently_the_last() -> None:
    text = ACCESS_BASE + "permission_sets:\n  P: {}\n  Q: {}\n  P: {session_duration: PT2H}\n"

    with pytest.raises(ConfigError, match=r"rules\.yaml:9: permission_sets\.P: defined twice"):
        parse_rules(text, source="rules.yaml")


def test_an_inline_policy_over_what_a_role_takes_is_refused_though_under_32_kb() -> None:
    actions = ", ".join(f'"s3:Action{index:05}"' for index in range(700))  # ~12,600 characters
    policy = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        f'"Action": [{actions}], "Resource": "*"}}]}}'
    )
    assert len(policy.encode()) < 32_768
    text = ACCESS_BASE + f"permission_sets:\n  Big:\n    inline_policy: '{policy}'\n"

    with pytest.raises(ConfigError, match=r"permission_sets\.Big\.inline_policy: .*10240"):
        parse_rules(text, source="rules.yaml")


def test_more_managed_policies_than_a_role_takes_by_default_is_valid_with_a_warning() -> None:
    policies = ", ".join(f"policy-{index}" for index in range(11))
    text = ACCESS_BASE + f"permission_sets:\n  Many:\n    managed_policies: [{policies}]\n"

    rules = parse_rules(text)

    (advice,) = rules.advisories()
    assert advice.startswith("permission_sets.Many: 11 managed and customer-managed policies")
    assert "'Managed policies per role' quota" in advice
    assert parse_rules(ACCESS_BASE + "permission_sets:\n  Few: {managed_policies: [a]}\n")
    assert not parse_rules(ACCESS_BASE + "permission_sets:\n  Few: {}\n").advisories()


@pytest.mark.parametrize("query", ["memberKey:a@example.com", "email", "email:a*b*", "team-*"])
def test_a_group_query_sso_sync_cannot_match_itself_is_refused(query: str) -> None:
    text = f'version: 1\nsync:\n  groups:\n    - query: "{query}"\n'

    with pytest.raises(ConfigError, match=r"rules\.yaml:4: sync\.groups item 1: .*email:VALUE"):
        parse_rules(text, source="rules.yaml")
