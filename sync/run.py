"""One sync run: read everything, plan, check the safeguards, apply, audit.

Every read completes before the first write; a refused or failed read applies nothing.
"""

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from sync.apply.executor import ApplyResult, Executor
from sync.apply.run_lock import Lease, LeaseKeeper, LockHeld, run_lock_for
from sync.aws.identity_store import IdentityStore, boto_config, discover_instance
from sync.aws.managed_policies import ManagedPolicies
from sync.aws.organizations import OrganizationReader
from sync.aws.rate_limit import CallMeter, TokenBucket
from sync.aws.retry import aws_retrying
from sync.aws.sso_admin import AccessAdmin
from sync.bootstrap.definition import load_definition
from sync.errors import ConfigError, ExitCode, SafeguardRefusal, SyncError
from sync.google.directory import GoogleDirectoryReader, connect_google
from sync.model import (
    GoogleSnapshot,
    IdcGroup,
    IdentityCenterSnapshot,
    OrganizationSnapshot,
    State,
)
from sync.planning.access_report import AccessAnswer, explain
from sync.planning.identity_planner import build_plan
from sync.planning.management_scope import management_part
from sync.planning.plan import Plan, operation_json
from sync.planning.plan_inputs import google_digest, identity_center_digest, rules_digest
from sync.planning.safeguards import check_deletions, check_google_answer
from sync.reading.change_hints import ChangeHints
from sync.reading.slice_reader import read_slice
from sync.records.audit import AuditLog, audit_sink_for
from sync.records.plans import SavedPlan, plan_document, save_plan
from sync.records.reports import previous_report, save_report
from sync.records.state import state_store_for
from sync.reporting.access_matrix import LiveIdentityCenter, build_report
from sync.rules.loader import load_rules
from sync.rules.model import Rules
from sync.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RunOptions:
    apply: bool = False
    no_delete: bool = False
    allow_mass_delete: bool = False
    trigger: str = "cli"
    run_id: str | None = None
    """Given by the caller (the Lambda handler logs with it); otherwise made up."""
    time_budget: float | None = None
    """Seconds this run may spend; when they run out it stops between operations."""
    time_left: Callable[[], float] | None = None
    """Seconds the run may still spend, asked before each operation (Lambda's context knows);
    at 0 or less it stops between operations."""
    approve: Callable[[Plan], bool] | None = None
    """Asked with the plan before anything is applied (a person at a terminal)."""
    expected: SavedPlan | None = None
    """A reviewed plan: applied only if made from these rules and the fresh plan is exactly
    it."""
    digest_inputs: bool = False
    """Record digests of what the plan was made from (a plan to save)."""
    progress: Callable[[int, int, int], None] | None = None
    """Told (done, total, failed) as operations end: a progress display, a log line."""


