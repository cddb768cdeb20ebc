"""A long run's carried plan: every operation comes back from the document exactly as planned,
and a document that is not one is an error that says so, never a plan half read."""

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.errors import ConfigError
from sync.model import AccessSnapshot, GroupAttributes, IdcAssignment, State
from sync.planning.identity_planner import build_plan
from sync.planning.plan import (
    Action,
    NotAnOperation,
    Plan,
    PrincipalOperation,
    operation_from_values,
    operation_json,
    plain,
)
from sync.records.carried_plans import (
    CarriedPlan,
    RunProgress,
    carried_location,
    load_carried,
    save_carried,
)
from tests.test_access_planner import BOX, DEV, managed_set, plan
from tests.test_planner_properties import RULES, directories, hand_made


@given(data=st.data())
def test_every_planned_identity_operation_comes_back_as_planned(data: st.DataObject) -> None:
    planned = build_plan(data.draw(directories()), data.draw(hand_made()), State(), RULES)

    for operation in planned.operations:
        assert operation_from_values(operation.resource, plain(operation)) == operation


def access_operations() -> Plan:
    created = plan(AccessSnapshot((), ()))
    edited = replace(
        managed_set("PowerUser"),
        attributes=replace(
            managed_set("PowerUser").attributes, session_duration="PT2H", tags=frozenset()
        ),
    )
    changed = plan(
        AccessSnapshot(
            (edited,),
            (
                IdcAssignment(DEV.id, "arn:ps-PowerUser", "GROUP", "grp-gone"),
                IdcAssignment(BOX.id, "arn:ps-PowerUser", "USER", "u-bob"),
            ),
        )
    )
    return Plan(created.operations + changed.operations)


def test_every_planned_access_operation_comes_back_as_planned() -> None:
    operations = access_operations().operations

    assert {op.resource for op in operations} == {"permission_set", "assignment"}
    assert {op.action.value for op in operations} >= {"create", "update", "delete"}
    for operation in operations:
        back = operation_from_values(operation.resource, json.loads(json.dumps(plain(operation))))
        assert back == operation


def test_a_carried_plan_is_saved_and_read_back_with_its_progress(tmp_path: Path) -> None:
    location = carried_location(str(tmp_path / "state.json"), "run-1")
    progress = RunProgress("run-1", datetime(2026, 12, 7, tzinfo=UTC), 2, 40, 1, ["x failed"])
    carried = CarriedPlan(access_operations(), progress, {"Ops": "arn:ps-ops"}, {"rules": "d"})

    save_carried(location, carried)
    back = load_carried(location)

    assert location == str(tmp_path / "runs" / "run-1.json")
    assert back.plan.operations == carried.plan.operations
    assert back.progress == progress
    assert back.created_permission_sets == {"Ops": "arn:ps-ops"}
    assert back.inputs == {"rules": "d"}
    document = json.loads(Path(location).read_text())
    assert document["format"] == "sso-sync plan 2"  # the reviewed plans' format
    assert document["operations"][0] == operation_json(carried.plan.operations[0])


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda body: body | {"format": "sso-sync plan 1"}, "format"),
        (lambda body: {k: v for k, v in body.items() if k != "progress"}, "progress"),
        (lambda body: body | {"operations": [{"resource": "policy", "values": {}}]}, "policy"),
        (
            lambda body: (
                body | {"operations": [{"resource": "user", "values": {"action": "explode"}}]}
            ),
            "invalid",
        ),
        (
            lambda body: (
                body
                | {"operations": [{"resource": "user", "values": body["operations"][-1]["values"]}]}
            ),
            "user: .* invalid",
        ),
    ],
)
def test_a_document_that_is_not_a_carried_plan_is_refused_saying_why(
    tmp_path: Path, edit, says: str
) -> None:
    location = str(tmp_path / "runs" / "run-1.json")
    progress = RunProgress("run-1", datetime(2026, 12, 7, tzinfo=UTC))
    save_carried(location, CarriedPlan(access_operations(), progress, {}, {}))
    Path(location).write_text(json.dumps(edit(json.loads(Path(location).read_text()))))

    with pytest.raises(ConfigError, match=says):
        load_carried(location)


def test_a_missing_carried_plan_says_to_start_again(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="start a new execution"):
        load_carried(str(tmp_path / "runs" / "gone.json"))


def test_an_operation_filed_under_another_resource_is_refused() -> None:
    attributes = GroupAttributes("Eng", "")
    group = PrincipalOperation("group", Action.CREATE, "g1", "Eng", "new", None, attributes)

    with pytest.raises(NotAnOperation, match="a group operation filed as a user"):
        operation_from_values("user", plain(group))
