"""The plan: typed operations, each with the reason it exists, in the order they apply."""

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from enum import Enum, IntEnum, StrEnum
from typing import Any, ClassVar, Literal

from pydantic import TypeAdapter, ValidationError

from sync.model import GroupAttributes, PermissionSetAttributes, UserAttributes


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ADOPT = "adopt"  # start managing an existing object (state only, no API write)
    FORGET = "forget"  # stop tracking an object that no longer exists (state only)
    PROVISION = "provision"  # push an edited permission set to the accounts that use it


class Phase(IntEnum):
    """Principals and permission sets first; then access removed, then granted; then edited
    permission sets provisioned; deletions of principals and permission sets last."""

    RECORD = 0
    PRINCIPALS = 1
    REMOVE_ACCESS = 2
    GRANT_ACCESS = 3
    PROVISION = 4
    DELETE = 5


@dataclass(frozen=True, slots=True)
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
    before: tuple[tuple[str, Any], ...] = ()
    """(AttributePath, current value) pairs of an update, for the same paths."""
    manager_google_id: str | None = None
    """An update that sets the user's manager to a user this plan creates: the manager's
    UserId is known only once created (the change names the manager until then)."""
    sensitive: tuple[str, ...] = ()
    """Mapped attributes whose values plans, logs and the audit show only as a digest."""

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class PermissionSetOperation:
    action: Action
    name: str
    reason: str
    arn: str | None = None
    current: PermissionSetAttributes | None = None
    desired: PermissionSetAttributes | None = None
    changes: tuple[str, ...] = ()
    """Names of the attributes an update changes."""

    resource: ClassVar[str] = "permission_set"

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class AssignmentOperation:
    action: Action
    account_id: str
    account_name: str
    permission_set: str
    principal_type: str  # USER or GROUP
    principal_google_id: str
    principal_name: str
    reason: str
    permission_set_arn: str | None = None
    """Known unless the permission set is created by this plan."""
    principal_id: str | None = None
    """Known unless the principal is created by this plan."""
    orphan: bool = False
    """Its principal was gone when read: removed only if it is still gone when written (a
    person may create a user and assign it while the run reads)."""

    resource: ClassVar[str] = "assignment"

    @property
    def label(self) -> str:
        return (
            f"{self.permission_set} → {self.principal_type.lower()} {self.principal_name} "
            f"in {self.account_name} ({self.account_id})"
        )


@dataclass(frozen=True, slots=True)
class AccessControlOperation:
    """The instance's access-control attributes: session tags from user attributes."""

    action: Action
    attributes: tuple[tuple[str, str], ...]
    """(session tag key, source such as ${path:enterprise.costCenter}), sorted by key."""
    reason: str
    before: tuple[tuple[str, str], ...] = ()

    resource: ClassVar[str] = "access_control"

    @property
    def label(self) -> str:
        return "access-control attributes of the instance"


Operation = (
    PrincipalOperation
    | MembershipOperation
    | PermissionSetOperation
    | AssignmentOperation
    | AccessControlOperation
)

DESTRUCTIVE = {Action.DELETE}
API_ACTIONS = {Action.CREATE, Action.UPDATE, Action.DELETE}


def phase_of(operation: Operation) -> Phase:
    if operation.action in (Action.ADOPT, Action.FORGET):
        return Phase.RECORD
    if operation.action is Action.PROVISION:
        return Phase.PROVISION
    if isinstance(operation, (MembershipOperation, AssignmentOperation)):
        return Phase.GRANT_ACCESS if operation.action is Action.CREATE else Phase.REMOVE_ACCESS
    if isinstance(operation, PrincipalOperation) and operation.manager_google_id is not None:
        return Phase.GRANT_ACCESS  # after the principals, the manager among them
    if operation.action is Action.DELETE:
        return Phase.DELETE
    return Phase.PRINCIPALS


