"""AWS Lambda entry point.

An EventBridge scheduled event runs a full sync; the delta schedule sends `{"mode": "delta"}`.
A manual invocation passes a JSON object: `{}` (a full sync as the deployment's mode says),
`{"dry_run": true}` (plan only), `{"no_delete": true}`, and `{"allow_mass_delete": true}`.
The workflow that carries a long full sync (`deploy/sync-workflow.asl.json`) sends
`{"step": {...}}`: one step of the run its execution is (`sync/execution_step.py`), with the
execution's input as the payload it asks for. Anything else is rejected before any API call.

The deployment's mode bounds every invoker, whatever the payload: in plan mode nothing is
written (a payload that asks to apply or to run a delta sync is refused), and
`allow_mass_delete` is refused unless the deployment lets invokers ask for it.
"""

import threading
import time
import uuid
from dataclasses import replace
from typing import Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from sync.delta.run import run_delta
from sync.errors import ConfigError, ExitCode
from sync.execution_step import StepRequest, run_step
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


class StepPayload(BaseModel):
    """What the workflow sends for each step of the execution it runs."""

    model_config = ConfigDict(extra="forbid")

    execution: str
    """The execution's name: the run's id."""
    input: Any
    """The execution's input: the run it asks for (a scheduled event, or a manual payload)."""
    carried: str | None = None
    """Where the previous step left the rest of the run; absent at the first step."""
    failure: dict[str, Any] | None = None
    """The error the workflow caught: the step ends the run."""


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
        raise ConfigError(f"invalid invocation payload: {_problems(error)}") from error
    if not applies and (payload.dry_run is False or payload.mode == "delta"):
        raise ConfigError(
            "refused payload: this deployment is in Mode plan, so every invocation only plans "
            "(a payload may not apply or run a delta sync); send {} or "
            '{"dry_run": true}, or redeploy with Mode apply once a plan has been read'
        )
    if payload.allow_mass_delete and not mass_delete_allowed:
        raise ConfigError(
            "refused payload: allow_mass_delete lifts the deletion safeguard, and this "
            "deployment does not let invokers ask for that (template parameter "
            "InvokersMayAllowMassDelete=false); raise safeguards.max_deletes in the reviewed "
            "rules, or run sso-sync apply --allow-mass-delete from the CLI"
        )
    options = RunOptions(
        apply=applies and not payload.dry_run,
        no_delete=payload.no_delete,
        allow_mass_delete=payload.allow_mass_delete,
        trigger="delta" if payload.mode == "delta" else "manual",
    )
    return options, payload.mode == "delta"


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or 'payload'}: "
        f"{'unknown key' if item['type'] == 'extra_forbidden' else item['msg']}"
        for item in error.errors()
    )


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Run the sync; return the run summary (counts per operation, errors, run id, exit code).

    Bad payloads, bad configuration and failed reads raise, so the invocation is marked failed.
    """
    settings = load_settings()
    step = _step_payload(event)
    requested, delta = run_options(
        event if step is None else step.input,
        applies=settings.scheduled_runs == "apply",
        mass_delete_allowed=settings.invokers_may_allow_mass_delete,
    )
    if step is not None and delta:
        raise ConfigError(
            "refused step: delta runs are short and run as direct invocations "
            '({"mode": "delta"}), not as workflow executions'
        )
    options = replace(
        requested,
        run_id=uuid.uuid4().hex[:12] if step is None else step.execution,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_SECONDS,
        progress=ProgressLog(),
    )
    logger.append_keys(run_id=options.run_id, trigger=options.trigger)
    try:
        if step is not None:
            result = run_step(
                settings,
                StepRequest(options.run_id or "", options, step.carried, _failure(step.failure)),
            )
            publish_metrics(result.report)
            logger.info("sync step ended", extra={"summary": result.summary()})
            return result.summary()
        report = run_delta(settings, options) if delta else run_sync(settings, options)
    except Exception:
        metrics.add_metric(name="RunFailed", unit=MetricUnit.Count, value=1)
        logger.exception("sync run failed")
        raise
    publish_metrics(report)
    logger.info("sync run ended", extra={"summary": report.summary()})
    return {**report.summary(), "exit_code": int(report.exit_code)}


def _step_payload(event: Any) -> StepPayload | None:
    if not isinstance(event, dict) or "step" not in event:
        return None
    if len(event) != 1:
        raise ConfigError('invalid invocation payload: a step payload is {"step": {...}} only')
    try:
        return StepPayload.model_validate(event["step"])
    except ValidationError as error:
        raise ConfigError(f"invalid step payload: {_problems(error)}") from error


def _failure(caught: dict[str, Any] | None) -> str | None:
    """The workflow's caught error ({"Error", "Cause"}) as one line."""
    if caught is None:
        return None
    return f"{caught.get('Error', 'unknown error')}: {str(caught.get('Cause', ''))[:500]}"


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