@dataclass
class RunReport:
    run_id: str
    trigger: str
    plan: Plan
    applied: ApplyResult | None = None
    refused: str | None = None
    crashed: str | None = None
    google_calls: Counter[str] = field(default_factory=Counter)
    aws_calls: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    mode: str = "full"
    feed: dict[str, Any] | None = None
    """A delta run's reading of Google's change feed."""
    busy: str | None = None
    """A delta run found another run holding the lock, and left its changes for later."""
    plan_location: str | None = None
    """Where a run that applied nothing wrote its whole plan (SSO_SYNC_PLANS)."""
    report_location: str | None = None
    """Where a full sync wrote its access report (SSO_SYNC_REPORTS)."""
    report_error: str | None = None
    """Why the access report could not be written (the sync itself is unaffected)."""
    rechecks: frozenset[str] = frozenset()
    """A delta run's nested groups to read again while Google may still be catching up."""
    planned: bool = True
    """False when the run stopped before reading (another run held the lock)."""
    inputs: dict[str, str] | None = None
    """Digests of the rules, Google and Identity Center the plan was made from, when asked."""

    @property
    def exit_code(self) -> ExitCode:
        if self.refused:
            return ExitCode.REFUSED
        if self.crashed:
            return ExitCode.RUN_FAILED
        if self.applied is not None and self.applied.failures:
            return ExitCode.RUN_FAILED
        return ExitCode.OK

    def summary(self) -> dict[str, Any]:
        if self.crashed:
            outcome = "crashed"
        elif self.busy:
            outcome = "busy"
        elif self.refused:
            outcome = "refused"
        elif self.applied is None:
            outcome = "planned"
        elif self.applied.failures:
            outcome = "failed"
        else:
            outcome = "incomplete" if self.applied.postponed else "succeeded"
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "mode": self.mode,
            "outcome": outcome,
            "refused": self.refused,
            "crashed": self.crashed,
            "planned": self.plan.summary(),
            "applied": dict(sorted(self.applied.counts().items())) if self.applied else {},
            "postponed": self.applied.postponed if self.applied else 0,
            "errors": [
                f"{o.operation.resource} {o.operation.action.value} {o.operation.label}: {o.error}"
                for o in (self.applied.failures if self.applied else [])
            ],
            "warnings": list(self.plan.warnings),
            "api_calls": {
                "google": dict(sorted(self.google_calls.items())),
                "aws": dict(sorted(self.aws_calls.items())),
            },
            "seconds": round(self.seconds, 3),
        } | {
            key: value
            for key, value in (
                ("feed", self.feed),
                ("busy", self.busy),
                ("plan_location", self.plan_location),
                ("report_location", self.report_location),
                ("report_error", self.report_error),
            )
            if value is not None
        }


def run_sync(
    settings: Settings,
    options: RunOptions,
    rules: Rules | None = None,
    changes: ChangeHints | None = None,
) -> RunReport:
    """Read, plan, check, and (with `options.apply`) apply under the run lock: everything, or
    (a delta run) only what `changes` names."""
    started = time.monotonic()
    rules = rules or load_rules(settings.rules, settings.max_deletes)
    run_id = options.run_id or uuid.uuid4().hex[:12]
    if not options.apply:
        run = SyncRun(settings, rules, run_id, options, changes)
        report = run.read_and_plan()
        run.write_report(report)
        report.seconds = time.monotonic() - started
        if settings.plans or options.digest_inputs:
            report.inputs = run.input_digests()
        if settings.plans:
            inputs = report.inputs or {}
            report.plan_location = save_plan(
                settings.plans,
                run_id,
                lambda: plan_document(report.plan, inputs, report.summary()),
            )
        return report
    lock = run_lock_for(settings.lock)
    lease = Lease(run_id, options.trigger, time.time() + settings.lock_seconds)
    audit = AuditLog(audit_sink_for(settings.audit, run_id), run_id, options.trigger)
    report = RunReport(run_id, options.trigger, Plan(()), mode=_mode(changes))
    try:
        lock.acquire(lease)
    except LockHeld as held:
        report.planned = False
        if changes is None:
            report.refused = str(held)
            audit.summary(report.summary())
        else:
            report.busy = str(held)  # the next delta run picks the changes up
        audit.close()
        return report
    run: SyncRun | None = None
    try:
        with LeaseKeeper(lock, lease, settings.lock_seconds) as keeper:
            run = SyncRun(settings, rules, run_id, options, changes)
            report = run.read_and_plan()
            report.refused = report.refused or _disapproved(report.plan, options, rules)
            if not report.refused:
                out_of_time = time_check(started, settings, options)
                report.applied = run.apply(report.plan, audit, out_of_time, keeper.lost)
            run.write_report(report)
        if keeper.lost.is_set():
            report.crashed = (
                "lost the run lock (its lease could not be renewed): stopped starting "
                "operations; the next run continues"
            )
    except BaseException as error:
        report.crashed = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if run is not None and run.executor is not None:
            report.applied = run.executor.result  # what was applied before it stopped
        raise
    finally:
        lock.release(lease)
        report.seconds = time.monotonic() - started
        audit.summary(report.summary())
        audit.close()
    return report


