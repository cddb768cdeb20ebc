"""AWS Lambda entry point.

An EventBridge scheduled event runs a full sync; the delta schedule sends `{"mode": "delta"}`.
A manual invocation passes a JSON object: `{}` (a full sync as the deployment's mode says),
`{"dry_run": true}` (plan only), `{"no_delete": true}`, and `{"allow_mass_delete": true}`; the
function sends itself `{"resume": true}` to continue a full sync whose time ran out. Anything
else is rejected before any API call.

The deployment's mode bounds every invoker, whatever the payload: in plan mode nothing is
written (a payload that asks to apply, to run a delta sync or to continue is refused), and
`allow_mass_delete` is refused unless the deployment lets invokers ask for it.
"""

import json
import threading
import time
import uuid
from dataclasses import replace
from typing import Any, Literal

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from sync.delta.run import run_delta
from sync.errors import ConfigError, ExitCode
from sync.run import RunOptions, RunReport, run_sync
from sync.settings import load_settings

SAFETY_MARGIN_SECONDS = 60
logger = Logger(service="sso-sync")
metrics = Metrics(namespace="SsoSync", service="sso-sync")
# The sync's own loggers (audit lines, retries) write the same structured JSON, run id included.
copy_config_to_registered_loggers(source_logger=logger, include={"sync"})


class ManualPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["full", "delta"] = "full"
    """delta: only what Google's change feed reports since the last delta run."""
    dry_run: StrictBool | None = None
    """Plan only (true); apply (false: refused in plan mode); absent: as the mode says."""
    no_delete: StrictBool = False
    allow_mass_delete: StrictBool = False
    resume: StrictBool = False
    """Sent by the function to itself to continue a run whose time ran out."""


def run_options(
    event: Any, applies: bool = True, mass_delete_allowed: bool = False
) -> tuple[RunOptions, bool]:
    """The run an invocation asks for, and whether it is a delta run; ConfigError for anything
    unknown or malformed, and for what the deployment does not let invokers ask: anything that
    writes unless the mode `applies` (SSO_SYNC_SCHEDULED_RUNS=apply), and allow_mass_delete
    unless `mass_delete_allowed` (SSO_SYNC_INVOKERS_MAY_ALLOW_MASS_DELETE)."""
    if not isinstance(event, dict):
        raise ConfigError(f"the payload must be a JSON object, not {type(event).__name__}")
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return RunOptions(apply=applies, trigger="schedule"), False
    try:
        payload = ManualPayload.model_validate(event)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'payload'}: "
            f"{'unknown key' if item['type'] == 'extra_forbidden' else item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(f"invalid invocation payload: {problems}") from error
    if payload.mode == "delta" and payload.resume:
        raise ConfigError("invalid invocation payload: resume continues full syncs only")
    if not applies and (payload.dry_run is False or payload.mode == "delta" or payload.resume):
        raise ConfigError(
            "refused payload: this deployment is in Mode plan, so every invocation only plans "
            "(a payload may not apply, run a delta sync or continue one); send {} or "
            '{"dry_run": true}, or redeploy with Mode apply once a plan has been read'
        )
    if payload.allow_mass_delete and not mass_delete_allowed:
        raise ConfigError(
            "refused payload: allow_mass_delete lifts the deletion safeguard, and this "
            "deployment does not let invokers ask for that (template parameter "
            "InvokersMayAllowMassDelete=false); raise safeguards.max_deletes in the reviewed "
            "rules, or run sso-sync apply --allow-mass-delete from the CLI"
        )
    trigger = "continuation" if payload.resume else "manual"
    options = RunOptions(
        apply=applies and not payload.dry_run,
        no_delete=payload.no_delete,
        allow_mass_delete=payload.allow_mass_delete,
        trigger="delta" if payload.mode == "delta" else trigger,
    )
    return options, payload.mode == "delta"


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Run the sync; return the run summary (counts per operation, errors, run id, exit code).

    Bad payloads, bad configuration and failed reads raise, so the invocation is marked failed.
    """
    budget = context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS
    settings = load_settings()
    requested, delta = run_options(
        event,
        applies=settings.scheduled_runs == "apply",
        mass_delete_allowed=settings.invokers_may_allow_mass_delete,
    )
    options = replace(
        requested,
        run_id=uuid.uuid4().hex[:12],
        time_budget=max(budget, 1.0),
        progress=ProgressLog(),
    )
    logger.append_keys(run_id=options.run_id, trigger=options.trigger)
    try:
        report = run_delta(settings, options) if delta else run_sync(settings, options)
    except Exception:
        metrics.add_metric(name="RunFailed", unit=MetricUnit.Count, value=1)
        logger.exception("sync run failed")
        raise
    publish_metrics(report)
    logger.info("sync run ended", extra={"summary": report.summary()})
    if _should_continue(report):
        continue_later(context.invoked_function_arn)
    return {**report.summary(), "exit_code": int(report.exit_code)}


class ProgressLog:
    """A structured log line about the apply every `every` seconds, and when it ends."""

    def __init__(self, every: float = 30.0) -> None:
        self._every = every
        self._said = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int, failed: int) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._said < self._every and done < total:
                return
            self._said = now
        logger.info("apply progress", extra={"done": done, "total": total, "failed": failed})


def _should_continue(report: RunReport) -> bool:
    """Only a full sync that ran out of time, and got something done, chains another (a delta
    run that did not finish leaves its events for the next one)."""
    applied = report.applied
    return bool(
        report.mode == "full"
        and applied
        and applied.postponed
        and applied.outcomes
        and not applied.failures
    )


def continue_later(function_arn: str) -> None:
    """Invoke this function again, asynchronously, to continue. With reserved concurrency 1
    the invocation waits until this one ends (Lambda retries throttled async invocations)."""
    logger.info("incomplete, continuing in a new invocation")
    boto3.client("lambda").invoke(
        FunctionName=function_arn, InvocationType="Event", Payload=json.dumps({"resume": True})
    )


def publish_metrics(report: RunReport) -> None:
    """Counts per operation, failures, API calls and duration, as CloudWatch embedded metrics."""
    applied = report.applied.counts() if report.applied else {}
    for key, count in sorted(applied.items()):
        name = "".join(part.title().replace("_", "") for part in key.split("."))
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    failures = len(report.applied.failures) if report.applied else 0
    metrics.add_metric(name="OperationsFailed", unit=MetricUnit.Count, value=failures)
    failed = report.exit_code is ExitCode.RUN_FAILED
    metrics.add_metric(name="RunFailed", unit=MetricUnit.Count, value=int(failed))
    refused = report.exit_code is ExitCode.REFUSED
    metrics.add_metric(name="RunRefused", unit=MetricUnit.Count, value=int(refused))
    calls = sum(report.aws_calls.values())
    metrics.add_metric(name="IdentityCenterCalls", unit=MetricUnit.Count, value=calls)
    google_calls = sum(report.google_calls.values())
    metrics.add_metric(name="GoogleCalls", unit=MetricUnit.Count, value=google_calls)
    metrics.add_metric(name="DurationSeconds", unit=MetricUnit.Seconds, value=report.seconds)
