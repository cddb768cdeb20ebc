"""template.yaml: cfn-lint clean (offline, SAM transform included), and least privilege: no
write action is granted on "*"."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cloudformation import Stack, load_template

READ_ONLY = re.compile(r"^[a-z0-9-]+:(List|Describe|Get)[A-Za-z]*$")


def template() -> dict:
    return load_template()


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
    # In a key policy "*" is the key itself: identity policies are what this guards.
    resources = {
        name: resource
        for name, resource in template()["Resources"].items()
        if resource["Type"] != "AWS::KMS::Key"
    }

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
    assert "FullSync" not in events  # full syncs are the workflow's executions
    workflow = template()["Resources"]["SyncWorkflow"]["Properties"]
    assert "Input" not in workflow["Events"]["FullSync"]["Properties"]  # the scheduled event
    assert stack(Mode="apply").condition("DeltaRunsOn")
    assert not stack(Mode="apply", DeltaSchedule="off").condition("DeltaRunsOn")
    assert not stack(Mode="apply", Scope="management").condition("DeltaRunsOn")


@pytest.mark.parametrize(
    ("module", "service", "at_least"),
    [
        ("sync/aws/identity_store.py", "identitystore", 10),
        ("sync/aws/sso_admin.py", "sso", 10),
        ("sync/aws/organizations.py", "organizations", 4),
        ("sync/aws/managed_policies.py", "iam", 1),
    ],
)
def test_every_call_the_sync_makes_is_allowed(module: str, service: str, at_least: int) -> None:
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
    assert len(needed) >= at_least, needed
    assert needed <= allowed, needed - allowed


REQUIRED = {
    "AdminEmail": "platform@example.com",
    "GoogleAdminEmail": "admin@example.com",
    "IdentityStoreId": "d-0123456789",
    "InstanceArn": "arn:aws:sso:::instance/ssoins-0123456789abcdef",
}
RESOURCE_NAMES = {
    "DataBucket": "data-bucket",
    "DataBucket.Arn": "arn:aws:s3:::data-bucket",
    "LockTable": "lock-table",
    "GoogleCredentialsSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:g",
}


def stack(**parameters: str) -> Stack:
    return Stack(template(), REQUIRED | parameters, RESOURCE_NAMES)


def test_a_new_deployment_plans_until_the_operator_chooses_apply() -> None:
    first = stack()

    assert first.function_environment()["SSO_SYNC_SCHEDULED_RUNS"] == "plan"
    assert first.function_environment()["SSO_SYNC_PLANS"] == "s3://data-bucket/plans"
    assert not first.condition("DeltaRunsOn"), "delta runs apply: off until Mode is apply"
    assert stack(Mode="apply").function_environment()["SSO_SYNC_SCHEDULED_RUNS"] == "apply"
    policy = first.evaluate(template()["Resources"]["SyncFunction"]["Properties"]["Policies"])
    writable = {
        resource
        for statement in statements(policy)
        if "s3:PutObject" in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }
    assert "arn:aws:s3:::data-bucket/plans/*" in writable


def test_alarms_can_publish_to_their_topic() -> None:
    resources = template()["Resources"]
    topic = resources["AlarmTopic"]["Properties"]

    # CloudWatch cannot use the AWS managed key alias/aws/sns: a key whose policy lets it.
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key_policy = resources["AlarmTopicKey"]["Properties"]["KeyPolicy"]
    cloudwatch = [
        s
        for s in key_policy["Statement"]
        if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == 3
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


def test_a_failed_invocation_is_not_mailed_one_by_one() -> None:
    invoke = template()["Resources"]["SyncFunction"]["Properties"]["EventInvokeConfig"]

    assert "DestinationConfig" not in invoke
    assert invoke["MaximumRetryAttempts"] == 0
    assert 60 <= invoke["MaximumEventAgeInSeconds"] <= 3600


def test_runtime_logs_and_outputs() -> None:
    loaded = template()
    function = loaded["Resources"]["SyncFunction"]
    runtime = loaded["Globals"]["Function"]

    assert runtime["Runtime"] == "python3.13" and runtime["Architectures"] == ["arm64"]
    package = Path("deploy/package.py").read_text()
    assert 'LAMBDA_PYTHON = "3.13"' in package and '"manylinux2014_aarch64"' in package
    assert function["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogGroup"}
    log_group = loaded["Resources"]["FunctionLogGroup"]["Properties"]
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert function["Properties"]["MemorySize"] == {"Ref": "MemorySize"}
    assert {"FunctionName", "FunctionLogGroupName", "LockTableName", "DataBucketName"} <= set(
        loaded["Outputs"]
    )
    # The Google side of keyless credentials names the role (SAM's SyncFunctionRole).
    assert loaded["Outputs"]["FunctionRoleName"]["Value"] == {"Ref": "SyncFunctionRole"}
    assert loaded["Outputs"]["SyncWorkflowArn"]["Value"] == {"Ref": "SyncWorkflow"}


def test_sam_build_runs_our_packaging() -> None:
    function = template()["Resources"]["SyncFunction"]

    assert function["Metadata"] == {"BuildMethod": "makefile"}
    assert function["Properties"]["CodeUri"] == "."
    assert re.search(
        r"^build-SyncFunction:\n\t.*deploy/package\.py.*ARTIFACTS_DIR",
        Path("Makefile").read_text(),
        re.M,
    )
    assert 'stack_name = "sso-sync"' in Path("samconfig.toml").read_text()


def test_the_identity_store_is_reachable_from_the_delegated_administrator() -> None:
    policy = stack().evaluate(template()["Resources"]["SyncFunction"]["Properties"]["Policies"])
    stores = {
        resource
        for statement in statements(policy)
        for resource in _as_list(statement["Resource"])
        if ":identitystore/" in resource
    }

    # The store belongs to the management account, not to the account the function runs in.
    assert stores == {"arn:aws:identitystore::*:identitystore/d-0123456789"}


def test_rules_in_s3_may_be_read_with_their_policy_files() -> None:
    s3_rules = stack(RulesLocation="s3://rules-bucket/sso/rules.yaml")
    policy = s3_rules.evaluate(template()["Resources"]["SyncFunction"]["Properties"]["Policies"])
    readable = {
        resource
        for statement in statements(policy)
        if _as_list(statement["Action"]) == ["s3:GetObject"]
        for resource in _as_list(statement["Resource"])
    }

    assert "arn:aws:s3:::rules-bucket/*" in readable
    packaged = stack().evaluate(template()["Resources"]["SyncFunction"]["Properties"]["Policies"])
    assert not any("rules-bucket" in str(s) for s in statements(packaged))


def test_writes_to_permission_sets_need_the_managed_by_tag() -> None:
    """A hand-made permission set (no managed-by=sso-sync tag) is out of the function's reach:
    every write that names a permission set is granted on permission sets only with the tag
    condition, and the instance and accounts those writes also name get no permission set."""
    function = template()["Resources"]["SyncFunction"]
    granted = statements(function)
    sso_writes = {
        action
        for statement in granted
        for action in _as_list(statement["Action"])
        if action.startswith("sso:") and not READ_ONLY.match(action)
    }
    on_permission_sets = [s for s in granted if "permissionSet/" in json.dumps(s.get("Resource"))]

    for statement in on_permission_sets:
        writes = {a for a in _as_list(statement["Action"]) if a in sso_writes}
        if writes - {"sso:CreatePermissionSet"}:
            condition = statement.get("Condition", {}).get("StringEquals", {})
            assert condition == {"aws:ResourceTag/managed-by": "sso-sync"}, statement["Sid"]
    tagged = next(s for s in granted if s["Sid"] == "WriteOnlyPermissionSetsManagedBySsoSync")
    through = next(s for s in granted if s["Sid"] == "WriteThroughThisInstanceAndItsAccounts")
    assert tagged["Action"] == through["Action"]
    instance_only = next(s for s in granted if s["Sid"] == "AccessControlAttributesOfThisInstance")
    assert instance_only["Resource"] == {"Ref": "InstanceArn"}
    assert sso_writes - {"sso:CreatePermissionSet", *instance_only["Action"]} == set(
        tagged["Action"]
    )
    assert "permissionSet/" not in json.dumps(through["Resource"])


def test_nothing_may_invoke_the_function_but_its_schedules_and_its_workflow() -> None:
    resources = template()["Resources"]
    invokes = [
        (name, statement)
        for name, resource in resources.items()
        for statement in statements(resource)
        if "lambda:InvokeFunction" in json.dumps(statement)
    ]

    assert invokes == []  # the workflow's invoke comes from SAM's LambdaInvokePolicy below
    (policy,) = resources["SyncWorkflow"]["Properties"]["Policies"]
    assert policy == {"LambdaInvokePolicy": {"FunctionName": {"Ref": "SyncFunction"}}}
    assert "RecursiveLoop" not in json.dumps(resources["SyncFunction"])


def test_the_package_never_invokes_a_function() -> None:
    """The function continued a long run by invoking itself: Lambda's recursive loop
    detection stops such a chain after about 16 invocations. Nothing in the package may
    make a Lambda client or name the function's own ARN."""
    sources = {path: path.read_text() for path in Path("sync").rglob("*.py")}
    sources = {path: text for path, text in sources.items() if "local" not in path.parts}

    for pattern in (r'client\(\s*"lambda"', r"invoked_function_arn", r"\.invoke\("):
        assert [str(p) for p, text in sources.items() if re.search(pattern, text)] == []
