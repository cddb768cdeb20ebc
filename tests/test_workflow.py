"""The shipped workflow carries a long full sync: its definition, taken from the template as
CloudFormation would substitute it, runs in moto's Amazon States Language interpreter and
invokes the real handler through the emulator's Lambda; and the step contract, with the real
handler."""

import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.config import default_user_config

from sync.apply.run_lock import DynamoDbLock, Lease
from sync.handler import lambda_handler
from sync.local.aws import ExtendedMotoApp
from sync.local.google_directory import GoogleDirectoryEmulator
from sync.local.stack import environment
from sync.settings import Settings
from tests.cloudformation import load_template
from tests.helpers import (
    Context,
    IdentityCenterView,
    TimeRunsOutAfterWrites,
    add_people,
    seed_small_company,
    settings_environment,
    writes,
)

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:sso-sync"
SCHEDULED = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
LOCK_TABLE = "sso-sync-lock"


def shipped_definition() -> str:
    """The state machine's definition as CloudFormation deploys it: the file the template
    names, with its DefinitionSubstitutions applied (moto does not apply them)."""
    workflow = load_template()["Resources"]["SyncWorkflow"]["Properties"]
    text = Path(workflow["DefinitionUri"]).read_text()
    for name in workflow["DefinitionSubstitutions"]:
        text = text.replace("${" + name + "}", FUNCTION_ARN)
    return text


@dataclass
class Workflow:
    app: ExtendedMotoApp
    settings: Settings
    arn: str
    contexts: Callable[[], Context]
    """What each invocation's context is (its time left)."""

    def run(self, execution_input: Any, name: str = "run-1") -> dict[str, Any]:
        client = boto3.client("stepfunctions")
        execution = client.start_execution(
            stateMachineArn=self.arn, name=name, input=json.dumps(execution_input)
        )["executionArn"]
        self.app.wait_for_executions()
        return client.describe_execution(executionArn=execution)

    def steps(self) -> list[dict[str, Any]]:
        return [payload["step"] for _, payload in self.app.lambda_functions.synchronous]

    def history(self, execution: dict[str, Any]) -> list[str]:
        events = boto3.client("stepfunctions").get_execution_history(
            executionArn=execution["executionArn"]
        )["events"]
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in events
            if "stateEnteredEventDetails" in event
        ]


