"""The plan: typed operations, each with the reason it exists, in the order they apply."""

from collections import Counter
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, Literal

from sync.model import GroupAttributes, UserAttributes


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ADOPT = "adopt"  # start managing an existing object (state only, no API write)
    FORGET = "forget"  # stop tracking an object that no longer exists (state only)


class Phase(IntEnum):
    """Principals before memberships; membership removals before principal deletions."""

    RECORD = 0
    PRINCIPALS = 1
    REMOVE_MEMBERSHIPS = 2
    ADD_MEMBERSHIPS = 3
    DELETE_PRINCIPALS = 4


@dataclass(frozen=True)
class PrincipalOperation:
    """A change to a user or a group, known by its Google id."""

    resource: Literal["user", "group"]
    action: Action
    google_id: str
    name: str
    """UserName or group DisplayName, as it is in Identity Center (or will be, when created)."""
    reason: str
    object_id: str | None = None
    """UserId or GroupId, when the object exists."""
    attributes: UserAttributes | GroupAttributes | None = None
    """What the object should look like (create, update)."""
    changes: tuple[tuple[str, Any], ...] = ()
    """(AttributePath, new value) pairs of an update."""

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True)
class MembershipOperation:
    action: Action
    group_google_id: str
    group_name: str
    user_google_id: str
    user_name: str
    reason: str
    membership_id: str | None = None

    resource: ClassVar[str] = "membership"

    @property
    def label(self) -> str:
        return f"{self.group_name} ∋ {self.user_name}"


Operation = PrincipalOperation | MembershipOperation

DESTRUCTIVE = {Action.DELETE}
API_ACTIONS = {Action.CREATE, Action.UPDATE, Action.DELETE}


def phase_of(operation: Operation) -> Phase:
    if operation.action in (Action.ADOPT, Action.FORGET):
        return Phase.RECORD
    if isinstance(operation, MembershipOperation):
        return (
            Phase.ADD_MEMBERSHIPS if operation.action is Action.CREATE else Phase.REMOVE_MEMBERSHIPS
        )
    if operation.action is Action.DELETE:
        return Phase.DELETE_PRINCIPALS
    return Phase.PRINCIPALS


@dataclass(frozen=True)
class Plan:
    operations: tuple[Operation, ...]
    warnings: tuple[str, ...] = ()
    managed: Counter[str] = field(default_factory=Counter)
    """How many users, groups and memberships the sync manages before this plan applies."""

    def phases(self) -> list[tuple[Phase, list[Operation]]]:
        by_phase: dict[Phase, list[Operation]] = {}
        for operation in self.operations:
            by_phase.setdefault(phase_of(operation), []).append(operation)
        return sorted(by_phase.items())

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter((op.resource, op.action.value) for op in self.operations)

    def deletions(self) -> Counter[str]:
        return Counter(op.resource for op in self.operations if op.action in DESTRUCTIVE)

    def writes(self) -> int:
        return sum(1 for op in self.operations if op.action in API_ACTIONS)

    def without_deletions(self) -> "Plan":
        kept = tuple(op for op in self.operations if op.action not in DESTRUCTIVE)
        return replace(self, operations=kept)

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": {
                f"{resource}.{action}": count
                for (resource, action), count in sorted(self.counts().items())
            },
            "operations": [operation_json(op) for op in self.operations],
            "warnings": list(self.warnings),
        }


def operation_json(operation: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resource": operation.resource,
        "action": operation.action.value,
        "target": operation.label,
        "reason": operation.reason,
    }
    if isinstance(operation, PrincipalOperation):
        body |= {"google_id": operation.google_id, f"{operation.resource}_id": operation.object_id}
    else:
        body |= {
            "group_google_id": operation.group_google_id,
            "user_google_id": operation.user_google_id,
            "membership_id": operation.membership_id,
        }
    if isinstance(operation, PrincipalOperation) and operation.changes:
        body["changes"] = dict(operation.changes)
    return body
