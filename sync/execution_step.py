"""One step of a full sync that a Step Functions execution carries (the template's workflow).

A first sync of a large company outlasts a Lambda invocation by hours. The workflow
(`deploy/sync-workflow.asl.json`) invokes the function with a step again and again until a step
reports the run done:

- The first step takes the run lock for the execution: the lease is the execution's until its
  last step, or the workflow's failure path, releases it; every step renews it. It reads, plans
  and applies until its time ends, and saves what is left beside the state
  (`records/carried_plans.py`).
- Each later step applies the next part of the carried plan without reading anything. A step
  that finds the lease taken by another run writes nothing.
- When the carried plan is done, one step reads both sides again and applies what that fresh
  plan still finds (the confirming read): what changed while the run applied, and removals
  left out because the carried plan's view of them was older than `removals_rechecked_after`.
  When it finds nothing left the run is done.
"""

import logging
import re
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sync.apply.executor import ApplyResult
from sync.apply.run_lock import Lease, LeaseKeeper, LockHeld, RunLock, run_lock_for
from sync.errors import ConfigError, ExitCode
from sync.planning.plan import Action, Plan
from sync.records.audit import AuditLog, audit_sink_for
from sync.records.carried_plans import (
    CarriedPlan,
    RunProgress,
    carried_location,
    delete_carried,
    load_carried,
    load_progress,
    save_plan,
    save_progress,
)
from sync.rules.loader import load_rules
from sync.rules.model import Rules
from sync.run import RunOptions, RunReport, SyncRun, run_sync, time_check
from sync.settings import Settings

log = logging.getLogger(__name__)
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@dataclass(frozen=True)
class StepRequest:
    run_id: str
    """The execution's name: the run's id in the lock, the audit log and the carried plan."""
    options: RunOptions
    carried: str | None = None
    """Where the previous step left the rest of the run (None: this is the first step)."""
    failure: str | None = None
    """The error the workflow caught: end the run (release its lease, drop its plan)."""


@dataclass
class StepResult:
    report: RunReport
    done: bool
    carried: str | None = None
    progress: RunProgress | None = None
    left: int = 0
    """Operations of the carried plan not applied yet."""

    @property
    def exit_code(self) -> ExitCode:
        if self.report.exit_code is ExitCode.OK and self.progress and self.progress.failed:
            return ExitCode.RUN_FAILED
        return self.report.exit_code

    def summary(self) -> dict[str, Any]:
        """The step's run summary, and where the run stands (small: the workflow's state)."""
        return self.report.summary() | {
            "exit_code": int(self.exit_code),
            "done": self.done,
            "carried": self.carried,
            "left": self.left,
            "run": self.progress.to_json() if self.progress else None,
        }


def run_step(settings: Settings, request: StepRequest) -> StepResult:
    if not RUN_ID.match(request.run_id):
        raise ConfigError(
            f"execution name {request.run_id!r}: a run id is 1-80 letters, digits, - or _ "
            "(start the execution with such a name, or without one)"
        )
    location = carried_location(settings.state, request.run_id)
    if request.carried not in (None, location):
        raise ConfigError(
            f"refused step: its carried plan {request.carried!r} is not this run's ({location})"
        )
    rules = load_rules(settings.rules, settings.max_deletes)
    if not request.options.apply and request.failure is None:
        return StepResult(run_sync(settings, request.options, rules), done=True)
    return _Step(settings, rules, request, location).run()