@pytest.fixture
def lock_settings(settings: Settings, moto_app: ExtendedMotoApp) -> Settings:
    boto3.client("dynamodb").create_table(
        TableName=LOCK_TABLE,
        KeySchema=[{"AttributeName": "lock", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lock", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return settings.model_copy(update={"lock": f"dynamodb://{LOCK_TABLE}"})


@pytest.fixture
def workflow(
    aws: tuple[ExtendedMotoApp, str], moto_app: ExtendedMotoApp, lock_settings: Settings
) -> Iterator[Workflow]:
    _, url = aws
    before = default_user_config.get("stepfunctions")
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    port = str(urllib.parse.urlsplit(url).port)
    arn = boto3.client("stepfunctions").create_state_machine(
        name="sso-sync",
        definition=shipped_definition(),
        roleArn="arn:aws:iam::123456789012:role/sso-sync-workflow",
        type="STANDARD",
    )["stateMachineArn"]
    flow = Workflow(moto_app, lock_settings, arn, Context)
    moto_app.lambda_functions.functions["sso-sync"] = lambda payload: lambda_handler(
        payload, flow.contexts()
    )
    try:
        # The interpreter invokes Lambda at localhost:MOTO_PORT: this server.
        with environment({**settings_environment(lock_settings), "MOTO_PORT": port}):
            yield flow
    finally:
        default_user_config["stepfunctions"] = before or {}


def test_a_long_first_sync_runs_step_by_step_to_the_end_reading_twice(
    workflow: Workflow, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    add_people(google, 30, "data@example.com")
    workflow.contexts = lambda: Context(seconds_left=TimeRunsOutAfterWrites(workflow.app, 8))

    execution = workflow.run(SCHEDULED)
    listings = workflow.app.calls["ListUsers"]

    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["done"] and output["exit_code"] == 0 and output["outcome"] == "succeeded"
    assert listings == 2  # the first read and the confirming read; no step between reads
    assert len(idc.users()) == 34
    steps = workflow.steps()
    assert len(steps) >= 4  # 34 users, 8 writes a step, then the confirming read
    assert steps[0]["carried"] is None and all(step["carried"] for step in steps[1:])
    assert {step["execution"] for step in steps} == {"run-1"}
    assert output["run"]["applied"] == sum(writes(workflow.app).values())
    assert "Synced" in workflow.history(execution)
    assert output["carried"] is None
    assert not any((Path(workflow.settings.state).parent / "runs").glob("*"))
    DynamoDbLock(LOCK_TABLE).acquire(Lease("next", "cli", 2e9))  # released at the end


def test_a_transient_lambda_error_is_retried(
    workflow: Workflow, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    workflow.app.lambda_functions.faults.append("TooManyRequestsException")

    execution = workflow.run(SCHEDULED)

    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause"))
    assert len(idc.users()) == 4
    assert len(workflow.steps()) == 2  # the throttled invocation, then the step that ran


def test_a_step_that_raises_ends_the_run_and_releases_its_lease(
    workflow: Workflow, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    add_people(google, 30, "data@example.com")
    workflow.contexts = lambda: Context(seconds_left=TimeRunsOutAfterWrites(workflow.app, 8))
    state = Path(workflow.settings.state)
    run_the_step = workflow.app.lambda_functions.functions["sso-sync"]

    def break_the_state_before_the_second_step(payload: dict[str, Any]) -> Any:
        if payload["step"].get("carried") and "failure" not in payload["step"]:
            state.write_text("not json")  # the step cannot load it: it raises
        return run_the_step(payload)

    workflow.app.lambda_functions.functions["sso-sync"] = break_the_state_before_the_second_step

    execution = workflow.run(SCHEDULED)

    assert execution["status"] == "FAILED", execution
    assert execution["error"] == "StepFailed"
    history = workflow.history(execution)
    assert history[-2:] == ["EndTheFailedRun", "StepFailed"]
    assert workflow.steps()[-1]["failure"]["Error"]
    runs = state.parent / "runs"
    assert not any(runs.glob("*"))  # the carried plan is gone with the run
    DynamoDbLock(LOCK_TABLE).acquire(Lease("next", "cli", 2e9))  # the lease was released


def test_an_execution_that_finds_a_run_applying_ends_at_once_and_says_which(
    workflow: Workflow, google: GoogleDirectoryEmulator
) -> None:
    seed_small_company(google)
    DynamoDbLock(LOCK_TABLE).acquire(Lease("cli-run", "cli", 2e9))

    execution = workflow.run(SCHEDULED)

    assert execution["status"] == "SUCCEEDED"
    assert "AnotherRunIsApplying" in workflow.history(execution)
    output = json.loads(execution["output"])
    assert output["outcome"] == "busy"
    assert writes(workflow.app) == {}
    assert len(workflow.steps()) == 1


def test_a_step_whose_lease_was_taken_writes_nothing(
    workflow: Workflow, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    add_people(google, 30, "data@example.com")
    settings = workflow.settings
    first = lambda_handler(
        {"step": {"execution": "run-1", "input": SCHEDULED}},
        Context(seconds_left=TimeRunsOutAfterWrites(workflow.app, 8)),
    )
    assert not first["done"] and first["carried"]
    lock = DynamoDbLock(LOCK_TABLE)
    lock.release(Lease("run-1", "schedule", 0))  # as if its lease had expired ...
    lock.acquire(Lease("other", "cli", 2e9))  # ... and another run took it
    made = dict(writes(workflow.app))

    second = lambda_handler(
        {"step": {"execution": "run-1", "input": SCHEDULED, "carried": first["carried"]}},
        Context(),
    )

    assert second["done"] and second["exit_code"] == 1
    assert "no longer this run's" in second["crashed"]
    assert writes(workflow.app) == made
    assert settings.lock == f"dynamodb://{LOCK_TABLE}"


def test_a_delta_run_meeting_a_long_run_leaves_its_feed_position(
    workflow: Workflow, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    add_people(google, 30, "data@example.com")
    started = lambda_handler({"mode": "delta"}, Context())  # the feed's starting point
    cursor = Path(workflow.settings.state).with_name("state.delta.json")
    position = cursor.read_text()
    google.suspend_user("dan@example.com")
    first = lambda_handler(
        {"step": {"execution": "run-1", "input": SCHEDULED}},
        Context(seconds_left=TimeRunsOutAfterWrites(workflow.app, 8)),
    )

    meeting = lambda_handler({"mode": "delta"}, Context())

    assert started["outcome"] == "succeeded" and not first["done"]
    assert meeting["outcome"] == "busy" and "run-1" in meeting["busy"]
    assert cursor.read_text() == position


def test_removals_planned_long_ago_are_rechecked_by_a_fresh_read(
    workflow: Workflow, google: GoogleDirectoryEmulator, idc: IdentityCenterView
) -> None:
    seed_small_company(google)
    add_people(google, 30, "data@example.com")
    lambda_handler(SCHEDULED, Context())  # everyone synced
    for email in ("person000@example.com", "person001@example.com"):
        google.suspend_user(email)
    for index in range(2, 30):
        google.remove_member("data@example.com", f"person{index:03}@example.com")
    old = workflow.settings.model_copy(
        update={"removals_rechecked_after": 1e-9, "invokers_may_allow_mass_delete": True}
    )
    ask = {"allow_mass_delete": True}
    with environment(settings_environment(old)):
        first = lambda_handler(
            {"step": {"execution": "run-2", "input": ask}},
            Context(seconds_left=TimeRunsOutAfterWrites(workflow.app, 4)),
        )
        google.suspend_user("person001@example.com", suspended=False)  # back while the run went on
        steps = [first]
        while not steps[-1]["done"]:
            steps.append(
                lambda_handler(
                    {"step": {"execution": "run-2", "input": ask, "carried": first["carried"]}},
                    Context(),
                )
            )

    assert steps[-1]["exit_code"] == 0
    assert steps[-1]["run"]["rechecked_removals"] > 0
    assert "person000@example.com" not in idc.users()
    assert "person001@example.com" in idc.users()  # the fresh read kept them