class SyncRun:
    """The clients, snapshots and state of one run."""

    def __init__(
        self,
        settings: Settings,
        rules: Rules,
        run_id: str,
        options: RunOptions,
        changes: ChangeHints | None,
    ) -> None:
        self._settings, self._rules, self._run_id, self._options = settings, rules, run_id, options
        self._changes = changes
        self._rechecks: frozenset[str] = frozenset()
        self._meter = CallMeter(TokenBucket(settings.rate_limit))
        self._google = _google_for(settings, rules)
        # Access (permission sets, assignments) is the full sync's: a delta run's changes
        # reach it through group memberships.
        session_tags = rules.attributes is not None and bool(rules.attributes.access_control)
        manages_access = (
            bool(rules.permission_sets or rules.assignments or session_tags) and changes is None
        )
        self._reads_access_control = session_tags
        store_id, instance_arn = _identity_center(settings, self._meter, manages_access)
        self._retrying = aws_retrying(settings.retry_attempts, settings.retry_max_wait)
        self._store = IdentityStore.connect(
            store_id, self._meter, self._retrying, settings.concurrency
        )
        if rules.attributes is not None and rules.attributes.uses_enterprise():
            self._store.read_enterprise_extension()
        self._access = (
            AccessAdmin.connect(instance_arn, self._meter, self._retrying, settings.concurrency)
            if instance_arn
            else None
        )
        self._state_store = state_store_for(settings.state)
        self._state = State()
        self.executor: Executor | None = None
        self._report_reads: tuple[GoogleSnapshot, OrganizationSnapshot] | None = None
        self._planned_from: tuple[GoogleSnapshot, IdentityCenterSnapshot, Any] | None = None

    def report_of(self, plan: Plan) -> RunReport:
        """The report of applying a plan this run did not make (a carried plan)."""
        return RunReport(
            self._run_id,
            self._options.trigger,
            plan,
            google_calls=self._google.calls,
            aws_calls=self._meter.calls,
        )

    def load_state(self) -> None:
        """The state as the last run or step left it, for a plan applied without reading."""
        self._state = self._state_store.load()

    def read_and_plan(self) -> RunReport:
        """Everything is read before anything is written; then the plan and its safeguards."""
        self._state = self._state_store.load()
        if self._changes is not None:
            part = read_slice(self._google, self._store, self._state, self._rules, self._changes)
            self._state.renest(part.google.groups)
            self._rechecks = part.rechecks
            self._planned_from = (part.google, part.idc, None)
            plan = build_plan(part.google, part.idc, self._state, self._rules, scope=part.scope)
        else:
            plan = self._plan_everything()
        if plan.problems:
            raise ConfigError("the rules would " + "; ".join(plan.problems))
        if self._options.no_delete:
            plan = plan.without_deletions()
        report = RunReport(
            self._run_id,
            self._options.trigger,
            plan,
            google_calls=self._google.calls,
            aws_calls=self._meter.calls,
            mode=_mode(self._changes),
            feed=(
                {"users": sorted(self._changes.users), "groups": sorted(self._changes.groups)}
                if self._changes is not None
                else None
            ),
            rechecks=self._rechecks,
        )
        try:
            check_deletions(plan, self._rules, self._options.allow_mass_delete)
        except SafeguardRefusal as refusal:
            report.refused = str(refusal)
        return report

    def _plan_everything(self) -> Plan:
        # Google and AWS are read side by side: neither read depends on the other, and each
        # has its own rate limit. Only which memberships to read waits for Google's groups.
        google_read = _Background(lambda: self._google.read(self._rules.sync.groups))
        users, groups = self._store.read_principals()
        access = None
        if self._access is not None:
            self._check_managed_policies()
            org = OrganizationReader.connect(self._meter, self._retrying).read()
            access = (org, self._access.read(access_control=self._reads_access_control))
        google = google_read.result()
        check_google_answer(google)
        self._state.nesting = {}
        self._state.renest(google.groups)
        relevant = _relevant_groups(self._state, google)
        memberships = self._store.read_memberships([g for g in groups if relevant(g)])
        idc = IdentityCenterSnapshot(users, groups, memberships)
        if access is not None:
            self._report_reads = (google, access[0])
        self._planned_from = (google, idc, access[1] if access is not None else None)
        plan = build_plan(google, idc, self._state, self._rules, access)
        self._state.memberships = plan.managed_after("membership")
        if self._settings.scope == "management":
            if access is None:
                raise ConfigError(
                    "--scope management needs the rules' permission sets and assignments, "
                    "and an Identity Center instance"
                )
            if access[0].run_by_delegated_administrator:
                raise ConfigError(
                    "--scope management runs in the management account: these credentials "
                    f"are of {access[0].caller_account_id}, not the management account "
                    f"{access[0].management_account_id}"
                )
            return management_part(plan, *access)
        return plan

    def input_digests(self) -> dict[str, str]:
        """Digests of the rules and the snapshots this run planned from."""
        assert self._planned_from is not None, "read_and_plan first"
        google, idc, access = self._planned_from
        return {
            "rules": rules_digest(self._rules),
            "rules_location": self._settings.rules,
            "google": google_digest(google),
            "identity_center": identity_center_digest(idc, access),
        }

    def write_report(self, report: RunReport) -> None:
        """The access report of what this full sync read (the planned view), with what changed
        since the last one, where SSO_SYNC_REPORTS says."""
        prefix = self._settings.reports
        if not prefix or self._report_reads is None or report.refused:
            return
        if report.applied is not None and report.applied.postponed:
            return  # the continuation that finishes the plan writes it
        google, org = self._report_reads
        try:
            reader = OrganizationReader.connect(self._meter, self._retrying)
            body = build_report(
                self._rules,
                google,
                org,
                datetime.now(UTC),
                policies=reader.service_control_policies(),
                previous=previous_report(prefix),
                unit_order=unit_order(self._settings),
            )
            report.report_location = save_report(prefix, self._run_id, body)
        except (SyncError, ClientError, BotoCoreError, OSError) as error:
            report.report_error = f"the access report was not written: {error}"
            log.error(report.report_error)

    def _check_managed_policies(self) -> None:
        """A misspelt AWS managed policy is a rules error found before any write."""
        named = self._rules.aws_managed_policies()
        missing = ManagedPolicies.connect(self._meter, self._retrying).missing(named)
        if missing:
            raise ConfigError(
                "; ".join(
                    f"permission_sets.{name}: {arn} is not an AWS managed policy (IAM has no "
                    "such policy; check its spelling)"
                    for arn in missing
                    for name in named[arn]
                )
            )

    def apply(
        self,
        plan: Plan,
        audit: AuditLog,
        out_of_time: Callable[[], bool] | None,
        stop: threading.Event,
        created_permission_sets: dict[str, str] | None = None,
    ) -> ApplyResult:
        """Apply `plan` until done or out of time; `created_permission_sets`: those an earlier
        step of the run created (name -> ARN)."""
        self.executor = executor = Executor(
            self._store,
            self._access,
            self._state,
            self._state_store,
            audit,
            self._retrying.copy,
            self._settings.concurrency,
            out_of_time,
            stop,
            self._options.progress,
            created_permission_sets,
        )
        return executor.apply(plan)


