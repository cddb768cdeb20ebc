"""One sync run: read everything, plan, check the safeguards, apply, audit.

Every read completes before the first write; a refused or failed read applies nothing.
"""

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from sync.access_report import AccessLine, access_of_person, access_to_account
from sync.audit import AuditLog, audit_sink_for
from sync.errors import ExitCode, SafeguardRefusal
from sync.executor import ApplyResult, Executor
from sync.google_directory import connect_google
from sync.identity_center import IdentityStore, boto_config, discover_instance
from sync.model import GoogleSnapshot, IdcGroup
from sync.organizations import OrganizationReader
from sync.plan import Plan
from sync.planner import build_plan
from sync.rate_limit import CallMeter, TokenBucket
from sync.retry import aws_retrying
from sync.rules import Rules, load_rules
from sync.safeguards import check_deletions, check_google_answer
from sync.settings import Settings
from sync.sso_admin import AccessAdmin
from sync.state import State, state_store_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    apply: bool = False
    no_delete: bool = False
    allow_mass_delete: bool = False
    trigger: str = "cli"


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

    @property
    def exit_code(self) -> ExitCode:
        if self.refused:
            return ExitCode.REFUSED
        if self.applied is not None and self.applied.failures:
            return ExitCode.RUN_FAILED
        return ExitCode.OK

    def summary(self) -> dict[str, Any]:
        if self.crashed:
            outcome = "crashed"
        elif self.refused:
            outcome = "refused"
        elif self.applied is None:
            outcome = "planned"
        else:
            outcome = "failed" if self.applied.failures else "succeeded"
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "outcome": outcome,
            "refused": self.refused,
            "crashed": self.crashed,
            "planned": {f"{r}.{a}": n for (r, a), n in sorted(self.plan.counts().items())},
            "applied": dict(sorted(self.applied.counts().items())) if self.applied else {},
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
        }


def run_sync(settings: Settings, options: RunOptions, rules: Rules | None = None) -> RunReport:
    started = time.monotonic()
    rules = rules or load_rules(settings.rules)
    run_id = uuid.uuid4().hex[:12]
    meter = CallMeter(TokenBucket(settings.rate_limit))
    reader = connect_google(settings)
    manages_access = bool(rules.permission_sets or rules.assignments)
    store_id, instance_arn = _identity_center(settings, meter, manages_access)
    retrying = aws_retrying(settings.retry_attempts, settings.retry_max_wait)
    store = IdentityStore.connect(store_id, meter, retrying, settings.concurrency)
    access_admin = (
        AccessAdmin.connect(instance_arn, meter, retrying, settings.concurrency)
        if instance_arn
        else None
    )
    state_store = state_store_for(settings.state)

    state = state_store.load()
    google = reader.read(rules.sync.groups)
    check_google_answer(google)
    idc = store.read(memberships_of=_relevant_groups(state, google))
    access = None
    if access_admin is not None:
        access = (OrganizationReader.connect(meter, retrying).read(), access_admin.read())
    plan = build_plan(google, idc, state, rules, access)
    if options.no_delete:
        plan = plan.without_deletions()
    report = RunReport(
        run_id, options.trigger, plan, google_calls=reader.calls, aws_calls=meter.calls
    )
    try:
        check_deletions(plan, rules, options.allow_mass_delete)
    except SafeguardRefusal as refusal:
        report.refused = str(refusal)
    if not options.apply:
        report.seconds = time.monotonic() - started
        return report

    audit = AuditLog(audit_sink_for(settings.audit, run_id), run_id, options.trigger)
    try:
        if not report.refused:
            executor = Executor(
                store,
                access_admin,
                state,
                state_store,
                audit,
                retrying.copy,
                settings.concurrency,
            )
            report.applied = executor.apply(plan)
    except BaseException as error:
        report.crashed = f"{type(error).__name__}: {error}"
        raise
    finally:
        report.seconds = time.monotonic() - started
        audit.summary(report.summary())
        audit.close()
    return report


def explain_access(settings: Settings, email: str | None, account: str | None) -> list[AccessLine]:
    """`sso-sync access`: from the rules, Google and the Organization; nothing is written."""
    rules = load_rules(settings.rules)
    google = connect_google(settings).read(rules.sync.groups)
    retrying = aws_retrying(settings.retry_attempts, settings.retry_max_wait)
    org = OrganizationReader.connect(CallMeter(None), retrying).read()
    if email is not None:
        return access_of_person(email, rules, google, org)
    return access_to_account(account or "", rules, google, org)


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
