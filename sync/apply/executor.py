"""Applies a plan: phase by phase, operations of a phase in parallel, each one retried,
audited, and recorded in the state as it succeeds. One failure does not stop the others.
"""

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying

from sync.apply.interrupts import leave_interrupts_to_the_main_thread
from sync.aws.identity_store import IdentityStore
from sync.aws.retry import RequestFailed, aws_error_text, error_code
from sync.aws.sso_admin import AccessAdmin
from sync.model import State
from sync.planning.plan import (
    AccessControlOperation,
    Action,
    AssignmentOperation,
    MembershipOperation,
    Operation,
    PermissionSetOperation,
    Plan,
    PrincipalOperation,
)
from sync.records.audit import AuditLog
from sync.records.state import StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    operation: Operation
    ok: bool
    attempts: int
    error: str | None = None
    skipped: str | None = None
    """Why nothing was written though nothing failed."""


@dataclass
class ApplyResult:
    outcomes: list[Outcome] = field(default_factory=list)
    postponed: int = 0
    """Operations not started because the run's time budget ran out; the next run does them."""

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if not outcome.ok]

    def left_of(self, plan: Plan) -> tuple[Operation, ...]:
        """The operations of `plan` not attempted: postponed, or never reached."""
        attempted = {id(outcome.operation) for outcome in self.outcomes}
        return tuple(op for op in plan.operations if id(op) not in attempted)

    def counts(self) -> Counter[str]:
        return Counter(
            f"{o.operation.resource}.{o.operation.action.value}"
            + ("" if o.ok and not o.skipped else ".skipped" if o.ok else ".failed")
            for o in self.outcomes
        )


class UnresolvedReference(Exception):
    """A membership whose user or group does not exist (its creation failed)."""


class PrincipalBack(Exception):
    """An orphaned assignment's principal exists when it comes to removing it."""


def spread_across_accounts(operations: list[Operation]) -> list[Operation]:
    """Assignment writes taken one account at a time in turn, not account by account: AWS
    updates one permission-set role per account at a time, so writes to the same account
    in flight together wait on each other."""
    by_account: dict[str, list[Operation]] = {}
    others: list[Operation] = []
    for operation in operations:
        if isinstance(operation, AssignmentOperation):
            by_account.setdefault(operation.account_id, []).append(operation)
        else:
            others.append(operation)
    turns = itertools.zip_longest(*by_account.values())
    return others + [operation for turn in turns for operation in turn if operation is not None]


