"""template.yaml: cfn-lint clean (offline, SAM transform included), and least privilege: no
write action is granted on "*"."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

READ_ONLY = re.compile(r"^[a-z0-9-]+:(List|Describe|Get)[A-Za-z]*$")


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !Sub and the other short forms as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_CloudFormationLoader.add_multi_constructor("!", _any_tag)


def template() -> dict:
    return yaml.load(Path("template.yaml").read_text(), Loader=_CloudFormationLoader)


def statements(node: Any) -> list[dict]:
    """Every IAM statement anywhere in the template (function policies, inline, !If)."""
    found = []
    if isinstance(node, dict):
        if "Effect" in node and "Action" in node:
            found.append(node)
        for value in node.values():
            found += statements(value)
    elif isinstance(node, list):
        for value in node:
            found += statements(value)
    return found


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [Path(sys.executable).with_name("cfn-lint"), "template.yaml"],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_is_clean() -> None:
    sam = Path(".venv-sam/bin/sam")
    if not sam.exists():
        pytest.skip("the SAM CLI is installed by `make test` into .venv-sam")
    offline = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "AWS_REGION": "us-east-1"}

    result = subprocess.run(
        [str(sam), "validate", "--lint", "--template", "template.yaml"],
        capture_output=True,
        text=True,
        env={**offline, "SAM_CLI_TELEMETRY": "0"},
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def writes_on_everything(resources: dict) -> list[tuple[str | None, list[str]]]:
    """(Sid, write actions) of each Allow statement that grants a write on "*"."""
    offenders = []
    for statement in statements(resources):
        if statement["Effect"] != "Allow":
            continue
        actions = _as_list(statement["Action"])
        writes = [action for action in actions if not READ_ONLY.match(action)]
        if writes and "*" in _as_list(statement.get("Resource", [])):
            offenders.append((statement.get("Sid"), writes))
    return offenders


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def test_no_write_action_is_granted_on_every_resource() -> None:
    resources = template()["Resources"]

    assert statements(resources), "the function has policies"
    assert writes_on_everything(resources) == []


def test_a_write_on_everything_would_be_caught() -> None:
    granted = [
        {"Effect": "Allow", "Action": ["sso:ListInstances"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["identitystore:DeleteUser"], "Resource": ["*"]},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
    ]
    resources = {"F": {"Properties": {"Policies": [{"Statement": granted}]}}}

    assert writes_on_everything(resources) == [(None, ["identitystore:DeleteUser"])]


def test_the_function_runs_the_handler_under_the_lock_with_reserved_concurrency() -> None:
    function = template()["Resources"]["SyncFunction"]["Properties"]

    assert function["Handler"] == "sync.handler.lambda_handler"
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["Environment"]["Variables"]["SSO_SYNC_LOCK"] == {
        "Sub": "dynamodb://${LockTable}"
    }
    assert "SSO_SYNC_GOOGLE_CREDENTIALS_SECRET" in function["Environment"]["Variables"]
    assert not any(
        "KEY" in name and "SECRET" not in name for name in function["Environment"]["Variables"]
    )


def test_delta_runs_have_their_own_schedule_and_payload_and_can_be_switched_off() -> None:
    events = template()["Resources"]["SyncFunction"]["Properties"]["Events"]

    delta = events["DeltaSync"]["Properties"]
    assert json.loads(delta["Input"]) == {"mode": "delta"}
    assert delta["Enabled"] == {"If": ["DeltaRunsOn", True, False]}
    assert "Input" not in events["FullSync"]["Properties"]  # the scheduled event: a full sync


@pytest.mark.parametrize(
    ("module", "service"),
    [
        ("sync/aws/identity_store.py", "identitystore"),
        ("sync/aws/sso_admin.py", "sso"),
        ("sync/aws/organizations.py", "organizations"),
    ],
)
def test_every_call_the_sync_makes_is_allowed(module: str, service: str) -> None:
    source = Path(module).read_text()
    # Direct client calls, and operation names given to a helper: f("list_users", ...).
    called = set(re.findall(r"\b(?:_client|call)\.([a-z]+_[a-z_]+)", source))
    called |= set(re.findall(r'\w\(\s*"([a-z]+(?:_[a-z]+)+)"', source))
    allowed = {
        action
        for statement in statements(template()["Resources"])
        for action in _as_list(statement["Action"])
    }

    needed = {f"{service}:" + "".join(w.title() for w in name.split("_")) for name in called}
    assert len(needed) >= 4
    assert needed <= allowed, needed - allowed