class _Step:
    def __init__(
        self, settings: Settings, rules: Rules, request: StepRequest, location: str
    ) -> None:
        self._settings, self._rules, self._request = settings, rules, request
        self._location = location
        self._started = time.monotonic()
        self._lock: RunLock = run_lock_for(settings.lock)
        self._out_of_time = time_check(self._started, settings, request.options)
        options = request.options
        self._lease = Lease(request.run_id, options.trigger, time.time() + settings.lock_seconds)
        # One audit object a step (their lines carry the run id): a step never overwrites
        # what an earlier one wrote.
        sink = audit_sink_for(settings.audit, f"{request.run_id}-{uuid.uuid4().hex[:6]}")
        self._audit = AuditLog(sink, request.run_id, options.trigger)

    def run(self) -> StepResult:
        result = StepResult(
            RunReport(self._request.run_id, self._request.options.trigger, Plan(())), done=True
        )
        try:
            if self._request.failure is not None:
                result = self._end_failed(result.report)
                return result
            result = self._hold_the_lease() or self._apply_under_the_lease(result.report)
            if result.done:
                self._end()
            return result
        finally:
            result.report.seconds = time.monotonic() - self._started
            self._audit.summary(result.report.summary())
            self._audit.close()

    def _apply_under_the_lease(self, report: RunReport) -> StepResult:
        try:
            with LeaseKeeper(self._lock, self._lease, self._settings.lock_seconds) as keeper:
                result = self._apply_next_part(keeper.lost)
        except BaseException as error:
            report.crashed = f"{type(error).__name__}: {error}"
            raise  # the workflow's failure path releases the lease
        if keeper.lost.is_set():
            result.report.crashed = (
                "lost the run lock (its lease could not be renewed): stopped starting "
                "operations; the run ends and the next one re-plans"
            )
            result = replace(result, done=True, carried=None)
        return result

    def _hold_the_lease(self) -> StepResult | None:
        """Keep the execution's lease, or take it at the first step; a StepResult when this
        step may not go on."""
        if self._lock.renew(self._lease):
            return None
        if self._request.carried is not None:
            report = RunReport(self._request.run_id, self._request.options.trigger, Plan(()))
            report.crashed = (
                "the run lock is no longer this run's (its lease expired and another run took "
                "it): this step wrote nothing and the run ends; the next run re-plans"
            )
            report.planned = False
            return StepResult(report, done=True)
        try:
            self._lock.acquire(self._lease)
        except LockHeld as held:
            report = RunReport(self._request.run_id, self._request.options.trigger, Plan(()))
            report.busy = f"{held}; this execution ends"
            report.planned = False
            return StepResult(report, done=True)
        return None

    def _apply_next_part(self, stop: Any) -> StepResult:
        run = SyncRun(
            self._settings, self._rules, self._request.run_id, self._request.options, None
        )
        carried = load_carried(self._location) if self._request.carried else None
        if carried is not None and carried.plan.operations:
            return self._apply_carried(run, carried, stop)
        return self._read_plan_and_apply(run, carried.progress if carried else None, stop)

    def _read_plan_and_apply(
        self, run: SyncRun, progress: RunProgress | None, stop: Any
    ) -> StepResult:
        report = run.read_and_plan()
        planned_at = datetime.now(UTC)
        if progress is None:
            progress = RunProgress(self._request.run_id, planned_at)
        else:  # the confirming read: a new plan, its own positions
            progress = replace(progress, planned_at=planned_at, done=[])
        if report.refused:
            return StepResult(report, done=True, progress=progress)
        report.applied = run.apply(report.plan, self._audit, self._out_of_time, stop)
        left = report.applied.left_of(report.plan)
        progress.add(*_counts(report.applied))
        if not left:
            run.write_report(report)
            return StepResult(report, done=True, progress=progress)
        save_plan(self._location, Plan(left, report.plan.warnings), run.input_digests())
        return self._carry(run, report, progress, len(left))

    def _apply_carried(self, run: SyncRun, carried: CarriedPlan, stop: Any) -> StepResult:
        plan, progress = carried.plan, carried.progress
        age = (datetime.now(UTC) - progress.planned_at).total_seconds()
        if age > self._settings.removals_rechecked_after:
            removals = {id(op): op for op in plan.operations if op.action is Action.DELETE}
            progress.rechecked_removals += len(removals)
            progress.mark_done(carried.position_of(op) for op in removals.values())
            kept = tuple(op for op in plan.operations if id(op) not in removals)
            plan = replace(plan, operations=kept)
        run.load_state()
        report = run.report_of(plan)
        report.applied = run.apply(
            plan, self._audit, self._out_of_time, stop, progress.created_permission_sets
        )
        progress.add(*_counts(report.applied))
        progress.mark_done(carried.position_of(o.operation) for o in report.applied.outcomes)
        return self._carry(run, report, progress, len(report.applied.left_of(plan)))

    def _carry(
        self, run: SyncRun, report: RunReport, progress: RunProgress, left: int
    ) -> StepResult:
        """Record what is done (with nothing left, the next step is the confirming read)."""
        assert run.executor is not None
        progress.created_permission_sets = dict(run.executor.created_permission_sets)
        save_progress(self._location, progress)
        return StepResult(report, done=False, carried=self._location, progress=progress, left=left)

    def _end(self) -> None:
        self._lock.release(self._lease)
        delete_carried(self._location)

    def _end_failed(self, report: RunReport) -> StepResult:
        report.crashed = f"the workflow caught a failed step: {self._request.failure}"
        report.planned = False
        progress = None
        if self._request.carried is not None:
            try:
                progress = load_progress(self._location)
            except ConfigError:
                progress = None
        self._end()  # the lease only if it is still this run's
        log.error("the run ended by its workflow's failure path: %s", self._request.failure)
        return StepResult(report, done=True, progress=progress)


def _counts(applied: ApplyResult) -> tuple[int, list[str]]:
    errors = [
        f"{o.operation.resource} {o.operation.action.value} {o.operation.label}: {o.error}"
        for o in applied.failures
    ]
    return len(applied.outcomes) - len(errors), errors
