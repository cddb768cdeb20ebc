"""AWS Lambda entry point.

An EventBridge scheduled event runs a full sync. A manual invocation passes a JSON object:
`{}` (full sync), `{"dry_run": true}` (plan only), `{"no_delete": true}`, and
`{"allow_mass_delete": true}`. Anything else is rejected before any API call.
"""

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from sync.errors import ConfigError
from sync.run import RunOptions, run_sync
from sync.settings import load_settings

logging.getLogger().setLevel(logging.INFO)


class ManualPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: StrictBool = False
    no_delete: StrictBool = False
    allow_mass_delete: StrictBool = False


def run_options(event: Any) -> RunOptions:
    """The run an invocation asks for; ConfigError for anything unknown or malformed."""
    if not isinstance(event, dict):
        raise ConfigError(f"the payload must be a JSON object, not {type(event).__name__}")
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return RunOptions(apply=True, trigger="schedule")
    try:
        payload = ManualPayload.model_validate(event)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'payload'}: "
            f"{'unknown key' if item['type'] == 'extra_forbidden' else item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(f"invalid invocation payload: {problems}") from error
    return RunOptions(
        apply=not payload.dry_run,
        no_delete=payload.no_delete,
        allow_mass_delete=payload.allow_mass_delete,
        trigger="manual",
    )


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """Run the sync; return the run summary (counts per operation, errors, run id, exit code).

    Bad payloads, bad configuration and failed reads raise, so the invocation is marked failed.
    """
    options = run_options(event)
    report = run_sync(load_settings(), options)
    return {**report.summary(), "exit_code": int(report.exit_code)}
