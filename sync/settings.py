"""Runtime configuration: environment variables with the prefix SSO_SYNC_, or CLI flags.

AWS endpoint and region are deliberately absent: boto3 reads AWS_ENDPOINT_URL and
AWS_DEFAULT_REGION (or the profile's region; not AWS_REGION).
"""

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from sync.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SSO_SYNC_", extra="forbid")

    google_credentials_file: Path | None = Field(
        None, description="Service-account key JSON file (its token_uri is honoured)."
    )
    google_credentials_secret: str | None = Field(
        None, description="Secrets Manager secret id holding the service-account key JSON."
    )
    google_admin_email: str | None = Field(
        None, description="Google admin impersonated through domain-wide delegation."
    )
    google_customer_id: str = Field("my_customer", description="Google Workspace customer id.")
    google_api_endpoint: str = Field(
        "https://admin.googleapis.com", description="Directory API endpoint (tests, proxies)."
    )
    google_token_uri: str = Field(
        "https://oauth2.googleapis.com/token",
        description="OAuth token endpoint for keyless (external_account) credentials.",
    )
    rules: str = Field(
        "mappings/rules.yaml", description="Rules file: a local path or s3://bucket/key."
    )
    max_deletes: str | None = Field(
        None, description="Overrides the rules file's safeguards.max_deletes (N or 'N%')."
    )
    org_definition: Path = Field(
        Path("deploy/org.yaml"), description="The Organization definition for `bootstrap`."
    )
    scheduled_runs: Literal["plan", "apply"] = Field(
        "apply",
        description="The Lambda's mode, for every invocation: plan (write the plan, apply "
        "nothing, whatever the payload) or apply. The template deploys with plan until the "
        "operator has read a plan.",
    )
    invokers_may_allow_mass_delete: bool = Field(
        False,
        description="Whether a Lambda payload's allow_mass_delete is honoured (it lifts the "
        "deletion safeguard for that run); refused when false.",
    )
    plans: str | None = Field(
        None,
        description="Where runs that only plan write the whole plan as JSON: a local folder or "
        "s3://bucket/prefix (latest.json and one document a run).",
    )
    reports: str | None = Field(
        None,
        description="Where full syncs write the access report (who reaches what, and why): a "
        "local folder or s3://bucket/prefix (latest.html, latest.json and one pair a run).",
    )
    scope: Literal["all", "management"] = Field(
        "all",
        description="all: everything the rules say. management: only the management "
        "account's assignments and the permission sets assigned or provisioned there, for a "
        "second deployment in the management account beside one in the delegated "
        "administrator account (which may not manage those).",
    )
    state: str = Field(
        ".sso-sync/state.json", description="State store: a local path or s3://bucket/key."
    )
    delta_cursor: str | None = Field(
        None,
        description="Where delta runs keep their place in Google's change feed: a local path "
        "or s3://bucket/key. Default: next to the state (state.delta.json).",
    )
    delta_overlap: float = Field(
        600.0,
        gt=0,
        description="Seconds each delta run re-reads before its last checkpoint, so that "
        "events Google shows late are not missed.",
    )
    audit: str = Field(
        ".sso-sync/audit.jsonl",
        description="Audit log: a local JSON-lines file, or s3://bucket/prefix (one object a run).",
    )
    lock: str = Field(
        ".sso-sync/lock",
        description="Run lock: a local file, or dynamodb://table (Lambda) shared by all runs.",
    )
    lock_seconds: float = Field(
        900.0, gt=0, description="How long a run's lock lasts if it is never released."
    )
    identity_store_id: str | None = Field(
        None, description="Identity Store id; discovered with sso-admin ListInstances if unset."
    )
    instance_arn: str | None = Field(
        None, description="Identity Center instance whose store to use, if the account has several."
    )
    rate_limit: float = Field(
        20.0,
        gt=0,
        description="Identity Center calls per second at most, all operations together; "
        "throttling cuts it, calls that pass restore it.",
    )
    time_budget: float | None = Field(
        None,
        gt=0,
        description="Seconds a run may spend before it stops cleanly between operations "
        "(Lambda: the remaining time less a margin).",
    )
    removals_rechecked_after: float = Field(
        900.0,
        gt=0,
        description="A long run's removal planned more seconds ago than this is not applied "
        "from its carried plan: the run's confirming read reads both sides again and removes "
        "only what the fresh plan still removes.",
    )
    concurrency: int = Field(8, ge=1, le=64, description="Operations applied in parallel.")
    retry_attempts: int = Field(
        8, ge=1, le=30, description="Attempts per call on throttling, 5xx and conflicts."
    )
    retry_max_wait: float = Field(
        20.0, gt=0, description="Longest wait between two attempts, in seconds."
    )


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags) taking precedence."""
    given = {name: value for name, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        problems = "\n  ".join(
            f"{_setting_name(item['loc'])}: {item['msg']}"
            + (f" (given {item['input']!r})" if item["type"] != "extra_forbidden" else "")
            for item in error.errors()
        )
        raise ConfigError(f"invalid settings:\n  {problems}") from error


def _setting_name(location: tuple) -> str:
    name = str(location[0]) if location else ""
    return f"SSO_SYNC_{name.upper()} (--{name.replace('_', '-')})" if name else "settings"


def unknown_variables(environment: Mapping[str, str]) -> dict[str, str | None]:
    """SSO_SYNC_ variables that name no setting, each with the setting it may mean (a
    misspelling would otherwise do nothing)."""
    known = sorted(f"SSO_SYNC_{name.upper()}" for name in Settings.model_fields)
    return {
        name: next(iter(difflib.get_close_matches(name, known, n=1, cutoff=0.8)), None)
        for name in sorted(environment)
        if name.startswith("SSO_SYNC_") and name not in known
    }
