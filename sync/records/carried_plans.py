"""The rest of a long run's plan, carried from one step of its execution to the next.

The first step reads and plans; what its time did not cover is saved beside the state in the
plan format (`plans.py`: every operation with every value it writes) with the run's progress.
Each later step applies the next part of it and saves what is left, so no step reads again
until the plan is done. The document is the run's own: only the execution whose run id it
carries reads it, and it is deleted when the run ends.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.errors import ConfigError
from sync.planning.plan import NotAnOperation, Operation, Plan, operation_from_values
from sync.records.documents import beside, document_at
from sync.records.plans import PLAN_FORMAT, plan_document
from sync.records.streamed_json import json_chunks

MOST_ERRORS_KEPT = 20


@dataclass
class RunProgress:
    """What a run's steps did so far."""

    run_id: str
    planned_at: datetime
    steps: int = 0
    applied: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    """The first failures' messages (the audit log has every one)."""
    rechecked_removals: int = 0
    """Removals left to a fresh read because the plan's view of them had grown old."""

    def add(self, applied: int, errors: list[str]) -> None:
        self.steps += 1
        self.applied += applied
        self.failed += len(errors)
        self.errors = (self.errors + errors)[:MOST_ERRORS_KEPT]

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "planned_at": self.planned_at.isoformat(),
            "steps": self.steps,
            "applied": self.applied,
            "failed": self.failed,
            "errors": self.errors,
            "rechecked_removals": self.rechecked_removals,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "RunProgress":
        return cls(
            run_id=body["run_id"],
            planned_at=datetime.fromisoformat(body["planned_at"]),
            steps=int(body["steps"]),
            applied=int(body["applied"]),
            failed=int(body["failed"]),
            errors=[str(error) for error in body["errors"]],
            rechecked_removals=int(body["rechecked_removals"]),
        )


@dataclass
class CarriedPlan:
    plan: Plan
    """The operations not applied yet, in the order the plan had them."""
    progress: RunProgress
    created_permission_sets: dict[str, str]
    """Permission sets an earlier step created: name -> ARN (assignments to them need it)."""
    inputs: dict[str, str]


def carried_location(state_location: str, run_id: str) -> str:
    """Where run `run_id` keeps the rest of its plan: `runs/<run id>.json` beside the state."""
    return beside(state_location, f"runs/{run_id}.json")


def save_carried(location: str, carried: CarriedPlan) -> None:
    def body() -> dict[str, Any]:
        return plan_document(carried.plan, carried.inputs) | {
            "progress": carried.progress.to_json(),
            "created_permission_sets": carried.created_permission_sets,
        }

    document_at(location).write(json_chunks(body()))


def load_carried(location: str) -> CarriedPlan:
    """The carried plan at `location`; a ConfigError says why there is none to continue."""
    text = document_at(location).read()
    if text is None:
        raise ConfigError(
            f"{location}: no carried plan (the run it belonged to ended, or it was deleted); "
            "start a new execution"
        )
    try:
        body = json.loads(text)
        if body.get("format") != PLAN_FORMAT:
            raise ValueError(f"format {body.get('format')!r}, not {PLAN_FORMAT!r}")
        operations: list[Operation] = [
            operation_from_values(item["resource"], item["values"]) for item in body["operations"]
        ]
        return CarriedPlan(
            Plan(tuple(operations), tuple(body["warnings"])),
            RunProgress.from_json(body["progress"]),
            {str(k): str(v) for k, v in body["created_permission_sets"].items()},
            {str(k): str(v) for k, v in body["inputs"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError, NotAnOperation) as error:
        raise ConfigError(
            f"{location}: not a carried plan this version can continue ({error})"
        ) from error


def delete_carried(location: str) -> None:
    document_at(location).delete()