class _Background(Generic[T]):
    """A read on a thread of its own; `result()` waits for it and raises what it raised. A
    daemon thread: Ctrl-C does not wait for a read nobody will use."""

    def __init__(self, read: Callable[[], T]) -> None:
        self._outcome: tuple[T | None, BaseException | None] = (None, None)
        self._thread = threading.Thread(target=self._run, args=(read,), daemon=True)
        self._thread.start()

    def _run(self, read: Callable[[], T]) -> None:
        try:
            self._outcome = (read(), None)
        except BaseException as error:  # handed to the caller of result()
            self._outcome = (None, error)

    def result(self) -> T:
        self._thread.join()
        value, error = self._outcome
        if error is not None:
            raise error
        return value  # type: ignore[return-value]


def time_check(
    started: float, settings: Settings, options: RunOptions
) -> Callable[[], bool] | None:
    """When a run that started at `started` (monotonic) is out of time, if it ever is."""
    budget = options.time_budget or settings.time_budget
    deadline = started + budget if budget else None
    time_left = options.time_left
    if deadline is None and time_left is None:
        return None

    def out_of_time() -> bool:
        late = deadline is not None and time.monotonic() >= deadline
        return late or (time_left is not None and time_left() <= 0)

    return out_of_time


def _disapproved(plan: Plan, options: RunOptions, rules: Rules) -> str | None:
    """Why a plan is not applied though no safeguard refused it, if it is not."""
    if options.expected is not None:
        fresh = (operation_json(operation) for operation in plan.operations)
        return options.expected.stale_because(rules_digest(rules), fresh)
    if options.approve is not None and plan.operations and not options.approve(plan):
        return "apply cancelled: nothing applied"
    return None


