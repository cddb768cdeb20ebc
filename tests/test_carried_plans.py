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
    RunProgress,
    carried_location,
    load_carried,
    save_plan,
    save_progress,
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


def test_a_carried_plan_comes_back_without_what_is_done(tmp_path: Path) -> None:
    location = carried_location(str(tmp_path / "state.json"), "run-1")
    plan = access_operations()
    progress = RunProgress("run-1", datetime(2026, 12, 7, tzinfo=UTC), 2, 40, 1, ["x failed"])
    progress.mark_done([0, 2, 3])
    progress.created_permission_sets = {"Ops": "arn:ps-ops"}

    save_plan(location, plan, {"rules": "d"})
    save_progress(location, progress)
    back = load_carried(location)

    assert location == str(tmp_path / "runs" / "run-1.jsonl")
    assert progress.done == [[0, 0], [2, 3]]
    expected = [op for i, op in enumerate(plan.operations) if i not in (0, 2, 3)]
    assert list(back.plan.operations) == expected
    assert [back.position_of(op) for op in back.plan.operations] == [
        i for i in range(len(plan.operations)) if i not in (0, 2, 3)
    ]
    assert back.progress == progress
    assert back.inputs == {"rules": "d"}
    first_line, second_line = Path(location).read_text().splitlines()[:2]
    assert json.loads(first_line)["format"] == "sso-sync carried plan 1"
    assert json.loads(second_line)["values"] == operation_json(plan.operations[0])["values"]


def test_progress_merges_what_each_step_did_into_ranges() -> None:
    progress = RunProgress("run-1", datetime(2026, 12, 7, tzinfo=UTC))

    progress.mark_done([5, 3, 4])
    progress.mark_done([0, 1, 9])
    progress.mark_done([2])

    assert progress.done == [[0, 5], [9, 9]]
    done = progress.is_done()
    assert [position for position in range(11) if position in done] == [0, 1, 2, 3, 4, 5, 9]


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (
            lambda lines: [lines[0].replace("carried plan 1", "carried plan 0"), *lines[1:]],
            "format",
        ),
        (lambda lines: [lines[0], '{"resource": "policy", "values": {}}'], "policy"),
        (
            lambda lines: [lines[0], '{"resource": "user", "values": {"action": "explode"}}'],
            "user: .* invalid",
        ),
        (lambda lines: [lines[0], "{not json"], "not a carried plan"),
    ],
)
def test_a_document_that_is_not_a_carried_plan_is_refused_saying_why(
    tmp_path: Path, edit, says: str
) -> None:
    location = str(tmp_path / "runs" / "run-1.jsonl")
    save_plan(location, access_operations(), {})
    save_progress(location, RunProgress("run-1", datetime(2026, 12, 7, tzinfo=UTC)))
    lines = Path(location).read_text().splitlines()
    Path(location).write_text("\n".join(edit(lines)) + "\n")

    with pytest.raises(ConfigError, match=says):
        load_carried(location)


def test_a_missing_carried_plan_says_to_start_again(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="start a new execution"):
        load_carried(str(tmp_path / "runs" / "gone.jsonl"))


def test_an_operation_filed_under_another_resource_is_refused() -> None:
    attributes = GroupAttributes("Eng", "")
    group = PrincipalOperation("group", Action.CREATE, "g1", "Eng", "new", None, attributes)

    with pytest.raises(NotAnOperation, match="a group operation filed as a user"):
        operation_from_values("user", plain(group))