class Executor:
    def __init__(
        self,
        store: IdentityStore,
        access: AccessAdmin | None,
        state: State,
        state_store: StateStore,
        audit: AuditLog,
        retrying: Callable[[], Retrying],
        concurrency: int,
        out_of_time: Callable[[], bool] | None = None,
        stop: threading.Event | None = None,
        progress: Callable[[int, int, int], None] | None = None,
        created_permission_sets: dict[str, str] | None = None,
    ) -> None:
        self._store = store
        self._access = access
        self.created_permission_sets: dict[str, str] = dict(created_permission_sets or {})
        """Permission sets this plan created, name -> ARN (given: what earlier steps of the
        run created): assignments to them resolve through it."""
        self._state = state
        self._state_store = state_store
        self._audit = audit
        self._retrying = retrying
        self._concurrency = concurrency
        self._out_of_time = out_of_time
        """Asked before each operation starts: true once the run's time is spent."""
        self._stop = stop
        self._progress = progress
        """Told (done, total, failed) after each operation."""
        self._total = 0
        self._failed = 0
        self._interrupted = threading.Event()
        self._lock = threading.Lock()
        self.result = ApplyResult()
        """What was applied so far: complete when apply returns, truthful when it raises
        (Ctrl-C: operations in flight finish, none start after)."""

    def apply(self, plan: Plan) -> ApplyResult:
        """Run every phase; the state is saved after each one, and on the way out of a crash.

        Once out of time, operations not yet started are postponed: the run stops
        cleanly between operations, and the next run re-plans and continues."""
        self._total = len(plan.operations)
        try:
            for index, (_phase, operations) in enumerate(plan.phases()):
                if index:
                    self._save_state()
                self._run_all(spread_across_accounts(operations))
        except BaseException:
            self._interrupted.set()  # queued operations return at once, unstarted
            raise
        finally:
            self._save_state()  # with no operation too: the read's nesting and counts
        return self.result

    def _run_all(self, operations: Iterable[Operation]) -> None:
        """Run the operations in parallel with a bounded number in flight (a future per
        operation of a 250,000-operation plan would cost hundreds of MB)."""
        window = self._concurrency * 4
        with ThreadPoolExecutor(
            self._concurrency,
            thread_name_prefix="apply",
            initializer=leave_interrupts_to_the_main_thread,
        ) as pool:
            running: set[Future[None]] = set()
            try:
                for operation in operations:
                    if len(running) >= window:
                        done, running = wait(running, return_when=FIRST_COMPLETED)
                        for future in done:
                            future.result()
                    running.add(pool.submit(self._run_and_count, operation))
                for future in as_completed(running):
                    future.result()
            except BaseException as error:
                self._interrupted.set()  # before the pool waits for what it holds
                if isinstance(error, KeyboardInterrupt):
                    log.warning(
                        "interrupted: the operations in flight finish, no other starts; "
                        "then the audit summary is written"
                    )
                raise

    def _run_and_count(self, operation: Operation) -> None:
        outcome = self._run(operation)
        with self._lock:
            if outcome is None:
                self.result.postponed += 1
            else:
                self.result.outcomes.append(outcome)
                self._failed += not outcome.ok
            done = len(self.result.outcomes) + self.result.postponed
            failed = self._failed
        if self._progress is not None:
            self._progress(done, self._total, failed)

    def _save_state(self) -> None:
        with self._lock:
            self._state_store.save(self._state)

    def _run(self, operation: Operation) -> Outcome | None:
        if self._out_of_time is not None and self._out_of_time():
            return None
        if self._stop is not None and self._stop.is_set():
            return None
        if self._interrupted.is_set():
            return None
        if operation.action in (Action.ADOPT, Action.FORGET):
            self._record(operation, None)
            outcome = Outcome(operation, ok=True, attempts=0)
        else:
            outcome = self._perform(operation)
        result = "skipped" if outcome.skipped else "success" if outcome.ok else "failed"
        self._audit.record(operation, result, outcome.attempts, outcome.error or outcome.skipped)
        return outcome

    def _perform(self, operation: Operation) -> Outcome:
        retrying = self._retrying()
        try:
            created_id = retrying(self._call, operation)
        except UnresolvedReference as error:
            return Outcome(operation, ok=False, attempts=0, error=str(error))
        except PrincipalBack as error:
            attempts = retrying.statistics.get("attempt_number", 1)
            return Outcome(operation, ok=True, attempts=attempts, skipped=f"{error}: left alone")
        except RequestFailed as error:
            attempts = retrying.statistics.get("attempt_number", 1)
            return Outcome(operation, ok=False, attempts=attempts, error=f"FAILED: {error}")
        except (ClientError, BotoCoreError) as error:
            attempts = retrying.statistics.get("attempt_number", 1)
            code = error_code(error) or type(error).__name__
            return Outcome(
                operation, ok=False, attempts=attempts, error=f"{code}: {aws_error_text(error)}"
            )
        self._record(operation, created_id)
        return Outcome(operation, ok=True, attempts=retrying.statistics.get("attempt_number", 1))

    def _call(self, operation: Operation) -> str | None:
        """One attempt at the operation; the id of what it created, if anything."""
        if isinstance(operation, (PermissionSetOperation, AssignmentOperation)):
            return self._call_access(operation)
        if isinstance(operation, AccessControlOperation):
            assert self._access is not None, "access operations come only with an access reader"
            exists = operation.action is Action.UPDATE
            self._access.put_access_control(operation.attributes, exists)
            return None
        store = self._store
        if isinstance(operation, MembershipOperation):
            if operation.action is Action.CREATE:
                store.add_member(*self._resolve(operation))
            else:
                store.remove_membership(_id(operation.membership_id))
            return None
        is_user = operation.resource == "user"
        match operation.action:
            case Action.CREATE:
                create = store.create_user if is_user else store.create_group
                return create(operation.attributes)  # type: ignore[arg-type]
            case Action.UPDATE:
                update = store.update_user if is_user else store.update_group
                update(*self._resolve_update(operation))
            case Action.DELETE:
                delete = store.delete_user if is_user else store.delete_group
                delete(_id(operation.object_id))
        return None

    def _call_access(self, operation: PermissionSetOperation | AssignmentOperation) -> str | None:
        access = self._access
        assert access is not None, "access operations come only with an access reader"
        if isinstance(operation, AssignmentOperation):
            arn, principal_id = self._resolve_assignment(operation)
            if operation.orphan and self._store.principal_exists(
                operation.principal_type, principal_id
            ):
                raise PrincipalBack(f"{operation.principal_type.lower()} {principal_id} exists")
            change = (
                access.create_assignment
                if operation.action is Action.CREATE
                else access.delete_assignment
            )
            change(operation.account_id, arn, operation.principal_type, principal_id)
            return None
        match operation.action:
            case Action.CREATE:
                assert operation.desired is not None
                arn = access.create_permission_set(operation.name, operation.desired)
                with self._lock:
                    self.created_permission_sets[operation.name] = arn
                return arn
            case Action.UPDATE:
                assert operation.current is not None and operation.desired is not None
                access.update_permission_set(
                    _id(operation.arn), operation.current, operation.desired
                )
            case Action.PROVISION:
                access.provision(_id(operation.arn))
            case Action.DELETE:
                access.delete_permission_set(_id(operation.arn))
        return None

    def _resolve_assignment(self, operation: AssignmentOperation) -> tuple[str, str]:
        with self._lock:
            arn = operation.permission_set_arn or self.created_permission_sets.get(
                operation.permission_set
            )
            ids = self._state.groups if operation.principal_type == "GROUP" else self._state.users
            principal_id = operation.principal_id or ids.get(operation.principal_google_id)
        if arn is None:
            raise UnresolvedReference(f"permission set {operation.permission_set} does not exist")
        if principal_id is None:
            kind = operation.principal_type.lower()
            raise UnresolvedReference(f"{kind} {operation.principal_name} does not exist")
        return arn, principal_id

    def _resolve_update(self, operation: PrincipalOperation) -> tuple[str, dict[str, Any]]:
        """The object's id and the changes; a manager this plan created, by their UserId."""
        changes = dict(operation.changes)
        if operation.manager_google_id is None:
            return _id(operation.object_id), changes
        with self._lock:
            user_id = operation.object_id or self._state.users.get(operation.google_id)
            manager_id = self._state.users.get(operation.manager_google_id)
        if user_id is None:
            raise UnresolvedReference(f"user {operation.name} does not exist")
        if manager_id is None:
            raise UnresolvedReference(f"manager {changes['enterprise.manager']} does not exist")
        return user_id, changes | {"enterprise.manager": manager_id}

    def _resolve(self, operation: MembershipOperation) -> tuple[str, str]:
        with self._lock:
            group_id = self._state.groups.get(operation.group_google_id)
            user_id = self._state.users.get(operation.user_google_id)
        if group_id is None:
            raise UnresolvedReference(f"group {operation.group_name} does not exist")
        if user_id is None:
            raise UnresolvedReference(f"user {operation.user_name} does not exist")
        return group_id, user_id

    def _record(self, operation: Operation, created_id: str | None) -> None:
        """Keep the state in step with what just happened in Identity Center."""
        if not isinstance(operation, PrincipalOperation):
            return
        table = self._state.users if operation.resource == "user" else self._state.groups
        with self._lock:
            if operation.action in (Action.DELETE, Action.FORGET):
                table.pop(operation.google_id, None)
            elif operation.action in (Action.CREATE, Action.ADOPT):
                table[operation.google_id] = _id(created_id or operation.object_id)


def _id(value: str | None) -> str:
    if value is None:
        raise ValueError("the plan lacks an Identity Center id for this operation")
    return value
