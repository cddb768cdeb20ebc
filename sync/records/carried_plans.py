"""A long run's plan, carried from one step of its execution to the next.

The step that plans writes the plan once, beside the state: `runs/<run id>.jsonl`, a header
line (format, inputs, summary, warnings) and then one operation a line, each as the reviewed
plan format writes it (`values`: everything apply writes). Each step then records its progress
in a small document of its own (`runs/<run id>.progress.json`): which operations are done, as
ranges of their line numbers. A step reads the plan line by line and keeps only the operations
not done, so no step holds more than the plan's objects, however large the plan file.
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync.errors import ConfigError
from sync.planning.plan import NotAnOperation, Operation, Plan, operation_from_values, plain
from sync.records.documents import beside, document_at

CARRIED_FORMAT = "sso-sync carried plan 1"
MOST_ERRORS_KEPT = 20


@dataclass
class RunProgress:
    """What a run's steps did so far, and which operations of its plan are done."""

    run_id: str
    planned_at: datetime
    steps: int = 0
    applied: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    """The first failures' messages (the audit log has every one)."""
    rechecked_removals: int = 0
    """Removals left to a fresh read because the plan's view of them had grown old."""
    done: list[list[int]] = field(default_factory=list)
    """Operations of the plan that are done (attempted, or left to the confirming read), as
    sorted, disjoint [first, last] ranges of their positions."""
    created_permission_sets: dict[str, str] = field(default_factory=dict)
    """Permission sets the run created: name -> ARN (assignments to them need it)."""

    def add(self, applied: int, errors: list[str]) -> None:
        self.steps += 1
        self.applied += applied
        self.failed += len(errors)
        self.errors = (self.errors + errors)[:MOST_ERRORS_KEPT]

    def mark_done(self, positions: Iterable[int]) -> None:
        self.done = _ranges(sorted({*_positions(self.done), *positions}))

    def is_done(self) -> "DoneSet":
        return DoneSet(self.done)

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

    def document(self) -> dict[str, Any]:
        return self.to_json() | {
            "done": self.done,
            "created_permission_sets": self.created_permission_sets,
        }

    @classmethod
    def from_document(cls, body: dict[str, Any]) -> "RunProgress":
        return cls(
            run_id=body["run_id"],
            planned_at=datetime.fromisoformat(body["planned_at"]),
            steps=int(body["steps"]),
            applied=int(body["applied"]),
            failed=int(body["failed"]),
            errors=[str(error) for error in body["errors"]],
            rechecked_removals=int(body["rechecked_removals"]),
            done=[[int(first), int(last)] for first, last in body["done"]],
            created_permission_sets={
                str(k): str(v) for k, v in body["created_permission_sets"].items()
            },
        )


class DoneSet:
    """Membership in sorted ranges, for positions asked in increasing order."""

    def __init__(self, ranges: list[list[int]]) -> None:
        self._ranges, self._next = ranges, 0

    def __contains__(self, position: int) -> bool:
        while self._next < len(self._ranges) and self._ranges[self._next][1] < position:
            self._next += 1
        return self._next < len(self._ranges) and self._ranges[self._next][0] <= position


@dataclass
class CarriedPlan:
    plan: Plan
    """The operations not done yet, in the plan's order."""
    positions: dict[int, int]
    """id() of each of those operations -> its position in the plan file."""
    progress: RunProgress
    inputs: dict[str, str]

    def position_of(self, operation: Operation) -> int:
        return self.positions[id(operation)]


def carried_location(state_location: str, run_id: str) -> str:
    """Where run `run_id` keeps its plan: `runs/<run id>.jsonl` beside the state."""
    return beside(state_location, f"runs/{run_id}.jsonl")


def progress_location(plan_location: str) -> str:
    return plan_location.removesuffix(".jsonl") + ".progress.json"


def save_plan(location: str, plan: Plan, inputs: dict[str, str]) -> None:
    """The plan file (written once per plan: a step records progress, not the plan)."""

    def lines() -> Iterator[str]:
        header = {
            "format": CARRIED_FORMAT,
            "inputs": inputs,
            "summary": plan.summary(),
            "warnings": list(plan.warnings),
            "operations": len(plan.operations),
        }
        yield json.dumps(header) + "\n"
        for operation in plan.operations:
            line = {
                "resource": operation.resource,
                "action": operation.action.value,
                "target": operation.label,
                "values": plain(operation),
            }
            yield json.dumps(line) + "\n"

    document_at(location).write(lines())


def save_progress(location: str, progress: RunProgress) -> None:
    document_at(progress_location(location)).write(json.dumps(progress.document()))


def load_progress(location: str) -> RunProgress | None:
    text = document_at(progress_location(location)).read()
    try:
        return None if text is None else RunProgress.from_document(json.loads(text))
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{progress_location(location)}: not a run's progress ({error})"
        ) from error


def load_carried(location: str) -> CarriedPlan:
    """The operations of the plan at `location` not done yet; a ConfigError says why there is
    nothing to continue."""
    progress_text = document_at(progress_location(location)).read()
    lines = document_at(location).lines()
    try:
        header_line = next(lines, None)
        if progress_text is None or header_line is None:
            raise ConfigError(
                f"{location}: no carried plan (the run it belonged to ended, or it was "
                "deleted); start a new execution"
            )
        header = json.loads(header_line)
        if header.get("format") != CARRIED_FORMAT:
            raise ValueError(f"format {header.get('format')!r}, not {CARRIED_FORMAT!r}")
        progress = RunProgress.from_document(json.loads(progress_text))
        done = progress.is_done()
        operations: list[Operation] = []
        positions: dict[int, int] = {}
        shared: dict[str, str] = {}  # names and reasons repeat across hundreds of thousands
        for position, line in enumerate(lines):
            if position in done:
                continue
            item = json.loads(line)
            values = {
                key: shared.setdefault(value, value) if isinstance(value, str) else value
                for key, value in item["values"].items()
            }
            operation = operation_from_values(item["resource"], values)
            operations.append(operation)
            positions[id(operation)] = position
        return CarriedPlan(
            Plan(tuple(operations), tuple(header["warnings"])),
            positions,
            progress,
            {str(k): str(v) for k, v in header["inputs"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError, NotAnOperation) as error:
        raise ConfigError(
            f"{location}: not a carried plan this version can continue ({error})"
        ) from error


def delete_carried(location: str) -> None:
    document_at(location).delete()
    document_at(progress_location(location)).delete()


def _positions(ranges: list[list[int]]) -> Iterator[int]:
    for first, last in ranges:
        yield from range(first, last + 1)


def _ranges(positions: list[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for position in positions:
        if ranges and ranges[-1][1] == position - 1:
            ranges[-1][1] = position
        else:
            ranges.append([position, position])
    return ranges