@dataclass(frozen=True, slots=True)
class Plan:
    operations: tuple[Operation, ...]
    warnings: tuple[str, ...] = ()
    managed: Counter[str] = field(default_factory=Counter)
    """How many users, groups and memberships the sync manages before this plan applies."""
    problems: tuple[str, ...] = ()
    """What the rules would do that their author cannot have meant: the run is refused."""
    held_back: int = 0
    """Deletions left out of this plan (--no-delete)."""

    def __post_init__(self) -> None:  # each warning once, in the same order every run
        object.__setattr__(self, "warnings", tuple(sorted(set(self.warnings))))

    def phases(self) -> list[tuple[Phase, list[Operation]]]:
        by_phase: dict[Phase, list[Operation]] = {}
        for operation in self.operations:
            by_phase.setdefault(phase_of(operation), []).append(operation)
        return sorted(by_phase.items())

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter((op.resource, op.action.value) for op in self.operations)

    def deletions(self) -> Counter[str]:
        return Counter(op.resource for op in self.operations if op.action in DESTRUCTIVE)

    def managed_after(self, resource: str) -> int:
        """How many of `resource` the sync manages once this plan is applied."""
        counts = self.counts()
        return self.managed[resource] + counts[(resource, "create")] - counts[(resource, "delete")]

    def writes(self) -> int:
        return sum(1 for op in self.operations if op.action in API_ACTIONS)

    def without_deletions(self) -> "Plan":
        kept = tuple(op for op in self.operations if op.action not in DESTRUCTIVE)
        return replace(self, operations=kept, held_back=len(self.operations) - len(kept))

    def summary(self) -> dict[str, int]:
        """Operations counted by "resource.action"."""
        return {
            f"{resource}.{action}": count
            for (resource, action), count in sorted(self.counts().items())
        }

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON; the operations an iterator, made one by one as it is written."""
        return {
            "summary": self.summary(),
            "operations": (operation_json(op) for op in self.operations),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class ValueChange:
    """One attribute an update changes, with its value now and after (JSON-ready values)."""

    field: str
    before: Any
    after: Any


def value_changes(operation: Operation) -> list[ValueChange]:
    """What an update changes, field by field, with values."""
    if isinstance(operation, PrincipalOperation):
        before = dict(operation.before)
        return [
            ValueChange(path, *(masked(operation, path, v) for v in (before.get(path), after)))
            for path, after in operation.changes
        ]
    if isinstance(operation, AccessControlOperation):
        before, after = dict(operation.before), dict(operation.attributes)
        return [
            ValueChange(key, before.get(key), after.get(key))
            for key in sorted(before.keys() | after.keys())
            if before.get(key) != after.get(key)
        ]
    if isinstance(operation, PermissionSetOperation) and operation.action is Action.UPDATE:
        return [
            ValueChange(
                name,
                _comparable(name, getattr(operation.current, name, None)),
                _comparable(name, getattr(operation.desired, name, None)),
            )
            for name in operation.changes
        ]
    return []


def _comparable(name: str, value: Any) -> Any:
    """Permission-set attribute values as JSON: sets sorted, the inline policy parsed."""
    if isinstance(value, frozenset):
        return sorted(list(item) if isinstance(item, tuple) else item for item in value)
    if isinstance(value, tuple):
        return list(value)
    if name == "inline_policy" and isinstance(value, str):
        return json.loads(value)
    return value


def operation_json(operation: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resource": operation.resource,
        "action": operation.action.value,
        "target": operation.label,
        "reason": operation.reason,
    }
    if isinstance(operation, PrincipalOperation):
        body |= {"google_id": operation.google_id, f"{operation.resource}_id": operation.object_id}
        if operation.changes:
            body["changes"] = {p: masked(operation, p, v) for p, v in operation.changes}
    elif isinstance(operation, MembershipOperation):
        body |= {
            "group": operation.group_name,
            "user": operation.user_name,
            "group_google_id": operation.group_google_id,
            "user_google_id": operation.user_google_id,
            "membership_id": operation.membership_id,
        }
    elif isinstance(operation, AccessControlOperation):
        body |= {"attributes": dict(operation.attributes)}
    elif isinstance(operation, PermissionSetOperation):
        body |= {"permission_set_arn": operation.arn}
        if operation.changes:
            body["changes"] = list(operation.changes)
    else:
        body |= {
            "account": operation.account_name,
            "account_id": operation.account_id,
            "permission_set": operation.permission_set,
            "principal": operation.principal_name,
            "permission_set_arn": operation.permission_set_arn,
            "principal_type": operation.principal_type,
            "principal_google_id": operation.principal_google_id,
            "principal_id": operation.principal_id,
        }
    if diff := value_changes(operation):
        body["diff"] = [
            {"field": change.field, "before": change.before, "after": change.after}
            for change in diff
        ]
    body["values"] = _masked_values(operation, plain(operation))
    return body


def masked(operation: Operation, path: str, value: Any) -> Any:
    """A sensitive attribute's value as a digest (a change still shows: the digest changes)."""
    if value is None or path not in getattr(operation, "sensitive", ()):
        return value
    digest = hashlib.sha256(json.dumps(value).encode()).hexdigest()[:12]
    return f"(sensitive, sha256 {digest})"


def _masked_values(operation: Operation, values: dict[str, Any]) -> dict[str, Any]:
    """`values` with sensitive attributes as digests, everywhere they appear."""
    if not getattr(operation, "sensitive", ()):
        return values

    def pairs(items: list[list[Any]]) -> list[list[Any]]:
        return [[path, masked(operation, path, value)] for path, value in items]

    masked_values = values | {key: pairs(values[key]) for key in ("changes", "before")}
    attributes = values.get("attributes")
    if isinstance(attributes, dict) and "extra" in attributes:
        masked_values["attributes"] = attributes | {"extra": pairs(attributes["extra"])}
    return masked_values


def plain(value: Any) -> Any:
    """A value as deterministic JSON-ready data: a dataclass as its fields (all of them, so an
    operation's `values` hold everything apply writes), sets sorted, tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset | set):
        return sorted((plain(item) for item in value), key=json.dumps)
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    return value


_OPERATION_TYPES: dict[str, Any] = {
    "user": PrincipalOperation,
    "group": PrincipalOperation,
    "membership": MembershipOperation,
    "permission_set": PermissionSetOperation,
    "assignment": AssignmentOperation,
    "access_control": AccessControlOperation,
}


class NotAnOperation(ValueError):
    """A document's operation that is not one this version writes."""


def operation_from_values(resource: str, values: Any) -> Operation:
    """The operation whose `plain()` values these are: `values` typed back field by field
    (pydantic validates each field against the operation's own types)."""
    kind = _OPERATION_TYPES.get(resource)
    if kind is None:
        raise NotAnOperation(f"unknown resource {resource!r}")
    try:
        operation = _adapter(kind).validate_python(values, strict=False)
    except ValidationError as error:
        raise NotAnOperation(f"{resource}: {error.error_count()} invalid fields") from error
    if operation.resource != resource:
        raise NotAnOperation(f"a {operation.resource} operation filed as a {resource}")
    return operation


_ADAPTERS: dict[Any, TypeAdapter] = {}


def _adapter(kind: Any) -> TypeAdapter:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]