def explain_access(settings: Settings, email: str | None, account: str | None) -> AccessAnswer:
    """`sso-sync access`: from the rules, Google and the Organization; nothing is written."""
    rules = load_rules(settings.rules)
    google = _google_for(settings, rules).read(rules.sync.groups)
    retrying = aws_retrying(settings.retry_attempts, settings.retry_max_wait)
    org = OrganizationReader.connect(CallMeter(None), retrying).read()
    return explain(rules, google, org, email, account)


def access_report(
    settings: Settings, live: bool = False, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`sso-sync report`: who reaches what and why, for everyone, with the Organization's
    tree and the risks; with `live`, from what Identity Center holds now. Writes nothing."""
    rules = load_rules(settings.rules)
    google = _google_for(settings, rules).read(rules.sync.groups)
    meter = CallMeter(TokenBucket(settings.rate_limit))
    retrying = aws_retrying(settings.retry_attempts, settings.retry_max_wait)
    organization = OrganizationReader.connect(meter, retrying)
    org = organization.read()
    live_view = None
    if live:
        store_id, instance_arn = _identity_center(settings, meter, need_instance=True)
        store = IdentityStore.connect(store_id, meter, retrying, settings.concurrency)
        admin = AccessAdmin.connect(instance_arn or "", meter, retrying, settings.concurrency)
        live_view = LiveIdentityCenter(
            store.read(memberships_of=lambda _: True), admin.read(every_assignment=True)
        )
    return build_report(
        rules,
        google,
        org,
        datetime.now(UTC),
        live_view,
        organization.service_control_policies(),
        previous,
        unit_order(settings),
    )


def unit_order(settings: Settings) -> tuple[str, ...]:
    """The OUs in the order the Organization's definition gives them (Workloads, Shared,
    Sandbox), for the report's columns; none where the definition is not at hand (the
    Lambda's package holds the rules only): then by name."""
    try:
        definition, _ = load_definition(Path(settings.org_definition))
    except ConfigError:
        return ()
    sandboxes = (definition.sandboxes.ou,) if definition.sandboxes else ()
    return (*definition.organizational_units, *sandboxes)


def _google_for(settings: Settings, rules: Rules) -> GoogleDirectoryReader:
    """The Directory reader, reading the user fields the rules' attributes map."""
    google = connect_google(settings)
    if rules.attributes is not None:
        google.read_fields_too(rules.attributes.google_fields())
    return google


def _mode(changes: ChangeHints | None) -> str:
    return "full" if changes is None else "delta"


def _relevant_groups(state: State, google: GoogleSnapshot) -> Callable[[IdcGroup], bool]:
    """Memberships are read only for groups the sync manages or may adopt."""
    managed_ids = set(state.groups.values())
    mapped_names = {group.display_name.lower() for group in google.groups}

    def relevant(group: IdcGroup) -> bool:
        return (
            group.group_id in managed_ids or group.attributes.display_name.lower() in mapped_names
        )

    return relevant


def _identity_center(
    settings: Settings, meter: CallMeter, need_instance: bool
) -> tuple[str, str | None]:
    """(IdentityStoreId, InstanceArn): configured, or discovered with ListInstances. The
    instance is needed only when the rules manage permission sets or assignments."""
    if settings.identity_store_id and (settings.instance_arn or not need_instance):
        return settings.identity_store_id, settings.instance_arn if need_instance else None
    client = boto3.client("sso-admin", config=boto_config(1))
    meter.attach(client)
    instance_arn, store_id = discover_instance(client, settings.instance_arn)
    return settings.identity_store_id or store_id, instance_arn if need_instance else None
